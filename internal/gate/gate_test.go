package gate

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/maintpage/maintpage/internal/state"
)

func TestPassesThroughWhenOff(t *testing.T) {
	t.Parallel()
	up := newEcho(t)
	f := newFixture(t, map[string]string{"upstream": up.URL}, nil)
	w := f.do("POST", "/orders/7?x=1", "198.51.100.9:4321", map[string]string{
		"Host":                 "app.example.com",
		"X-Forwarded-For":      "6.6.6.6", // from an untrusted peer: dropped
		"X-Forwarded-Proto":    "https",   // likewise
		"Connection":           "X-Hop",
		"X-Hop":                "per-connection",
		"X-Maintpage-Bypass":   "whatever",
		"X-Cf-Forwarded-Url":   "http://elsewhere.example/",
		"X-Cf-Proxy-Signature": "sig",
		"X-Cf-Proxy-Metadata":  "meta",
	})
	if w.Code != 200 {
		t.Fatalf("got %d, want 200: %s", w.Code, w.Body.String())
	}
	got := decodeEcho(t, w)
	checks := []struct{ name, got, want string }{
		{"method", got.Method, "POST"},
		{"uri", got.URI, "/orders/7?x=1"},
		{"host (preserved)", got.Host, "app.example.com"},
		{"X-Forwarded-For", got.Header.Get("X-Forwarded-For"), "198.51.100.9"},
		{"X-Forwarded-Host", got.Header.Get("X-Forwarded-Host"), "app.example.com"},
		{"X-Forwarded-Proto", got.Header.Get("X-Forwarded-Proto"), "http"},
		{"hop-by-hop X-Hop", got.Header.Get("X-Hop"), ""},
		{"bypass secret header", got.Header.Get("X-Maintpage-Bypass"), ""},
		{"X-CF-Forwarded-Url", got.Header.Get("X-Cf-Forwarded-Url"), ""},
		{"X-CF-Proxy-Signature", got.Header.Get("X-Cf-Proxy-Signature"), ""},
		{"X-CF-Proxy-Metadata", got.Header.Get("X-Cf-Proxy-Metadata"), ""},
		{"response signature header", w.Header().Get("X-Cf-Proxy-Signature"), ""},
		{"Maintpage-Bypass", w.Header().Get("Maintpage-Bypass"), ""},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %q, want %q", c.name, c.got, c.want)
		}
	}
	if got := testutil.ToFloat64(f.m.GateRequests.WithLabelValues("proxied")); got != 1 {
		t.Errorf("proxied counter: got %v, want 1", got)
	}
}

func TestHostRewrittenWhenNotPreserved(t *testing.T) {
	t.Parallel()
	up := newEcho(t)
	f := newFixture(t, map[string]string{"upstream": up.URL, "preserve_host": "false"}, nil)
	got := decodeEcho(t, f.do("GET", "/", "", map[string]string{"Host": "app.example.com"}))
	if want := strings.TrimPrefix(up.URL, "http://"); got.Host != want {
		t.Errorf("host: got %q, want the upstream's %q", got.Host, want)
	}
}

func TestForwardedHeadersFromTrustedProxies(t *testing.T) {
	t.Parallel()
	up := newEcho(t)
	f := newFixture(t, map[string]string{"upstream": up.URL, "trusted_proxies": "10.0.0.0/8"}, nil)
	got := decodeEcho(t, f.do("GET", "/", "10.1.2.3:5555", map[string]string{
		"X-Forwarded-For": "203.0.113.5, 10.9.9.9", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "public.example.com",
	}))
	for name, c := range map[string][2]string{
		"X-Forwarded-For":   {got.Header.Get("X-Forwarded-For"), "203.0.113.5, 10.9.9.9, 10.1.2.3"},
		"X-Forwarded-Proto": {got.Header.Get("X-Forwarded-Proto"), "https"},
		"X-Forwarded-Host":  {got.Header.Get("X-Forwarded-Host"), "public.example.com"},
	} {
		if c[0] != c[1] {
			t.Errorf("%s: got %q, want %q", name, c[0], c[1])
		}
	}
}

