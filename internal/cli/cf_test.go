package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/maintpage/maintpage/internal/cfapi/cffake"
)

// cfWorld is a fake foundation with my-app on two routes, a blue-green partner on one of them, an
// internal route, the maintenance app, and a cf CLI login for alice targeting the space.
type cfWorld struct {
	f      *cffake.Fake
	home   string
	space  string
	app    string
	maint  string
	routes []string
}

func newCFWorld(t *testing.T, withMaint bool) *cfWorld {
	t.Helper()
	f := cffake.New(t)
	w := &cfWorld{f: f, home: t.TempDir()}
	org := f.AddOrg("acme")
	space := f.AddSpace(org, "prod")
	w.space = space
	w.app = f.AddApp(space, "my-app")
	green := f.AddApp(space, "my-app-green")
	if withMaint {
		w.maint = f.AddApp(space, DefaultMaintenanceApp)
	}
	web := f.AddDomain("example.com", cffake.HTTPDomain)
	internal := f.AddDomain("apps.internal", cffake.InternalDomain)
	w.routes = []string{
		f.AddRoute(space, web, "my-app", "", 0, cffake.Dest{App: w.app}),
		f.AddRoute(space, web, "shop", "/api", 0, cffake.Dest{App: w.app}, cffake.Dest{App: green}),
		f.AddRoute(space, internal, "my-app", "", 0, cffake.Dest{App: w.app}),
	}
	access, refresh := f.Login("alice", time.Now().Add(time.Hour))
	cfg, _ := json.Marshal(map[string]any{
		"Target": f.URL, "AuthorizationEndpoint": f.URL + "/uaa", "UaaEndpoint": f.URL + "/uaa",
		"AccessToken": "bearer " + access, "RefreshToken": refresh, "UAAOAuthClient": "cf",
		"OrganizationFields": map[string]string{"GUID": org, "Name": "acme"},
		"SpaceFields":        map[string]string{"GUID": space, "Name": "prod"},
	})
	if err := os.MkdirAll(filepath.Join(w.home, ".cf"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.home, ".cf", "config.json"), cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *cfWorld) getenv(k string) string {
	if k == "CF_HOME" {
		return w.home
	}
	return ""
}

func (w *cfWorld) inMaintenance(i int) bool {
	ds := w.f.Destinations(w.routes[i])
	return len(ds) == 1 && ds[0].App == w.maint
}

func (w *cfWorld) main(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Main(context.Background(), append([]string{"cf"}, args...), w.getenv, &out, &errb)
	return code, out.String(), errb.String()
}

type fakeTerminal struct {
	*strings.Reader
	tty bool
}

func (f fakeTerminal) IsTerminal() bool { return f.tty }

// runCFWith runs the cf command with a chosen stdin, mapping errors to exit codes as Main does.
func (w *cfWorld) runCFWith(in terminal, args ...string) (int, string, string) {
	return w.runCFWithContext(context.Background(), in, args...)
}

func (w *cfWorld) runCFWithContext(ctx context.Context, in terminal, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	e := &env{getenv: w.getenv, stdout: &out, stderr: &errb}
	root := &cobra.Command{Use: "maintpage", SilenceErrors: true, SilenceUsage: true}
	root.AddCommand(newCFCmdWith(e, in))
	root.SetArgs(append([]string{"cf"}, args...))
	root.SetOut(&out)
	root.SetErr(&errb)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return ExitOK, out.String(), errb.String()
	}
	errb.WriteString(err.Error())
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code, out.String(), errb.String()
	}
	return ExitUsage, out.String(), errb.String()
}

func TestCFDefaultMaintenanceAppMatchesManifest(t *testing.T) {
	t.Parallel()
	// The manifest is part of the product (`cf push --no-route` reads it): missing is a failure.
	b, err := os.ReadFile(filepath.Join("..", "..", "manifest.yml"))
	if err != nil {
		t.Fatalf("reading the repository's manifest.yml, which names the maintenance app: %v", err)
	}
	m := regexp.MustCompile(`(?m)^\s*-?\s*name:\s*["']?([^"'\s#]+)`).FindSubmatch(b)
	if m == nil {
		t.Fatal("manifest.yml names no application")
	}
	if got := string(m[1]); got != DefaultMaintenanceApp {
		t.Errorf("manifest.yml app name: got %q, want %q (the --maintenance-app default)", got, DefaultMaintenanceApp)
	}
}

