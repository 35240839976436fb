package admin

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/maintpage/maintpage/internal/state"
	"github.com/maintpage/maintpage/internal/state/statetest"
)

const token = "0123456789abcdef-admin"

func newServer(t *testing.T) (*httptest.Server, *state.Tracker) {
	t.Helper()
	return newServerScopes(t, nil)
}

func newServerScopes(t *testing.T, scopes []string) (*httptest.Server, *state.Tracker) {
	t.Helper()
	tr := statetest.MemoryTracker(t)
	h, err := NewHandler(Options{Tracker: tr, Token: token, Scopes: scopes})
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s, tr
}

func TestNoTokenNoHandler(t *testing.T) {
	t.Parallel()
	if _, err := NewHandler(Options{}); err == nil {
		t.Error("got a handler without a token, want an error")
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t)
	tests := []struct {
		name, query, auth string
		want              int
	}{
		{"no token", "", "", 401},
		{"wrong token", "", "Bearer " + token + "x", 401},
		{"prefix of the token", "", "Bearer " + token[:10], 401},
		{"not bearer", "", "Basic " + token, 401},
		{"token in the query is refused", "?token=" + token, "", 400},
		{"any query is refused, even with a good header", "?access_token=x", "Bearer " + token, 400},
		{"right token", "", "Bearer " + token, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", s.URL+DefaultPath+tt.query, nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("got %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
}

func TestRequests(t *testing.T) {
	t.Parallel()
	s, tr := newServer(t)
	do := func(method, body string) (int, string) {
		req, _ := http.NewRequest(method, s.URL+DefaultPath, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 4096)
		for {
			n, err := resp.Body.Read(buf)
			b.Write(buf[:n])
			if err != nil {
				break
			}
		}
		return resp.StatusCode, b.String()
	}
	tests := []struct {
		name, method, body string
		want               int
		wantOn             bool
	}{
		{"set on", "PUT", `{"on":true,"message":"Upgrading","until":"2031-01-01T00:00:00Z","reason":"db","changed_by":"alice"}`, 200, true},
		{"unknown field", "PUT", `{"on":true,"mesage":"typo"}`, 400, true},
		{"no on", "POST", `{"message":"x"}`, 400, true},
		{"not JSON", "POST", `on`, 400, true},
		{"until before start", "PUT", `{"on":true,"start":"2031-01-02T00:00:00Z","until":"2031-01-01T00:00:00Z"}`, 400, true},
		{"post off", "POST", `{"on":false,"changed_by":"bob"}`, 200, false},
		{"put on again", "PUT", `{"on":true}`, 200, true},
		{"delete", "DELETE", ``, 200, false},
		{"patch", "PATCH", `{}`, 405, false},
	}
	for _, tt := range tests {
		code, body := do(tt.method, tt.body)
		if code != tt.want {
			t.Errorf("%s: got %d %s, want %d", tt.name, code, body, tt.want)
		}
		if got := tr.Current().On; got != tt.wantOn {
			t.Errorf("%s: state on: got %v, want %v", tt.name, got, tt.wantOn)
		}
	}
}

func TestClient(t *testing.T) {
	t.Parallel()
	s, tr := newServer(t)
	c, err := NewClient(s.URL+DefaultPath, token, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	on := true
	until := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	st, err := c.Set(ctx, Request{On: &on, Message: "m", Until: until, ChangedBy: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if !st.State.On || st.State.Message != "m" || !st.State.Until.Equal(until) || st.State.ChangedBy != "alice" || !st.Active || !st.Store.OK {
		t.Errorf("after set: got %+v", st)
	}
	if cur := tr.Current(); !cur.On || cur.ChangedAt.IsZero() {
		t.Errorf("tracker: got %+v, want on with changed_at set by the gate", cur)
	}
	if st, err = c.Off(ctx, "", "bob", "done"); err != nil || st.State.On || st.State.ChangedBy != "bob" {
		t.Errorf("off: got %+v, %v", st, err)
	}
	if st, err = c.Status(ctx); err != nil || st.State.On {
		t.Errorf("status: got %+v, %v", st, err)
	}

	bad, _ := NewClient(s.URL+DefaultPath, token+"x", nil)
	var he *HTTPError
	if _, err := bad.Status(ctx); !errors.As(err, &he) || he.Status != 401 || !strings.Contains(err.Error(), "MAINTPAGE_ADMIN_TOKEN") {
		t.Errorf("wrong token: got %v, want a 401 HTTPError that says what to set", err)
	}
}

func TestNewClientURLs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, base, want string
		ok               bool
	}{
		{"base URL", "https://gate.example.com", "https://gate.example.com/_maintenance/admin/state", true},
		{"base URL with slash", "https://gate.example.com/", "https://gate.example.com/_maintenance/admin/state", true},
		{"custom prefix", "https://gate.example.com/_mp/", "https://gate.example.com/_mp/admin/state", true},
		{"full URL", "https://gate.example.com/_mp/admin/state", "https://gate.example.com/_mp/admin/state", true},
		{"http on localhost", "http://127.0.0.1:8080", "http://127.0.0.1:8080/_maintenance/admin/state", true},
		{"http elsewhere", "http://gate.example.com", "", false},
		{"token in the URL", "https://gate.example.com/?token=x", "", false},
		{"user in the URL", "https://u:p@gate.example.com/", "", false},
		{"not a URL", "gate.example.com", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewClient(tt.base, token, nil)
			if (err == nil) != tt.ok {
				t.Fatalf("got error %v, want ok %v", err, tt.ok)
			}
			if err == nil && c.URL() != tt.want {
				t.Errorf("got %q, want %q", c.URL(), tt.want)
			}
			if err != nil && strings.Contains(err.Error(), "u:p") {
				t.Errorf("the error repeats the password: %v", err)
			}
		})
	}
	if _, err := NewClient("https://gate.example.com", "", nil); err == nil {
		t.Error("no token: got no error")
	}
}

func TestScopes(t *testing.T) {
	t.Parallel()
	s, tr := newServerScopes(t, []string{"api", "checkout"})
	c, err := NewClient(s.URL+"/", token, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	on := true
	st, err := c.Set(ctx, Request{On: &on, Scope: "api", Message: "API paused", ChangedBy: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if st.Active || !st.Scopes["api"].Active || st.Scopes["api"].Message != "API paused" || st.Scopes["checkout"].Active {
		t.Errorf("after api on: got %+v, want only api active", st)
	}
	if _, err := c.Set(ctx, Request{On: &on, Scope: "checkout"}); err != nil {
		t.Fatal(err)
	}
	// Unknown scopes are refused with the known ones, and change nothing.
	before := tr.Current()
	_, err = c.Set(ctx, Request{On: &on, Scope: "apx"})
	var he *HTTPError
	if !errors.As(err, &he) || he.Status != 400 || !strings.Contains(he.Msg, `unknown scope "apx"; known scopes are: api, checkout`) {
		t.Errorf("on for an unknown scope: got %v, want 400 listing api, checkout", err)
	}
	if !tr.Current().Equal(before) {
		t.Errorf("a refused change changed the state")
	}
	if st, err = c.Off(ctx, "api", "bob", "done"); err != nil || st.Scopes["api"].Active || !st.Scopes["checkout"].Active {
		t.Errorf("off for api: got %+v, %v; want api off and checkout still on", st.Scopes, err)
	}
	if st, err = c.Off(ctx, "", "bob", "all done"); err != nil || st.Scopes["checkout"].Active {
		t.Errorf("off for the whole site: got %+v, %v; want every scope off", st.Scopes, err)
	}
}

// The API takes the same token as the page: without a limit of its own, wrong tokens could be
// tried there as fast as the network allows, and the page's sign-in limit would protect nothing.
func TestAPIWrongTokensAreRateLimited(t *testing.T) {
	t.Parallel()
	s, _ := newServer(t)
	get := func(path, auth string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("GET", s.URL+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	// No token at all is not a guess: it does not use up the attempts.
	for range 2 * signinBurst {
		if resp := get(DefaultPath, ""); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("no token: got %d, want 401", resp.StatusCode)
		}
	}
	for i := range signinBurst {
		if resp := get(DefaultPath, "Bearer wrong-token-guess"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong token %d: got %d, want 401", i, resp.StatusCode)
		}
	}
	for _, path := range []string{DefaultPath, strings.TrimSuffix(DefaultPath, "state") + "history"} {
		resp := get(path, "Bearer "+token)
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s after %d wrong tokens: got %d (Retry-After %q), want 429 with Retry-After", path, signinBurst, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
}
