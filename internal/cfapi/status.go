package cfapi

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"time"
)

// RouteState says where a route's traffic goes, as maintpage sees it.
type RouteState string

// Route states.
const (
	Live        RouteState = "live"
	Maintenance RouteState = "maintenance"
	Partial     RouteState = "partly switched"
	LeftAlone   RouteState = "left alone"
	// ByHand is a route the maintenance app serves that maintpage did not switch: nothing is saved
	// to give back, so `cf off` leaves it alone.
	ByHand     RouteState = "maintenance app, not switched by maintpage"
	Unreadable RouteState = "unreadable"
)

// RouteStatus is one line of `maintpage cf status`.
type RouteStatus struct {
	URL     string
	State   RouteState
	App     string    // the app the route was switched from, when in maintenance
	Since   time.Time // when it was switched
	By      string    // who switched it
	Serving string    // what it serves now, for people
	Saved   string    // what it served before, for people
	Note    string
}

// Status is the state of an app's routes, or of every route in maintenance in a space.
type Status struct {
	Target Target
	App    AppRef // empty for a whole space
	Routes []RouteStatus
}

// InMaintenance counts the routes fully switched to the maintenance app.
func (s *Status) InMaintenance() int {
	n := 0
	for _, r := range s.Routes {
		if r.State == Maintenance {
			n++
		}
	}
	return n
}

// Status reports every route of req.App, or with no app every route in maintenance in the space.
// With req.MaintenanceApp, the routes that app serves are shown too (in the space, or among the
// app's), also those switched by hand; req.Routes narrows what is shown.
func (c *Client) Status(ctx context.Context, req Request) (*Status, error) {
	t, err := c.ResolveTarget(ctx, req.Org, req.Space)
	if err != nil {
		return nil, err
	}
	st := &Status{Target: t}
	var routes []Route
	var want []string
	for _, n := range []string{req.App, req.MaintenanceApp} {
		if n != "" && !slices.Contains(want, n) {
			want = append(want, n)
		}
	}
	apps := map[string]AppRef{}
	if len(want) > 0 {
		if apps, err = c.findApps(ctx, t, want...); err != nil {
			return nil, err
		}
	}
	if err != nil {
		return nil, err
	}
	maint, hasMaint := apps[req.MaintenanceApp]
	if req.App == "" {
		if routes, err = c.switchedRoutes(ctx, "", t.SpaceGUID); err != nil {
			return nil, err
		}
	} else {
		app, err := appIn(apps, req.App, t)
		if err != nil {
			return nil, err
		}
		st.App = app
		if routes, err = c.appRoutes(ctx, app); err != nil {
			return nil, err
		}
	}
	if hasMaint && req.App == "" {
		served, err := c.listRoutes(ctx, "listing the routes of "+maint.Name, url.Values{"app_guids": {maint.GUID}, "space_guids": {t.SpaceGUID}})
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for _, r := range routes {
			seen[r.GUID] = true
		}
		for _, r := range served {
			if !seen[r.GUID] {
				routes = append(routes, r)
			}
		}
	}
	if len(req.Routes) > 0 {
		sel := newSelector(req.Routes)
		routes = slices.DeleteFunc(routes, func(r Route) bool { return !sel.keep(r.URL) })
	}
	var extra []Dest
	saved := map[string]*Saved{}
	errs := map[string]error{}
	for _, r := range routes {
		if raw, ok := r.Annotations[AnnotationSaved]; ok {
			s, err := parseSaved(raw)
			if err != nil {
				errs[r.GUID] = err
				continue
			}
			saved[r.GUID] = s
			extra = append(extra, s.Destinations...)
		}
	}
	names, err := c.appNames(ctx, destApps(routes, extra))
	if err != nil {
		return nil, err
	}
	for _, r := range routes {
		rs := RouteStatus{URL: r.URL, Serving: describe(r.Dests, names), State: Live}
		s := saved[r.GUID]
		switch {
		case skipReason(r) != "":
			rs.State, rs.Note = LeftAlone, skipReason(r)
		case errs[r.GUID] != nil:
			rs.State, rs.Note = Unreadable, errs[r.GUID].Error()
		case s != nil:
			rs.App, rs.Since, rs.By, rs.Saved = s.AppName, s.Since, s.By, describe(s.Destinations, names)
			rs.State = Maintenance
			if !onlyApp(r.Dests, s.MaintenanceApp) {
				rs.State = Partial
				rs.Note = fmt.Sprintf("a switch did not finish: run `maintpage cf on %s` or `maintpage cf off %s` again", s.AppName, s.AppName)
			}
		case hasMaint && hasApp(r.Dests, maint.GUID):
			rs.State = ByHand
			rs.Note = "nothing saved to give back: `maintpage cf off` leaves it; map it back by hand"
		}
		st.Routes = append(st.Routes, rs)
	}
	return st, nil
}
