package gate

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/maintpage/maintpage/internal/server"
	"github.com/maintpage/maintpage/internal/state"
)

const secret = "correct-horse-battery-staple"

func bypassFixture(t *testing.T, extra map[string]string) (*fixture, *echo) {
	t.Helper()
	up := newEcho(t)
	settings := map[string]string{
		"upstream":             up.URL,
		"bypass_cidrs":         "203.0.113.0/24,2001:db8::/32",
		"trusted_proxies":      "10.0.0.0/8",
		"bypass_secret":        secret,
		"bypass_cookie_domain": "example.com",
		"bypass_paths":         "/healthz,/.well-known/",
	}
	for k, v := range extra {
		if v == "" {
			delete(settings, k)
			continue
		}
		settings[k] = v
	}
	f := newFixture(t, settings, nil)
	f.set(t, state.State{On: true, Message: "down"})
	return f, up
}

func TestBypass(t *testing.T) {
	t.Parallel()
	f, _ := bypassFixture(t, nil)
	now := f.clock.Now()
	b := f.g.bypass
	other := newBypass(f.g.cfg)
	other.domain = "other.example"
	otherSecret := *f.g.cfg
	otherSecret.BypassSecret = "another-secret-of-enough-length"
	forger := newBypass(&otherSecret)

	tests := []struct {
		name   string
		path   string
		remote string
		header map[string]string
		want   string // the Maintpage-Bypass reason, or "" for the maintenance response
	}{
		{"nobody", "/", "198.51.100.1:1", nil, ""},
		{"allowed path", "/healthz", "198.51.100.1:1", nil, "path"},
		{"allowed path prefix", "/.well-known/acme", "198.51.100.1:1", nil, "path"},
		{"allowed network, direct", "/", "203.0.113.7:1", nil, "cidr"},
		{"allowed network, IPv6", "/", "[2001:db8::1]:1", nil, "cidr"},
		{"allowed network behind a trusted proxy", "/", "10.0.0.1:1", map[string]string{"X-Forwarded-For": "203.0.113.7"}, "cidr"},
		{"allowed network behind two trusted proxies", "/", "10.0.0.1:1", map[string]string{"X-Forwarded-For": "203.0.113.7, 10.2.2.2"}, "cidr"},
		{"spoofed X-Forwarded-For from an untrusted client", "/", "198.51.100.1:1", map[string]string{"X-Forwarded-For": "203.0.113.7"}, ""},
		{"spoofed left of the real client", "/", "10.0.0.1:1", map[string]string{"X-Forwarded-For": "203.0.113.7, 198.51.100.1"}, ""},
		{"garbage in X-Forwarded-For", "/", "10.0.0.1:1", map[string]string{"X-Forwarded-For": "203.0.113.7, nonsense"}, ""},
		{"header with the secret", "/", "198.51.100.1:1", map[string]string{"X-Maintpage-Bypass": secret}, "header"},
		{"header with a wrong secret", "/", "198.51.100.1:1", map[string]string{"X-Maintpage-Bypass": secret + "x"}, ""},
		{"valid cookie", "/", "198.51.100.1:1", cookie(b.mintCookie("example.com", now.Add(time.Hour))), "cookie"},
		{"expired cookie", "/", "198.51.100.1:1", cookie(b.mintCookie("example.com", now.Add(-time.Second))), ""},
		{"cookie from another domain", "/", "198.51.100.1:1", cookie(other.mintCookie("other.example", now.Add(time.Hour))), ""},
		{"cookie signed with another secret", "/", "198.51.100.1:1", cookie(forger.mintCookie("example.com", now.Add(time.Hour))), ""},
		{"forged cookie: payload changed", "/", "198.51.100.1:1", cookie(tamper(b.mintCookie("example.com", now.Add(time.Hour)))), ""},
		{"forged cookie: no signature", "/", "198.51.100.1:1", cookie(strings.Split(b.mintCookie("example.com", now.Add(time.Hour)), ".")[0]), ""},
		{"forged cookie: garbage", "/", "198.51.100.1:1", cookie("djF8OTk5OTk5OTk5OXxleGFtcGxlLmNvbQ.AAAA"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := f.do("GET", tt.path, tt.remote, tt.header)
			got := w.Header().Get("Maintpage-Bypass")
			if got != tt.want {
				t.Fatalf("Maintpage-Bypass: got %q, want %q (status %d)", got, tt.want, w.Code)
			}
			wantCode := 200
			if tt.want == "" {
				wantCode = 503
			}
			if w.Code != wantCode {
				t.Errorf("status: got %d, want %d", w.Code, wantCode)
			}
		})
	}
}

func cookie(v string) map[string]string { return map[string]string{"Cookie": CookieName + "=" + v} }

