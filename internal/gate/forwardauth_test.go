package gate

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/maintpage/maintpage/internal/state"
)

const faSecret = "0123456789abcdef0123"

// faConfig is maintpage beside a proxy at 10.0.0.2: no upstream, a bypass of every kind, and a
// rule that answers POST /api/… with 429 (so that the rules visibly see the original request).
const faConfig = `
forward_auth: true
trusted_proxies: [10.0.0.0/8]
bypass_cidrs: [192.0.2.0/24]
bypass_paths: [/healthz]
bypass_secret: ` + faSecret + `
rules:
  - name: api-writes
    match: {path_prefix: /api/, methods: [POST]}
    status: 429
    format: problem+json
`

const proxyPeer = "10.0.0.2:40000"

// original is the request a user sent to the proxy.
type original struct {
	method, host, uri, client string
	header                    map[string]string
}

// asked is how each proxy asks maintpage about an original request.
type asker func(o original) *http.Request

// forwarded is the asking request: method and target, Host host, every header of the original,
// and the five X-Forwarded-* headers describing it.
func forwarded(method, target, host string, o original) *http.Request {
	r := httptest.NewRequest(method, target, nil)
	r.RemoteAddr = proxyPeer
	r.Host = host
	for k, v := range o.header {
		r.Header.Set(k, v)
	}
	r.Header.Set("X-Forwarded-For", o.client)
	r.Header.Set("X-Forwarded-Method", o.method)
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("X-Forwarded-Host", o.host)
	r.Header.Set("X-Forwarded-Uri", o.uri)
	return r
}

// traefikAsks follows Traefik's ForwardAuth (pkg/middlewares/auth/forward.go, writeHeader): a GET
// to the configured address (its own Host) with every header of the original request copied,
// X-Forwarded-For set to the client's address, and X-Forwarded-Method, -Proto, -Host and -Uri set
// from the original.
func traefikAsks(o original) *http.Request {
	return forwarded(http.MethodGet, "http://maintpage:8080/_maintenance/forward-auth", "maintpage:8080", o)
}

// caddyAsks follows Caddy's forward_auth (modules/caddyhttp/reverseproxy/forwardauth/
// caddyfile.go): a reverse_proxy with the method rewritten to GET and the URI to the configured
// one, the original Host kept, X-Forwarded-Method and -Uri set, and reverse_proxy's own
// X-Forwarded-For, -Proto and -Host.
func caddyAsks(o original) *http.Request {
	return forwarded(http.MethodGet, "/_maintenance/forward-auth", o.host, o)
}

// nginxAsks follows examples/nginx/maintpage.conf: auth_request to an internal location that
// proxies to forward-auth?deny=401 with the original method and headers, Host, and the five
// X-Forwarded-* set by proxy_set_header, and no body.
func nginxAsks(o original) *http.Request {
	return forwarded(o.method, "/_maintenance/forward-auth?deny=401", o.host, o)
}

// envoyAsks follows Envoy's ext_authz HTTP service (api/envoy/extensions/filters/http/ext_authz/v3/
// ext_authz.proto, HttpService and AuthorizationRequest): the original method, Host and path, the
// path appended to path_prefix, Content-Length 0, and only the headers allowed_headers lets by
// (examples/envoy/envoy.yaml allows accept, accept-language, cookie, x-forwarded-for,
// x-forwarded-proto and x-maintpage-bypass).
func envoyAsks(o original) *http.Request {
	r := httptest.NewRequest(o.method, "/_maintenance/forward-auth"+o.uri, nil)
	r.RemoteAddr = proxyPeer
	r.Host = o.host
	for k, v := range o.header {
		switch strings.ToLower(k) {
		case "accept", "accept-language", "cookie", "x-maintpage-bypass":
			r.Header.Set(k, v)
		}
	}
	r.Header.Set("X-Forwarded-For", o.client)
	r.Header.Set("X-Forwarded-Proto", "https")
	return r
}

var askers = map[string]asker{"traefik": traefikAsks, "caddy": caddyAsks, "nginx": nginxAsks, "envoy": envoyAsks}

