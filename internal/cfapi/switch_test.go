package cfapi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/maintpage/maintpage/internal/cfapi/cffake"
)

var ctx = context.Background()

func on(t *testing.T, c *Client, req Request) *Plan {
	t.Helper()
	if req.MaintenanceApp == "" {
		req.MaintenanceApp = "maintpage"
	}
	p, err := c.PlanOn(ctx, req)
	if err != nil {
		t.Fatalf("PlanOn: %v", err)
	}
	if err := c.Apply(ctx, p, nil); err != nil {
		t.Fatalf("Apply on: %v", err)
	}
	return p
}

func off(t *testing.T, c *Client, req Request) *Plan {
	t.Helper()
	p, err := c.PlanOff(ctx, req)
	if err != nil {
		t.Fatalf("PlanOff: %v", err)
	}
	if err := c.Apply(ctx, p, nil); err != nil {
		t.Fatalf("Apply off: %v", err)
	}
	return p
}

func TestCFOnOffRoundTrip(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	internalRoute := w.route(w.internal, "api", "", 0, cffake.Dest{App: w.app})
	w.typical()
	w.snapshot()
	c := w.connect(t, nil)

	p := on(t, c, Request{App: "my-app"})
	var urls []string
	for _, ch := range p.Changes {
		urls = append(urls, ch.URL)
	}
	want := []string{"my-app.example.com", "www.example.org", "shop.example.com/api", "shared.example.com"}
	if fmt.Sprint(urls) != fmt.Sprint(want) {
		t.Errorf("switched routes: got %v, want %v", urls, want)
	}
	if len(p.Skipped) != 3 {
		t.Errorf("skipped: got %v, want the two internal routes and the TCP route", p.Skipped)
	}
	for _, s := range p.Skipped {
		if !strings.Contains(s.Reason, "internal") && !strings.Contains(s.Reason, "TCP") {
			t.Errorf("skip reason for %s: got %q, want internal or TCP", s.URL, s.Reason)
		}
	}
	for g := range w.routes {
		before := w.before[g]
		switched := false
		for _, d := range before {
			switched = switched || d.App == w.app
		}
		l, _ := w.f.Metadata(g)
		switch {
		case g == internalRoute || l[LabelApp] == "" && switched:
			if !sameKeys(w.f.Destinations(g), before) {
				t.Errorf("route %s was changed although it is left alone", g)
			}
		case switched:
			if !w.onlyMaint(g) {
				t.Errorf("route %s: got destinations %v, want only the maintenance app", g, w.f.Destinations(g))
			}
		default:
			if !sameKeys(w.f.Destinations(g), before) {
				t.Errorf("unrelated route %s changed", g)
			}
		}
	}
	w.assertNeverEmpty(t)

	off(t, c, Request{App: "my-app"})
	w.assertRestored(t)
}

func sameKeys(a, b []cffake.Dest) bool { return fmt.Sprint(keys(a)) == fmt.Sprint(keys(b)) }

func TestCFAnnotationRecordsWhoAndWhen(t *testing.T) {
	t.Parallel()
	w := newWorld(t).typical()
	c := w.connect(t, nil)
	start := time.Now().Add(-time.Second)
	on(t, c, Request{App: "my-app"})

	st, err := c.Status(ctx, Request{App: "my-app"})
	if err != nil {
		t.Fatal(err)
	}
	if got := st.InMaintenance(); got != 4 {
		t.Errorf("routes in maintenance: got %d, want 4", got)
	}
	for _, r := range st.Routes {
		if r.State != Maintenance {
			continue
		}
		if r.By != "alice" || r.Since.Before(start.Truncate(time.Second)) || r.App != "my-app" {
			t.Errorf("%s: got by %q since %v app %q, want alice, now, my-app", r.URL, r.By, r.Since, r.App)
		}
		if r.URL == "shared.example.com" && !strings.Contains(r.Saved, "my-app-green (worker)") {
			t.Errorf("shared route saved: got %q, want the blue-green partner listed", r.Saved)
		}
	}
	all, err := c.Status(ctx, Request{})
	if err != nil {
		t.Fatal(err)
	}
	if len(all.Routes) != 4 {
		t.Errorf("space status: got %d routes, want the 4 in maintenance", len(all.Routes))
	}
}

