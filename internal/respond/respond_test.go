package respond

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/maintpage/maintpage/internal/config"
	"github.com/maintpage/maintpage/internal/metrics"
)

// load builds a configuration from YAML (and env), as serve would.
func load(t testing.TB, yaml string, env map[string]string) *config.Config {
	t.Helper()
	file := ""
	if yaml != "" {
		file = filepath.Join(t.TempDir(), "maintpage.yaml")
		if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, err := config.Load(file, func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newResponder(t testing.TB, yaml string, o Options) *Responder {
	t.Helper()
	if o.Config == nil {
		o.Config = load(t, yaml, nil)
	}
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func do(h http.Handler, method, target string, header map[string]string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "http://app.example.com"+target, nil)
	if target == "*" || !strings.HasPrefix(target, "/") {
		req.URL.Path = target
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func TestEveryMethodAndPathGetsTheMaintenanceResponse(t *testing.T) {
	t.Parallel()
	r := newResponder(t, "", Options{})
	methods := []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT", "PROPFIND", "BREW"}
	paths := []string{"/", "/index.html", "/deep/link/to/page?x=1&y=2", "/api/v1/users/42", "/%2e%2e/%2e%2e/etc/passwd",
		"/wp-login.php", "/robots.txt", "/favicon.ico", "/_maintenanc", "/a//b", "/über/straße", "/" + strings.Repeat("x", 2000)}
	for _, m := range methods {
		for _, p := range paths {
			w := do(r, m, p, nil)
			if w.Code != http.StatusServiceUnavailable {
				t.Errorf("%s %s: status %d, want 503", m, p, w.Code)
			}
			h := w.Header()
			for k, want := range map[string]string{"Retry-After": "3600", "Cache-Control": "no-store", "Vary": "Accept, Accept-Language"} {
				if got := h.Get(k); got != want {
					t.Errorf("%s %s: %s = %q, want %q", m, p, k, got, want)
				}
			}
			if m == "HEAD" && w.Body.Len() != 0 {
				t.Errorf("HEAD %s: body of %d bytes, want none", p, w.Body.Len())
			}
			if m != "HEAD" && strconv.Itoa(w.Body.Len()) != h.Get("Content-Length") {
				t.Errorf("%s %s: Content-Length %s, body %d bytes", m, p, h.Get("Content-Length"), w.Body.Len())
			}
		}
	}
}

func TestHeadHasTheSameHeadersAsGet(t *testing.T) {
	t.Parallel()
	r := newResponder(t, "", Options{})
	for _, accept := range []string{"text/html", "application/json", "*/*"} {
		get := do(r, "GET", "/x", map[string]string{"Accept": accept})
		head := do(r, "HEAD", "/x", map[string]string{"Accept": accept})
		// Both directions: a header HEAD has and GET lacks is as wrong as the reverse.
		for _, pair := range [][2]http.Header{{get.Header(), head.Header()}, {head.Header(), get.Header()}} {
			for k := range pair[0] {
				if !slices.Equal(get.Header()[k], head.Header()[k]) {
					t.Errorf("Accept %s: %s is %q on GET, %q on HEAD", accept, k, get.Header()[k], head.Header()[k])
				}
			}
		}
		if get.Code != head.Code || get.Body.Len() == 0 || head.Body.Len() != 0 {
			t.Errorf("Accept %s: GET %d with %d bytes, HEAD %d with %d bytes; want the same status, a body only on GET",
				accept, get.Code, get.Body.Len(), head.Code, head.Body.Len())
		}
	}
}

func TestFormatByAccept(t *testing.T) {
	t.Parallel()
	r := newResponder(t, "message: Back at six\n", Options{})
	tests := []struct {
		name, accept, wantType, wantIn string
	}{
		{"browser", "text/html,application/xhtml+xml,*/*;q=0.8", "text/html; charset=utf-8", "<html"},
		{"problem json", "application/problem+json", "application/problem+json", `"status":503`},
		{"json", "application/json", "application/json", `"detail":"Back at six"`},
		{"text", "text/plain", "text/plain; charset=utf-8", "Back at six"},
		{"curl default", "*/*", "text/plain; charset=utf-8", "Back at six"},
		{"matches nothing", "image/png", "text/plain; charset=utf-8", "Back at six"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := do(r, "GET", "/x", map[string]string{"Accept": tt.accept})
			if got := w.Header().Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
			}
			if !strings.Contains(w.Body.String(), tt.wantIn) {
				t.Errorf("body does not contain %q:\n%s", tt.wantIn, w.Body.String())
			}
		})
	}
}

func TestProblemJSON(t *testing.T) {
	t.Parallel()
	until := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	r := newResponder(t, "message: Upgrading the database\ntitle: Scheduled maintenance\nuntil: 2030-01-02T03:04:05Z\n", Options{})
	w := do(r, "POST", "/api/orders", map[string]string{"Accept": "application/json"})
	var p map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, w.Body.String())
	}
	want := map[string]any{"title": "Scheduled maintenance", "status": float64(503), "detail": "Upgrading the database", "until": until.Format(time.RFC3339)}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %v, want %v", k, p[k], v)
		}
	}
	if typ, _ := p["type"].(string); typ == "" {
		t.Error("problem has no type")
	}
}

