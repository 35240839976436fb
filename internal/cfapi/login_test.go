package cfapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestCFTokenRefresh(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		setup func(w *world)
	}{
		// The token says it has expired: the client refreshes before the first call.
		"expired token": {setup: func(w *world) {}},
		// The token claims an hour left but CC refuses it: 401, refresh, one retry.
		"token refused by CC": {setup: func(w *world) { w.f.ExpireToken(w.access) }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t).typical()
			w.snapshot()
			expiry := time.Now().Add(-time.Minute)
			if name == "token refused by CC" {
				expiry = time.Now().Add(time.Hour)
			}
			w.login(t, expiry)
			tc.setup(w)
			c := w.connect(t, nil)
			if c.By() != "alice" {
				t.Errorf("by: got %q, want alice", c.By())
			}
			on(t, c, Request{App: "my-app"})
			off(t, c, Request{App: "my-app"})
			if got := w.f.Grants("refresh_token"); got != 1 {
				t.Errorf("refresh grants: got %d, want 1", got)
			}
			w.assertRestored(t)
		})
	}
}

func TestCFLoginFailures(t *testing.T) {
	t.Parallel()
	w := newWorld(t).typical()
	w.login(t, time.Now().Add(time.Hour))
	w.f.ExpireToken(w.access)
	brokenHome := t.TempDir()
	if err := os.MkdirAll(filepath.Join(brokenHome, ".cf"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(brokenHome, ".cf", "config.json"), []byte(`{"Target":`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		env       map[string]string
		connectOK bool
		wantErr   error
		want      string
	}{
		"no config and no env": {env: map[string]string{"CF_HOME": t.TempDir()}, wantErr: ErrNotLoggedIn, want: "cf login"},
		"unreadable config":    {env: map[string]string{"CF_HOME": brokenHome}, want: "cf login"},
		"CF_API without credentials": {
			env: map[string]string{"CF_HOME": t.TempDir(), "CF_API": w.f.URL}, wantErr: ErrNotLoggedIn, want: "CF_CLIENT_ID",
		},
		"wrong client secret": {
			env: map[string]string{"CF_API": w.f.URL, "CF_CLIENT_ID": "ci", "CF_CLIENT_SECRET": "s3cr3t-wrong"}, wantErr: ErrNotLoggedIn, want: "CF_CLIENT_ID",
		},
		"wrong password": {
			env: map[string]string{"CF_USERNAME": "bob", "CF_PASSWORD": "pa55-wrong"}, wantErr: ErrNotLoggedIn, want: "CF_PASSWORD",
		},
		"refresh token refused": {
			env: map[string]string{"CF_HOME": func() string {
				w2 := *w
				w2.login(t, time.Now().Add(time.Hour))
				w.f.ExpireToken(w2.access)
				// Replace the refresh token by one the UAA never issued.
				p := filepath.Join(w2.home, ".cf", "config.json")
				b, _ := os.ReadFile(p)
				_ = os.WriteFile(p, []byte(strings.Replace(string(b), w2.refresh, "refresh-unknown", 1)), 0o600)
				return w2.home
			}()},
			connectOK: true, wantErr: ErrNotLoggedIn, want: "cf login",
		},
	}
	w.f.AddClient("ci", "s3cr3t")
	w.f.AddUser("bob", "pa55")
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := Connect(ctx, Options{Getenv: w.env(tc.env), Retry: RetryPolicy{BaseDelay: time.Millisecond}})
			if tc.connectOK {
				if err != nil {
					t.Fatalf("Connect: %v", err)
				}
				_, err = c.PlanOn(ctx, Request{App: "my-app", MaintenanceApp: "maintpage"})
			}
			if err == nil {
				t.Fatal("got no error")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("got %v, want %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("message %q: want it to say %q", err, tc.want)
			}
			for _, secret := range []string{"s3cr3t", "pa55", w.access, "refresh-unknown"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("message %q shows a secret", err)
				}
			}
		})
	}
}

