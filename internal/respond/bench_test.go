package respond

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// discard is a ResponseWriter that keeps nothing, so the benchmark measures the responder alone.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}

func benchmarkRequest(b *testing.B, r *Responder, req *http.Request) {
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		clear(w.h)
		r.ServeHTTP(w, req)
	}
}

// BenchmarkResponder measures the maintenance response's hot path: negotiation, rule matching and
// writing precomputed bytes.
func BenchmarkResponder(b *testing.B) {
	chrome := "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8"
	cases := []struct {
		name, yaml, accept, lang string
	}{
		{"html", "", chrome, "en-US,en;q=0.9"},
		{"json", "", "application/json", ""},
		{"text", "", "*/*", ""},
		{"html-until", "until: 2099-01-01T00:00:00Z\n", chrome, "de-DE,de;q=0.9"},
		{"rules", "rules:\n  - match: {path_prefix: /api/}\n    format: problem+json\n  - match: {path_glob: /static/*.css}\n    status: 503\n", chrome, "en"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			r := newResponder(b, c.yaml, Options{})
			req := httptest.NewRequest("GET", "/some/deep/link?x=1", nil)
			req.Header.Set("Accept", c.accept)
			if c.lang != "" {
				req.Header.Set("Accept-Language", c.lang)
			}
			benchmarkRequest(b, r, req)
		})
	}
}

func TestHotPathAllocatesNothing(t *testing.T) {
	r := newResponder(t, "until: 2099-01-01T00:00:00Z\nrules:\n  - match: {path_prefix: /api/}\n    format: problem+json\n", Options{})
	for _, accept := range []string{"text/html", "application/json", "*/*"} {
		req := httptest.NewRequest("GET", "/some/deep/link?x=1", nil)
		req.Header.Set("Accept", accept)
		req.Header.Set("Accept-Language", "de-DE,de;q=0.9")
		w := &discard{h: http.Header{}}
		r.ServeHTTP(w, req) // warm the language cache
		if n := testing.AllocsPerRun(200, func() { clear(w.h); r.ServeHTTP(w, req) }); n != 0 {
			t.Errorf("Accept %s: %v allocations per response, want 0", accept, n)
		}
	}
}