func TestDefaultFormatIsConfigurable(t *testing.T) {
	t.Parallel()
	r := newResponder(t, "default_format: html\n", Options{})
	if got := do(r, "GET", "/", map[string]string{"Accept": "*/*"}).Header().Get("Content-Type"); !strings.HasPrefix(got, "text/html") {
		t.Errorf("Content-Type for */* = %q, want HTML", got)
	}
}

func TestRetryAfterFollowsTheAnnouncedEnd(t *testing.T) {
	t.Parallel()
	until := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	cfg := load(t, "until: 2030-01-01T12:00:00Z\nretry_after_overdue: 90s\n", nil)
	now := until.Add(-10*time.Minute - 500*time.Millisecond)
	r := newResponder(t, "", Options{Config: cfg, Now: func() time.Time { return now }})
	check := func(wantRetry string, wantOverdue bool) {
		t.Helper()
		w := do(r, "GET", "/", map[string]string{"Accept": "text/plain"})
		if got := w.Header().Get("Retry-After"); got != wantRetry {
			t.Errorf("at %v: Retry-After = %q, want %q", now, got, wantRetry)
		}
		if got := strings.Contains(w.Body.String(), "longer than expected"); got != wantOverdue {
			t.Errorf("at %v: overdue line shown = %v, want %v:\n%s", now, got, wantOverdue, w.Body.String())
		}
	}
	check("601", false)
	now = until.Add(-time.Second)
	check("1", false)
	now = until
	check("90", true)
	now = until.Add(time.Hour)
	check("90", true)
}

func TestNothingFromTheRequestIsEchoedUnescaped(t *testing.T) {
	t.Parallel()
	seed := load(t, `rules:
  - name: fallback
    status: 200
    format: html
    body: "FALLBACK trying to reach {{.Request.Path}} from {{.Request.Host}} ({{.Request.Query}}): {{.Message}}"
  - name: never
    match: {path: /never}
    format: text
    body: "x"
`, nil)
	jsonEcho := load(t, `rules:
  - name: json echo
    format: json
    body: '{"path":{{json .Request.Path}},"query":{{json .Request.Query}},"host":{{json .Request.Host}}}'
`, nil)
	probes := []string{"<script>alert(1)</script>", `"><img src=x onerror=alert(1)>`, "'-alert(1)-'", "javascript:alert(1)", "</title><svg/onload=alert(1)>"}
	for _, cfg := range []*config.Config{load(t, "", nil), seed, jsonEcho} {
		r := newResponder(t, "", Options{Config: cfg})
		for _, p := range probes {
			for _, accept := range []string{"text/html", "application/json", "text/plain", "*/*"} {
				req := httptest.NewRequest("GET", "/", nil)
				req.URL.Path = "/" + p
				req.URL.RawQuery = "q=" + p
				req.Host = "evil.example" + p
				req.Header.Set("Accept", accept)
				req.Header.Set("Accept-Language", p)
				req.Header.Set("User-Agent", p)
				req.Header.Set("Referer", p)
				w := httptest.NewRecorder()
				r.ServeHTTP(w, req)
				body := w.Body.String()
				for _, bad := range []string{"<script>alert", "<img src=x", "<svg/onload", `"><`} {
					if strings.Contains(body, bad) {
						t.Errorf("probe %q with Accept %s: body contains %q unescaped:\n%s", p, accept, bad, body)
					}
				}
				for k, vs := range w.Header() {
					for _, v := range vs {
						if strings.Contains(v, "alert") {
							t.Errorf("probe %q: header %s echoes it: %q", p, k, v)
						}
					}
				}
			}
		}
	}
}