func TestForwardAuthDecidesForTheOriginalRequest(t *testing.T) {
	t.Parallel()
	f := newFixtureYAML(t, faConfig, nil, nil)
	cookie := CookieName + "=" + f.g.bypass.mintCookie("shop.example", f.clock.Now().Add(time.Hour))
	browser := map[string]string{"Accept": "text/html", "Accept-Language": "de"}
	tests := []struct {
		name   string
		o      original
		on     bool
		status int    // for every proxy but nginx, which asked for 401
		bypass string // Maintpage-Bypass on a pass
	}{
		{"off passes", original{"GET", "shop.example", "/cart", "198.51.100.7", browser}, false, 200, ""},
		{"on denies", original{"GET", "shop.example", "/cart", "198.51.100.7", browser}, true, 503, ""},
		{"on, a POST the rule answers", original{"POST", "shop.example", "/api/orders", "198.51.100.7", nil}, true, 429, ""},
		{"on, a GET the rule does not match", original{"GET", "shop.example", "/api/orders", "198.51.100.7", nil}, true, 503, ""},
		{"on, bypass network", original{"GET", "shop.example", "/cart", "192.0.2.9", browser}, true, 200, "cidr"},
		{"on, bypass cookie", original{"GET", "shop.example", "/cart", "198.51.100.7", map[string]string{"Cookie": cookie}}, true, 200, "cookie"},
		{"on, bypass cookie for another host", original{"GET", "evil.example", "/cart", "198.51.100.7", map[string]string{"Cookie": cookie}}, true, 503, ""},
		{"on, bypass header", original{"GET", "shop.example", "/cart", "198.51.100.7", map[string]string{"X-Maintpage-Bypass": faSecret}}, true, 200, "header"},
		{"on, bypass path", original{"GET", "shop.example", "/healthz/live", "198.51.100.7", nil}, true, 200, "path"},
		{"on, bypass path written to escape it", original{"GET", "shop.example", "/healthz/%2e%2e/admin", "198.51.100.7", nil}, true, 503, ""},
		{"on, the reserved prefix", original{"GET", "shop.example", "/_maintenance/bypass?secret=x", "198.51.100.7", nil}, true, 200, ""},
		{"on, the reserved prefix written to escape it", original{"GET", "shop.example", "/_maintenance/../admin", "198.51.100.7", nil}, true, 503, ""},
		{"on, the reserved prefix with an encoded dot", original{"GET", "shop.example", "/_maintenance/%2e%2e/admin", "198.51.100.7", nil}, true, 503, ""},
	}
	for _, tt := range tests {
		if tt.on {
			f.set(t, state.State{On: true, Message: "Upgrading"})
		} else {
			f.set(t, state.State{})
		}
		for name, ask := range askers {
			t.Run(tt.name+"/"+name, func(t *testing.T) {
				w := httptest.NewRecorder()
				f.g.ServeHTTP(w, ask(tt.o))
				want := tt.status
				if name == "nginx" && want != 200 {
					want = 401
				}
				if w.Code != want {
					t.Fatalf("status %d, want %d; body %q", w.Code, want, w.Body.String())
				}
				if got := w.Header().Get("Cache-Control"); got != "no-store" {
					t.Errorf("Cache-Control %q, want no-store", got)
				}
				switch {
				case want == 200 || want == 401:
					if w.Body.Len() != 0 {
						t.Errorf("a pass or a 401 deny has a body: %q", w.Body.String())
					}
					if got := w.Header().Get(bypassHeader); got != tt.bypass {
						t.Errorf("%s %q, want %q", bypassHeader, got, tt.bypass)
					}
				case want == 503:
					if w.Header().Get("Retry-After") == "" {
						t.Error("a deny has no Retry-After")
					}
					if tt.o.header["Accept"] == "text/html" {
						if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
							t.Errorf("Content-Type %q for a browser, want the HTML page", ct)
						}
						if cl := w.Header().Get("Content-Language"); cl != "de" {
							t.Errorf("Content-Language %q, want de from the forwarded Accept-Language", cl)
						}
						if !strings.Contains(w.Body.String(), "Upgrading") {
							t.Error("the page does not show the state's message")
						}
					}
				case want == 429:
					if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" {
						t.Errorf("Content-Type %q, want the rule's problem+json", ct)
					}
				}
			})
		}
	}
	if got := testutil.ToFloat64(f.m.ForwardAuth.WithLabelValues("pass", "cookie")); got != float64(len(askers)) {
		t.Errorf("pass/cookie decisions counted %v, want %d", got, len(askers))
	}
	if got := testutil.ToFloat64(f.m.ForwardAuth.WithLabelValues("deny", "maintenance")); got == 0 {
		t.Error("no deny counted")
	}
}

