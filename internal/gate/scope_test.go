package gate

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/maintpage/maintpage/internal/server"
	"github.com/maintpage/maintpage/internal/state"
)

const readOnlyYAML = `rules:
  - name: reads
    match: {methods: [GET, HEAD, OPTIONS]}
    action: pass
`

func TestReadOnlyPassesReadsDuringMaintenance(t *testing.T) {
	t.Parallel()
	up := newEcho(t)
	f := newFixtureYAML(t, readOnlyYAML, map[string]string{"upstream": up.URL}, nil)
	f.set(t, state.State{On: true, Message: "Read-only while we migrate"})
	tests := []struct {
		method   string
		header   map[string]string
		wantCode int
		wantUp   bool
	}{
		{"GET", nil, 200, true},
		{"HEAD", nil, 200, true},
		{"OPTIONS", map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}, 200, true},
		{"POST", problem, 503, false},
		{"DELETE", problem, 503, false},
	}
	for _, tt := range tests {
		before := up.hits.Load()
		w := f.do(tt.method, "/things/1", "", tt.header)
		reached := up.hits.Load() > before
		if w.Code != tt.wantCode || reached != tt.wantUp {
			t.Errorf("%s during read-only maintenance: got %d, upstream reached %v; want %d, %v", tt.method, w.Code, reached, tt.wantCode, tt.wantUp)
		}
		if !tt.wantUp {
			if ct := w.Header().Get("Content-Type"); ct != "application/problem+json" || !strings.Contains(w.Body.String(), "Read-only while we migrate") {
				t.Errorf("%s: got %s %q, want problem JSON with the message", tt.method, ct, w.Body.String())
			}
		}
	}
	if got := testutil.ToFloat64(f.m.GateRequests.WithLabelValues("passed")); got != 3 {
		t.Errorf("gate_requests_total{outcome=passed} = %v, want 3", got)
	}
	// Maintenance off: the pass rule changes nothing, everything is proxied.
	f.set(t, state.State{On: false})
	if w := f.do("POST", "/things/1", "", nil); w.Code != 200 {
		t.Errorf("POST with maintenance off: got %d, want 200 from the upstream", w.Code)
	}
}

const scopesYAML = `rules:
  - name: api-reads
    scope: api
    match: {path_prefix: /api/, methods: [GET]}
    action: pass
  - name: api
    scope: api
    match: {path_prefix: /api/}
  - name: checkout
    scope: checkout
    match: {path_prefix: /checkout}
`

func TestScopesSwitchOnlyTheirRequests(t *testing.T) {
	t.Parallel()
	up := newEcho(t)
	f := newFixtureYAML(t, scopesYAML, map[string]string{"upstream": up.URL}, nil)
	until := f.clock.Now().Add(2 * time.Hour)
	set := func(name string, sc state.Scope) {
		t.Helper()
		if _, err := f.tr.Update(context.Background(), func(s state.State) (state.State, error) { return s.WithScope(name, sc), nil }); err != nil {
			t.Fatal(err)
		}
	}
	codes := func() map[string]int {
		got := map[string]int{}
		for _, p := range []string{"GET /api/x", "POST /api/x", "GET /checkout", "GET /"} {
			m, path, _ := strings.Cut(p, " ")
			got[p] = f.do(m, path, "", problem).Code
		}
		return got
	}
	check := func(step string, want map[string]int) {
		t.Helper()
		got := codes()
		for k, w := range want {
			if got[k] != w {
				t.Errorf("%s: %s got %d, want %d", step, k, got[k], w)
			}
		}
	}
	check("all off", map[string]int{"GET /api/x": 200, "POST /api/x": 200, "GET /checkout": 200, "GET /": 200})

	set("api", state.Scope{On: true, Message: "API paused", Until: until})
	check("api on", map[string]int{"GET /api/x": 200, "POST /api/x": 503, "GET /checkout": 200, "GET /": 200})
	w := f.do("POST", "/api/x", "", problem)
	if !strings.Contains(w.Body.String(), "API paused") || w.Header().Get("Retry-After") != "7200" {
		t.Errorf("the api scope's response: got Retry-After %q, body %s; want 7200 and the scope's message", w.Header().Get("Retry-After"), w.Body.String())
	}

	set("checkout", state.Scope{On: true})
	check("api and checkout on", map[string]int{"POST /api/x": 503, "GET /checkout": 503, "GET /": 200})
	set("api", state.Scope{On: false})
	check("checkout on", map[string]int{"POST /api/x": 200, "GET /checkout": 503, "GET /": 200})

	// The whole site on: everything but the pass rule's requests; off ends the scopes as well.
	set("", state.Scope{On: true})
	check("site on", map[string]int{"GET /api/x": 200, "POST /api/x": 503, "GET /checkout": 503, "GET /": 503})
	set("", state.Scope{On: false})
	check("site off", map[string]int{"POST /api/x": 200, "GET /checkout": 200, "GET /": 200})

	// A scope with a scheduled start turns on when the clock reaches it, with no state change.
	set("checkout", state.Scope{On: true, Start: f.clock.Now().Add(time.Minute)})
	check("checkout scheduled", map[string]int{"GET /checkout": 200})
	f.clock.Set(f.clock.Now().Add(time.Minute))
	check("checkout started", map[string]int{"GET /checkout": 503, "GET /": 200})
}