func TestReservedPrefix(t *testing.T) {
	t.Parallel()
	assets := t.TempDir()
	if err := os.WriteFile(filepath.Join(assets, "logo.svg"), []byte("<svg/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(assets, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(t.TempDir(), "secret.txt")
	if err := os.WriteFile(secret, []byte("top secret"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(assets, "link.txt")); err != nil {
		t.Fatal(err)
	}
	r := newResponder(t, "message: hello\nuntil: 2030-01-01T00:00:00Z\nassets_dir: "+assets+"\n", Options{})
	tests := []struct {
		name, method, path string
		wantStatus         int
		wantIn             string
		wantCache          string
	}{
		{"health", "GET", "/_maintenance/health", 200, "ok", "no-store"},
		{"health HEAD", "HEAD", "/_maintenance/health", 200, "", "no-store"},
		{"status", "GET", "/_maintenance/status", 200, `"maintenance":true`, "no-store"},
		{"asset", "GET", "/_maintenance/assets/logo.svg", 200, "<svg/>", "public, max-age=86400"},
		{"missing asset", "GET", "/_maintenance/assets/nope.png", 404, "", ""},
		{"no listing", "GET", "/_maintenance/assets/", 404, "", ""},
		{"no dir listing", "GET", "/_maintenance/assets/sub/", 404, "", ""},
		{"no escape by dots", "GET", "/_maintenance/assets/../../../../etc/passwd", 404, "", ""},
		{"no escape by symlink", "GET", "/_maintenance/assets/link.txt", 404, "", ""},
		{"no POST to assets", "POST", "/_maintenance/assets/logo.svg", 405, "", ""},
		{"unknown reserved", "GET", "/_maintenance/nothing", 404, "", "no-store"},
		{"metrics closed without token", "GET", "/_maintenance/metrics", 404, "", "no-store"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(tt.method, "/", nil)
			req.URL.Path = tt.path
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			if w.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", w.Code, tt.wantStatus)
			}
			if !strings.Contains(w.Body.String(), tt.wantIn) {
				t.Errorf("body %q does not contain %q", w.Body.String(), tt.wantIn)
			}
			if strings.Contains(w.Body.String(), "top secret") || strings.Contains(w.Body.String(), "root:") {
				t.Errorf("served a file outside the assets directory")
			}
			if tt.wantCache != "" && w.Header().Get("Cache-Control") != tt.wantCache {
				t.Errorf("Cache-Control = %q, want %q", w.Header().Get("Cache-Control"), tt.wantCache)
			}
		})
	}
	var st Status
	if err := json.Unmarshal(do(r, "GET", "/_maintenance/status", nil).Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if !st.Maintenance || st.Message != "hello" || !st.Until.Equal(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("status = %+v", st)
	}
}

func TestCustomReservedPrefix(t *testing.T) {
	t.Parallel()
	r := newResponder(t, "reserved_prefix: /.well-known/maint/\n", Options{})
	if got := do(r, "GET", "/.well-known/maint/health", nil).Code; got != 200 {
		t.Errorf("health under the custom prefix: %d, want 200", got)
	}
	if got := do(r, "GET", "/_maintenance/health", nil).Code; got != 503 {
		t.Errorf("the default prefix once changed: %d, want 503", got)
	}
}

func TestMetricsEndpointNeedsTheToken(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	r := newResponder(t, "metrics_token: 0123456789abcdef0123\n", Options{Metrics: m, Gatherer: reg})
	do(r, "GET", "/x", map[string]string{"Accept": "text/html"})
	if got := do(r, "GET", "/_maintenance/metrics", nil).Code; got != 401 {
		t.Errorf("without token: %d, want 401", got)
	}
	if got := do(r, "GET", "/_maintenance/metrics", map[string]string{"Authorization": "Bearer wrong"}).Code; got != 401 {
		t.Errorf("wrong token: %d, want 401", got)
	}
	w := do(r, "GET", "/_maintenance/metrics", map[string]string{"Authorization": "Bearer 0123456789abcdef0123"})
	if w.Code != 200 || !strings.Contains(w.Body.String(), `maintpage_responses_total{format="html",rule="default",status="503"} 1`) {
		t.Errorf("with token: %d\n%s", w.Code, w.Body.String())
	}
}

func TestMetricsByStatusFormatAndRule(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	r := newResponder(t, `rules:
  - name: home
    match: {path: /}
    status: 200
    format: text
    body: "home"
`, Options{Metrics: m})
	do(r, "GET", "/", nil)
	do(r, "GET", "/a", map[string]string{"Accept": "application/json"})
	do(r, "GET", "/b", map[string]string{"Accept": "application/json"})
	do(r, "GET", "/c", map[string]string{"Accept": "text/html"})
	golden, err := os.Open("testdata/metrics.golden")
	if err != nil {
		t.Fatal(err)
	}
	defer golden.Close()
	if err := testutil.GatherAndCompare(reg, golden, "maintpage_responses_total"); err != nil {
		t.Error(err)
	}
}

func TestRules(t *testing.T) {
	t.Parallel()
	r := newResponder(t, `message: Back soon
rules:
  - name: api
    match: {path_prefix: /api/}
    format: problem+json
    headers: {X-Maintenance: "yes", Cache-Control: "no-store, max-age=0"}
  - name: webhook
    match: {path: /hooks/stripe, methods: [POST]}
    status: 429
    format: json
    body: '{"retry":true,"message":{{json .Message}}}'
  - name: admin host
    match: {hosts: ["admin.example.com"]}
    status: 503
    format: text
    body: "admin is down: {{.Message}}"
`, Options{})
	tests := []struct {
		name, method, path, host, accept string
		wantStatus                       int
		wantType, wantBody, wantRetry    string
		wantHeader                       [2]string
	}{
		{name: "api ignores Accept", method: "GET", path: "/api/x", accept: "text/html", wantStatus: 503,
			wantType: "application/problem+json", wantBody: `"detail":"Back soon"`, wantRetry: "3600", wantHeader: [2]string{"X-Maintenance", "yes"}},
		{name: "rule header replaces ours", method: "GET", path: "/api/x", wantStatus: 503,
			wantType: "application/problem+json", wantRetry: "3600", wantHeader: [2]string{"Cache-Control", "no-store, max-age=0"}},
		{name: "webhook 429 with Retry-After", method: "POST", path: "/hooks/stripe", wantStatus: 429,
			wantType: "application/json", wantBody: `{"retry":true,"message":"Back soon"}`, wantRetry: "3600"},
		{name: "webhook GET falls through", method: "GET", path: "/hooks/stripe", accept: "text/plain", wantStatus: 503,
			wantType: "text/plain; charset=utf-8", wantBody: "Back soon", wantRetry: "3600"},
		{name: "host rule", method: "GET", path: "/", host: "admin.example.com", wantStatus: 503,
			wantType: "text/plain; charset=utf-8", wantBody: "admin is down: Back soon", wantRetry: "3600"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			req := httptest.NewRequest(tt.method, "/", nil)
			req.URL.Path = tt.path
			if tt.host != "" {
				req.Host = tt.host
			}
			if tt.accept != "" {
				req.Header.Set("Accept", tt.accept)
			}
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			if w.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", w.Code, tt.wantStatus)
			}
			if got := w.Header().Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
			}
			if !strings.Contains(w.Body.String(), tt.wantBody) {
				t.Errorf("body = %q, want it to contain %q", w.Body.String(), tt.wantBody)
			}
			if got := w.Header().Get("Retry-After"); got != tt.wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantRetry)
			}
			if k := tt.wantHeader[0]; k != "" && w.Header().Get(k) != tt.wantHeader[1] {
				t.Errorf("%s = %q, want %q", k, w.Header().Get(k), tt.wantHeader[1])
			}
			if n := len(w.Header().Values("Cache-Control")); n != 1 {
				t.Errorf("Cache-Control sent %d times, want once", n)
			}
		})
	}
}

