package cfapi

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/maintpage/maintpage/internal/cfapi/cffake"
)

const gateURL = "https://maintpage-gate.apps.example.com"

func rsOn(t *testing.T, c *Client, req RouteServiceRequest) *RouteServicePlan {
	t.Helper()
	p, err := c.PlanRouteService(ctx, req, true)
	if err != nil {
		t.Fatalf("plan on: %v", err)
	}
	if err := c.ApplyRouteService(ctx, p, nil); err != nil {
		t.Fatalf("apply on: %v", err)
	}
	return p
}

func rsOff(t *testing.T, c *Client, req RouteServiceRequest) *RouteServicePlan {
	t.Helper()
	p, err := c.PlanRouteService(ctx, req, false)
	if err != nil {
		t.Fatalf("plan off: %v", err)
	}
	if err := c.ApplyRouteService(ctx, p, nil); err != nil {
		t.Fatalf("apply off: %v", err)
	}
	return p
}

// bound lists the URLs of the routes bound to the instance named name.
func (w *world) bound(name string) []string {
	var out []string
	for g := range w.routes {
		if n, _ := w.f.RouteService(g); n == name {
			out = append(out, g)
		}
	}
	slices.Sort(out)
	return out
}

func TestCFRouteServiceOnOff(t *testing.T) {
	t.Parallel()
	w := newWorld(t).typical()
	for i := range 60 { // more routes than one page
		w.route(w.web, fmt.Sprintf("many%02d", i), "", 0, cffake.Dest{App: w.app})
	}
	w.f.RotateRefreshTokens()
	w.login(t, time.Now().Add(-time.Minute)) // an expired login: renewed once, and written back
	c := w.connect(t, nil)
	req := RouteServiceRequest{App: "my-app", URL: gateURL}

	p := rsOn(t, c, req)
	if p.Instance == "" || len(p.Changes) != 64 {
		t.Fatalf("on: got instance %q and %d changes, want one created and 64 HTTP routes bound", p.Instance, len(p.Changes))
	}
	if got := len(w.bound("maintpage")); got != 64 {
		t.Errorf("bound routes: got %d, want 64 (the app's HTTP routes: four, a shared one included, and 60 more)", got)
	}
	if len(p.Skipped) != 2 {
		t.Errorf("skipped: got %v, want the internal and the TCP route", p.Skipped)
	}
	if _, u := w.f.RouteService(p.Changes[0].GUID); u != gateURL {
		t.Errorf("route service URL: got %q, want %q", u, gateURL)
	}
	again := rsOn(t, c, req)
	if len(again.Changes) != 0 || len(again.Done) != 64 || again.Instance != p.Instance {
		t.Errorf("on twice: got %d changes, %d done, instance %q; want nothing to do with the same instance", len(again.Changes), len(again.Done), again.Instance)
	}
	_, lines, err := c.RouteServiceStatus(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	ours := 0
	for _, l := range lines {
		if l.Ours && l.Via == gateURL {
			ours++
		}
	}
	if ours != 64 {
		t.Errorf("status: got %d routes through the gate, want 64", ours)
	}

	off := rsOff(t, c, RouteServiceRequest{App: "my-app"})
	if !off.DeleteInstance || len(off.Changes) != 64 {
		t.Errorf("off: got %d changes, delete %v; want 64 and the instance deleted", len(off.Changes), off.DeleteInstance)
	}
	if got := w.bound("maintpage"); len(got) != 0 {
		t.Errorf("still bound after off: %v", got)
	}
	if got := w.f.ServiceInstances(); len(got) != 0 {
		t.Errorf("instances after off: got %v, want none", got)
	}
	off = rsOff(t, c, RouteServiceRequest{App: "my-app"})
	if off.Instance != "" || len(off.Changes) != 0 {
		t.Errorf("off twice: got %+v, want nothing to do", off)
	}
	if got := w.f.Grants("refresh_token"); got != 1 {
		t.Errorf("refresh grants: got %d, want 1", got)
	}
	if cfg, _ := os.ReadFile(filepath.Join(w.home, ".cf", "config.json")); strings.Contains(string(cfg), w.refresh) {
		t.Error("config.json still holds the refresh token the UAA rotated away")
	}
}

func TestCFRouteServiceRefusals(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		setup func(w *world)
		req   RouteServiceRequest
		want  string
	}{
		"http URL": {req: RouteServiceRequest{App: "my-app", URL: "http://gate.example.com"}, want: "must be https"},
		"no URL":   {req: RouteServiceRequest{App: "my-app"}, want: "--url"},
		"no host":  {req: RouteServiceRequest{App: "my-app", URL: "https:///x"}, want: "no host"},
		"another service": {setup: func(w *world) {
			w.f.BindRoute(w.f.AddServiceInstance(w.space, "waf", "user-provided", "https://waf.example.com"), w.routes[w.firstRoute()])
		}, req: RouteServiceRequest{App: "my-app", URL: gateURL}, want: "bound to waf"},
		"name with another URL": {setup: func(w *world) {
			w.f.AddServiceInstance(w.space, "maintpage", "user-provided", "https://old.example.com")
		},
			req: RouteServiceRequest{App: "my-app", URL: gateURL}, want: "already exists with route service URL"},
		"name of a managed service": {setup: func(w *world) { w.f.AddServiceInstance(w.space, "maintpage", "managed", "") },
			req: RouteServiceRequest{App: "my-app", URL: gateURL}, want: "managed service"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t).typical()
			if tc.setup != nil {
				tc.setup(w)
			}
			before := w.f.ServiceInstances()
			c := w.connect(t, nil)
			_, err := c.PlanRouteService(ctx, tc.req, true)
			if !errors.Is(err, ErrBadRouteService) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrBadRouteService saying %q", err, tc.want)
			}
			if got := w.f.ServiceInstances(); !slices.Equal(got, before) || len(w.bound("maintpage")) != 0 {
				t.Errorf("a refused plan changed something: instances %v, bound %v", got, w.bound("maintpage"))
			}
		})
	}
}