func TestCFCICredentials(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		env    map[string]string
		wantBy string
		grant  string
	}{
		"client credentials": {env: map[string]string{"CF_CLIENT_ID": "ci", "CF_CLIENT_SECRET": "s3cr3t"}, wantBy: "ci", grant: "client_credentials"},
		"user and password":  {env: map[string]string{"CF_USERNAME": "bob", "CF_PASSWORD": "pa55"}, wantBy: "bob", grant: "password"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t).typical()
			w.snapshot()
			w.f.AddClient("ci", "s3cr3t")
			w.f.AddUser("bob", "pa55")
			tc.env["CF_API"] = w.f.URL
			tc.env["CF_HOME"] = t.TempDir() // no cf CLI login at all: discovery through the root document
			c, err := Connect(ctx, Options{Getenv: w.env(tc.env)})
			if err != nil {
				t.Fatalf("Connect: %v", err)
			}
			if c.By() != tc.wantBy {
				t.Errorf("by: got %q, want %q", c.By(), tc.wantBy)
			}
			if _, err := c.PlanOn(ctx, Request{App: "my-app", MaintenanceApp: "maintpage"}); !errors.Is(err, ErrNoTarget) {
				t.Errorf("without a target: got %v, want ErrNoTarget", err)
			}
			req := Request{App: "my-app", Org: "acme", Space: "prod"}
			on(t, c, req)
			off(t, c, req)
			if w.f.Grants(tc.grant) == 0 {
				t.Errorf("no %s grant issued", tc.grant)
			}
			w.assertRestored(t)
			if w.countCalls("GET /?")+w.countCalls("GET / ")+countExact(w.f.Calls(), "GET /") == 0 {
				t.Error("the root document was not asked for the UAA")
			}
		})
	}
}

func countExact(calls []string, s string) int {
	n := 0
	for _, c := range calls {
		if c == s {
			n++
		}
	}
	return n
}

func TestCFTargetFlags(t *testing.T) {
	t.Parallel()
	w := newWorld(t).typical()
	c := w.connect(t, nil)
	tests := map[string]struct {
		org, space string
		wantErr    bool
	}{
		"targeted":          {},
		"space in the org":  {space: "prod"},
		"org and space":     {org: "acme", space: "prod"},
		"org without space": {org: "acme", wantErr: true},
		"unknown space":     {org: "acme", space: "dev", wantErr: true},
		"unknown org":       {org: "nope", space: "prod", wantErr: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tg, err := c.ResolveTarget(ctx, tc.org, tc.space)
			if tc.wantErr {
				if !errors.Is(err, ErrNoTarget) {
					t.Errorf("got %v, want ErrNoTarget", err)
				}
				return
			}
			if err != nil || tg.SpaceGUID != w.space {
				t.Errorf("got %+v, %v, want space %s", tg, err, w.space)
			}
		})
	}
}

func TestCFTokenUser(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ token, want string }{
		"user token with bearer": {"bearer eyJhbGciOiJub25lIn0.eyJ1c2VyX25hbWUiOiJhbGljZSJ9.c2ln", "alice"},
		"client token":           {"eyJhbGciOiJub25lIn0.eyJjbGllbnRfaWQiOiJjaSJ9.c2ln", "ci"},
		"not a jwt":              {"opaque", ""},
	}
	for name, tc := range tests {
		if got := tokenUser(tc.token); got != tc.want {
			t.Errorf("%s: got %q, want %q", name, got, tc.want)
		}
	}
}

// TestCFTokenWrittenBack: a renewed login is written back to config.json as the cf CLI writes it,
// so that the operator's cf CLI stays logged in even when the UAA rotates refresh tokens (the old
// one is then revoked, and a config.json still holding it would be logged out).
func TestCFTokenWrittenBack(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		refusedByCC bool
		mode        os.FileMode
	}{
		"expired token, private file":   {mode: 0o600},
		"token CC refuses, shared file": {refusedByCC: true, mode: 0o640},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t).typical()
			w.snapshot()
			w.f.RotateRefreshTokens()
			expiry := time.Now().Add(-time.Minute)
			if tc.refusedByCC {
				expiry = time.Now().Add(time.Hour)
			}
			w.login(t, expiry)
			if tc.refusedByCC {
				w.f.ExpireToken(w.access)
			}
			path := filepath.Join(w.home, ".cf", "config.json")
			// A field maintpage does not know must survive the rewrite as the cf CLI wrote it.
			raw, _ := os.ReadFile(path)
			raw = []byte(strings.Replace(string(raw), `"ConfigVersion":3`, `"ConfigVersion":3,"PluginRepos":[{"Name":"CF-Community","URL":"https://plugins.cloudfoundry.org"}]`, 1))
			if err := os.WriteFile(path, raw, tc.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			c := w.connect(t, nil)
			on(t, c, Request{App: "my-app"})
			off(t, c, Request{App: "my-app"})
			w.assertRestored(t)

			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tc.mode {
				t.Errorf("mode: got %v, want %v kept", fi.Mode().Perm(), tc.mode)
			}
			var cfg map[string]any
			data, _ := os.ReadFile(path)
			if err := json.Unmarshal(data, &cfg); err != nil {
				t.Fatalf("config.json after write-back: %v", err)
			}
			if at, _ := cfg["AccessToken"].(string); !strings.HasPrefix(at, "bearer ") || strings.Contains(at, w.access) {
				t.Errorf("AccessToken: got %.20q…, want a new bearer token", at)
			}
			if rt, _ := cfg["RefreshToken"].(string); rt == w.refresh || rt == "" {
				t.Errorf("RefreshToken: got %q, want the rotated one", rt)
			}
			if _, ok := cfg["PluginRepos"]; !ok || cfg["UAAOAuthClient"] != "cf" {
				t.Errorf("other fields lost: %v", cfg)
			}
			entries, _ := os.ReadDir(filepath.Dir(path))
			if len(entries) != 1 {
				t.Errorf("files in .cf: got %d, want config.json alone (no temporary file left)", len(entries))
			}
			// The cf CLI (here: a second run) works from what was written back.
			c2, err := Connect(ctx, Options{Getenv: w.env(nil)})
			if err != nil {
				t.Fatalf("second Connect: %v", err)
			}
			if _, err := c2.Status(ctx, Request{App: "my-app"}); err != nil {
				t.Errorf("with the written-back login: %v", err)
			}
			if got := w.f.Grants("refresh_token"); got != 1 {
				t.Errorf("refresh grants: got %d, want 1 (the second run uses the written-back token)", got)
			}
		})
	}
}