func TestRuleBodyConditionsOnTheRequest(t *testing.T) {
	t.Parallel()
	r := newResponder(t, `rules:
  - format: text
    status: 200
    body: '{{if .Request.Query}}query{{else}}plain{{end}} {{if eq .Request.Method "GET"}}GET{{else}}other{{end}}'
`, Options{})
	for _, tt := range []struct{ method, target, want string }{
		{"GET", "/q?a=1", "query GET"},
		{"POST", "/q", "plain other"},
	} {
		if got := do(r, tt.method, tt.target, nil).Body.String(); got != tt.want {
			t.Errorf("%s %s: body %q, want %q", tt.method, tt.target, got, tt.want)
		}
	}
}

func TestRuleErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, yaml, want string }{
		{"body without format", "rules:\n  - body: x\n", "a rule with a body needs a format"},
		{"template parse error", "rules:\n  - format: text\n    body: \"{{.Message\"\n", "maintpage.yaml:2: rule \"rule 1\": body: template: body:1: unclosed action"},
		{"template exec error", "rules:\n  - format: text\n    body: \"{{.Nope}}\"\n", "can't evaluate field Nope"},
		{"invalid json", "rules:\n  - format: json\n    body: \"{\\\"m\\\": {{.Message}}}\"\n", "does not render valid JSON"},
		{"request value unescaped in json", "rules:\n  - format: json\n    body: '{\"p\":\"{{.Request.Path}}\"}'\n", "{{json .Request.Path}}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg := load(t, tt.yaml, nil)
			_, err := New(Options{Config: cfg})
			if err == nil {
				t.Fatal("New succeeded, want an error")
			}
			got := strings.ReplaceAll(err.Error(), cfg.File, "maintpage.yaml")
			if !strings.Contains(got, tt.want) {
				t.Errorf("error = %q, want it to contain %q", got, tt.want)
			}
		})
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	r := newResponder(t, "cors_origins: [https://app.example.com]\n", Options{})
	w := do(r, "GET", "/api", map[string]string{"Origin": "https://app.example.com", "Accept": "application/json"})
	if w.Code != 503 || w.Header().Get("Access-Control-Allow-Origin") != "https://app.example.com" {
		t.Errorf("allowed origin: %d, ACAO %q", w.Code, w.Header().Get("Access-Control-Allow-Origin"))
	}
	if !strings.Contains(w.Header().Get("Access-Control-Expose-Headers"), "Retry-After") {
		t.Errorf("Retry-After not exposed to the browser")
	}
	w = do(r, "GET", "/api", map[string]string{"Origin": "https://evil.example"})
	if got := w.Header().Get("Access-Control-Allow-Origin"); got != "" {
		t.Errorf("other origin got ACAO %q", got)
	}
	pre := do(r, "OPTIONS", "/api", map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "content-type, x-token"})
	if pre.Code != 204 || pre.Header().Get("Access-Control-Allow-Methods") != "PUT" || pre.Header().Get("Access-Control-Allow-Headers") != "content-type, x-token" {
		t.Errorf("preflight: %d %v", pre.Code, pre.Header())
	}
	bad := do(r, "OPTIONS", "/api", map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "x\r\ny: <script>"})
	if got := bad.Header().Get("Access-Control-Allow-Headers"); got != "" {
		t.Errorf("reflected odd request headers: %q", got)
	}
	if got := do(r, "OPTIONS", "/api", map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "PUT"}).Code; got != 503 {
		t.Errorf("preflight from another origin: %d, want the 503", got)
	}
}

