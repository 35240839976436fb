package cfapi

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/maintpage/maintpage/internal/cfapi/cffake"
)

// world is a foundation with an org, a space, the app, its blue-green partner, the maintenance app
// and an unrelated app, and the routes of a typical production app.
type world struct {
	f                        *cffake.Fake
	org, space               string
	app, green, maint, other string
	web, alt, internal, tcp  string // domains
	home                     string
	access, refresh          string
	routes                   map[string]string // URL → GUID
	before                   map[string][]cffake.Dest
}

func newWorld(t *testing.T) *world {
	t.Helper()
	f := cffake.New(t)
	w := &world{f: f, routes: map[string]string{}}
	w.org = f.AddOrg("acme")
	w.space = f.AddSpace(w.org, "prod")
	w.app = f.AddApp(w.space, "my-app")
	w.green = f.AddApp(w.space, "my-app-green")
	w.maint = f.AddApp(w.space, "maintpage")
	w.other = f.AddApp(w.space, "other")
	w.web = f.AddDomain("example.com", cffake.HTTPDomain)
	w.alt = f.AddDomain("example.org", cffake.HTTPDomain)
	w.internal = f.AddDomain("apps.internal", cffake.InternalDomain)
	w.tcp = f.AddDomain("tcp.example.com", cffake.TCPDomain)
	return w
}

// typical adds several routes and domains, a path route, a shared route, an internal and a TCP route.
func (w *world) typical() *world {
	w.route(w.web, "my-app", "", 0, cffake.Dest{App: w.app})
	w.route(w.alt, "www", "", 0, cffake.Dest{App: w.app})
	w.route(w.web, "shop", "/api", 0, cffake.Dest{App: w.app, Port: 9090, Protocol: "http2"})
	w.route(w.web, "shared", "", 0, cffake.Dest{App: w.app}, cffake.Dest{App: w.green, Process: "worker"})
	w.route(w.internal, "my-app", "", 0, cffake.Dest{App: w.app})
	w.route(w.tcp, "", "", 1024, cffake.Dest{App: w.app})
	w.route(w.web, "other", "", 0, cffake.Dest{App: w.other})
	return w
}

func (w *world) route(domain, host, path string, port int, dests ...cffake.Dest) string {
	guid := w.f.AddRoute(w.space, domain, host, path, port, dests...)
	w.routes[guid] = guid
	return guid
}

// snapshot remembers every route's destinations, to compare after a round trip.
func (w *world) snapshot() {
	w.before = map[string][]cffake.Dest{}
	for g := range w.routes {
		w.before[g] = w.f.Destinations(g)
	}
}

func destKey(d cffake.Dest) string {
	wt := "-"
	if d.Weight != nil {
		wt = fmt.Sprint(*d.Weight)
	}
	return fmt.Sprintf("%s/%s/%d/%s/%s", d.App, d.Process, d.Port, d.Protocol, wt)
}

func keys(ds []cffake.Dest) []string {
	var out []string
	for _, d := range ds {
		out = append(out, destKey(d))
	}
	slices.Sort(out)
	return out
}

// assertRestored checks every route serves exactly what it served at the snapshot, with no
// maintpage metadata left, and that no route was ever without a destination.
func (w *world) assertRestored(t *testing.T) {
	t.Helper()
	for g, want := range w.before {
		if got := keys(w.f.Destinations(g)); !slices.Equal(got, keys(want)) {
			t.Errorf("route %s destinations: got %v, want %v", g, got, keys(want))
		}
		labels, ann := w.f.Metadata(g)
		if _, ok := labels[LabelApp]; ok {
			t.Errorf("route %s: label %s left behind", g, LabelApp)
		}
		if _, ok := ann[AnnotationSaved]; ok {
			t.Errorf("route %s: annotation %s left behind", g, AnnotationSaved)
		}
	}
	w.assertNeverEmpty(t)
}

func (w *world) assertNeverEmpty(t *testing.T) {
	t.Helper()
	if e := w.f.Emptied(); len(e) > 0 {
		t.Errorf("routes left without any destination at some point: %v", e)
	}
}

// onlyMaint says whether a route serves the maintenance app alone.
func (w *world) onlyMaint(g string) bool {
	ds := w.f.Destinations(g)
	return len(ds) == 1 && ds[0].App == w.maint
}

// login writes a cf CLI config.json as `cf login` and `cf target` leave it.
func (w *world) login(t *testing.T, expiry time.Time) {
	t.Helper()
	w.access, w.refresh = w.f.Login("alice", expiry)
	w.home = t.TempDir()
	cfg := map[string]any{
		"ConfigVersion": 3, "Target": w.f.URL, "APIVersion": "3.180.0",
		"AuthorizationEndpoint": w.f.URL + "/uaa", "UaaEndpoint": w.f.URL + "/uaa",
		"AccessToken": "bearer " + w.access, "RefreshToken": w.refresh,
		"UAAOAuthClient": "cf", "UAAOAuthClientSecret": "", "SSLDisabled": false,
		"OrganizationFields": map[string]any{"GUID": w.org, "Name": "acme"},
		"SpaceFields":        map[string]any{"GUID": w.space, "Name": "prod", "AllowSSH": true},
	}
	b, _ := json.Marshal(cfg)
	if err := os.MkdirAll(filepath.Join(w.home, ".cf"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.home, ".cf", "config.json"), b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func (w *world) env(extra map[string]string) func(string) string {
	return func(k string) string {
		if v, ok := extra[k]; ok {
			return v
		}
		if k == "CF_HOME" {
			return w.home
		}
		return ""
	}
}

func (w *world) connect(t *testing.T, extra map[string]string) *Client {
	t.Helper()
	if w.home == "" {
		w.login(t, time.Now().Add(time.Hour))
	}
	c, err := Connect(context.Background(), Options{Getenv: w.env(extra), Retry: RetryPolicy{BaseDelay: time.Millisecond, MaxDelay: 10 * time.Millisecond}})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	c.cc.perPage = 50 // pagination shows with tens of routes
	return c
}

func (w *world) countCalls(prefix string) int {
	n := 0
	for _, c := range w.f.Calls() {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}
