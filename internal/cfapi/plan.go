package cfapi

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Direction is which way a plan switches routes.
type Direction int

// Directions: to the maintenance app, and back to what the routes served.
const (
	ToMaintenance Direction = iota
	BackToApp
)

// Request names what to switch.
type Request struct {
	App            string
	MaintenanceApp string   // for ToMaintenance
	Org, Space     string   // empty: the cf CLI's target
	Routes         []string // empty: every route of the app
}

// Change is the switch of one route.
type Change struct {
	RouteGUID string
	URL       string
	From, To  string // for people
	Note      string

	from, to              []Dest
	metaBefore, metaAfter *string // the saved annotation before and after; nil is none
	appGUID               string
	// saved is the record metaAfter encodes when this change puts a route in maintenance afresh;
	// switchRoute brings its destinations up to date before writing it.
	saved *Saved
}

// Left is a route the plan does not change, and why.
type Left struct{ URL, Reason string }

// Plan is what a switch will do, shown before it is done.
type Plan struct {
	Direction   Direction
	Target      Target
	App         AppRef
	Maintenance AppRef
	Changes     []Change
	Done        []Left // already as asked
	Skipped     []Left // left alone
}

// normRoute makes a --route value and a CC route URL comparable: host[/path] with the host in lower
// case, without a scheme, and without spaces or slashes around it. It is a normal form (normRoute of
// its result is the same), so both sides compare equal however often either was normalised.
func normRoute(u string) string {
	edge := func(r rune) bool { return r == '/' || unicode.IsSpace(r) }
	for {
		// Trimming can uncover a scheme ("/https://…") and stripping one can uncover more to trim;
		// the scheme goes before the right end is trimmed, which would eat the slashes of "https://".
		t := strings.TrimLeftFunc(u, edge)
		if scheme, rest, ok := strings.Cut(t, "://"); ok && isScheme(scheme) {
			t = rest
		}
		t = strings.TrimRightFunc(t, edge)
		if t == u {
			break
		}
		u = t
	}
	host, path, found := strings.Cut(u, "/")
	host = strings.ToLower(host)
	if !found {
		return host
	}
	return host + "/" + path
}

// isScheme says whether s is a URL scheme (RFC 3986: a letter, then letters, digits, + - .).
func isScheme(s string) bool {
	for i, r := range s {
		letter := 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
		if !letter && (i == 0 || !('0' <= r && r <= '9' || r == '+' || r == '-' || r == '.')) {
			return false
		}
	}
	return s != ""
}

// selector keeps the routes named by --route and reports names that match no route.
type selector struct{ want map[string]bool }

func newSelector(routes []string) selector {
	s := selector{}
	if len(routes) > 0 {
		s.want = map[string]bool{}
		for _, r := range routes {
			s.want[normRoute(r)] = false
		}
	}
	return s
}

func (s selector) keep(url string) bool {
	if s.want == nil {
		return true
	}
	n := normRoute(url)
	if _, ok := s.want[n]; ok {
		s.want[n] = true
		return true
	}
	return false
}