func TestLargeBodyClosesTheConnection(t *testing.T) {
	t.Parallel()
	r := newResponder(t, "max_body_bytes: 1024\n", Options{})
	small := httptest.NewRequest("POST", "/", strings.NewReader("a=1"))
	w := httptest.NewRecorder()
	r.ServeHTTP(w, small)
	if w.Header().Get("Connection") != "" {
		t.Errorf("small body: Connection %q, want none", w.Header().Get("Connection"))
	}
	big := httptest.NewRequest("POST", "/", io.LimitReader(neverEnding{}, 1<<20))
	big.ContentLength = 1 << 20
	w = httptest.NewRecorder()
	r.ServeHTTP(w, big)
	if w.Code != 503 || w.Header().Get("Connection") != "close" {
		t.Errorf("large body: %d, Connection %q; want 503 and close", w.Code, w.Header().Get("Connection"))
	}
}

// TestHTTP2BodyKeepsTheConnection: HTTP/2 ends an unread body with the stream (RST_STREAM), and Go's
// HTTP/2 server takes a handler's Connection: close as "close the whole connection" — which broke
// h2spec's 4.2/2 (a too-large DATA frame got a TCP reset instead of FRAME_SIZE_ERROR).
func TestHTTP2BodyKeepsTheConnection(t *testing.T) {
	t.Parallel()
	r := newResponder(t, "max_body_bytes: 1024\n", Options{})
	big := httptest.NewRequest("POST", "/", io.LimitReader(neverEnding{}, 1<<20))
	big.ContentLength = -1
	big.Proto, big.ProtoMajor, big.ProtoMinor = "HTTP/2.0", 2, 0
	w := httptest.NewRecorder()
	r.ServeHTTP(w, big)
	if w.Code != 503 || w.Header().Get("Connection") != "" {
		t.Errorf("HTTP/2 unbounded body: %d, Connection %q; want 503 and no Connection header", w.Code, w.Header().Get("Connection"))
	}
}

