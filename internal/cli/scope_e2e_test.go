package cli_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/maintpage/maintpage/internal/state/statetest"
)

func writeConfig(t *testing.T, yaml string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "maintpage.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

// TestBinaryReadOnlyMode runs the real gate with the read-only recipe: reads (and CORS preflights)
// reach the application during maintenance, writes get the maintenance response as problem JSON.
func TestBinaryReadOnlyMode(t *testing.T) {
	t.Parallel()
	app := appUpstream(t)
	store := "file:" + filepath.Join(t.TempDir(), "state.json")
	cfg := writeConfig(t, `upstream: `+app.URL+`
state: `+store+`
rules:
  - name: reads
    match: {methods: [GET, HEAD, OPTIONS]}
    action: pass
`)
	g := start(t, nil, "serve", "--config", cfg)
	cli(t, nil, "on", "--state", store, "--message", "Read-only during the migration")
	waitFor(t, "POST answered 503 after on", func() bool {
		resp, _ := get(t, g, "POST", "/orders", nil)
		return resp.StatusCode == 503
	})
	for _, tc := range []struct {
		method string
		header map[string]string
		want   int
		body   string
	}{
		{"GET", nil, 200, "app"},
		{"HEAD", nil, 200, ""},
		{"OPTIONS", map[string]string{"Origin": "https://web.example", "Access-Control-Request-Method": "POST"}, 200, "app"},
		{"POST", map[string]string{"Accept": "application/problem+json"}, 503, `"detail":"Read-only during the migration"`},
		{"PUT", map[string]string{"Accept": "application/problem+json, application/json;q=0.9"}, 503, `"status":503`},
	} {
		resp, body := get(t, g, tc.method, "/orders/1", tc.header)
		if resp.StatusCode != tc.want || !strings.Contains(body, tc.body) {
			t.Errorf("%s during read-only maintenance: got %d %q, want %d containing %q", tc.method, resp.StatusCode, body, tc.want, tc.body)
		}
		if tc.want == 503 {
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("%s: Content-Type %q, want application/problem+json", tc.method, ct)
			}
		}
	}
	cli(t, nil, "off", "--state", store)
	waitFor(t, "POST answered 200 after off", func() bool {
		resp, _ := get(t, g, "POST", "/orders", nil)
		return resp.StatusCode == 200
	})
}

// TestBinaryTwoScopesOnTwoGates switches two scopes independently, with the real CLI, on two real
// gates sharing a real Redis; the CLI learns the scopes from what the gates published.
func TestBinaryTwoScopesOnTwoGates(t *testing.T) {
	t.Parallel()
	addr, _, _ := statetest.StartRedis(t)
	store := "redis://" + addr + "/0"
	app := appUpstream(t)
	cfg := writeConfig(t, `upstream: `+app.URL+`
rules:
  - name: api
    scope: api
    match: {path_prefix: /api/}
  - name: checkout
    scope: checkout
    match: {path_prefix: /checkout}
`)
	env := []string{"MAINTPAGE_STATE=" + store}
	a, b := start(t, env, "serve", "--config", cfg), start(t, env, "serve", "--config", cfg)
	paths := []string{"/api/v1/x", "/checkout/pay", "/"}
	expect := func(step string, want ...int) {
		t.Helper()
		ok := func() bool {
			for _, g := range []*proc{a, b} {
				for i, p := range paths {
					if resp, _ := get(t, g, "GET", p, nil); resp.StatusCode != want[i] {
						return false
					}
				}
			}
			return true
		}
		deadline := time.Now().Add(5 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				var got []int
				for _, g := range []*proc{a, b} {
					for _, p := range paths {
						resp, _ := get(t, g, "GET", p, nil)
						got = append(got, resp.StatusCode)
					}
				}
				t.Fatalf("%s: %v on both gates, want %v on each", step, got, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	expect("all off", 200, 200, 200)

	// Without --config: the gates published their scopes in Redis.
	waitFor(t, "the gates published their scopes", func() bool {
		return strings.Contains(cli(t, nil, "status", "--state", store), "scope api:")
	})
	out, code := cliCode(t, nil, "on", "--state", store, "--scope", "payments")
	if code != 2 || !strings.Contains(out, `unknown scope "payments"; known scopes are: api, checkout`) {
		t.Errorf("on --scope payments: exit %d\n%s\nwant 2 and the known scopes", code, out)
	}
	cli(t, nil, "on", "--state", store, "--scope", "api", "--message", "API paused", "--until", "1h")
	expect("api on", 503, 200, 200)
	resp, body := get(t, b, "GET", "/api/v1/x", map[string]string{"Accept": "application/json"})
	if !strings.Contains(body, "API paused") || resp.Header.Get("Retry-After") == "" {
		t.Errorf("api scope's response: %q, Retry-After %q; want its message and a Retry-After", body, resp.Header.Get("Retry-After"))
	}
	cli(t, nil, "on", "--state", store, "--scope", "checkout")
	expect("api and checkout on", 503, 503, 200)
	cli(t, nil, "off", "--state", store, "--scope", "api")
	expect("checkout on", 200, 503, 200)

	_, body = get(t, a, "GET", "/_maintenance/status", nil)
	var st struct {
		Maintenance bool
		Scopes      map[string]struct{ Maintenance bool }
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.Maintenance || st.Scopes["api"].Maintenance || !st.Scopes["checkout"].Maintenance {
		t.Errorf("status endpoint: %s (%v); want the site and api off, checkout on", body, err)
	}
	cli(t, nil, "on", "--state", store)
	expect("site on", 503, 503, 503)
	cli(t, nil, "off", "--state", store)
	expect("site off", 200, 200, 200)
}

// cliCode runs the real binary once and returns its combined output and exit code.
func cliCode(t *testing.T, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{"USER=e2e"}, env...)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errorsAs(err, &ee) {
		t.Fatalf("maintpage %s: %v", strings.Join(args, " "), err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}
