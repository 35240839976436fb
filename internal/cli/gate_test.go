package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/maintpage/maintpage/internal/config"
	"github.com/maintpage/maintpage/internal/gate"
	"github.com/maintpage/maintpage/internal/state"
)

func TestToggleUsageErrors(t *testing.T) {
	t.Parallel()
	file := "file:" + filepath.Join(t.TempDir(), "state.json")
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want string // in stderr
	}{
		{"nowhere", nil, []string{"on"}, "say where the state is"},
		{"memory", nil, []string{"on", "--state", "memory"}, "lives inside one serve process"},
		{"memory from env", map[string]string{"MAINTPAGE_STATE": "memory"}, []string{"status"}, "lives inside one serve process"},
		{"both", nil, []string{"off", "--state", file, "--admin", "https://gate.example.com"}, "not both"},
		{"bad until", nil, []string{"on", "--state", file, "--until", "tomorrow"}, "RFC 3339"},
		{"until in the past", nil, []string{"on", "--state", file, "--until", "2001-01-01T00:00:00Z"}, "in the past"},
		{"until before start", nil, []string{"on", "--state", file, "--start", "3h", "--until", "2h"}, "after --start"},
		{"bad store", nil, []string{"status", "--state", "postgres://x"}, "unknown kind"},
		{"admin without token", nil, []string{"status", "--admin", "https://gate.example.com"}, "MAINTPAGE_ADMIN_TOKEN"},
		{"admin over plain http", map[string]string{"MAINTPAGE_ADMIN_TOKEN": "0123456789abcdef"}, []string{"status", "--admin", "http://gate.example.com"}, "use https"},
		{"argument", nil, []string{"off", "--state", file, "now"}, "takes no arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			code, _, stderr := run(t, tt.env, tt.args...)
			if code != ExitUsage || !strings.Contains(stderr, tt.want) {
				t.Errorf("got exit %d, stderr %q; want %d and %q", code, stderr, ExitUsage, tt.want)
			}
		})
	}
}