// firstRoute is the GUID of the app's first route in the typical world.
func (w *world) firstRoute() string {
	var gs []string
	for g := range w.routes {
		gs = append(gs, g)
	}
	slices.Sort(gs)
	return gs[0]
}

func TestCFRouteServiceReusesAndKeepsShared(t *testing.T) {
	t.Parallel()
	w := newWorld(t).typical()
	si := w.f.AddServiceInstance(w.space, "maintpage", "user-provided", gateURL)
	otherRoute := w.route(w.web, "other2", "", 0, cffake.Dest{App: w.other})
	w.f.BindRoute(si, otherRoute)
	c := w.connect(t, nil)
	p := rsOn(t, c, RouteServiceRequest{App: "my-app", URL: gateURL})
	if p.Instance != si {
		t.Errorf("instance: got %q, want the existing %q reused", p.Instance, si)
	}
	off := rsOff(t, c, RouteServiceRequest{App: "my-app"})
	if off.DeleteInstance || off.Others != 1 {
		t.Errorf("off: delete %v others %d, want the instance kept for the other app's route", off.DeleteInstance, off.Others)
	}
	if n, _ := w.f.RouteService(otherRoute); n != "maintpage" {
		t.Errorf("the other app's route lost its binding")
	}
}

func TestCFRouteServiceRollback(t *testing.T) {
	t.Parallel()
	tests := map[string]cffake.Fault{
		"CC refuses the third binding":       {Method: "POST", Path: "/v3/service_route_bindings", After: 2, Status: 422, Code: 10008, Title: "CF-UnprocessableEntity", Detail: "refused"},
		"the third binding's answer is lost": {Method: "POST", Path: "/v3/service_route_bindings", After: 2, Status: 502, Code: 10001, Title: "CF-ServerError", Detail: "bad gateway", Lost: true},
		"the third binding fails with 502":   {Method: "POST", Path: "/v3/service_route_bindings", After: 2, Status: 502, Code: 10001, Title: "CF-ServerError", Detail: "bad gateway"},
		// CC created the instance but its answer was lost: the instance exists, and no route was bound.
		"the instance's answer is lost": {Method: "POST", Path: "/v3/service_instances", Status: 502, Code: 10001, Title: "CF-ServerError", Detail: "bad gateway", Lost: true},
	}
	for name, flt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w, _ := five(t)
			c := w.connect(t, nil)
			p, err := c.PlanRouteService(ctx, RouteServiceRequest{App: "my-app", URL: gateURL}, true)
			if err != nil {
				t.Fatal(err)
			}
			w.f.Inject(flt)
			err = c.ApplyRouteService(ctx, p, nil)
			var ae *ApplyError
			wantRoute := "r3.example.com"
			if flt.Path == "/v3/service_instances" {
				wantRoute = "service instance maintpage"
			}
			if !errors.As(err, &ae) || ae.Incomplete() || ae.Route != wantRoute {
				t.Fatalf("got %v, want %s failed and everything put back", err, wantRoute)
			}
			if got := w.bound("maintpage"); len(got) != 0 {
				t.Errorf("bound after rollback: %v", got)
			}
			if got := w.f.ServiceInstances(); len(got) != 0 {
				t.Errorf("instances after rollback: %v, want the created one deleted", got)
			}
			w.f.ClearFaults()
			rsOn(t, c, RouteServiceRequest{App: "my-app", URL: gateURL})
			if got := len(w.bound("maintpage")); got != 5 {
				t.Errorf("rerun: got %d bound, want 5", got)
			}
		})
	}
}

