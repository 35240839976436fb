package gate

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/maintpage/maintpage/internal/config"
	"github.com/maintpage/maintpage/internal/metrics"
	"github.com/maintpage/maintpage/internal/state"
)

// clock is a settable test clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// echo is an upstream that answers with what it received, as JSON, and counts its requests.
type echo struct {
	*httptest.Server
	hits atomic.Int64
}

type echoed struct {
	Method string      `json:"method"`
	Host   string      `json:"host"`
	URI    string      `json:"uri"`
	Header http.Header `json:"header"`
}

func newEcho(t testing.TB) *echo {
	t.Helper()
	e := &echo{}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.hits.Add(1)
		if s := r.Header.Get("X-Test-Status"); s != "" {
			w.Header().Set("X-Cf-Proxy-Signature", "leaked")
			w.WriteHeader(atoi(s))
			io.WriteString(w, "upstream's own error body")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Cf-Proxy-Signature", "must-not-reach-the-client")
		json.NewEncoder(w).Encode(echoed{Method: r.Method, Host: r.Host, URI: r.RequestURI, Header: r.Header})
	}))
	t.Cleanup(e.Close)
	return e
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

// fixture is a gate over a memory store, with its tracker running and its own metrics.
type fixture struct {
	g     *Gate
	tr    *state.Tracker
	clock *clock
	m     *metrics.Metrics
	reg   *prometheus.Registry
}

// newFixture builds a gate from settings given as YAML key → value.
func newFixture(t testing.TB, settings map[string]string, transport http.RoundTripper) *fixture {
	t.Helper()
	return newFixtureYAML(t, "", settings, transport)
}

// newFixtureYAML builds a gate from a configuration file's text (rules, windows) and settings.
func newFixtureYAML(t testing.TB, yaml string, settings map[string]string, transport http.RoundTripper) *fixture {
	t.Helper()
	file := ""
	if yaml != "" {
		file = filepath.Join(t.TempDir(), "maintpage.yaml")
		if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := config.Load(file, nil, settings)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{clock: &clock{t: time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)}, reg: prometheus.NewRegistry()}
	f.m = metrics.New(f.reg)
	f.tr = state.NewTracker(state.NewMemory(), state.State{}, time.Hour, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { f.tr.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	<-f.tr.Ready()
	f.g, err = New(Options{Config: cfg, Tracker: f.tr, Metrics: f.m, Gatherer: f.reg, Now: f.clock.Now, Transport: transport})
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) set(t testing.TB, s state.State) {
	t.Helper()
	if err := f.tr.Set(context.Background(), s); err != nil {
		t.Fatal(err)
	}
}

// do sends a request through the gate; remote is the peer address.
func (f *fixture) do(method, target, remote string, header map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	if remote != "" {
		r.RemoteAddr = remote
	}
	for k, v := range header {
		if k == "Host" {
			r.Host = v
			continue
		}
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	f.g.ServeHTTP(w, r)
	return w
}

func decodeEcho(t *testing.T, w *httptest.ResponseRecorder) echoed {
	t.Helper()
	var e echoed
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatalf("not an echo (status %d): %v\n%s", w.Code, err, w.Body.String())
	}
	return e
}

// isUnplanned reports whether a problem+json body is the unplanned maintenance response.
func isUnplanned(body string) bool { return strings.Contains(body, `"unplanned":true`) }

// problem asks for problem JSON, where the unplanned response says so in a field.
var problem = map[string]string{"Accept": "application/problem+json"}

func doBody(f *fixture, method, target, body string, header map[string]string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	for k, v := range header {
		r.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	f.g.ServeHTTP(w, r)
	return w
}
