package respond

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/maintpage/maintpage/internal/server"
)

// TestFastPathMatchesServeHTTP checks that the fast path's bytes carry exactly the response that
// ServeHTTP writes — status, every header but Date, and body — and that it declines what only
// ServeHTTP may answer.
func TestFastPathMatchesServeHTTP(t *testing.T) {
	t.Parallel()
	r := newResponder(t, `until: 2099-01-01T00:00:00Z
cors_origins: [https://app.example.com]
rules:
  - name: api
    match: {path_prefix: /api/}
    format: problem+json
    headers: {StatusHeader: "Status: maintenance window"}
  - name: home
    match: {path: /, methods: [GET]}
    status: 200
    format: text
    body: "home: {{.Message}}"
  - name: echo
    match: {path: /echo}
    status: 200
    format: html
    body: "you asked for {{.Request.Path}}"
`, Options{})
	tests := []struct {
		name     string
		q        server.FastRequest
		wantFast bool
	}{
		{"browser", server.FastRequest{Method: "GET", Path: "/x", Host: "h", Accept: "text/html,*/*;q=0.8", AcceptLanguage: "de-DE"}, true},
		{"json", server.FastRequest{Method: "POST", Path: "/y", Host: "h", Accept: "application/json"}, true},
		{"curl", server.FastRequest{Method: "GET", Path: "/z", RawQuery: "a=1", Host: "h", Accept: "*/*"}, true},
		{"head", server.FastRequest{Method: "HEAD", Path: "/z", Host: "h"}, true},
		{"api rule", server.FastRequest{Method: "GET", Path: "/api/v1", Host: "h", Accept: "text/html"}, true},
		{"fixed rule body", server.FastRequest{Method: "GET", Path: "/", Host: "h"}, true},
		{"rule body showing the request", server.FastRequest{Method: "GET", Path: "/echo", Host: "h"}, false},
		{"reserved prefix", server.FastRequest{Method: "GET", Path: "/_maintenance/health", Host: "h"}, false},
		{"CORS", server.FastRequest{Method: "GET", Path: "/x", Host: "h", Origin: "https://app.example.com"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp, ok := r.ServeFast(nil, &tt.q)
			if ok != tt.wantFast {
				t.Fatalf("ServeFast ok = %v, want %v", ok, tt.wantFast)
			}
			if !ok {
				return
			}
			var raw bytes.Buffer
			raw.Write(resp.Head)
			raw.WriteString("\r\n")
			if tt.q.Method != http.MethodHead {
				raw.Write(resp.Body)
			}
			fast, err := http.ReadResponse(bufio.NewReader(&raw), &http.Request{Method: tt.q.Method})
			if err != nil {
				t.Fatalf("the fast path wrote an unreadable response: %v\n%s", err, resp.Head)
			}
			fastBody, _ := io.ReadAll(fast.Body)

			req := httptest.NewRequest(tt.q.Method, "http://"+tt.q.Host+tt.q.Path, nil)
			req.URL.RawQuery = tt.q.RawQuery
			if tt.q.Accept != "" {
				req.Header.Set("Accept", tt.q.Accept)
			}
			if tt.q.AcceptLanguage != "" {
				req.Header.Set("Accept-Language", tt.q.AcceptLanguage)
			}
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)

			if fast.StatusCode != w.Code || resp.Status != w.Code {
				t.Errorf("status: fast %d (reported %d), ServeHTTP %d", fast.StatusCode, resp.Status, w.Code)
			}
			if !bytes.Equal(fastBody, w.Body.Bytes()) {
				t.Errorf("bodies differ:\nfast: %q\nServeHTTP: %q", fastBody, w.Body.Bytes())
			}
			// Compare by canonical name: a rule's header keeps its spelling on the wire either way.
			want := http.Header{}
			for k, v := range w.Header() {
				want[http.CanonicalHeaderKey(k)] = v
			}
			for k, v := range want {
				if got := fast.Header[k]; strings.Join(got, "|") != strings.Join(v, "|") {
					t.Errorf("%s: fast %q, ServeHTTP %q", k, got, v)
				}
			}
			for k := range fast.Header {
				if _, ok := want[k]; !ok {
					t.Errorf("fast path sent %s, ServeHTTP did not", k)
				}
			}
		})
	}
}

func BenchmarkServeFast(b *testing.B) {
	r := newResponder(b, "", Options{})
	q := &server.FastRequest{Method: "GET", Path: "/some/deep/link", Host: "h",
		Accept: "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8", AcceptLanguage: "en-US,en;q=0.9"}
	dst := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		r.ServeFast(dst[:0], q)
	}
}