func TestMaintenanceWhenOn(t *testing.T) {
	t.Parallel()
	up := newEcho(t)
	f := newFixture(t, map[string]string{"upstream": up.URL}, nil)
	until := f.clock.Now().Add(2 * time.Hour)
	f.set(t, state.State{On: true, Message: "Upgrading the database", Until: until, Reason: "db", ChangedBy: "ops"})
	for _, path := range []string{"/", "/api/x", "/healthz"} {
		w := f.do("GET", path, "", map[string]string{"Accept": "text/plain"})
		if w.Code != 503 || !strings.Contains(w.Body.String(), "Upgrading the database") {
			t.Errorf("%s: got %d %q, want 503 with the state's message", path, w.Code, w.Body.String())
		}
		if got := w.Header().Get("Retry-After"); got != "7200" {
			t.Errorf("%s: Retry-After: got %q, want 7200 (the state's until)", path, got)
		}
	}
	if n := up.hits.Load(); n != 0 {
		t.Errorf("upstream got %d requests during maintenance, want 0", n)
	}
	var st struct {
		Maintenance bool   `json:"maintenance"`
		Message     string `json:"message"`
		Reason      string `json:"reason"`
	}
	w := f.do("GET", "/_maintenance/status", "", nil)
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil || !st.Maintenance || st.Message != "Upgrading the database" || st.Reason != "" {
		t.Errorf("status: got %s (%v), want maintenance with the state's message and no reason (that is the admin API's)", w.Body.String(), err)
	}
	if got := testutil.ToFloat64(f.m.GateRequests.WithLabelValues("maintenance")); got != 3 {
		t.Errorf("maintenance counter: got %v, want 3", got)
	}
	if got := gauge(t, f, "maintpage_maintenance"); got != 1 {
		t.Errorf("maintpage_maintenance: got %v, want 1", got)
	}

	f.set(t, state.State{On: false, ChangedBy: "ops"})
	if w := f.do("GET", "/", "", nil); w.Code != 200 {
		t.Errorf("after off: got %d, want 200", w.Code)
	}
	w = f.do("GET", "/_maintenance/status", "", nil)
	if !strings.Contains(w.Body.String(), `"maintenance":false`) {
		t.Errorf("status after off: got %s", w.Body.String())
	}
	if got := gauge(t, f, "maintpage_maintenance"); got != 0 {
		t.Errorf("maintpage_maintenance after off: got %v, want 0", got)
	}
}

func gauge(t *testing.T, f *fixture, name string) float64 {
	t.Helper()
	mfs, err := f.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestReservedPrefixNeverProxied(t *testing.T) {
	t.Parallel()
	up := newEcho(t)
	f := newFixture(t, map[string]string{"upstream": up.URL}, nil)
	for path, want := range map[string]int{
		"/_maintenance/health":      200,
		"/_maintenance/status":      200,
		"/_maintenance/admin/state": 404, // no admin_token: closed
		"/_maintenance/bypass":      404, // no bypass_secret: closed
		"/_maintenance/anything":    404,
	} {
		if w := f.do("GET", path, "", nil); w.Code != want {
			t.Errorf("%s: got %d, want %d", path, w.Code, want)
		}
	}
	if n := up.hits.Load(); n != 0 {
		t.Errorf("upstream got %d requests for the reserved prefix, want 0", n)
	}
}

func TestSchedule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		endAtUntil string
		at         time.Duration // from the clock's start
		want       int
	}{
		{"before start", "false", 30 * time.Minute, 200},
		{"after start", "false", 90 * time.Minute, 503},
		{"after until, end_at_until off: windows overrun", "false", 4 * time.Hour, 503},
		{"after until, end_at_until on", "true", 4 * time.Hour, 200},
		{"before until, end_at_until on", "true", 2 * time.Hour, 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			up := newEcho(t)
			f := newFixture(t, map[string]string{"upstream": up.URL, "end_at_until": tt.endAtUntil}, nil)
			t0 := f.clock.Now()
			f.set(t, state.State{On: true, Start: t0.Add(time.Hour), Until: t0.Add(3 * time.Hour)})
			f.clock.Set(t0.Add(tt.at))
			w := f.do("GET", "/", "", nil)
			if w.Code != tt.want {
				t.Fatalf("got %d, want %d", w.Code, tt.want)
			}
			if w.Code == 503 {
				wantRA := "3600"
				if tt.at > 3*time.Hour {
					wantRA = "300" // retry_after_overdue
				} else {
					wantRA = itoa(int((3*time.Hour - tt.at) / time.Second))
				}
				if got := w.Header().Get("Retry-After"); got != wantRA {
					t.Errorf("Retry-After: got %q, want %q", got, wantRA)
				}
			}
		})
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

