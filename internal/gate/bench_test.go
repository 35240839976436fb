package gate

import (
	"net/http/httptest"
	"testing"

	"github.com/maintpage/maintpage/internal/state"
)

// BenchmarkMaintenance is the gate's hot path during a window: one atomic load of the state, the
// schedule check, and the ready maintenance response.
func BenchmarkMaintenance(b *testing.B) {
	f := newFixture(b, map[string]string{"upstream": "http://127.0.0.1:1"}, nil)
	f.set(b, state.State{On: true, Message: "down"})
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Accept", "text/html")
	w := httptest.NewRecorder()
	f.g.ServeHTTP(w, r)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		w.Body.Reset()
		clear(w.Header())
		f.g.ServeHTTP(w, r)
	}
}

// BenchmarkProxied is a request passed through to a local upstream, round trip included.
func BenchmarkProxied(b *testing.B) {
	up := newEcho(b)
	f := newFixture(b, map[string]string{"upstream": up.URL}, nil)
	gw := httptest.NewServer(f.g)
	defer gw.Close()
	b.ReportAllocs()
	for b.Loop() {
		resp, err := gw.Client().Get(gw.URL + "/x")
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
	}
}