// tamper moves the expiry in the signed payload far into the future and keeps the old signature.
func tamper(v string) string {
	_, sig, _ := strings.Cut(v, ".")
	return b64.EncodeToString([]byte("v1|9999999999|example.com")) + "." + sig
}

func TestBypassLink(t *testing.T) {
	t.Parallel()
	f, _ := bypassFixture(t, nil)
	t.Run("wrong secret", func(t *testing.T) {
		for _, q := range []string{"", "?secret=nope", "?secret=" + secret + "x"} {
			w := f.do("GET", "/_maintenance/bypass"+q, "", nil)
			if w.Code != http.StatusForbidden || w.Header().Get("Set-Cookie") != "" {
				t.Errorf("%q: got %d with Set-Cookie %q, want 403 and no cookie", q, w.Code, w.Header().Get("Set-Cookie"))
			}
		}
	})
	t.Run("right secret", func(t *testing.T) {
		w := f.do("GET", "https://app.example.com/_maintenance/bypass?secret="+secret, "", map[string]string{"Host": "app.example.com"})
		if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/" {
			t.Fatalf("got %d Location %q, want 303 to /", w.Code, w.Header().Get("Location"))
		}
		cookies := (&http.Response{Header: w.Header()}).Cookies()
		if len(cookies) != 1 {
			t.Fatalf("got %d cookies, want 1", len(cookies))
		}
		c := cookies[0]
		if c.Name != CookieName || !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteLaxMode || c.Path != "/" || c.Domain != "example.com" {
			t.Errorf("cookie attributes: got %+v", c)
		}
		if want := f.clock.Now().Add(12 * time.Hour); !c.Expires.Equal(want.Truncate(time.Second)) {
			t.Errorf("expiry: got %v, want %v", c.Expires, want)
		}
		w = f.do("GET", "/", "", map[string]string{"Cookie": c.Name + "=" + c.Value})
		if w.Code != 200 || w.Header().Get("Maintpage-Bypass") != "cookie" {
			t.Errorf("with the cookie: got %d %q, want 200 bypassed by cookie", w.Code, w.Header().Get("Maintpage-Bypass"))
		}
		f.clock.Set(f.clock.Now().Add(13 * time.Hour))
		if w := f.do("GET", "/", "", map[string]string{"Cookie": c.Name + "=" + c.Value}); w.Code != 503 {
			t.Errorf("after bypass_ttl: got %d, want 503", w.Code)
		}
	})
}

// TestBypassLinkOverPlainHTTPSaysWhy: the cookie is Secure, so over plain http the browser would
// drop it and the redirect would show the maintenance page again without a word; the person gets
// a page that says why instead. X-Forwarded-Proto counts only from a trusted proxy.
func TestBypassLinkOverPlainHTTPSaysWhy(t *testing.T) {
	t.Parallel()
	f, _ := bypassFixture(t, map[string]string{"trusted_proxies": "10.0.0.0/8"})
	for name, tc := range map[string]struct {
		remote   string
		header   map[string]string
		wantPage bool
	}{
		"plain http":                    {"192.0.2.1:1234", nil, true},
		"https claimed by an untrusted": {"192.0.2.1:1234", map[string]string{"X-Forwarded-Proto": "https"}, true},
		"http from a trusted proxy":     {"10.0.0.1:1234", map[string]string{"X-Forwarded-Proto": "http"}, true},
		"https from a trusted proxy":    {"10.0.0.1:1234", map[string]string{"X-Forwarded-Proto": "https"}, false},
	} {
		w := f.do("GET", "/_maintenance/bypass?secret="+secret, tc.remote, tc.header)
		if !tc.wantPage {
			if w.Code != http.StatusSeeOther || w.Header().Get("Set-Cookie") == "" {
				t.Errorf("%s: got %d, Set-Cookie %q; want 303 and the cookie", name, w.Code, w.Header().Get("Set-Cookie"))
			}
			continue
		}
		if w.Code != http.StatusBadRequest || w.Header().Get("Set-Cookie") != "" || w.Header().Get("Location") != "" {
			t.Errorf("%s: got %d, Set-Cookie %q, Location %q; want 400, no cookie, no redirect", name, w.Code, w.Header().Get("Set-Cookie"), w.Header().Get("Location"))
		}
		body := w.Body.String()
		if !strings.Contains(body, "Secure") || !strings.Contains(body, "https://") || strings.Contains(body, secret) {
			t.Errorf("%s: the page does not say why, or shows the secret:\n%s", name, body)
		}
	}
}

func TestHostOnlyCookieIsBoundToTheHost(t *testing.T) {
	t.Parallel()
	f, _ := bypassFixture(t, map[string]string{"bypass_cookie_domain": ""})
	w := f.do("GET", "https://a.example.com:8443/_maintenance/bypass?secret="+secret, "", map[string]string{"Host": "a.example.com:8443"})
	c := (&http.Response{Header: w.Header()}).Cookies()[0]
	if c.Domain != "" {
		t.Errorf("Domain: got %q, want none (host-only)", c.Domain)
	}
	for host, want := range map[string]int{"a.example.com": 200, "b.example.com": 503} {
		if w := f.do("GET", "/", "", map[string]string{"Host": host, "Cookie": c.Name + "=" + c.Value}); w.Code != want {
			t.Errorf("on %s: got %d, want %d", host, w.Code, want)
		}
	}
}