func TestScheduledWindowDoesNotLeakIntoUnplannedRetryAfter(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{"upstream": "http://127.0.0.1:1"}, nil) // nothing listens on port 1
	t0 := f.clock.Now()
	f.set(t, state.State{On: true, Start: t0.Add(48 * time.Hour), Until: t0.Add(50 * time.Hour)})
	w := f.do("GET", "/", "", problem)
	if w.Code != 503 || !isUnplanned(w.Body.String()) {
		t.Fatalf("got %d %s, want the unplanned 503", w.Code, w.Body.String())
	}
	if got := w.Header().Get("Retry-After"); got != "3600" {
		t.Errorf("Retry-After: got %q, want the configured 3600, not the scheduled window's end", got)
	}
}

func TestFallback(t *testing.T) {
	t.Parallel()
	up := newEcho(t)
	f := newFixture(t, map[string]string{"upstream": up.URL}, nil)
	tests := []struct {
		name     string
		status   string
		wantCode int
		unplan   bool
	}{
		{"502 from upstream", "502", 503, true},
		{"503 from upstream", "503", 503, true},
		{"504 from upstream", "504", 503, true},
		{"500 passes", "500", 500, false},
		{"404 passes", "404", 404, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := map[string]string{"X-Test-Status": tt.status, "Accept": "application/problem+json"}
			w := f.do("GET", "/", "", h)
			if w.Code != tt.wantCode || isUnplanned(w.Body.String()) != tt.unplan {
				t.Errorf("got %d %q, want %d (unplanned %v)", w.Code, w.Body.String(), tt.wantCode, tt.unplan)
			}
			if strings.Contains(w.Body.String(), "upstream's own error body") == tt.unplan {
				t.Errorf("upstream body passed through: %v, want %v", !tt.unplan, !tt.unplan)
			}
			if got := w.Header().Get("X-Cf-Proxy-Signature"); got != "" {
				t.Errorf("X-CF-Proxy-Signature reached the client: %q", got)
			}
		})
	}
	if got := testutil.ToFloat64(f.m.GateRequests.WithLabelValues("fallback")); got != 3 {
		t.Errorf("fallback counter: got %v, want 3", got)
	}
	if got := testutil.ToFloat64(f.m.UpstreamErrors.WithLabelValues("status")); got != 3 {
		t.Errorf("upstream_errors{kind=status}: got %v, want 3", got)
	}
}

func TestFallbackStatusesNone(t *testing.T) {
	t.Parallel()
	up := newEcho(t)
	f := newFixture(t, map[string]string{"upstream": up.URL, "fallback_statuses": "none"}, nil)
	if w := f.do("GET", "/", "", map[string]string{"X-Test-Status": "502"}); w.Code != 502 {
		t.Errorf("got %d, want the upstream's 502", w.Code)
	}
}