func TestCFIdempotence(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		run       func(t *testing.T, c *Client) *Plan
		wantDone  int
		wantState func(w *world, t *testing.T)
	}{
		"on twice": {
			run: func(t *testing.T, c *Client) *Plan {
				on(t, c, Request{App: "my-app"})
				return on(t, c, Request{App: "my-app"})
			},
			wantDone: 4,
		},
		"off twice": {
			run: func(t *testing.T, c *Client) *Plan {
				on(t, c, Request{App: "my-app"})
				off(t, c, Request{App: "my-app"})
				return off(t, c, Request{App: "my-app"})
			},
		},
		"off without on": {
			run: func(t *testing.T, c *Client) *Plan { return off(t, c, Request{App: "my-app"}) },
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t).typical()
			w.snapshot()
			c := w.connect(t, nil)
			p := tc.run(t, c)
			if len(p.Changes) != 0 || len(p.Done) != tc.wantDone {
				t.Errorf("last plan: got %d changes and %d done, want 0 and %d", len(p.Changes), len(p.Done), tc.wantDone)
			}
			if tc.wantDone == 0 {
				w.assertRestored(t)
			}
			w.assertNeverEmpty(t)
		})
	}
}

func TestCFMissingApps(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		req  Request
		want []string
	}{
		"maintenance app missing": {Request{App: "my-app", MaintenanceApp: "maint-page"}, []string{`maintenance app "maint-page"`, "cf push --no-route", "--maintenance-app"}},
		"app missing":             {Request{App: "nope", MaintenanceApp: "maintpage"}, []string{`app "nope"`, "cf apps"}},
		"same app":                {Request{App: "maintpage", MaintenanceApp: "maintpage"}, []string{"--maintenance-app"}},
	}
	w := newWorld(t).typical()
	w.snapshot()
	c := w.connect(t, nil)
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := c.PlanOn(ctx, tc.req)
			if !errors.Is(err, ErrAppNotFound) {
				t.Fatalf("got %v, want ErrAppNotFound", err)
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("message %q: want it to mention %q", err, s)
				}
			}
		})
	}
	w.assertRestored(t)
}

// five builds an app with five routes, the third of which the tests make fail.
func five(t *testing.T) (*world, []string) {
	w := newWorld(t)
	var gs []string
	for i := range 5 {
		gs = append(gs, w.route(w.web, fmt.Sprintf("r%d", i+1), "", 0, cffake.Dest{App: w.app}, cffake.Dest{App: w.green}))
	}
	w.snapshot()
	return w, gs
}

func TestCFRollbackOnFailure(t *testing.T) {
	t.Parallel()
	tests := map[string]func(third string) cffake.Fault{
		"saving the annotation fails": func(g string) cffake.Fault {
			return cffake.Fault{Method: "PATCH", Path: "/v3/routes/" + g, Status: 422, Code: 10008, Title: "CF-UnprocessableEntity", Detail: "metadata refused"}
		},
		"adding the maintenance app fails": func(g string) cffake.Fault {
			return cffake.Fault{Method: "POST", Path: "/v3/routes/" + g + "/destinations", Status: 500, Code: 10001, Title: "CF-ServerError", Detail: "An unknown error occurred."}
		},
		// CC added the maintenance app but the answer was lost (POST is not retried): the route
		// serves both apps and must be put back too.
		"adding the maintenance app, answer lost": func(g string) cffake.Fault {
			return cffake.Fault{Method: "POST", Path: "/v3/routes/" + g + "/destinations", Status: 502, Code: 10001, Title: "CF-ServerError", Detail: "bad gateway", Lost: true}
		},
		"removing the app fails": func(g string) cffake.Fault {
			return cffake.Fault{Method: "DELETE", Path: "/v3/routes/" + g + "/destinations/*", Status: 422, Code: 10008, Title: "CF-UnprocessableEntity", Detail: "route mapping locked"}
		},
		"reading destinations keeps failing": func(g string) cffake.Fault {
			return cffake.Fault{Method: "GET", Path: "/v3/routes/" + g + "/destinations", Times: 4, Status: 503, Code: 10015, Title: "CF-ServiceUnavailable", Detail: "try later"}
		},
	}
	for name, fault := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w, gs := five(t)
			c := w.connect(t, nil)
			p, err := c.PlanOn(ctx, Request{App: "my-app", MaintenanceApp: "maintpage"})
			if err != nil {
				t.Fatal(err)
			}
			flt := fault(gs[2])
			w.f.Inject(flt)
			var progressed []string
			err = c.Apply(ctx, p, func(_ int, ch Change) { progressed = append(progressed, ch.URL) })
			var ae *ApplyError
			if !errors.As(err, &ae) {
				t.Fatalf("got %v, want an ApplyError", err)
			}
			if ae.Incomplete() || ae.Route != "r3.example.com" {
				t.Errorf("got route %s incomplete %v, want r3.example.com fully rolled back", ae.Route, ae.Incomplete())
			}
			var ce *CCError
			if !errors.As(err, &ce) || ce.Title != flt.Title || ce.Code != flt.Code || ce.Detail != flt.Detail {
				t.Errorf("got CC error %+v, want %s %d %s", ce, flt.Title, flt.Code, flt.Detail)
			}
			if len(progressed) != 2 {
				t.Errorf("progress: got %v, want the first two routes", progressed)
			}
			w.assertRestored(t)
		})
	}
}