func TestBypassCountsAndNeverLeaksTheSecret(t *testing.T) {
	t.Parallel()
	f, up := bypassFixture(t, nil)
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Maintpage-Bypass", secret)
	w := httptest.NewRecorder()
	f.g.ServeHTTP(w, r)
	if w.Code != 200 {
		t.Fatalf("got %d, want 200", w.Code)
	}
	if got := decodeEcho(t, w).Header.Get("X-Maintpage-Bypass"); got != "" {
		t.Errorf("the upstream saw the bypass secret: %q", got)
	}
	if up.hits.Load() != 1 {
		t.Errorf("upstream hits: got %d, want 1", up.hits.Load())
	}
	if got := testutil.ToFloat64(f.m.GateRequests.WithLabelValues("bypassed")); got != 1 {
		t.Errorf("bypassed counter: got %v, want 1", got)
	}
	for _, outcome := range []string{"proxied", "maintenance", "fallback"} {
		if got := testutil.ToFloat64(f.m.GateRequests.WithLabelValues(outcome)); got != 0 {
			t.Errorf("%s counter: got %v, want 0 (the request was bypassed)", outcome, got)
		}
	}
}

// A path passes as a bypass path only when no application could read it as another path: the
// proxy sends it upstream as the client wrote it. And a prefix matches whole segments.
func TestBypassPathsAreCleanAndMatchWholeSegments(t *testing.T) {
	t.Parallel()
	f, up := bypassFixture(t, nil)
	// Without CIDRs and a secret, the fast path's mayApply depends on the path alone.
	fast, _ := bypassFixture(t, map[string]string{"bypass_cidrs": "", "trusted_proxies": "", "bypass_secret": "", "bypass_cookie_domain": ""})
	tests := []struct {
		name, target string
		want         bool
	}{
		{"the prefix itself", "/healthz", true},
		{"under the prefix", "/healthz/live", true},
		{"the prefix with a trailing slash", "/healthz/", true},
		{"under a prefix ending in /", "/.well-known/acme-challenge/x", true},
		{"a harmless escape", "/healthz/%6Cive", true},
		{"a longer segment", "/healthzanything", false},
		{"a prefix ending in / without it", "/.well-known", false},
		{"traversal", "/healthz/../admin", false},
		{"traversal at the end", "/healthz/..", false},
		{"dot segment", "/healthz/./live", false},
		{"dot at the end", "/healthz/.", false},
		{"encoded traversal", "/healthz/%2e%2e/admin", false},
		{"encoded traversal, upper case", "/healthz/%2E%2E/admin", false},
		{"half-encoded traversal", "/healthz/.%2e/admin", false},
		{"encoded dot", "/healthz/%2elive", false},
		{"encoded slash", "/healthz%2fadmin", false},
		{"encoded slash into traversal", "/healthz/..%2Fadmin", false},
		{"encoded backslash", "/healthz/..%5cadmin", false},
		{"double-encoded dots", "/healthz/%252e%252e/admin", false},
		{"double slash", "/healthz//admin", false},
		{"double slash first", "//healthz", false},
		{"double slash under a prefix", "/.well-known//../admin", false},
		{"path parameter traversal (Tomcat)", "/healthz/..;/admin", false},
		{"path parameter", "/healthz;x=1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := up.hits.Load()
			w := f.do("GET", tt.target, "198.51.100.1:1", nil)
			got := w.Header().Get("Maintpage-Bypass") == "path"
			if got != tt.want {
				t.Fatalf("%s: bypassed %v (status %d), want %v", tt.target, got, w.Code, tt.want)
			}
			if !tt.want && (w.Code != 503 || up.hits.Load() != before) {
				t.Errorf("%s: got %d and %d upstream hits, want 503 and none", tt.target, w.Code, up.hits.Load()-before)
			}
			if strings.Contains(tt.target, "%") {
				return // the fast path never sees escapes: its parser hands them to ServeHTTP
			}
			q := &server.FastRequest{Method: "GET", Path: tt.target, Host: "app.example.com"}
			if got := fast.g.bypass.mayApply(q); got != tt.want {
				t.Errorf("fast path: mayApply(%q) = %v, want %v", tt.target, got, tt.want)
			}
			if _, ok := fast.g.ServeFast(nil, q); ok == tt.want {
				t.Errorf("fast path: ServeFast(%q) answered %v, want %v", tt.target, ok, !tt.want)
			}
		})
	}
}