func TestUpstreamDownAndSlow(t *testing.T) {
	t.Parallel()
	refused := "http://" + refusingAddr(t)
	hangup := "http://" + hangingUp(t)

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	tests := []struct {
		name, upstream, kind string
	}{
		{"connection refused", refused, "refused"},
		{"connection closed before the response", hangup, "reset"},
		{"response header timeout", slow.URL, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, map[string]string{"upstream": tt.upstream, "upstream_header_timeout": "200ms"}, nil)
			w := f.do("GET", "/", "", problem)
			if w.Code != 503 || !isUnplanned(w.Body.String()) || w.Header().Get("Retry-After") == "" {
				t.Errorf("got %d %q, want the unplanned 503 with Retry-After", w.Code, w.Body.String())
			}
			if got := testutil.ToFloat64(f.m.UpstreamErrors.WithLabelValues(tt.kind)); got != 1 {
				t.Errorf("upstream_errors{kind=%s}: got %v, want 1", tt.kind, got)
			}
		})
	}
}

// TestUpstreamKilledMidTraffic stops the upstream while requests flow, then starts it again on the
// same address: every request gets either the application's answer or the unplanned page, never a
// raw error, and traffic goes back to the application once it is up. The test keeps the upstream's
// listener the whole time (re-binding a port can fail while other tests run) and switches the
// upstream off by closing every connection it has and each one it accepts.
func TestUpstreamKilledMidTraffic(t *testing.T) {
	t.Parallel()
	app := newSwitchable(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "app") }))
	addr := app.addr

	f := newFixture(t, map[string]string{"upstream": "http://" + addr}, nil)
	gw := httptest.NewServer(f.g)
	t.Cleanup(gw.Close)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type tally struct{ app, unplanned, bad int }
	results := make(chan tally, 4)
	for range 4 {
		go func() {
			var tl tally
			c := &http.Client{Timeout: 10 * time.Second}
			for ctx.Err() == nil {
				req, _ := http.NewRequest("GET", gw.URL+"/x", nil)
				req.Header.Set("Accept", "application/problem+json")
				resp, err := c.Do(req)
				if err != nil {
					tl.bad++
					continue
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode == 200 && string(b) == "app":
					tl.app++
				case resp.StatusCode == 503 && isUnplanned(string(b)):
					tl.unplanned++
				default:
					tl.bad++
				}
			}
			results <- tl
		}()
	}
	waitFor(t, "the app answering", func() bool { return up(gw.URL) == 200 })
	time.Sleep(100 * time.Millisecond)
	app.kill() // every connection closes, and every new one at once
	waitFor(t, "the fallback page", func() bool { return up(gw.URL) == 503 })
	time.Sleep(100 * time.Millisecond)
	app.revive()
	waitFor(t, "the app answering again", func() bool { return up(gw.URL) == 200 })
	time.Sleep(100 * time.Millisecond)
	cancel()
	var sum tally
	for range 4 {
		r := <-results
		sum.app, sum.unplanned, sum.bad = sum.app+r.app, sum.unplanned+r.unplanned, sum.bad+r.bad
	}
	t.Logf("requests: %d answered by the app, %d by the unplanned page, %d failed", sum.app, sum.unplanned, sum.bad)
	if sum.bad != 0 || sum.app == 0 || sum.unplanned == 0 {
		t.Errorf("got %+v, want no failures and both app and unplanned answers", sum)
	}
}

// switchable is an upstream on a listener it keeps, that can be killed (every connection closed,
// new ones closed as soon as they are accepted) and revived on the same address.
type switchable struct {
	addr string
	srv  *http.Server
	down atomic.Bool
	mu   sync.Mutex
	live map[net.Conn]struct{}
}

func newSwitchable(t *testing.T, h http.Handler) *switchable {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &switchable{addr: ln.Addr().String(), live: map[net.Conn]struct{}{}}
	s.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if s.down.Load() {
				// A connection accepted just before the kill: drop it like the others.
				if c, _, err := http.NewResponseController(w).Hijack(); err == nil {
					c.Close()
				}
				return
			}
			h.ServeHTTP(w, r)
		}),
		ConnState: func(c net.Conn, st http.ConnState) {
			s.mu.Lock()
			defer s.mu.Unlock()
			switch st {
			case http.StateNew:
				if s.down.Load() {
					c.Close()
					return
				}
				s.live[c] = struct{}{}
			case http.StateClosed, http.StateHijacked:
				delete(s.live, c)
			}
		},
	}
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	return s
}

