package cfapi

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/maintpage/maintpage/internal/cfapi/cffake"
)

// TestCFDestinationAddedWhilePlanWaits is a blue-green push landing while the plan sits at the
// prompt: the destination it adds must be saved, and so come back with off.
func TestCFDestinationAddedWhilePlanWaits(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	g := w.route(w.web, "my-app", "", 0, cffake.Dest{App: w.app})
	c := w.connect(t, nil)
	p, err := c.PlanOn(ctx, Request{App: "my-app", MaintenanceApp: "maintpage"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.insertDests(ctx, "my-app.example.com", g, []Dest{{App: w.green}}); err != nil {
		t.Fatal(err)
	}
	w.snapshot() // what the route really serves when the switch starts
	if err := c.Apply(ctx, p, nil); err != nil {
		t.Fatalf("Apply on: %v", err)
	}
	if !w.onlyMaint(g) {
		t.Fatalf("route not in maintenance: %v", w.f.Destinations(g))
	}
	if !strings.Contains(p.Changes[0].Note, "changed") {
		t.Errorf("note: got %q, want it to say the destinations changed since the plan", p.Changes[0].Note)
	}
	_, ann := w.f.Metadata(g)
	s, err := parseSaved(ann[AnnotationSaved])
	if err != nil {
		t.Fatal(err)
	}
	var saved []string
	for _, d := range s.Destinations {
		saved = append(saved, d.App)
	}
	if want := []string{w.app, w.green}; !slices.Equal(saved, want) {
		t.Errorf("saved destinations: got %v, want %v", saved, want)
	}
	off(t, c, Request{App: "my-app"})
	w.assertRestored(t)
}

// TestCFDestinationAddedThenRollback: when a later route fails, the rollback must put back what
// the route had at the switch, not what the plan showed.
func TestCFDestinationAddedThenRollback(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	first := w.route(w.web, "r1", "", 0, cffake.Dest{App: w.app})
	second := w.route(w.web, "r2", "", 0, cffake.Dest{App: w.app})
	c := w.connect(t, nil)
	p, err := c.PlanOn(ctx, Request{App: "my-app", MaintenanceApp: "maintpage"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.insertDests(ctx, "r1.example.com", first, []Dest{{App: w.green, Process: "worker"}}); err != nil {
		t.Fatal(err)
	}
	w.snapshot()
	w.f.Inject(cffake.Fault{Method: "POST", Path: "/v3/routes/" + second + "/destinations", Status: 500, Code: 10001, Title: "CF-ServerError", Detail: "boom"})
	err = c.Apply(ctx, p, nil)
	var ae *ApplyError
	if !errors.As(err, &ae) || ae.Incomplete() || !slices.Contains(ae.RolledBack, "r1.example.com") {
		t.Fatalf("got %v, want r1.example.com rolled back", err)
	}
	w.assertRestored(t)
}

// TestCFDestinationsGoneWhilePlanWaits: a route emptied meanwhile has nothing to save; the switch
// stops there and puts back the routes before it.
func TestCFDestinationsGoneWhilePlanWaits(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.route(w.web, "r1", "", 0, cffake.Dest{App: w.app})
	second := w.route(w.web, "r2", "", 0, cffake.Dest{App: w.app})
	c := w.connect(t, nil)
	p, err := c.PlanOn(ctx, Request{App: "my-app", MaintenanceApp: "maintpage"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.replaceDests(ctx, "r2.example.com", second, nil); err != nil {
		t.Fatal(err)
	}
	w.snapshot()
	err = c.Apply(ctx, p, nil)
	var ae *ApplyError
	if !errors.As(err, &ae) || ae.Incomplete() || ae.Route != "r2.example.com" || !strings.Contains(err.Error(), "no destination") {
		t.Fatalf("got %v, want r2.example.com refused for having no destination, the rest put back", err)
	}
	// The route was emptied by hand, so assertRestored's never-empty check does not apply.
	for g, want := range w.before {
		if got := keys(w.f.Destinations(g)); !slices.Equal(got, keys(want)) {
			t.Errorf("route %s destinations: got %v, want %v", g, got, keys(want))
		}
		if labels, ann := w.f.Metadata(g); len(labels)+len(ann) != 0 {
			t.Errorf("route %s: metadata left behind: %v %v", g, labels, ann)
		}
	}
}