func TestStatusEndpointAndMetricsShowScopes(t *testing.T) {
	t.Parallel()
	up := newEcho(t)
	f := newFixtureYAML(t, scopesYAML, map[string]string{"upstream": up.URL}, nil)
	f.set(t, state.State{}.WithScope("api", state.Scope{On: true, Message: "API paused"}))
	w := f.do("GET", "/_maintenance/status", "", nil)
	want := `{"maintenance":false,"message":"We are doing some planned maintenance and will be back soon.","scopes":{"api":{"maintenance":true,"message":"API paused"},"checkout":{"maintenance":false}}}`
	if got := strings.TrimSpace(w.Body.String()); w.Code != http.StatusOK || got != want {
		t.Errorf("status endpoint: got %d\n%s\nwant\n%s", w.Code, got, want)
	}
	exp := `
# HELP maintpage_scope_maintenance 1 while maintenance applies to the scope's requests (the whole site's, or the scope's own), else 0.
# TYPE maintpage_scope_maintenance gauge
maintpage_scope_maintenance{scope="api"} 1
maintpage_scope_maintenance{scope="checkout"} 0
`
	if err := testutil.GatherAndCompare(f.reg, strings.NewReader(exp), "maintpage_scope_maintenance"); err != nil {
		t.Error(err)
	}
}

// TestFastPathAgreesWithServeHTTP checks that the fast path answers exactly the requests ServeHTTP
// answers with the maintenance response, with the same status and body, under pass rules and scopes.
func TestFastPathAgreesWithServeHTTP(t *testing.T) {
	t.Parallel()
	up := newEcho(t)
	f := newFixtureYAML(t, scopesYAML, map[string]string{"upstream": up.URL}, nil)
	states := map[string]state.State{
		"off":     {},
		"api on":  state.State{}.WithScope("api", state.Scope{On: true, Message: "API paused"}),
		"site on": {On: true, Message: "All paused"},
	}
	for name, s := range states {
		f.set(t, s)
		for _, p := range []string{"GET /api/x", "POST /api/x", "GET /checkout", "GET /"} {
			method, path, _ := strings.Cut(p, " ")
			w := f.do(method, path, "", map[string]string{"Accept": "text/plain"})
			fr, ok := f.g.ServeFast(nil, &server.FastRequest{Method: method, Path: path, Host: "example.com", Accept: "text/plain"})
			if ok != (w.Code == 503) {
				t.Errorf("%s, %s: fast path answered %v, ServeHTTP %d", name, p, ok, w.Code)
				continue
			}
			if ok && (fr.Status != w.Code || string(fr.Body) != w.Body.String()) {
				t.Errorf("%s, %s: fast path %d %q, ServeHTTP %d %q", name, p, fr.Status, fr.Body, w.Code, w.Body.String())
			}
		}
	}
}

// In route-service mode the Cloud Foundry router sends the request to the route service's own URL
// and host, and the user's URL only in X-CF-Forwarded-Url (gorouter,
// proxy/round_tripper/proxy_round_tripper.go: request.Host = reqInfo.RouteServiceURL.Host;
// *request.URL = *reqInfo.RouteServiceURL). Rules, scopes and path bypasses must match the user's
// URL, or a scope switched on for /checkout never matches and its requests reach the app.
func TestRouteServiceRulesMatchTheForwardedURL(t *testing.T) {
	t.Parallel()
	up := newEcho(t)
	f := newFixtureYAML(t, scopesYAML+`  - name: health
    match: {path_prefix: /status}
    action: pass
`, map[string]string{
		"route_service":       "true",
		"route_service_hosts": "my-app.apps.example.com",
	}, toAddr(strings.TrimPrefix(up.URL, "http://")))
	get := func(method, forwarded string) int {
		t.Helper()
		return f.do(method, "/", "", map[string]string{
			"Host":                 "maintpage-rs.apps.example.com",
			"X-Cf-Forwarded-Url":   "http://my-app.apps.example.com" + forwarded,
			"X-Cf-Proxy-Signature": "sig",
		}).Code
	}
	if _, err := f.tr.Update(context.Background(), func(s state.State) (state.State, error) {
		return s.WithScope("checkout", state.Scope{On: true}), nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		method, forwarded string
		want              int
	}{
		{"GET", "/checkout/pay", 503},
		{"GET", "/catalogue", 200},
		{"POST", "/api/orders", 200},
	} {
		if got := get(tt.method, tt.forwarded); got != tt.want {
			t.Errorf("scope checkout on, %s %s through the router: got %d, want %d", tt.method, tt.forwarded, got, tt.want)
		}
	}
	f.set(t, state.State{On: true})
	for _, tt := range []struct {
		method, forwarded string
		want              int
	}{
		{"GET", "/status", 200},
		{"GET", "/api/orders", 200},
		{"POST", "/api/orders", 503},
		{"GET", "/checkout/pay", 503},
	} {
		if got := get(tt.method, tt.forwarded); got != tt.want {
			t.Errorf("whole site on, %s %s through the router: got %d, want %d", tt.method, tt.forwarded, got, tt.want)
		}
	}
}
