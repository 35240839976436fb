package gate

import (
	"net/http"
	"net/http/httptest"
	"strconv"
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

// BenchmarkPassThrough is the gate's own share of a proxied request: the handler called directly
// (no client, no server connection on the gate's side) against an upstream that answers a short
// fixed body, as the benchmark harness's upstream does.
func BenchmarkPassThrough(b *testing.B) {
	body := []byte("upstream OK\n")
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Content-Type"] = []string{"text/plain; charset=utf-8"}
		w.Header()["Content-Length"] = []string{strconv.Itoa(len(body))}
		w.Write(body)
	}))
	defer up.Close()
	f := newFixture(b, map[string]string{"upstream": up.URL}, nil)
	r := httptest.NewRequest("GET", "/x", nil)
	r.Header.Set("Accept", "text/html")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.code = 0
		f.g.ServeHTTP(w, r)
		if w.code != 200 {
			b.Fatalf("got %d, want 200", w.code)
		}
	}
}

// discardWriter is a ResponseWriter that keeps nothing but the status, so that the benchmark
// measures the gate rather than a recorder.
type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