func TestCFRollbackThatFailsIsReportedAndRerunFinishes(t *testing.T) {
	t.Parallel()
	w, gs := five(t)
	c := w.connect(t, nil)
	p, err := c.PlanOn(ctx, Request{App: "my-app", MaintenanceApp: "maintpage"})
	if err != nil {
		t.Fatal(err)
	}
	w.f.Inject(cffake.Fault{Method: "DELETE", Path: "/v3/routes/" + gs[2] + "/destinations/*", Times: -1, Status: 500, Code: 10001, Title: "CF-ServerError", Detail: "db down"})
	err = c.Apply(ctx, p, nil)
	var ae *ApplyError
	if !errors.As(err, &ae) || !ae.Incomplete() || len(ae.Stuck) != 1 || ae.Stuck[0].URL != "r3.example.com" {
		t.Fatalf("got %v, want r3.example.com reported stuck", err)
	}
	w.assertNeverEmpty(t)
	if st, _ := c.Status(ctx, Request{App: "my-app"}); st == nil || st.Routes[2].State != Partial {
		t.Errorf("status of the stuck route: got %+v, want partly switched", st)
	}

	w.f.ClearFaults()
	p = on(t, c, Request{App: "my-app"})
	if len(p.Changes) != 5 || p.Changes[2].Note == "" {
		t.Errorf("rerun: got %d changes (third note %q), want 5 with the third finishing", len(p.Changes), p.Changes[2].Note)
	}
	for _, g := range gs {
		if !w.onlyMaint(g) {
			t.Errorf("route %s not in maintenance after rerun", g)
		}
	}
	off(t, c, Request{App: "my-app"})
	w.assertRestored(t)
}

func TestCFPaginationOverManyRoutes(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	for i := range 120 {
		w.route(w.web, fmt.Sprintf("r%03d", i), "", 0, cffake.Dest{App: w.app})
	}
	w.snapshot()
	c := w.connect(t, nil)
	p := on(t, c, Request{App: "my-app"})
	if len(p.Changes) != 120 {
		t.Errorf("changes: got %d, want 120", len(p.Changes))
	}
	if n := w.countCalls("GET /v3/routes?"); n != 4 {
		t.Errorf("route list requests: got %d, want 3 pages of the app's routes and 1 of switched ones", n)
	}
	p = off(t, c, Request{App: "my-app"})
	if len(p.Changes) != 120 {
		t.Errorf("off changes: got %d, want 120", len(p.Changes))
	}
	w.assertRestored(t)
}

func TestCFRouteSelection(t *testing.T) {
	t.Parallel()
	w := newWorld(t).typical()
	w.snapshot()
	c := w.connect(t, nil)
	p := on(t, c, Request{App: "my-app", Routes: []string{"https://shop.example.com/api/"}})
	if len(p.Changes) != 1 || p.Changes[0].URL != "shop.example.com/api" {
		t.Fatalf("got %+v, want only the path route", p.Changes)
	}
	_, err := c.PlanOn(ctx, Request{App: "my-app", MaintenanceApp: "maintpage", Routes: []string{"nope.example.com"}})
	if !errors.Is(err, ErrRouteNotFound) || !strings.Contains(err.Error(), "my-app.example.com") {
		t.Errorf("got %v, want ErrRouteNotFound listing the app's routes", err)
	}
	off(t, c, Request{App: "my-app"})
	w.assertRestored(t)
}

func TestCFWeightedRouteRoundTrip(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	seventy, thirty := 70, 30
	w.route(w.web, "canary", "", 0, cffake.Dest{App: w.app, Weight: &seventy}, cffake.Dest{App: w.green, Weight: &thirty})
	w.snapshot()
	c := w.connect(t, nil)
	on(t, c, Request{App: "my-app"})
	for g := range w.routes {
		if !w.onlyMaint(g) {
			t.Errorf("weighted route not switched: %v", w.f.Destinations(g))
		}
	}
	off(t, c, Request{App: "my-app"})
	w.assertRestored(t)
}

func TestCFTooManyDestinationsToSave(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	var ds []cffake.Dest
	for i := range 80 {
		ds = append(ds, cffake.Dest{App: w.app, Port: 8000 + i})
	}
	w.route(w.web, "big", "", 0, ds...)
	w.snapshot()
	c := w.connect(t, nil)
	_, err := c.PlanOn(ctx, Request{App: "my-app", MaintenanceApp: "maintpage"})
	if err == nil || !strings.Contains(err.Error(), "5000") {
		t.Errorf("got %v, want an error naming the annotation limit", err)
	}
	w.assertRestored(t)
}

