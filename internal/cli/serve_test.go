package cli

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/maintpage/maintpage/internal/config"
	"github.com/maintpage/maintpage/internal/metrics"
	"github.com/maintpage/maintpage/internal/state/statetest"
)

// newBuilder is serve's handler builder over a memory store, with its own metrics.
func newBuilder(t *testing.T, start *config.Config) (*builder, *prometheus.Registry) {
	t.Helper()
	tr := statetest.MemoryTracker(t)
	reg := prometheus.NewRegistry()
	b := &builder{start: start, tracker: tr, metrics: metrics.New(reg), reg: reg, log: slog.New(slog.DiscardHandler)}
	t.Cleanup(b.close)
	return b, reg
}

func testConfig(t *testing.T, settings map[string]string) *config.Config {
	t.Helper()
	c, err := config.Load("", func(string) string { return "" }, settings)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// gauges returns the gauges of a scrape by name.
func gauges(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if g := mf.GetMetric()[0].GetGauge(); g != nil {
			out[mf.GetName()] = g.GetValue()
		}
	}
	return out
}

// A reload from a gate to the plain standalone page must not leave the gate as the source of the
// gauges: the page is always in maintenance and has no store.
func TestReloadToThePlainPageClearsTheGateMetrics(t *testing.T) {
	t.Parallel()
	gateCfg := testConfig(t, map[string]string{"upstream": "http://127.0.0.1:1"})
	b, reg := newBuilder(t, gateCfg)
	if _, err := b.build(gateCfg); err != nil {
		t.Fatal(err)
	}
	if g := gauges(t, reg); g["maintpage_maintenance"] != 0 || g["maintpage_state_store_up"] != 1 {
		t.Fatalf("gate: got %v, want maintenance 0 and the store up", g)
	}
	if _, err := b.build(testConfig(t, nil)); err != nil {
		t.Fatal(err)
	}
	g := gauges(t, reg)
	if g["maintpage_maintenance"] != 1 {
		t.Errorf("plain page after the reload: maintpage_maintenance = %v, want 1", g["maintpage_maintenance"])
	}
	if v, ok := g["maintpage_state_store_up"]; ok {
		t.Errorf("plain page after the reload: maintpage_state_store_up = %v, want none (there is no store)", v)
	}
}

// A reload keeps the upstream transport and its pooled connections, unless the upstream timeouts
// change; then the old transport's idle connections are closed.
func TestReloadKeepsTheUpstreamConnections(t *testing.T) {
	t.Parallel()
	var opened, closed atomic.Int64
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app") }))
	up.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			opened.Add(1)
		case http.StateClosed:
			closed.Add(1)
		}
	}
	up.Start()
	t.Cleanup(up.Close)
	get := func(h http.Handler) {
		t.Helper()
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		if w.Code != 200 || w.Body.String() != "app" {
			t.Fatalf("got %d %q, want the app", w.Code, w.Body.String())
		}
	}
	first := testConfig(t, map[string]string{"upstream": up.URL})
	b, _ := newBuilder(t, first)
	for i, settings := range []map[string]string{
		{"upstream": up.URL},
		{"upstream": up.URL, "message": "reloaded"},
		{"upstream": up.URL, "bypass_paths": "/healthz"},
	} {
		h, err := b.build(testConfig(t, settings))
		if err != nil {
			t.Fatal(err)
		}
		get(h)
		get(h)
		if n := opened.Load(); n != 1 {
			t.Fatalf("after reload %d: the upstream saw %d connections, want the first one reused", i, n)
		}
	}
	h, err := b.build(testConfig(t, map[string]string{"upstream": up.URL, "upstream_header_timeout": "30s"}))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for closed.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := closed.Load(); n != 1 {
		t.Errorf("new upstream timeouts: %d connections of the replaced transport closed, want its idle one", n)
	}
	get(h)
	if n := opened.Load(); n != 2 {
		t.Errorf("new upstream timeouts: the upstream saw %d connections, want a second from the new transport", n)
	}
}

// upstream_insecure_skip_verify is said loudly on every load, the first and each reload, so that a
// test setting left in production is seen.
func TestInsecureUpstreamIsLoggedOnEveryLoad(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, map[string]string{"upstream": "https://127.0.0.1:1", "upstream_insecure_skip_verify": "true"})
	b, _ := newBuilder(t, cfg)
	var logs strings.Builder
	b.log = slog.New(slog.NewTextHandler(&logs, nil))
	for range 2 { // start, then a reload
		if _, err := b.build(cfg); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 2 || !strings.Contains(logs.String(), "upstream_insecure_skip_verify is on") {
		t.Errorf("got %d warnings:\n%s\nwant one per load", n, logs.String())
	}
	logs.Reset()
	if _, err := b.build(testConfig(t, map[string]string{"upstream": "https://127.0.0.1:1"})); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "insecure") {
		t.Errorf("warned without the setting:\n%s", logs.String())
	}
}
