package admin

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/maintpage/maintpage/internal/state"
	"github.com/maintpage/maintpage/internal/state/statetest"
)

const oncallToken = "0123456789abcdef-oncall"

// pageServer serves the admin API and page at the default prefix, with a clock the test moves.
type pageServer struct {
	*httptest.Server
	tr  *state.Tracker
	now *time.Time
}

func newPageServer(t *testing.T) *pageServer {
	t.Helper()
	tr := statetest.MemoryTracker(t)
	now := time.Now()
	ps := &pageServer{tr: tr, now: &now}
	h, err := NewHandler(Options{Tracker: tr, Token: token, Tokens: []Token{{Name: "oncall", Token: oncallToken}}, SessionTTL: time.Hour,
		Now: func() time.Time { return *ps.now }})
	if err != nil {
		t.Fatal(err)
	}
	ps.Server = httptest.NewServer(h)
	t.Cleanup(ps.Close)
	return ps
}

var noRedirect = &http.Client{
	Timeout:       10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// post sends a form as a browser on the page's own origin would, unless header overrides.
func (ps *pageServer) post(t *testing.T, path string, form url.Values, cookie string, header map[string]string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest("POST", ps.URL+"/_maintenance/admin/"+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", ps.URL)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for k, v := range header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func (ps *pageServer) signIn(t *testing.T) (cookie, formToken string) {
	t.Helper()
	resp := ps.post(t, "signin", url.Values{"token": {oncallToken}}, "", nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: got %d, want 303", resp.StatusCode)
	}
	for _, c := range resp.Cookies() {
		if c.Name == sessionCookie {
			if !c.HttpOnly || !c.Secure || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.MaxAge != 3600 {
				t.Errorf("session cookie attributes: %+v", c)
			}
			cookie = c.Value
		}
	}
	if cookie == "" {
		t.Fatal("sign-in set no session cookie")
	}
	h := ps.h(t)
	s, ok := h.page.session(&http.Request{Header: http.Header{"Cookie": {sessionCookie + "=" + cookie}}})
	if !ok || s.name != "oncall" {
		t.Fatalf("the new session does not verify: %+v %v", s, ok)
	}
	return cookie, s.formToken()
}

func (ps *pageServer) h(t *testing.T) *Handler {
	t.Helper()
	return ps.Config.Handler.(*Handler)
}

func TestPageChangeNeedsSessionOriginAndFormToken(t *testing.T) {
	t.Parallel()
	ps := newPageServer(t)
	cookie, ft := ps.signIn(t)
	on := url.Values{"on": {"on"}, "message": {"Upgrade"}, "form_token": {ft}}
	// The same signed cookie, claiming to be the other token's session.
	parts := strings.Split(cookie, ".")
	parts[0] = base64.RawURLEncoding.EncodeToString([]byte("admin"))
	tampered := strings.Join(parts, ".")
	for _, c := range []struct {
		name   string
		form   url.Values
		cookie string
		header map[string]string
		want   int
	}{
		{"no session", on, "", nil, http.StatusUnauthorized},
		{"tampered session", on, tampered, nil, http.StatusUnauthorized},
		{"expired in the cookie but for the signature", on, parts[0] + ".1." + parts[2] + "." + parts[3], nil, http.StatusUnauthorized},
		{"no form token", url.Values{"on": {"on"}}, cookie, nil, http.StatusForbidden},
		{"another session's form token", url.Values{"on": {"on"}, "form_token": {"x" + ft[1:]}}, cookie, nil, http.StatusForbidden},
		{"cross-site", on, cookie, map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, http.StatusForbidden},
		{"same site, other origin", on, cookie, map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:1"}, http.StatusForbidden},
		{"other origin, no Sec-Fetch-Site", on, cookie, map[string]string{"Sec-Fetch-Site": "", "Origin": "https://evil.example"}, http.StatusForbidden},
		{"GET is not a change", nil, cookie, nil, http.StatusMethodNotAllowed},
	} {
		t.Run(c.name, func(t *testing.T) {
			var resp *http.Response
			if c.form == nil {
				req, _ := http.NewRequest("GET", ps.URL+"/_maintenance/admin/change", nil)
				var err error
				if resp, err = noRedirect.Do(req); err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
			} else {
				resp = ps.post(t, "change", c.form, c.cookie, c.header)
			}
			if resp.StatusCode != c.want {
				t.Errorf("got %d, want %d", resp.StatusCode, c.want)
			}
			if ps.tr.Current().On {
				t.Fatal("the refused request turned maintenance on")
			}
		})
	}
	resp := ps.post(t, "change", on, cookie, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/_maintenance/admin/?done=on" {
		t.Fatalf("a proper change: got %d to %q, want 303 to ?done=on", resp.StatusCode, resp.Header.Get("Location"))
	}
	if cur := ps.tr.Current(); !cur.On || cur.Message != "Upgrade" || cur.ChangedBy != "oncall" {
		t.Errorf("state after the change: %+v", cur)
	}
	h, _ := ps.tr.History(t.Context(), state.HistoryQuery{})
	if len(h) != 1 || h[0].Via != state.ViaPage || h[0].Token != "oncall" || h[0].Addr != "127.0.0.1" {
		t.Errorf("history: %+v", h)
	}
}

func TestPageSessionExpires(t *testing.T) {
	t.Parallel()
	ps := newPageServer(t)
	cookie, ft := ps.signIn(t)
	*ps.now = ps.now.Add(time.Hour + time.Second)
	if resp := ps.post(t, "change", url.Values{"on": {"on"}, "form_token": {ft}}, cookie, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a change after the session ended: got %d, want 401", resp.StatusCode)
	}
}

func TestPageSignInIsRateLimited(t *testing.T) {
	t.Parallel()
	ps := newPageServer(t)
	for i := range signinBurst {
		if resp := ps.post(t, "signin", url.Values{"token": {"wrong-token-guess"}}, "", nil); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: got %d, want 401", i, resp.StatusCode)
		}
	}
	resp := ps.post(t, "signin", url.Values{"token": {oncallToken}}, "", nil)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("attempt after the burst: got %d (Retry-After %q), want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	*ps.now = ps.now.Add(signinEvery)
	if resp := ps.post(t, "signin", url.Values{"token": {oncallToken}}, "", nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after waiting %v: got %d, want 303", signinEvery, resp.StatusCode)
	}
}

func TestPageHeadersAndEscaping(t *testing.T) {
	t.Parallel()
	ps := newPageServer(t)
	cookie, ft := ps.signIn(t)
	evil := `<script>alert(1)</script>"'&`
	if resp := ps.post(t, "change", url.Values{"on": {"on"}, "message": {evil}, "reason": {evil}, "form_token": {ft}}, cookie, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("change: %d", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", ps.URL+"/_maintenance/admin/?done=%3Cb%3E", nil)
	req.AddCookie(&http.Cookie{Name: sessionCookie, Value: cookie})
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body strings.Builder
	buf := make([]byte, 1<<16)
	for {
		n, err := resp.Body.Read(buf)
		body.Write(buf[:n])
		if err != nil {
			break
		}
	}
	for k, want := range map[string]string{
		"Cache-Control": "no-store", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s: got %q, want %q", k, got, want)
		}
	}
	csp := resp.Header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "style-src 'sha256-") || strings.Contains(csp, "unsafe") || strings.Contains(csp, "script-src") {
		t.Errorf("CSP: %q", csp)
	}
	if strings.Contains(body.String(), "<script>") || strings.Contains(body.String(), "<b>") {
		t.Errorf("the page echoes markup unescaped:\n%s", body.String())
	}
	if !strings.Contains(body.String(), "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("the message is not shown escaped")
	}
}

func TestHistoryEndpoint(t *testing.T) {
	t.Parallel()
	ps := newPageServer(t)
	for i := range 3 {
		if err := ps.tr.Set(t.Context(), state.State{On: i%2 == 0, Message: "m"}); err != nil {
			t.Fatal(err)
		}
	}
	get := func(q, auth string) (*http.Response, History) {
		req, _ := http.NewRequest("GET", ps.URL+"/_maintenance/admin/history"+q, nil)
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var h History
		_ = json.NewDecoder(resp.Body).Decode(&h)
		return resp, h
	}
	if resp, _ := get("", ""); resp.StatusCode != 401 {
		t.Errorf("without a token: %d, want 401", resp.StatusCode)
	}
	if resp, _ := get("", "wrong"); resp.StatusCode != 401 {
		t.Errorf("with a wrong token: %d, want 401", resp.StatusCode)
	}
	resp, h := get("", oncallToken)
	if resp.StatusCode != 200 || len(h.Entries) != 3 || h.Entries[0].Event != state.EventOn || h.Entries[1].Event != state.EventOff {
		t.Errorf("history: %d %+v, want three entries, newest (on) first", resp.StatusCode, h.Entries)
	}
	if _, h := get("?limit=1", token); len(h.Entries) != 1 {
		t.Errorf("limit=1: %d entries", len(h.Entries))
	}
	for _, q := range []string{"?limit=0", "?limit=x", "?limit=1&limit=2", "?token=" + token} {
		if resp, _ := get(q, token); resp.StatusCode != 400 {
			t.Errorf("%s: %d, want 400", q, resp.StatusCode)
		}
	}
}

// One IPv6 host usually has a whole /64 to itself: keyed by the full address, it could take a
// fresh burst of attempts from each of 2^64 addresses.
func TestLimiterKeysIPv6ByPrefix(t *testing.T) {
	t.Parallel()
	now := time.Unix(1e9, 0)
	l := newLimiter(signinBurst, signinEvery)
	for i := range signinBurst {
		if ok, _ := l.allow(fmt.Sprintf("2001:db8:1:2::%x", i+1), now); !ok {
			t.Fatalf("attempt %d refused within the burst", i)
		}
	}
	if ok, _ := l.allow("2001:db8:1:2:ffff::9", now); ok {
		t.Error("another address of the same /64 got an attempt after the burst, want it refused")
	}
	if ok, _ := l.allow("2001:db8:1:3::1", now); !ok {
		t.Error("an address of another /64 was refused")
	}
	for i := range signinBurst {
		if ok, _ := l.allow(fmt.Sprintf("192.0.2.%d", i+1), now); !ok {
			t.Errorf("IPv4 address %d refused: IPv4 addresses are their own key", i)
		}
	}
}

// Sign-out must end the session, not only ask the browser to forget it: a copy of the cookie
// (another tab's request in flight, a shared machine's cookie jar exported) would otherwise change
// the state until it expires.
func TestPageSignOutEndsTheSession(t *testing.T) {
	t.Parallel()
	ps := newPageServer(t)
	cookie, ft := ps.signIn(t)
	if resp := ps.post(t, "signout", url.Values{"form_token": {ft}}, cookie, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: got %d, want 303", resp.StatusCode)
	}
	if resp := ps.post(t, "change", url.Values{"on": {"on"}, "form_token": {ft}}, cookie, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a change with the signed-out cookie: got %d, want 401", resp.StatusCode)
	}
	if ps.tr.Current().On {
		t.Error("the signed-out cookie turned maintenance on")
	}
	// Another sign-in works as before.
	cookie2, ft2 := ps.signIn(t)
	if resp := ps.post(t, "change", url.Values{"on": {"on"}, "form_token": {ft2}}, cookie2, nil); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("a change after signing in again: got %d, want 303", resp.StatusCode)
	}
}
