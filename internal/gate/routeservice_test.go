package gate

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/maintpage/maintpage/internal/state"
)

// toAddr is a transport that connects to addr whatever host a request names, so that route-service
// tests can use real host names and still reach the test upstream.
func toAddr(addr string) *http.Transport {
	return &http.Transport{DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
}

func TestRouteService(t *testing.T) {
	t.Parallel()
	up := newEcho(t)
	f := newFixture(t, map[string]string{
		"route_service":       "true",
		"route_service_hosts": "my-app.apps.example.com,*.internal.example.com",
	}, toAddr(strings.TrimPrefix(up.URL, "http://")))

	t.Run("allowed host keeps its signature headers", func(t *testing.T) {
		w := f.do("GET", "/whatever", "", map[string]string{
			"Host":                 "my-app.apps.example.com",
			"X-Cf-Forwarded-Url":   "http://my-app.apps.example.com/orders/7?page=2",
			"X-Cf-Proxy-Signature": "signature-from-the-router",
			"X-Cf-Proxy-Metadata":  "metadata-from-the-router",
		})
		if w.Code != 200 {
			t.Fatalf("got %d: %s", w.Code, w.Body.String())
		}
		got := decodeEcho(t, w)
		for name, c := range map[string][2]string{
			"uri":                  {got.URI, "/orders/7?page=2"},
			"host":                 {got.Host, "my-app.apps.example.com"},
			"X-CF-Proxy-Signature": {got.Header.Get("X-Cf-Proxy-Signature"), "signature-from-the-router"},
			"X-CF-Proxy-Metadata":  {got.Header.Get("X-Cf-Proxy-Metadata"), "metadata-from-the-router"},
			"response signature":   {w.Header().Get("X-Cf-Proxy-Signature"), ""},
		} {
			if c[0] != c[1] {
				t.Errorf("%s: got %q, want %q", name, c[0], c[1])
			}
		}
	})
	t.Run("wildcard host", func(t *testing.T) {
		w := f.do("GET", "/", "", map[string]string{"X-Cf-Forwarded-Url": "http://api.internal.example.com/"})
		if w.Code != 200 {
			t.Errorf("got %d: %s", w.Code, w.Body.String())
		}
	})

	before := up.hits.Load()
	for _, fu := range []string{
		"http://evil.example.net/steal",
		"http://169.254.169.254/latest/meta-data/",
		"http://internal.example.com/",         // the wildcard's own domain is not a subdomain of it
		"http://my-app.apps.example.com.evil/", // suffix tricks
		"http://x@my-app.apps.example.com/",    // a user in the URL
		"ftp://my-app.apps.example.com/",
		"/relative",
		"gopher://my-app.apps.example.com:70/",
	} {
		t.Run("refuses "+fu, func(t *testing.T) {
			w := f.do("GET", "/", "", map[string]string{"X-Cf-Forwarded-Url": fu, "X-Cf-Proxy-Signature": "sig"})
			if w.Code != http.StatusBadRequest {
				t.Errorf("got %d, want 400", w.Code)
			}
		})
	}
	if n := up.hits.Load() - before; n != 0 {
		t.Errorf("the upstream got %d refused requests; the gate must never fetch them", n)
	}

	t.Run("without the header and without an upstream", func(t *testing.T) {
		if w := f.do("GET", "/", "", nil); w.Code != http.StatusBadRequest {
			t.Errorf("got %d, want 400", w.Code)
		}
	})
	t.Run("maintenance answers route-service requests", func(t *testing.T) {
		f.set(t, state.State{On: true})
		defer f.set(t, state.State{})
		w := f.do("GET", "/", "", map[string]string{"X-Cf-Forwarded-Url": "http://my-app.apps.example.com/", "X-Cf-Proxy-Signature": "sig"})
		if w.Code != 503 || w.Header().Get("X-Cf-Proxy-Signature") != "" {
			t.Errorf("got %d (signature header %q), want 503 without it", w.Code, w.Header().Get("X-Cf-Proxy-Signature"))
		}
	})
}

func TestRouteServiceWithUpstreamStripsCFHeadersElsewhere(t *testing.T) {
	t.Parallel()
	up := newEcho(t)
	f := newFixture(t, map[string]string{"route_service": "true", "route_service_hosts": "127.0.0.1", "upstream": up.URL}, nil)
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/direct", nil)
	r.Header.Set("X-Cf-Proxy-Signature", "sig")
	r.Header.Set("X-Cf-Proxy-Metadata", "meta")
	f.g.ServeHTTP(w, r)
	got := decodeEcho(t, w)
	if got.Header.Get("X-Cf-Proxy-Signature") != "" || got.Header.Get("X-Cf-Proxy-Metadata") != "" {
		t.Errorf("CF headers reached the static upstream: %v", got.Header)
	}
}

// A host on the list allows its scheme's default port only, unless the list names a port.
func TestRouteServicePorts(t *testing.T) {
	t.Parallel()
	rs := newRouteService([]string{"app.example.com", "*.apps.example.com", "admin.example.com:8443", "*.internal.example.com:9000"})
	tests := []struct {
		url  string
		want bool
	}{
		{"https://app.example.com/", true},
		{"http://app.example.com/", true},
		{"https://app.example.com:443/", true},
		{"http://app.example.com:80/", true},
		{"https://app.example.com:0443/", true}, // 443 all the same
		{"https://app.example.com:6379/", false},
		{"http://app.example.com:443/", false},
		{"https://app.example.com:80/", false},
		{"http://app.example.com:8080/", false},
		{"https://app.example.com:65979/", false},
		{"https://app.example.com:0/", false},
		{"https://my.apps.example.com:22/", false},
		{"https://my.apps.example.com/", true},
		{"https://admin.example.com:8443/", true},
		{"http://admin.example.com:8443/", true},
		{"https://admin.example.com/", false},
		{"https://admin.example.com:8444/", false},
		{"http://db.internal.example.com:9000/", true},
		{"http://db.internal.example.com/", false},
		{"http://db.internal.example.com:9001/", false},
	}
	for _, tt := range tests {
		u, err := rs.target(tt.url)
		if got := err == nil; got != tt.want {
			t.Errorf("%s: accepted %v (%v), want %v", tt.url, got, err, tt.want)
		}
		if err == nil && u.String() != tt.url {
			t.Errorf("%s: target changed to %s", tt.url, u)
		}
	}

	up := newEcho(t)
	f := newFixture(t, map[string]string{"route_service": "true", "route_service_hosts": "my-app.apps.example.com"},
		toAddr(strings.TrimPrefix(up.URL, "http://")))
	w := f.do("GET", "/", "", map[string]string{"X-Cf-Forwarded-Url": "https://my-app.apps.example.com:6379/", "X-Cf-Proxy-Signature": "sig"})
	if w.Code != http.StatusBadRequest || up.hits.Load() != 0 {
		t.Errorf("another port of an allowed host: got %d and %d upstream hits, want 400 and none", w.Code, up.hits.Load())
	}
}