func (s selector) check(app string, routes []Route) error {
	var missing []string
	for r, seen := range s.want {
		if !seen {
			missing = append(missing, r)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	slices.Sort(missing)
	var have []string
	for _, r := range routes {
		have = append(have, r.URL)
	}
	return fmt.Errorf("%w: --route %s is not a route of %s (its routes: %s)", ErrRouteNotFound, strings.Join(missing, ", "), app, strings.Join(have, ", "))
}

func hasApp(ds []Dest, guid string) bool {
	return slices.ContainsFunc(ds, func(d Dest) bool { return d.App == guid })
}

func onlyApp(ds []Dest, guid string) bool {
	return len(ds) > 0 && !slices.ContainsFunc(ds, func(d Dest) bool { return d.App != guid })
}

func skipReason(r Route) string {
	switch {
	case r.TCP:
		return "TCP route: the maintenance app answers HTTP only"
	case r.Internal:
		return "internal route (container-to-container traffic, not users)"
	}
	return ""
}

// PlanOn works out how to move every HTTP route of an app to the maintenance app.
func (c *Client) PlanOn(ctx context.Context, req Request) (*Plan, error) {
	if req.App == req.MaintenanceApp {
		return nil, fmt.Errorf("%w: the app and the maintenance app are both %q: pass --maintenance-app with the maintenance page's app name", ErrAppNotFound, req.App)
	}
	t, err := c.ResolveTarget(ctx, req.Org, req.Space)
	if err != nil {
		return nil, err
	}
	apps, err := c.findApps(ctx, t, req.App, req.MaintenanceApp)
	if err != nil {
		return nil, err
	}
	app, err := appIn(apps, req.App, t)
	if err != nil {
		return nil, err
	}
	maint, ok := apps[req.MaintenanceApp]
	if !ok {
		return nil, fmt.Errorf("%w: maintenance app %q is not in %s: push it first with `cf push --no-route` from the maintpage repository (its manifest.yml names it %s), or pass --maintenance-app with the name you pushed it as", ErrAppNotFound, req.MaintenanceApp, t, req.MaintenanceApp)
	}
	routes, err := c.appRoutes(ctx, app)
	if err != nil {
		return nil, err
	}
	names, err := c.appNames(ctx, destApps(routes, nil))
	if err != nil {
		return nil, err
	}
	p := &Plan{Direction: ToMaintenance, Target: t, App: app, Maintenance: maint}
	sel := newSelector(req.Routes)
	target := []Dest{{App: maint.GUID, Process: "web"}}
	for _, r := range routes {
		if reason := skipReason(r); reason != "" {
			p.Skipped = append(p.Skipped, Left{r.URL, reason})
			continue
		}
		if !sel.keep(r.URL) {
			continue
		}
		ch := Change{RouteGUID: r.GUID, URL: r.URL, from: r.Dests, to: target, appGUID: app.GUID,
			From: describe(r.Dests, names), To: maint.Name}
		if raw, ok := r.Annotations[AnnotationSaved]; ok {
			s, err := parseSaved(raw)
			switch {
			case err != nil:
				p.Skipped = append(p.Skipped, Left{r.URL, fmt.Sprintf("%v; fix or remove it by hand (cf curl -X PATCH /v3/routes/%s)", err, r.GUID)})
			case s.App != app.GUID:
				p.Skipped = append(p.Skipped, Left{r.URL, fmt.Sprintf("already in maintenance for app %s: run `maintpage cf off %s` first", s.AppName, s.AppName)})
			case onlyApp(r.Dests, s.MaintenanceApp) || onlyApp(r.Dests, maint.GUID):
				p.Done = append(p.Done, Left{r.URL, fmt.Sprintf("already in maintenance since %s by %s", s.Since.Format(time.RFC3339), s.By)})
			default:
				ch.metaBefore, ch.metaAfter = &raw, &raw
				ch.Note = "finishing an earlier switch that did not complete"
				p.Changes = append(p.Changes, ch)
			}
			continue
		}
		if !hasApp(r.Dests, app.GUID) {
			continue // labelled by hand without an annotation: not ours to touch
		}
		s := Saved{Version: savedVersion, App: app.GUID, AppName: app.Name, MaintenanceApp: maint.GUID,
			Since: c.now().UTC().Truncate(time.Second), By: c.by, Destinations: stripGUIDs(r.Dests)}
		raw, err := s.encode()
		if err != nil {
			return nil, fmt.Errorf("route %s cannot be switched safely, nothing was changed: %w; switch it by hand or pass --route for the others", r.URL, err)
		}
		ch.metaAfter, ch.saved = &raw, &s
		p.Changes = append(p.Changes, ch)
	}
	if err := sel.check(app.Name, routes); err != nil {
		return nil, err
	}
	return p, nil
}

// PlanOff works out how to give every route switched away from an app back what it served.
func (c *Client) PlanOff(ctx context.Context, req Request) (*Plan, error) {
	t, err := c.ResolveTarget(ctx, req.Org, req.Space)
	if err != nil {
		return nil, err
	}
	app, err := c.findApp(ctx, t, req.App)
	if err != nil {
		return nil, err
	}
	routes, err := c.switchedRoutes(ctx, app.GUID, "")
	if err != nil {
		return nil, err
	}
	saved := map[string]*Saved{}
	var extra []Dest
	for _, r := range routes {
		if s, err := parseSaved(r.Annotations[AnnotationSaved]); err == nil {
			saved[r.GUID] = s
			extra = append(extra, s.Destinations...)
		}
	}
	names, err := c.appNames(ctx, destApps(routes, extra))
	if err != nil {
		return nil, err
	}
	p := &Plan{Direction: BackToApp, Target: t, App: app}
	sel := newSelector(req.Routes)
	for _, r := range routes {
		if !sel.keep(r.URL) {
			continue
		}
		raw, found := r.Annotations[AnnotationSaved]
		s := saved[r.GUID]
		switch {
		case !found:
			p.Skipped = append(p.Skipped, Left{r.URL, fmt.Sprintf("labelled %s but no saved destinations: remove the label by hand", LabelApp)})
			continue
		case s == nil:
			_, err := parseSaved(raw)
			p.Skipped = append(p.Skipped, Left{r.URL, fmt.Sprintf("%v; fix or remove it by hand", err)})
			continue
		case s.App != app.GUID:
			p.Skipped = append(p.Skipped, Left{r.URL, fmt.Sprintf("in maintenance for app %s, not %s", s.AppName, app.Name)})
			continue
		}
		var to []Dest
		var gone []string
		for _, d := range s.Destinations {
			if _, ok := names[d.App]; ok {
				to = append(to, d)
			} else {
				gone = append(gone, d.App)
			}
		}
		if len(to) == 0 {
			p.Skipped = append(p.Skipped, Left{r.URL, "none of the saved destinations' apps exists any more; left on the maintenance app: map a route by hand, then remove its maintpage metadata"})
			continue
		}
		ch := Change{RouteGUID: r.GUID, URL: r.URL, from: r.Dests, to: to, appGUID: app.GUID,
			From: describe(r.Dests, names), To: describe(to, names), metaBefore: &raw}
		if len(gone) > 0 {
			ch.Note = fmt.Sprintf("saved destinations of deleted apps (%s) are left out", strings.Join(gone, ", "))
		}
		p.Changes = append(p.Changes, ch)
	}
	if err := sel.check(app.Name, routes); err != nil {
		return nil, err
	}
	return p, nil
}

func destApps(routes []Route, extra []Dest) []string {
	seen := map[string]bool{}
	var out []string
	add := func(ds []Dest) {
		for _, d := range ds {
			if !seen[d.App] {
				seen[d.App] = true
				out = append(out, d.App)
			}
		}
	}
	for _, r := range routes {
		add(r.Dests)
	}
	add(extra)
	return out
}

// Apply carries out a plan route by route. When a route fails, every route already changed, the
// failing one included, is put back as it was, and the error says what CC answered. A route whose
// destinations changed after the plan was made is saved as it is when switched, and p.Changes says
// so in that change's Note. A route is reported as not put back only when it really differs from
// what it was before: a write CC refused changed nothing, and a route whose way back failed is read
// again before it is reported.
func (c *Client) Apply(ctx context.Context, p *Plan, progress func(i int, ch Change)) error {
	for i := range p.Changes {
		ch := &p.Changes[i]
		touched, err := c.switchRoute(ctx, ch)
		if err == nil {
			if progress != nil {
				progress(i, *ch)
			}
			continue
		}
		ae := &ApplyError{Route: ch.URL, Err: err, StatusCmd: "maintpage cf status " + p.App.Name}
		// Putting back must happen even when the operator pressed Ctrl-C: that is when it matters most.
		rbctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		defer cancel()
		undo := p.Changes[:i]
		if touched {
			undo = p.Changes[:i+1]
		}
		for j := len(undo) - 1; j >= 0; j-- {
			u := undo[j]
			back := Change{RouteGUID: u.RouteGUID, URL: u.URL, from: u.to, to: u.from,
				metaBefore: u.metaAfter, metaAfter: u.metaBefore, appGUID: u.appGUID}
			if _, err := c.switchRoute(rbctx, &back); err != nil {
				if c.asBefore(rbctx, u) {
					ae.RolledBack = append(ae.RolledBack, u.URL)
					continue
				}
				ae.Stuck = append(ae.Stuck, StuckRoute{URL: u.URL, Err: err})
				continue
			}
			ae.RolledBack = append(ae.RolledBack, u.URL)
		}
		return ae
	}
	return nil
}

// asBefore reads a route again and says whether it serves and records exactly what it did before
// the change: then a failed way back left nothing to put back. A read that fails says no.
func (c *Client) asBefore(ctx context.Context, ch Change) bool {
	r, err := c.getRoute(ctx, ch.URL, ch.RouteGUID)
	if err != nil || !sameDests(r.Dests, ch.from) {
		return false
	}
	raw, found := r.Annotations[AnnotationSaved]
	if ch.metaBefore == nil {
		_, labelled := r.Labels[LabelApp]
		return !found && !labelled
	}
	return found && raw == *ch.metaBefore
}

// switchRoute moves one route to its new destinations. The annotation is written before any
// destination changes and removed only after they all did, so a crash at any point leaves a route
// that says what it served. touched reports whether a change may have reached CC: a write CC
// refused (4xx) did not.
func (c *Client) switchRoute(ctx context.Context, ch *Change) (touched bool, err error) {
	if ch.saved != nil {
		if err := c.refreshSaved(ctx, ch); err != nil {
			return false, err
		}
	}
	if ch.metaAfter != nil && (ch.metaBefore == nil || *ch.metaBefore != *ch.metaAfter) {
		if err := c.setMetadata(ctx, ch.URL, ch.RouteGUID, ch.appGUID, ch.metaAfter); err != nil {
			return !refused(err), err
		}
		touched = true
	}
	t, err := c.converge(ctx, ch.URL, ch.RouteGUID, ch.to)
	touched = touched || t
	if err != nil {
		return touched, err
	}
	if ch.metaAfter == nil && ch.metaBefore != nil {
		if err := c.setMetadata(ctx, ch.URL, ch.RouteGUID, ch.appGUID, nil); err != nil {
			return touched || !refused(err), err
		}
		touched = true
	}
	return touched, nil
}

// refreshSaved re-reads a route's destinations just before its annotation is written. The plan may
// have waited at the prompt for as long as the operator liked, and a blue-green push meanwhile adds a
// destination that converge would then remove: the annotation must hold what the route really has,
// or off and a rollback could not give it back. What changed is saved as it is now, and ch updated,
// so that a rollback restores it too.
func (c *Client) refreshSaved(ctx context.Context, ch *Change) error {
	cur, err := c.destinations(ctx, ch.URL, ch.RouteGUID)
	if err != nil {
		return err
	}
	if len(cur) == 0 {
		return fmt.Errorf("route %s has no destination any more (the plan showed %s): there is nothing to save and give back later, so it is not switched: map it again, then run the same command again", ch.URL, ch.From)
	}
	if sameDests(cur, ch.from) {
		return nil
	}
	s := *ch.saved
	s.Destinations = stripGUIDs(cur)
	raw, err := s.encode()
	if err != nil {
		return fmt.Errorf("route %s changed after the plan was shown and can no longer be saved: %w", ch.URL, err)
	}
	ch.saved, ch.metaAfter, ch.from = &s, &raw, cur
	ch.Note = fmt.Sprintf("its destinations changed after the plan was shown: saved the %d it had when switched", len(cur))
	return nil
}

// sameDests says whether two lists hold the same destinations, in any order, mapping GUIDs aside.
func sameDests(a, b []Dest) bool {
	if len(a) != len(b) {
		return false
	}
	key := func(ds []Dest) []string {
		out := make([]string, len(ds))
		for i, d := range ds {
			port, weight := -1, -1
			if d.Port != nil {
				port = *d.Port
			}
			if d.Weight != nil {
				weight = *d.Weight
			}
			out[i] = fmt.Sprintf("%q %q %d %q %d", d.App, d.process(), port, d.Protocol, weight)
		}
		slices.Sort(out)
		return out
	}
	return slices.Equal(key(a), key(b))
}

// converge makes a route's destinations exactly target, adding before removing so the route always
// has somewhere to send traffic. It reads the route afresh, which makes it right after a crash or a
// concurrent change too. Weighted destinations cannot be inserted, so a route that has or gets
// weights is replaced in one atomic call instead.
func (c *Client) converge(ctx context.Context, url, rt string, target []Dest) (touched bool, err error) {
	if len(target) == 0 {
		return false, fmt.Errorf("route %s: %w", url, errEmptyTarget)
	}
	cur, err := c.destinations(ctx, url, rt)
	if err != nil {
		return false, err
	}
	var missing, extra []Dest
	for _, t := range target {
		if !slices.ContainsFunc(cur, t.satisfiedBy) {
			missing = append(missing, t)
		}
	}
	for _, d := range cur {
		if !slices.ContainsFunc(target, func(t Dest) bool { return t.satisfiedBy(d) }) {
			extra = append(extra, d)
		}
	}
	if len(missing) == 0 && len(extra) == 0 && sameWeights(cur, target) {
		return false, nil
	}
	if slices.ContainsFunc(cur, weighted) || slices.ContainsFunc(target, weighted) {
		err := c.replaceDests(ctx, url, rt, target)
		return err == nil || !refused(err), err
	}
	if len(missing) > 0 {
		if err := c.insertDests(ctx, url, rt, missing); err != nil {
			return !refused(err), err
		}
		touched = true
	}
	for _, d := range extra {
		if err := c.removeDest(ctx, url, rt, d); err != nil {
			// A retried DELETE may have done its work the first time; what counts is the state.
			if now, gerr := c.destinations(ctx, url, rt); gerr == nil && !slices.ContainsFunc(now, func(n Dest) bool { return n.GUID == d.GUID }) {
				touched = true
				continue
			}
			return touched || !refused(err), err
		}
		touched = true
	}
	return touched, nil
}

func weighted(d Dest) bool { return d.Weight != nil }

// sameWeights compares the weights of matching destinations, which satisfiedBy leaves aside.
func sameWeights(cur, target []Dest) bool {
	for _, t := range target {
		for _, d := range cur {
			if t.satisfiedBy(d) && (t.Weight == nil) != (d.Weight == nil) || t.satisfiedBy(d) && t.Weight != nil && d.Weight != nil && *t.Weight != *d.Weight {
				return false
			}
		}
	}
	return true
}