// TestCFTokenWriteBackLeavesANewerLogin: the operator runs `cf login` as someone else (or the cf CLI
// renews and rotates its own tokens) while maintpage runs. When maintpage then renews its token, it
// must not write its login over the newer one: config.json holds what the cf CLI wrote.
func TestCFTokenWriteBackLeavesANewerLogin(t *testing.T) {
	t.Parallel()
	w := newWorld(t).typical()
	w.login(t, time.Now().Add(time.Hour))
	c := w.connect(t, nil)
	path := filepath.Join(w.home, ".cf", "config.json")
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	bobAccess, bobRefresh := w.f.Login("bob", time.Now().Add(time.Hour))
	raw = []byte(strings.Replace(string(raw), w.access, bobAccess, 1))
	raw = []byte(strings.Replace(string(raw), w.refresh, bobRefresh, 1))
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	w.f.ExpireToken(w.access) // maintpage's token is refused from now on: it renews it
	if _, err := c.Status(ctx, Request{App: "my-app"}); err != nil {
		t.Fatalf("status with a renewed token: %v", err)
	}
	if got := w.f.Grants("refresh_token"); got != 1 {
		t.Fatalf("refresh grants: got %d, want 1 (the renewal this test is about)", got)
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(raw) {
		t.Errorf("config.json after maintpage renewed its own login:\n%s\nwant bob's login as the cf CLI wrote it:\n%s", after, raw)
	}
}

// TestCFUAARedirectGetsNoCredentials: a token grant carries the refresh token (or a password) in
// its body, and net/http sends a body again to wherever a 307 or 308 points, on any host. A UAA
// answer that redirects is refused, so the credentials go to the UAA named in config.json only.
func TestCFUAARedirectGetsNoCredentials(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var stolen []string
	thief := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		stolen = append(stolen, r.Method+" "+r.URL.Path+" "+string(body)+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		http.Error(w, "no", http.StatusTeapot)
	}))
	t.Cleanup(thief.Close)
	for name, code := range map[string]int{"307": http.StatusTemporaryRedirect, "308": http.StatusPermanentRedirect} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, thief.URL+r.URL.Path, code)
			}))
			t.Cleanup(redirector.Close)
			w := newWorld(t).typical()
			w.login(t, time.Now().Add(-time.Minute)) // expired: Connect renews it at once
			path := filepath.Join(w.home, ".cf", "config.json")
			raw, _ := os.ReadFile(path)
			raw = []byte(strings.ReplaceAll(string(raw), `"UaaEndpoint":"`+w.f.URL+`/uaa"`, `"UaaEndpoint":"`+redirector.URL+`/uaa"`))
			if err := os.WriteFile(path, raw, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Connect(ctx, Options{Getenv: w.env(nil), Retry: RetryPolicy{BaseDelay: time.Millisecond}})
			if err == nil || !errors.Is(err, ErrNotLoggedIn) {
				t.Errorf("Connect: got %v, want the login refused", err)
			}
			mu.Lock()
			defer mu.Unlock()
			for _, s := range stolen {
				if strings.Contains(s, w.refresh) {
					t.Errorf("the refresh token went to another host through a redirect: %s", s)
				}
			}
		})
	}
}