type neverEnding struct{}

func (neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	return len(p), nil
}

func TestLanguages(t *testing.T) {
	t.Parallel()
	r := newResponder(t, "languages:\n  en: {message: Back soon}\n  de: {message: Bald zurück}\n", Options{})
	tests := []struct{ header, want, lang string }{
		{"de-DE,de;q=0.9", "Bald zurück", "de"},
		{"en-US", "Back soon", "en"},
		{"fr-FR", "Back soon", "fr"}, // built-in French strings, the default message
		{"", "Back soon", "en"},
	}
	for _, tt := range tests {
		for _, accept := range []string{"text/plain", "application/json", "text/html"} {
			w := do(r, "GET", "/", map[string]string{"Accept": accept, "Accept-Language": tt.header})
			if !strings.Contains(w.Body.String(), tt.want) || w.Header().Get("Content-Language") != tt.lang {
				t.Errorf("Accept-Language %q, %s: Content-Language %q, body %q; want %s and %q", tt.header, accept, w.Header().Get("Content-Language"), w.Body.String(), tt.lang, tt.want)
			}
		}
	}
}

func TestUnplanned(t *testing.T) {
	t.Parallel()
	r := newResponder(t, "", Options{})
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Accept", "application/json")
	w := httptest.NewRecorder()
	r.Unplanned(w, req)
	if w.Code != 503 || !strings.Contains(w.Body.String(), `"unplanned":true`) {
		t.Errorf("unplanned: %d %s", w.Code, w.Body.String())
	}
}

func TestStatusOverride(t *testing.T) {
	t.Parallel()
	until := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	r := newResponder(t, "message: from config\n", Options{Status: &Status{Maintenance: true, Message: "from state", Until: until, Reason: "db upgrade", ChangedBy: "alice@ops"}})
	if body := do(r, "GET", "/", nil).Body.String(); !strings.Contains(body, "from state") {
		t.Errorf("body %q does not show the state's message", body)
	}
	body := do(r, "GET", "/_maintenance/status", nil).Body.String()
	if !strings.Contains(body, `"message":"from state"`) || !strings.Contains(body, `"until":"2031-05-06T07:08:09Z"`) {
		t.Errorf("status %q does not show the state's message and end", body)
	}
	if strings.Contains(body, "db upgrade") || strings.Contains(body, "changed_by") {
		t.Errorf("the public status %q shows who changed the state or why", body)
	}
}