func TestCFOnStatusOff(t *testing.T) {
	t.Parallel()
	w := newCFWorld(t, true)

	code, out, errOut := w.main("on", "my-app", "--yes")
	if code != ExitOK {
		t.Fatalf("on: got exit %d (%s), want 0", code, errOut)
	}
	for _, s := range []string{"Switch my-app to maintenance app maintpage in org acme / space prod", "as alice",
		"my-app.example.com", "shop.example.com/api", "my-app, my-app-green", "[2/2]",
		"left alone: internal route", "To undo: maintpage cf off my-app"} {
		if !strings.Contains(out, s) {
			t.Errorf("on output: want %q in\n%s", s, out)
		}
	}
	if !w.inMaintenance(0) || !w.inMaintenance(1) || w.inMaintenance(2) {
		t.Errorf("routes in maintenance: got %v %v %v, want true true false", w.inMaintenance(0), w.inMaintenance(1), w.inMaintenance(2))
	}

	code, out, _ = w.main("on", "my-app", "--yes")
	if code != ExitOK || !strings.Contains(out, "already in maintenance") {
		t.Errorf("on twice: got exit %d and\n%s\nwant 0 and already in maintenance", code, out)
	}

	code, out, _ = w.main("status", "my-app")
	if code != ExitOK || !strings.Contains(out, "2 of 3 in maintenance") || !strings.Contains(out, "alice") || !strings.Contains(out, "was: my-app, my-app-green") {
		t.Errorf("status: got exit %d and\n%s", code, out)
	}
	code, out, _ = w.main("status")
	if code != ExitOK || strings.Count(out, "maintenance  ") != 2 {
		t.Errorf("space status: got exit %d and\n%s\nwant the two routes", code, out)
	}

	code, out, errOut = w.main("off", "my-app", "-y")
	if code != ExitOK || !strings.Contains(out, "my-app is back: 2 route(s)") {
		t.Fatalf("off: got exit %d (%s) and\n%s", code, errOut, out)
	}
	code, out, _ = w.main("off", "my-app", "--yes")
	if code != ExitOK || !strings.Contains(out, "not in maintenance") {
		t.Errorf("off twice: got exit %d and\n%s", code, out)
	}
	if len(w.f.Destinations(w.routes[1])) != 2 || w.inMaintenance(0) {
		t.Errorf("after off: routes not restored: %v %v", w.f.Destinations(w.routes[0]), w.f.Destinations(w.routes[1]))
	}
	if e := w.f.Emptied(); len(e) > 0 {
		t.Errorf("routes emptied: %v", e)
	}
}

func TestCFExitCodes(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		maint  bool
		setup  func(w *cfWorld)
		args   []string
		code   int
		stderr []string
	}{
		"dry run":                 {maint: true, args: []string{"on", "my-app", "--dry-run"}, code: ExitOK},
		"maintenance app missing": {args: []string{"on", "my-app", "--yes"}, code: ExitUsage, stderr: []string{"cf push --no-route"}},
		"other maintenance app":   {maint: true, args: []string{"on", "my-app", "--yes", "--maintenance-app", "sorry-page"}, code: ExitUsage, stderr: []string{`"sorry-page"`}},
		"unknown route":           {maint: true, args: []string{"on", "my-app", "--yes", "--route", "x.example.com"}, code: ExitUsage, stderr: []string{"--route"}},
		"no app argument":         {maint: true, args: []string{"on"}, code: ExitUsage, stderr: []string{"APP"}},
		"no subcommand":           {maint: true, args: nil, code: ExitUsage},
		"unknown flag":            {maint: true, args: []string{"on", "my-app", "--bogus"}, code: ExitUsage},
		"no terminal and no yes":  {maint: true, args: []string{"on", "my-app"}, code: ExitUsage, stderr: []string{"--yes"}},
		"not logged in": {maint: true, setup: func(w *cfWorld) { w.home = filepath.Join(w.home, "nowhere") },
			args: []string{"status", "my-app"}, code: ExitUsage, stderr: []string{"cf login"}},
		"failure rolled back": {maint: true, args: []string{"on", "my-app", "--yes"}, code: ExitFailure,
			setup: func(w *cfWorld) {
				w.f.Inject(cffake.Fault{Method: "POST", Path: "/v3/routes/" + w.routes[1] + "/destinations", Status: 500, Code: 10001, Title: "CF-ServerError", Detail: "An unknown error occurred."})
			},
			stderr: []string{"CF-ServerError (10001): An unknown error occurred.", "put back"}},
		"rollback incomplete": {maint: true, args: []string{"on", "my-app", "--yes"}, code: ExitCFIncomplete,
			setup: func(w *cfWorld) {
				w.f.Inject(cffake.Fault{Method: "DELETE", Path: "/v3/routes/" + w.routes[1] + "/destinations/*", Times: -1, Status: 422, Code: 10008, Title: "CF-UnprocessableEntity", Detail: "mapping locked"})
			},
			stderr: []string{"could NOT be put back", "maintpage cf status"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := newCFWorld(t, tc.maint)
			if tc.setup != nil {
				tc.setup(w)
			}
			code, _, errOut := w.runCFWith(fakeTerminal{strings.NewReader(""), false}, tc.args...)
			if code != tc.code {
				t.Errorf("exit: got %d, want %d (stderr %s)", code, tc.code, errOut)
			}
			for _, s := range tc.stderr {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr %q: want %q", errOut, s)
				}
			}
			if tc.code != ExitOK && tc.code != ExitCFIncomplete && tc.maint && (w.inMaintenance(0) || w.inMaintenance(1)) {
				t.Error("a route was left in maintenance")
			}
			if name == "dry run" && w.inMaintenance(0) {
				t.Error("dry run changed a route")
			}
		})
	}
}