func TestCFRetries(t *testing.T) {
	t.Parallel()
	tests := map[string]cffake.Fault{
		"503 on a read":           {Method: "GET", Path: "/v3/apps", Times: 2, Status: 503, Code: 10015, Title: "CF-ServiceUnavailable", Detail: "busy"},
		"429 with Retry-After":    {Method: "GET", Path: "/v3/routes", Times: 2, Status: 429, Code: 10013, Title: "CF-RateLimitExceeded", Detail: "Rate Limit Exceeded", RetryAfter: "0"},
		"429 on an insert":        {Method: "POST", Path: "/v3/routes/*", Status: 429, Code: 10013, Title: "CF-RateLimitExceeded", Detail: "Rate Limit Exceeded", RetryAfter: "0"},
		"502 on a metadata patch": {Method: "PATCH", Path: "/v3/routes/*", Status: 502, Code: 10001, Title: "CF-ServerError", Detail: "bad gateway"},
	}
	for name, flt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t).typical()
			w.snapshot()
			c := w.connect(t, nil)
			w.f.Inject(flt)
			on(t, c, Request{App: "my-app"})
			off(t, c, Request{App: "my-app"})
			w.assertRestored(t)
		})
	}
}

func TestCFPostIsNotRetriedOn5xx(t *testing.T) {
	t.Parallel()
	w, _ := five(t)
	c := w.connect(t, nil)
	w.f.Inject(cffake.Fault{Method: "POST", Path: "/v3/routes/*", Status: 500, Code: 10001, Title: "CF-ServerError", Detail: "boom"})
	p, err := c.PlanOn(ctx, Request{App: "my-app", MaintenanceApp: "maintpage"})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Apply(ctx, p, nil); err == nil {
		t.Fatal("got nil, want the POST's 500")
	}
	if n := w.countCalls("POST /v3/routes/"); n != 1 {
		t.Errorf("POSTs: got %d, want 1 (a POST is not repeated after a 5xx)", n)
	}
	w.assertRestored(t)
}

// TestCFAppMissingEverywhere: on, off and status look an app up the same way and say the same thing.
func TestCFAppMissingEverywhere(t *testing.T) {
	t.Parallel()
	w := newWorld(t).typical()
	c := w.connect(t, nil)
	const want = "app \"nope\" is not in org acme / space prod: check the name with `cf apps`, or pass --org and --space"
	_, errOn := c.PlanOn(ctx, Request{App: "nope", MaintenanceApp: "maintpage"})
	_, errOff := c.PlanOff(ctx, Request{App: "nope"})
	_, errStatus := c.Status(ctx, Request{App: "nope"})
	for name, err := range map[string]error{"on": errOn, "off": errOff, "status": errStatus} {
		if !errors.Is(err, ErrAppNotFound) || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("%s: got %v, want ErrAppNotFound ending %q", name, err, want)
		}
	}
}

// TestCFFailureReportNamesOnlyChangedRoutes: a route is reported as not put back only when its
// state differs from before. A write CC refused changed nothing; a write whose answer was lost is
// read back before the route is called stuck.
func TestCFFailureReportNamesOnlyChangedRoutes(t *testing.T) {
	t.Parallel()
	tests := map[string]func(third string) cffake.Fault{
		// The old client counted a refused PATCH as a change, tried to take the annotation off
		// again, was refused again, and reported the untouched route as NOT put back.
		"CC refuses the annotation for good": func(g string) cffake.Fault {
			return cffake.Fault{Method: "PATCH", Path: "/v3/routes/" + g, Times: -1, Status: 422, Code: 10008, Title: "CF-UnprocessableEntity", Detail: "Metadata label key error: prefix 'x' must be in valid dns format"}
		},
		"every metadata write fails with 502": func(g string) cffake.Fault {
			return cffake.Fault{Method: "PATCH", Path: "/v3/routes/" + g, Times: -1, Status: 502, Code: 10001, Title: "CF-ServerError", Detail: "bad gateway"}
		},
	}
	for name, fault := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w, gs := five(t)
			c := w.connect(t, nil)
			p, err := c.PlanOn(ctx, Request{App: "my-app", MaintenanceApp: "maintpage"})
			if err != nil {
				t.Fatal(err)
			}
			w.f.Inject(fault(gs[2]))
			err = c.Apply(ctx, p, nil)
			var ae *ApplyError
			if !errors.As(err, &ae) {
				t.Fatalf("got %v, want an ApplyError", err)
			}
			if ae.Incomplete() || strings.Contains(err.Error(), "NOT") {
				t.Errorf("got %v, want no route reported as not put back: none differs from before", err)
			}
			if want := []string{"r2.example.com", "r1.example.com"}; !slices.Equal(ae.RolledBack[len(ae.RolledBack)-2:], want) {
				t.Errorf("rolled back: got %v, want to end with %v", ae.RolledBack, want)
			}
			w.assertRestored(t)
		})
	}
}