func TestForwardAuthRefuses(t *testing.T) {
	t.Parallel()
	f := newFixtureYAML(t, faConfig, nil, nil)
	f.set(t, state.State{On: true})
	o := original{"GET", "shop.example", "/cart", "198.51.100.7", nil}
	tests := []struct {
		name   string
		req    func() *http.Request
		status int
	}{
		{"a peer not in trusted_proxies", func() *http.Request { r := traefikAsks(o); r.RemoteAddr = "198.51.100.7:1234"; return r }, 403},
		{"no X-Forwarded-Uri", func() *http.Request { r := traefikAsks(o); r.Header.Del("X-Forwarded-Uri"); return r }, 400},
		{"an absolute X-Forwarded-Uri", func() *http.Request {
			r := traefikAsks(o)
			r.Header.Set("X-Forwarded-Uri", "http://other/cart")
			return r
		}, 400},
		{"a method that is not a token", func() *http.Request { r := traefikAsks(o); r.Header.Set("X-Forwarded-Method", "GE T"); return r }, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			f.g.ServeHTTP(w, tt.req())
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; body %q", w.Code, tt.status, w.Body.String())
			}
			if !strings.Contains(w.Body.String(), "forward-auth:") {
				t.Errorf("the refusal does not say what is wrong: %q", w.Body.String())
			}
		})
	}
	// Through Envoy, X-Forwarded-Uri and -Method are the client's if allowed_headers let them by:
	// the path is the original, and a forged /healthz does not pass.
	r := envoyAsks(o)
	r.Header.Set("X-Forwarded-Uri", "/healthz")
	w := httptest.NewRecorder()
	f.g.ServeHTTP(w, r)
	if w.Code != 503 {
		t.Errorf("a forged X-Forwarded-Uri through Envoy: status %d, want 503", w.Code)
	}
}

// TestForwardAuthAgreesWithTheGate is the differential check of the shared decision: a gate in
// front of an application and the forward-auth endpoint, given the same requests, let the same
// ones through and answer the others with the same status.
func TestForwardAuthAgreesWithTheGate(t *testing.T) {
	t.Parallel()
	app := newEcho(t)
	f := newFixtureYAML(t, faConfig+"upstream: "+app.URL+"\n", nil, nil)
	f.set(t, state.State{On: true})
	cookie := CookieName + "=" + f.g.bypass.mintCookie("shop.example", f.clock.Now().Add(time.Hour))
	for _, o := range []original{
		{"GET", "shop.example", "/", "198.51.100.7", nil},
		{"POST", "shop.example", "/api/x", "198.51.100.7", nil},
		{"PUT", "shop.example", "/api/x", "198.51.100.7", nil},
		{"GET", "shop.example", "/a", "192.0.2.1", nil},
		{"GET", "shop.example", "/a", "198.51.100.7", map[string]string{"Cookie": cookie}},
		{"GET", "other.example", "/a", "198.51.100.7", map[string]string{"Cookie": cookie}},
		{"GET", "shop.example", "/healthz", "198.51.100.7", nil},
		{"GET", "shop.example", "/healthzx", "198.51.100.7", nil},
		{"GET", "shop.example", "/a", "198.51.100.7", map[string]string{"X-Maintpage-Bypass": "wrong-secret-0123"}},
	} {
		direct := httptest.NewRequest(o.method, "http://"+o.host+o.uri, nil)
		direct.RemoteAddr = proxyPeer
		direct.Header.Set("X-Forwarded-For", o.client)
		for k, v := range o.header {
			direct.Header.Set(k, v)
		}
		gw := httptest.NewRecorder()
		f.g.ServeHTTP(gw, direct)
		for name, ask := range askers {
			if name == "nginx" {
				continue // asks for 401 instead of the response
			}
			aw := httptest.NewRecorder()
			f.g.ServeHTTP(aw, ask(o))
			gatePassed, authPassed := gw.Code == 200, aw.Code == 200
			if gatePassed != authPassed || (!gatePassed && gw.Code != aw.Code) {
				t.Errorf("%s %s%s from %s via %s: gate %d, forward-auth %d", o.method, o.host, o.uri, o.client, name, gw.Code, aw.Code)
			}
			if gw.Header().Get(bypassHeader) != aw.Header().Get(bypassHeader) {
				t.Errorf("%s %s via %s: gate's bypass %q, forward-auth's %q", o.method, o.uri, name, gw.Header().Get(bypassHeader), aw.Header().Get(bypassHeader))
			}
		}
	}
}