func (s *switchable) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down.Store(true)
	for c := range s.live {
		c.Close()
	}
}

func (s *switchable) revive() { s.down.Store(false) }

// refusingAddr is an address that refuses connections for as long as the test runs: a TCP socket
// bound to it and not listening. The test holds the port, so no test running in parallel can take
// it (closing a listener and counting on its port staying free is a race).
func refusingAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
}

// hangingUp is an address whose listener accepts connections and closes them at once.
func hangingUp(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return ln.Addr().String()
}

func up(base string) int {
	resp, err := http.Get(base + "/probe")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStreaming(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		http.NewResponseController(w).Flush()
		<-release
		io.WriteString(w, "data: second\n\n")
	}))
	t.Cleanup(up.Close)
	defer close(release)
	f := newFixture(t, map[string]string{"upstream": up.URL}, nil)
	gw := httptest.NewServer(f.g)
	t.Cleanup(gw.Close)
	resp, err := http.Get(gw.URL + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "data: first\n" {
		t.Fatalf("got %q, %v; want the first event before the upstream finished", line, err)
	}
}

// The bypass cookie is a credential for the gate: the application never sees it (it would log it
// with its other cookies), while every other cookie passes unchanged. Forwarded and X-Real-Ip are
// believed only from trusted proxies, like X-Forwarded-*.
func TestCredentialsAndSpoofableHeadersStayAtTheGate(t *testing.T) {
	t.Parallel()
	up := newEcho(t)
	f := newFixture(t, map[string]string{"upstream": up.URL, "trusted_proxies": "10.0.0.0/8"}, nil)
	tests := []struct {
		name, remote     string
		cookies          []string // Cookie header lines (HTTP/2 sends one per cookie)
		wantCookies      []string
		wantForwardedIPs bool
	}{
		{"untrusted peer, bypass cookie among others", "198.51.100.9:1", []string{"a=1; " + CookieName + "=token.sig; b=2"}, []string{"a=1; b=2"}, false},
		{"untrusted peer, bypass cookie first and last", "198.51.100.9:1", []string{CookieName + "=x;a=1;" + CookieName + "=y"}, []string{"a=1"}, false},
		{"untrusted peer, bypass cookie alone", "198.51.100.9:1", []string{CookieName + "=token.sig"}, nil, false},
		{"cookie lines, one of them the bypass cookie", "198.51.100.9:1", []string{"a=1", CookieName + "=t", "b=2"}, []string{"a=1", "b=2"}, false},
		{"a cookie whose name only contains ours", "198.51.100.9:1", []string{"x" + CookieName + "=1; " + CookieName + "x=2"}, []string{"x" + CookieName + "=1; " + CookieName + "x=2"}, false},
		{"no cookies", "198.51.100.9:1", nil, nil, false},
		{"trusted proxy", "10.1.2.3:1", []string{"a=1; " + CookieName + "=token.sig"}, []string{"a=1"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			for _, c := range tt.cookies {
				r.Header.Add("Cookie", c)
			}
			r.Header.Set("Forwarded", "for=203.0.113.7;proto=https")
			r.Header.Set("X-Real-Ip", "203.0.113.7")
			w := httptest.NewRecorder()
			f.g.ServeHTTP(w, r)
			got := decodeEcho(t, w)
			if gc := got.Header.Values("Cookie"); strings.Join(gc, "\n") != strings.Join(tt.wantCookies, "\n") {
				t.Errorf("Cookie upstream: got %q, want %q", gc, tt.wantCookies)
			}
			for _, h := range []string{"Forwarded", "X-Real-Ip"} {
				if v := got.Header.Get(h); (v != "") != tt.wantForwardedIPs {
					t.Errorf("%s upstream: got %q, want it passed %v", h, v, tt.wantForwardedIPs)
				}
			}
		})
	}
}