func TestCFConfirmation(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		answer   string
		code     int
		switched bool
	}{
		"yes":      {"y\n", ExitOK, true},
		"YES":      {"YES\n", ExitOK, true},
		"no":       {"n\n", ExitFailure, false},
		"enter":    {"\n", ExitFailure, false},
		"no input": {"", ExitFailure, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := newCFWorld(t, true)
			code, out, errOut := w.runCFWith(fakeTerminal{strings.NewReader(tc.answer), true}, "on", "my-app")
			if code != tc.code {
				t.Errorf("exit: got %d, want %d (%s)", code, tc.code, errOut)
			}
			if !strings.Contains(out, "Switch these 2 route(s)? [y/N]") {
				t.Errorf("no prompt in\n%s", out)
			}
			if w.inMaintenance(0) != tc.switched {
				t.Errorf("switched: got %v, want %v", w.inMaintenance(0), tc.switched)
			}
		})
	}
}

func TestCFHelpDocumentsExitCodes(t *testing.T) {
	t.Parallel()
	w := newCFWorld(t, true)
	code, out, _ := w.main("--help")
	if code != ExitOK {
		t.Fatalf("exit: got %d", code)
	}
	for _, s := range []string{"on", "off", "status", "Exit codes:", "CF_CLIENT_ID", "--skip-ssl-validation"} {
		if !strings.Contains(out, s) {
			t.Errorf("help: want %q in\n%s", s, out)
		}
	}
	_, out, _ = w.main("on", "--help")
	for _, s := range []string{"--maintenance-app string", `(default "maintpage")`, "--route", "--dry-run", "--yes"} {
		if !strings.Contains(out, s) {
			t.Errorf("on --help: want %q in\n%s", s, out)
		}
	}
}

// silentTerminal is a person who never answers: the first read is the moment the prompt waits,
// when it calls onRead (the operator pressing Ctrl-C); reads then block until the test ends.
type silentTerminal struct {
	onRead func()
	once   *sync.Once
	done   chan struct{}
}

func (s silentTerminal) IsTerminal() bool { return true }

func (s silentTerminal) Read([]byte) (int, error) {
	s.once.Do(s.onRead)
	<-s.done
	return 0, io.EOF
}