func TestToggleFileStore(t *testing.T) {
	t.Parallel()
	file := "file:" + filepath.Join(t.TempDir(), "state.json")
	env := map[string]string{"USER": "alice"}
	code, out, stderr := run(t, env, "on", "--state", file, "--message", "Upgrading", "--until", "2h", "--reason", "db migration")
	if code != 0 {
		t.Fatalf("on: exit %d: %s", code, stderr)
	}
	for _, want := range []string{`maintenance:  on\n`, `message:      Upgrading\n`, `until:        \S+ \(in (1h59m5\ds|2h0m0s)\)`, `reason:       db migration\n`, `by alice@`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("on: output does not match %q:\n%s", want, out)
		}
	}
	code, out, _ = run(t, env, "status", "--state", file, "--json")
	var st struct {
		State state.State `json:"state"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil || !st.State.On || st.State.Message != "Upgrading" || !strings.HasPrefix(st.State.ChangedBy, "alice@") {
		t.Errorf("status --json: exit %d, got %s", code, out)
	}
	code, out, _ = run(t, map[string]string{"MAINTPAGE_STATE": strings.TrimPrefix(file, "")}, "on", "--start", "1h", "--by", "bob")
	if code != 0 || !strings.Contains(out, "scheduled: starts") || !strings.Contains(out, "by bob") {
		t.Errorf("scheduled on via MAINTPAGE_STATE: exit %d:\n%s", code, out)
	}
	if code, out, _ = run(t, env, "off", "--state", file); code != 0 || !strings.Contains(out, "maintenance:  off") {
		t.Errorf("off: exit %d:\n%s", code, out)
	}
	if code, out, _ = run(t, env, "status", "--state", file); code != 0 || !strings.Contains(out, "maintenance:  off") {
		t.Errorf("status after off: exit %d:\n%s", code, out)
	}
}

func TestToggleStoreUnreachable(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"status"}, {"on"}, {"off"}} {
		code, _, stderr := run(t, nil, append(args, "--state", "redis://127.0.0.1:1/0")...)
		if code != ExitFailure {
			t.Errorf("%s: got exit %d (%s), want %d", args[0], code, stderr, ExitFailure)
		}
	}
}

func TestToggleAdmin(t *testing.T) {
	t.Parallel()
	const token = "0123456789abcdef-admin"
	cfg, err := config.Load("", nil, map[string]string{"upstream": "http://127.0.0.1:1", "admin_token": token})
	if err != nil {
		t.Fatal(err)
	}
	tr := state.NewTracker(state.NewMemory(), state.State{}, time.Hour, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	g, err := gate.New(gate.Options{Config: cfg, Tracker: tr})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	env := map[string]string{"MAINTPAGE_ADMIN_TOKEN": token, "USER": "carol"}

	code, out, stderr := run(t, env, "on", "--admin", srv.URL, "--message", "Via the API")
	if code != 0 || !strings.Contains(out, "gate's store:  ok") || !tr.Current().On || tr.Current().Message != "Via the API" {
		t.Fatalf("on --admin: exit %d (%s):\n%s", code, stderr, out)
	}
	if code, out, _ = run(t, env, "status", "--admin", srv.URL); code != 0 || !strings.Contains(out, "maintenance:   on") {
		t.Errorf("status --admin: exit %d:\n%s", code, out)
	}
	if code, _, _ = run(t, env, "off", "--admin", srv.URL); code != 0 || tr.Current().On {
		t.Errorf("off --admin: exit %d, on %v", code, tr.Current().On)
	}
	wrong := map[string]string{"MAINTPAGE_ADMIN_TOKEN": token + "x"}
	if code, _, stderr = run(t, wrong, "on", "--admin", srv.URL); code != ExitUsage || !strings.Contains(stderr, "refused the token") || tr.Current().On {
		t.Errorf("wrong token: exit %d, %q", code, stderr)
	}
	if code, _, _ = run(t, env, "status", "--admin", "http://127.0.0.1:1"); code != ExitFailure {
		t.Errorf("unreachable gate: got exit %d, want %d", code, ExitFailure)
	}
}

// FuzzParseWhen: a time given as RFC 3339 or a duration comes back as a UTC instant that a state
// can store (JSON writes years 0-9999 only) and that is not the zero time, which means "not given";
// written back as RFC 3339 it parses to the same instant whatever the clock says; a duration lands
// at or after now. Anything else is a usage error that names the flag and the value.
func FuzzParseWhen(f *testing.F) {
	for _, s := range []string{"", "2026-11-26T18:00:00Z", "2026-11-26T18:00:00.5+01:00", "90m", "+2h", "-1h",
		"0s", "1ns", "tomorrow", "0001-01-01T00:00:00Z", "0000-01-01T00:30:00+01:00", "9999-12-31T23:00:00-02:00", "++5m"} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 26, 17, 0, 0, 123, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		got, err := parseWhen("--until", v, now)
		if err != nil {
			var ee *exitError
			if !got.IsZero() || !errors.As(err, &ee) || ee.code != ExitUsage || !strings.Contains(err.Error(), "--until") || !strings.Contains(err.Error(), fmt.Sprintf("%q", v)) {
				t.Fatalf("parseWhen(%q): got %v and %v, want the zero time and a usage error naming --until and the value", v, got, err)
			}
			return
		}
		if v == "" {
			if !got.IsZero() {
				t.Fatalf(`parseWhen(""): got %v, want the zero time (not given)`, got)
			}
			return
		}
		if got.IsZero() || got.Location() != time.UTC {
			t.Fatalf("parseWhen(%q) = %v: want a UTC time that is not the zero time", v, got)
		}
		if _, err := got.MarshalJSON(); err != nil {
			t.Fatalf("parseWhen(%q) = %v, which a state cannot store: %v", v, got, err)
		}
		again, err := parseWhen("--start", got.Format(time.RFC3339Nano), now.Add(time.Hour))
		if err != nil || !again.Equal(got) {
			t.Fatalf("parseWhen(%q) = %v; written back as %q it gives %v, %v", v, got, got.Format(time.RFC3339Nano), again, err)
		}
		if _, perr := time.Parse(time.RFC3339, v); perr != nil && got.Before(now.Truncate(time.Second)) {
			t.Fatalf("parseWhen(%q) = %v: a duration from now must not land before now (%v)", v, got, now)
		}
	})
}

func TestParseWhen(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 26, 17, 0, 0, 500, time.UTC)
	tests := map[string]struct {
		in, want string // want "" with err: refused
		err      string
	}{
		"empty":           {in: "", want: "0001-01-01T00:00:00Z"},
		"utc":             {in: "2026-11-26T18:00:00Z", want: "2026-11-26T18:00:00Z"},
		"offset":          {in: "2026-11-26T19:00:00+01:00", want: "2026-11-26T18:00:00Z"},
		"duration":        {in: "90m", want: "2026-11-26T18:30:00Z"},
		"plus duration":   {in: "+2h", want: "2026-11-26T19:00:00Z"},
		"negative":        {in: "-1h", err: "RFC 3339"},
		"words":           {in: "tomorrow", err: "RFC 3339"},
		"zero time":       {in: "0001-01-01T00:00:00Z", err: "out of range"},
		"before year one": {in: "0001-01-01T00:30:00+01:00", err: "out of range"},
		"past 9999":       {in: "9999-12-31T23:00:00-02:00", err: "out of range"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := parseWhen("--start", tc.in, now)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), "--start") {
					t.Errorf("parseWhen(%q): got %v, %v; want an error with %q naming --start", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got.Format(time.RFC3339Nano) != tc.want {
				t.Errorf("parseWhen(%q): got %s, %v; want %s", tc.in, got.Format(time.RFC3339Nano), err, tc.want)
			}
		})
	}
}

func TestToggleScopesWithAStore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := "file:" + filepath.Join(dir, "state.json")
	cfgFile := filepath.Join(dir, "maintpage.yaml")
	if err := os.WriteFile(cfgFile, []byte("upstream: http://127.0.0.1:1\nrules:\n  - scope: api\n    match: {path_prefix: /api/}\n  - scope: checkout\n    match: {path: /checkout}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"USER": "alice"}

	// Nothing published and no --config: the CLI cannot know the scopes, and says how to fix it.
	code, _, stderr := run(t, env, "on", "--state", file, "--scope", "api")
	if code != ExitUsage || !strings.Contains(stderr, `no gate has published its scopes`) || !strings.Contains(stderr, "--config") {
		t.Errorf("on --scope with nothing known: exit %d, %q; want 2 and a hint at --config", code, stderr)
	}
	code, _, stderr = run(t, env, "on", "--state", file, "--config", cfgFile, "--scope", "apx")
	if code != ExitUsage || !strings.Contains(stderr, `unknown scope "apx"; known scopes are: api, checkout`) {
		t.Errorf("on --scope apx: exit %d, %q; want 2 and the known scopes", code, stderr)
	}
	code, out, stderr := run(t, env, "on", "--state", file, "--config", cfgFile, "--scope", "api", "--message", "API paused")
	if code != 0 || !strings.Contains(out, "scope api:") || !strings.Contains(out, "on: API paused") {
		t.Fatalf("on --scope api: exit %d, %s%s", code, out, stderr)
	}

	// What a gate publishes is enough without --config.
	store, err := state.Open(file, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, err := store.Update(t.Context(), func(s state.State) (state.State, error) {
		s.Known = &state.Known{Scopes: []string{"api", "checkout"}}
		return s, nil
	}); err != nil {
		t.Fatal(err)
	}
	if code, out, stderr = run(t, env, "on", "--state", file, "--scope", "checkout"); code != 0 {
		t.Fatalf("on --scope checkout with published scopes: exit %d, %s", code, stderr)
	}
	code, out, _ = run(t, env, "status", "--state", file)
	if code != 0 || !regexp.MustCompile(`maintenance:\s+off\n`).MatchString(out) || !regexp.MustCompile(`scope api:\s+on: API paused\n`).MatchString(out) || !regexp.MustCompile(`scope checkout:\s+on\n`).MatchString(out) {
		t.Errorf("status: exit %d\n%s\nwant the site off, api and checkout on", code, out)
	}
	if code, _, stderr = run(t, env, "off", "--state", file, "--scope", "api"); code != 0 {
		t.Fatalf("off --scope api: %s", stderr)
	}
	s, err := store.Load(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if s.Scopes["api"].On || !s.Scopes["checkout"].On || s.Scopes["api"].ChangedBy == "" {
		t.Errorf("after off --scope api: got %+v, want api off (with who), checkout on", s.Scopes)
	}
	if code, _, stderr = run(t, env, "off", "--state", file); code != 0 {
		t.Fatalf("off: %s", stderr)
	}
	if s, _ = store.Load(t.Context()); s.Scopes["checkout"].On || s.Known == nil {
		t.Errorf("after off: got %+v, want every scope off and the published scopes kept", s)
	}
}