// TestForwardAuthHeadOriginal: a HEAD asked about with a GET (Traefik, Caddy) gets the body, which
// the proxy drops for its HEAD client; a body-less answer with a Content-Length would break the
// exchange between proxy and maintpage.
func TestForwardAuthHeadOriginal(t *testing.T) {
	t.Parallel()
	f := newFixtureYAML(t, faConfig, nil, nil)
	f.set(t, state.State{On: true})
	w := httptest.NewRecorder()
	f.g.ServeHTTP(w, traefikAsks(original{"HEAD", "shop.example", "/", "198.51.100.7", nil}))
	if w.Code != 503 || w.Body.Len() == 0 || w.Header().Get("Content-Length") != itoa(w.Body.Len()) {
		t.Fatalf("status %d, body %d bytes, Content-Length %q", w.Code, w.Body.Len(), w.Header().Get("Content-Length"))
	}
}

// TestBesideAProxyEveryOtherPathIsThePage: without an upstream there is nowhere to pass to; a
// request that reaches maintpage itself (nginx's error_page after a 401 deny) gets the page.
func TestBesideAProxyEveryOtherPathIsThePage(t *testing.T) {
	t.Parallel()
	f := newFixtureYAML(t, faConfig, nil, nil)
	f.set(t, state.State{On: true, Message: "Back at six"})
	w := f.do("POST", "/api/orders", proxyPeer, map[string]string{"X-Forwarded-For": "198.51.100.7"})
	if w.Code != 429 {
		t.Errorf("POST /api/orders: %d, want the rule's 429", w.Code)
	}
	w = f.do("GET", "/cart", proxyPeer, map[string]string{"Accept": "text/plain"})
	if w.Code != 503 || !strings.Contains(w.Body.String(), "Back at six") {
		t.Errorf("GET /cart: %d %q, want the page with the state's message", w.Code, w.Body.String())
	}
}

// TestForwardAuthHonoursPassRulesAndScopes: read-only mode (a pass rule) and maintenance of one
// scope reach the forward-auth endpoint through the gate's own Decide, with no second
// implementation.
func TestForwardAuthHonoursPassRulesAndScopes(t *testing.T) {
	t.Parallel()
	f := newFixtureYAML(t, `
forward_auth: true
trusted_proxies: [10.0.0.0/8]
rules:
  - name: api
    match: {path_prefix: /api/}
    scope: api
  - name: reads
    match: {methods: [GET, HEAD]}
    action: pass
`, nil, nil)
	ask := func(method, uri string) int {
		w := httptest.NewRecorder()
		f.g.ServeHTTP(w, traefikAsks(original{method, "shop.example", uri, "198.51.100.7", map[string]string{"Accept": "application/problem+json"}}))
		return w.Code
	}
	// The whole site on: reads pass (the rule), writes get the page.
	f.set(t, state.State{On: true})
	if got := ask("GET", "/cart"); got != 200 {
		t.Errorf("site on, GET /cart: %d, want 200 (action: pass)", got)
	}
	if got := ask("POST", "/cart"); got != 503 {
		t.Errorf("site on, POST /cart: %d, want 503", got)
	}
	// Only the api scope on: the API gets the page, whatever the method, the rest passes.
	f.set(t, state.State{Scopes: map[string]state.Scope{"api": {On: true, Message: "API upgrade"}}})
	w := httptest.NewRecorder()
	f.g.ServeHTTP(w, traefikAsks(original{"GET", "shop.example", "/api/orders", "198.51.100.7", map[string]string{"Accept": "application/problem+json"}}))
	if w.Code != 503 || !strings.Contains(w.Body.String(), "API upgrade") {
		t.Errorf("scope api on, GET /api/orders: %d %q, want the scope's 503", w.Code, w.Body.String())
	}
	if got := ask("POST", "/cart"); got != 200 {
		t.Errorf("scope api on, POST /cart: %d, want 200", got)
	}
	if got := testutil.ToFloat64(f.m.ForwardAuth.WithLabelValues("pass", "rule")); got != 1 {
		t.Errorf("pass/rule counted %v, want 1", got)
	}
}