// TestCFRouteServiceLeavesRoutesOfOtherSpaces: a route owned by another space and shared with the
// app's space is among the app's routes, but CC binds a route service only in the route's own space
// ("The service instance and the route are in different spaces", app/actions/service_route_binding_create.rb):
// on leaves it alone, saying why, instead of failing on it and rolling every other route back.
func TestCFRouteServiceLeavesRoutesOfOtherSpaces(t *testing.T) {
	t.Parallel()
	w := newWorld(t).typical()
	staging := w.f.AddSpace(w.org, "staging")
	shared := w.f.AddRoute(staging, w.alt, "shared-in", "", 0, cffake.Dest{App: w.app})
	c := w.connect(t, nil)
	p := rsOn(t, c, RouteServiceRequest{App: "my-app", URL: gateURL})
	if n, _ := w.f.RouteService(shared); n != "" {
		t.Errorf("the other space's route got bound to %s", n)
	}
	if got := len(w.bound("maintpage")); got != 4 {
		t.Errorf("bound: got %d, want the four HTTP routes of the app's own space", got)
	}
	if !slices.ContainsFunc(p.Skipped, func(l Left) bool {
		return l.URL == "shared-in.example.org" && strings.Contains(l.Reason, "another space")
	}) {
		t.Errorf("skipped: got %v, want shared-in.example.org left alone as a route of another space", p.Skipped)
	}
	_, lines, err := c.RouteServiceStatus(ctx, RouteServiceRequest{App: "my-app"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(lines, func(l RouteServiceRoute) bool {
		return l.URL == "shared-in.example.org" && strings.Contains(l.Note, "another space")
	}) {
		t.Errorf("status: got %+v, want the other space's route noted", lines)
	}
}

// TestCFRouteServiceOffKeepsAnInstanceBoundMeanwhile: off plans to delete the instance because no
// other route is bound to it, then waits at the prompt; meanwhile a teammate binds another app's
// route to it. Deleting a user-provided instance deletes its route bindings with it
// (app/actions/v3/service_instance_delete.rb), so off must look again and keep the instance.
func TestCFRouteServiceOffKeepsAnInstanceBoundMeanwhile(t *testing.T) {
	t.Parallel()
	w := newWorld(t).typical()
	c := w.connect(t, nil)
	rsOn(t, c, RouteServiceRequest{App: "my-app", URL: gateURL})
	p, err := c.PlanRouteService(ctx, RouteServiceRequest{App: "my-app"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if !p.DeleteInstance {
		t.Fatalf("plan: got DeleteInstance false, want true (nothing else is bound yet)")
	}
	otherRoute := w.route(w.web, "other2", "", 0, cffake.Dest{App: w.other})
	w.f.BindRoute(p.Instance, otherRoute)
	if err := c.ApplyRouteService(ctx, p, nil); err != nil {
		t.Fatalf("apply off: %v", err)
	}
	if n, _ := w.f.RouteService(otherRoute); n != "maintpage" {
		t.Errorf("the route bound while off waited lost its route service")
	}
	if got := w.f.ServiceInstances(); !slices.Equal(got, []string{"maintpage"}) {
		t.Errorf("instances: got %v, want maintpage kept", got)
	}
	if p.DeleteInstance || p.Others != 1 {
		t.Errorf("plan after apply: DeleteInstance %v, Others %d; want false and 1, so the report says the instance stays", p.DeleteInstance, p.Others)
	}
}

// TestCFRouteServiceOffKeepsAnInstanceAnAppUses: the instance is also bound to an app (`cf
// bind-service`). Deleting a user-provided instance deletes its app bindings too
// (app/actions/v3/service_instance_delete.rb, remove_associations), so off keeps it.
func TestCFRouteServiceOffKeepsAnInstanceAnAppUses(t *testing.T) {
	t.Parallel()
	w := newWorld(t).typical()
	c := w.connect(t, nil)
	on := rsOn(t, c, RouteServiceRequest{App: "my-app", URL: gateURL})
	w.f.BindApp(on.Instance, w.other)
	off := rsOff(t, c, RouteServiceRequest{App: "my-app"})
	if off.DeleteInstance || off.Apps != 1 {
		t.Errorf("off: DeleteInstance %v, Apps %d; want the instance kept for the app bound to it", off.DeleteInstance, off.Apps)
	}
	if got := w.f.ServiceInstances(); !slices.Equal(got, []string{"maintpage"}) {
		t.Errorf("instances: got %v, want maintpage kept", got)
	}
	if got := w.bound("maintpage"); len(got) != 0 {
		t.Errorf("still bound after off: %v", got)
	}
}