func TestCFConfirmationInterrupted(t *testing.T) {
	t.Parallel()
	w := newCFWorld(t, true)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	in := silentTerminal{onRead: cancel, once: &sync.Once{}, done: make(chan struct{})}
	t.Cleanup(func() { close(in.done) })
	type result struct {
		code     int
		out, err string
	}
	got := make(chan result, 1)
	go func() {
		code, out, errOut := w.runCFWithContext(ctx, in, "on", "my-app")
		got <- result{code, out, errOut}
	}()
	select {
	case r := <-got:
		if r.code != ExitFailure || !strings.Contains(r.err, "aborted, nothing was changed") {
			t.Errorf("got exit %d and %q, want %d and aborted, nothing was changed", r.code, r.err, ExitFailure)
		}
		if !strings.Contains(r.out, "[y/N]") {
			t.Errorf("no prompt in\n%s", r.out)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the prompt is still waiting 10s after Ctrl-C: want it to give up at once")
	}
	for _, c := range w.f.Calls() {
		if !strings.HasPrefix(c, "GET ") && !strings.Contains(c, "/uaa/") {
			t.Errorf("a change reached the Cloud Controller after Ctrl-C: %s", c)
		}
	}
	if w.inMaintenance(0) || w.inMaintenance(1) {
		t.Error("a route was switched although the prompt was interrupted")
	}
}

// pushingTerminal answers "y", but only after a blue-green push has mapped another app to the route
// while the prompt waited.
type pushingTerminal struct {
	*strings.Reader
	push func()
	once *sync.Once
}

func (p pushingTerminal) IsTerminal() bool { return true }

func (p pushingTerminal) Read(b []byte) (int, error) {
	p.once.Do(p.push)
	return p.Reader.Read(b)
}

func TestCFDestinationAddedAtThePromptComesBack(t *testing.T) {
	t.Parallel()
	w := newCFWorld(t, true)
	partner := w.f.AddApp(w.space, "my-app-venerable")
	in := pushingTerminal{Reader: strings.NewReader("y\n"), once: &sync.Once{},
		push: func() { w.f.AddDestinations(w.routes[0], cffake.Dest{App: partner}) }}
	code, out, errOut := w.runCFWith(in, "on", "my-app")
	if code != ExitOK {
		t.Fatalf("on: got exit %d (%s), want 0", code, errOut)
	}
	if !w.inMaintenance(0) || !strings.Contains(out, "changed after the plan was shown") {
		t.Errorf("on: route switched %v, output\n%s\nwant switched and the change reported", w.inMaintenance(0), out)
	}
	if code, _, errOut = w.main("off", "my-app", "--yes"); code != ExitOK {
		t.Fatalf("off: got exit %d (%s), want 0", code, errOut)
	}
	var apps []string
	for _, d := range w.f.Destinations(w.routes[0]) {
		apps = append(apps, d.App)
	}
	if want := []string{w.app, partner}; !slices.Equal(apps, want) {
		t.Errorf("after off: got %v, want %v (the app and what the push added)", apps, want)
	}
}

// TestCFSharedFlags: scripts pass one set of flags to on, status and off; status shows a route the
// maintenance app serves although maintpage did not switch it.
func TestCFSharedFlags(t *testing.T) {
	t.Parallel()
	w := newCFWorld(t, false)
	sorry := w.f.AddApp(w.space, "sorry-page")
	byHand := w.f.AddRoute(w.space, w.f.AddDomain("example.org", cffake.HTTPDomain), "legacy", "", 0, cffake.Dest{App: sorry})
	flags := []string{"--maintenance-app", "sorry-page", "--yes", "--route", "my-app.example.com"}
	for _, cmd := range [][]string{{"on", "my-app"}, {"status", "my-app"}, {"status"}, {"off", "my-app"}} {
		code, out, errOut := w.main(append(cmd, flags...)...)
		if code != ExitOK {
			t.Fatalf("%v: got exit %d (%s), want 0", cmd, code, errOut)
		}
		switch cmd[0] {
		case "on":
			if ds := w.f.Destinations(w.routes[0]); len(ds) != 1 || ds[0].App != sorry {
				t.Errorf("on: route serves %v, want sorry-page", ds)
			}
		case "status":
			if !strings.Contains(out, "my-app.example.com") || !strings.Contains(out, "maintenance") {
				t.Errorf("%v: want the switched route in\n%s", cmd, out)
			}
		}
	}
	code, out, _ := w.main("status", "--maintenance-app", "sorry-page")
	if code != ExitOK || !strings.Contains(out, "legacy.example.org") || !strings.Contains(out, "not switched by maintpage") {
		t.Errorf("space status: got exit %d and\n%s\nwant the route mapped to sorry-page by hand", code, out)
	}
	if ds := w.f.Destinations(byHand); len(ds) != 1 || ds[0].App != sorry {
		t.Errorf("off touched a route it did not switch: %v", ds)
	}
}

// TestCFRouteServiceCommand runs `maintpage cf route-service` end to end, each command twice.
func TestCFRouteServiceCommand(t *testing.T) {
	t.Parallel()
	w := newCFWorld(t, true)
	const url = "https://gate.apps.example.com"
	steps := []struct {
		args []string
		want string
	}{
		{[]string{"route-service", "on", "my-app", "--url", url, "--yes"}, "2 route(s) bound"},
		{[]string{"route-service", "on", "my-app", "--url", url, "--yes"}, "nothing to do"},
		{[]string{"route-service", "status", "my-app"}, "2 bound to route service maintpage"},
		{[]string{"route-service", "off", "my-app", "--yes"}, "2 route(s) unbound"},
		{[]string{"route-service", "off", "my-app", "--yes"}, "nothing to do"},
	}
	for _, s := range steps {
		code, out, errOut := w.main(s.args...)
		if code != ExitOK || !strings.Contains(out, s.want) {
			t.Fatalf("%v: got exit %d (%s) and\n%s\nwant 0 and %q", s.args, code, errOut, out, s.want)
		}
	}
	if got := w.f.ServiceInstances(); len(got) != 0 {
		t.Errorf("instances left: %v", got)
	}
	code, _, errOut := w.main("route-service", "on", "my-app", "--url", "http://gate.apps.example.com", "--yes")
	if code != ExitUsage || !strings.Contains(errOut, "must be https") {
		t.Errorf("http URL: got exit %d (%s), want usage error saying https", code, errOut)
	}
}

// TestCFRouteServiceNamesItsOwnStatus: the route-service help and its part-way failure both send
// the operator to `maintpage cf route-service status APP`, which shows route bindings; `maintpage
// cf status` shows the route switch and says nothing about them.
func TestCFRouteServiceNamesItsOwnStatus(t *testing.T) {
	t.Parallel()
	w := newCFWorld(t, true)
	for _, args := range [][]string{{"route-service", "--help"}} {
		code, out, _ := w.main(args...)
		if code != ExitOK {
			t.Fatalf("%v: exit %d", args, code)
		}
		if !strings.Contains(out, `run "maintpage cf route-service status APP"`) || strings.Contains(out, `"maintpage cf status APP"`) {
			t.Errorf("%v: want the exit codes to name maintpage cf route-service status APP in\n%s", args, out)
		}
	}
	code, out, _ := w.main("--help")
	if code != ExitOK || !strings.Contains(out, `run "maintpage cf status APP"`) {
		t.Errorf("cf --help: want the route switch's status command in\n%s", out)
	}

	// The second binding fails and the way back from the first fails too: exit 3, and the error
	// names the command that shows bindings.
	w.f.Inject(cffake.Fault{Method: "POST", Path: "/v3/service_route_bindings", After: 1, Status: 422, Code: 10008, Title: "CF-UnprocessableEntity", Detail: "refused"})
	w.f.Inject(cffake.Fault{Method: "DELETE", Path: "/v3/service_route_bindings/*", Times: -1, Status: 422, Code: 10008, Title: "CF-UnprocessableEntity", Detail: "binding locked"})
	code, _, errOut := w.main("route-service", "on", "my-app", "--url", "https://gate.apps.example.com", "--yes")
	if code != ExitCFIncomplete {
		t.Fatalf("exit: got %d (%s), want %d", code, errOut, ExitCFIncomplete)
	}
	if !strings.Contains(errOut, "binding route shop.example.com/api failed") || !strings.Contains(errOut, "maintpage cf route-service status my-app") || strings.Contains(errOut, "maintpage cf status") {
		t.Errorf("stderr %q: want it to name maintpage cf route-service status my-app", errOut)
	}
}

// TestCFWarningsReachStderr: cfapi reports a renewed login it could not write back to config.json
// through Options.Warn; the cf commands must pass it on to the operator, not drop it.
func TestCFWarningsReachStderr(t *testing.T) {
	t.Parallel()
	var errb bytes.Buffer
	opts := cfOptions(&env{getenv: func(string) string { return "" }, stdout: io.Discard, stderr: &errb}, &cfFlags{})
	if opts.Warn == nil {
		t.Fatal("Warn is nil: a login that could not be written back would go unsaid")
	}
	opts.Warn(errors.New("writing the renewed login back to /home/op/.cf/config.json: permission denied"))
	if got := errb.String(); !strings.Contains(got, "warning") || !strings.Contains(got, "permission denied") {
		t.Errorf("stderr: got %q, want the warning", got)
	}
}
