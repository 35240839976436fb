package cfapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// ErrBadRouteService marks a route-service request that cannot work as given: nothing was changed.
var ErrBadRouteService = errors.New("route service not usable")

// DefaultRouteServiceName is the name of the user-provided service instance maintpage creates.
const DefaultRouteServiceName = "maintpage"

// RouteServiceRequest names the app whose HTTP routes go through a route service, and the service.
type RouteServiceRequest struct {
	App        string
	Org, Space string
	Name       string   // the user-provided service instance; empty means DefaultRouteServiceName
	URL        string   // its route_service_url; needed to turn it on
	Routes     []string // empty: every HTTP route of the app
}

// RouteRef names a route.
type RouteRef struct{ GUID, URL string }

// RouteServicePlan is what `cf route-service on|off` will do, shown before it is done.
type RouteServicePlan struct {
	Enable   bool
	Target   Target
	App      AppRef
	Name     string
	URL      string
	Instance string     // the instance's GUID; empty when on must create it
	Changes  []RouteRef // routes to bind (on) or unbind (off)
	Done     []Left     // already as asked
	Skipped  []Left     // left alone
	// DeleteInstance: off deletes the instance, since no route will be bound to it any more.
	DeleteInstance bool
	// Others counts the routes of other apps that stay bound to the instance.
	Others int
	// Apps counts the apps bound to the instance (`cf bind-service`), which keep it too.
	Apps int
}

// checkRouteServiceURL applies CC's rules to a route service URL before asking CC
// (cloud_controller_ng: app/messages/service_instance_create_user_provided_message.rb wants
// https, app/models/services/user_provided_service_instance.rb a host).
func checkRouteServiceURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case raw == "":
		return fmt.Errorf("%w: pass --url https://… with the address of the gate in route-service mode", ErrBadRouteService)
	case err != nil:
		return fmt.Errorf("%w: --url %q is not a URL: %w", ErrBadRouteService, raw, err)
	case u.Scheme != "https":
		return fmt.Errorf("%w: --url %q must be https: the Cloud Controller refuses other route service URLs", ErrBadRouteService, raw)
	case u.Host == "" || strings.HasPrefix(u.Host, "."):
		return fmt.Errorf("%w: --url %q has no host name: write https://HOST[/PATH]", ErrBadRouteService, raw)
	}
	return nil
}

// findInstance looks up a service instance by name in the space; nil when there is none.
func (c *Client) findInstance(ctx context.Context, t Target, name string) (*ccServiceInstance, error) {
	var list []ccServiceInstance
	err := c.call(ctx, "looking up service instance "+name, func() (err error) {
		list, _, err = listAll[ccServiceInstance](ctx, c.cc, "/v3/service_instances", url.Values{"names": {listValue(name)}, "space_guids": {t.SpaceGUID}})
		return err
	})
	if err != nil || len(list) == 0 {
		return nil, err
	}
	return &list[0], nil
}

// routeBindings lists the route bindings of some routes, or of one instance.
func (c *Client) routeBindings(ctx context.Context, filter string, guids []string) ([]ccRouteBinding, error) {
	var out []ccRouteBinding
	// A few hundred GUIDs per request keep the URL well under what routers accept.
	for chunk := range slices.Chunk(guids, 100) {
		var list []ccRouteBinding
		err := c.call(ctx, "listing route service bindings", func() (err error) {
			list, _, err = listAll[ccRouteBinding](ctx, c.cc, "/v3/service_route_bindings", url.Values{filter: {listValue(chunk...)}})
			return err
		})
		if err != nil {
			return nil, err
		}
		out = append(out, list...)
	}
	return out, nil
}

func (c *Client) instanceNames(ctx context.Context, guids []string) (map[string]ccServiceInstance, error) {
	out := map[string]ccServiceInstance{}
	if len(guids) == 0 {
		return out, nil
	}
	var list []ccServiceInstance
	err := c.call(ctx, "looking up service instances", func() (err error) {
		list, _, err = listAll[ccServiceInstance](ctx, c.cc, "/v3/service_instances", url.Values{"guids": {listValue(guids...)}})
		return err
	})
	for _, si := range list {
		out[si.GUID] = si
	}
	return out, err
}

// httpRoutes is the app's routes a route service can front: CC refuses internal routes
// (app/actions/service_route_binding_create.rb), and the router sends only HTTP through one.
func (c *Client) httpRoutes(ctx context.Context, t Target, appName string, only []string) (AppRef, []Route, []Left, error) {
	app, err := c.findApp(ctx, t, appName)
	if err != nil {
		return AppRef{}, nil, nil, err
	}
	routes, err := c.listRoutes(ctx, "listing the routes of "+app.Name, url.Values{"app_guids": {app.GUID}})
	if err != nil {
		return AppRef{}, nil, nil, err
	}
	sel := newSelector(only)
	var out []Route
	var skipped []Left
	for _, r := range routes {
		if !sel.keep(r.URL) {
			continue
		}
		if reason := skipReason(r); reason != "" {
			skipped = append(skipped, Left{r.URL, reason})
			continue
		}
		// A route another space owns and shares with this one is among the app's routes, but CC
		// binds a route service only in the route's own space (app/actions/service_route_binding_create.rb,
		// space_mismatch!): binding it would fail and undo every other route.
		if r.SpaceGUID != "" && r.SpaceGUID != t.SpaceGUID {
			skipped = append(skipped, Left{r.URL, "owned by another space: Cloud Foundry binds a route service only to a route of the instance's own space (bind it there with `cf bind-route-service`)"})
			continue
		}
		out = append(out, r)
	}
	if err := sel.check(app.Name, routes); err != nil {
		return AppRef{}, nil, nil, err
	}
	return app, out, skipped, nil
}

// PlanRouteService works out how to bind (enable) or unbind the app's HTTP routes to or from the
// user-provided service instance named in req. A route bound to another route service stops the
// plan: CC allows one per route, and taking another team's service away is not ours to do.
func (c *Client) PlanRouteService(ctx context.Context, req RouteServiceRequest, enable bool) (*RouteServicePlan, error) {
	if req.Name == "" {
		req.Name = DefaultRouteServiceName
	}
	if enable {
		if err := checkRouteServiceURL(req.URL); err != nil {
			return nil, err
		}
	}
	t, err := c.ResolveTarget(ctx, req.Org, req.Space)
	if err != nil {
		return nil, err
	}
	app, routes, skipped, err := c.httpRoutes(ctx, t, req.App, req.Routes)
	if err != nil {
		return nil, err
	}
	p := &RouteServicePlan{Enable: enable, Target: t, App: app, Name: req.Name, URL: req.URL, Skipped: skipped}
	si, err := c.findInstance(ctx, t, req.Name)
	if err != nil {
		return nil, err
	}
	if si != nil {
		switch {
		case si.Type != "user-provided":
			return nil, fmt.Errorf("%w: service instance %q in %s is a managed service, not maintpage's user-provided one: pass --name with another name", ErrBadRouteService, req.Name, t)
		case enable && si.RouteServiceURL != req.URL:
			return nil, fmt.Errorf("%w: service instance %q in %s already exists with route service URL %q, not %q: pass --name with another name, or change its URL with `cf update-user-provided-service %s -r %s`", ErrBadRouteService, req.Name, t, si.RouteServiceURL, req.URL, req.Name, req.URL)
		}
		p.Instance, p.URL = si.GUID, si.RouteServiceURL
	}
	if si == nil && !enable {
		return p, nil // nothing to unbind
	}
	var guids []string
	for _, r := range routes {
		guids = append(guids, r.GUID)
	}
	bindings, err := c.routeBindings(ctx, "route_guids", guids)
	if err != nil {
		return nil, err
	}
	boundTo := map[string]string{} // route → instance
	var foreign []string
	for _, b := range bindings {
		boundTo[b.Relationships.Route.guid()] = b.Relationships.ServiceInstance.guid()
		if si == nil || b.Relationships.ServiceInstance.guid() != si.GUID {
			foreign = append(foreign, b.Relationships.ServiceInstance.guid())
		}
	}
	others, err := c.instanceNames(ctx, foreign)
	if err != nil {
		return nil, err
	}
	var refused []string
	for _, r := range routes {
		bound, ok := boundTo[r.GUID]
		ours := ok && si != nil && bound == si.GUID
		switch {
		case enable && ours:
			p.Done = append(p.Done, Left{r.URL, "already bound to " + req.Name})
		case enable && ok:
			name := others[bound].Name
			if name == "" {
				name = "instance " + bound
			}
			refused = append(refused, fmt.Sprintf("%s (bound to %s)", r.URL, name))
		case enable:
			p.Changes = append(p.Changes, RouteRef{r.GUID, r.URL})
		case ours:
			p.Changes = append(p.Changes, RouteRef{r.GUID, r.URL})
		default:
			p.Done = append(p.Done, Left{r.URL, "not bound to " + req.Name})
		}
	}
	if len(refused) > 0 {
		return nil, fmt.Errorf("%w: a route has one route service at most, and these routes of %s have another: %s; unbind it first (`cf unbind-route-service DOMAIN SERVICE --hostname HOST`), or pass --route for the others; nothing was changed", ErrBadRouteService, app.Name, strings.Join(refused, ", "))
	}
	if !enable {
		all, err := c.routeBindings(ctx, "service_instance_guids", []string{si.GUID})
		if err != nil {
			return nil, err
		}
		p.Others = len(all) - len(p.Changes)
		if p.Apps, err = c.appBindingCount(ctx, si.GUID); err != nil {
			return nil, err
		}
		p.DeleteInstance = p.Others == 0 && p.Apps == 0
	}
	return p, nil
}

// appBindingCount counts the apps bound to a service instance. Deleting a user-provided instance
// deletes its app bindings with it (cloud_controller_ng: app/actions/v3/service_instance_delete.rb,
// remove_associations), so an instance an app uses is not maintpage's to delete.
func (c *Client) appBindingCount(ctx context.Context, instance string) (int, error) {
	var list []ccRouteBinding // the relationships are all that is read
	err := c.call(ctx, "listing the apps bound to the route service", func() (err error) {
		list, _, err = listAll[ccRouteBinding](ctx, c.cc, "/v3/service_credential_bindings", url.Values{"service_instance_guids": {instance}, "type": {"app"}})
		return err
	})
	return len(list), err
}

func (c *Client) createInstance(ctx context.Context, t Target, name, rsURL string) (string, error) {
	var si ccServiceInstance
	body := map[string]any{
		"type": "user-provided", "name": name, "route_service_url": rsURL,
		"relationships": map[string]any{"space": rel(t.SpaceGUID)},
		"metadata": ccMetadata{Annotations: map[string]*string{
			MetadataPrefix + "/created-by": ptr("maintpage cf route-service on, by " + c.by + " at " + c.now().UTC().Format(time.RFC3339)),
		}},
	}
	err := c.call(ctx, "creating user-provided service instance "+name, func() error {
		return c.cc.do(ctx, http.MethodPost, "/v3/service_instances", nil, body, &si)
	})
	return si.GUID, err
}

func ptr(s string) *string { return &s }

// gone treats a 404 to a DELETE as done: a retried DELETE whose first answer was lost, or someone
// else's delete, leaves the state that was asked for.
func gone(err error) error {
	var ce *CCError
	if errors.As(err, &ce) && ce.Status == http.StatusNotFound {
		return nil
	}
	return err
}

func (c *Client) deleteInstance(ctx context.Context, name, guid string) error {
	return c.call(ctx, "deleting service instance "+name, func() error {
		return gone(c.cc.do(ctx, http.MethodDelete, "/v3/service_instances/"+guid, nil, nil, nil))
	})
}

func (c *Client) bindRoute(ctx context.Context, url, routeGUID, instance string) error {
	body := map[string]any{"relationships": map[string]any{"route": rel(routeGUID), "service_instance": rel(instance)}}
	return c.call(ctx, "binding route "+url+" to the route service", func() error {
		return c.cc.do(ctx, http.MethodPost, "/v3/service_route_bindings", nil, body, nil)
	})
}

func (c *Client) unbindRoute(ctx context.Context, url, routeGUID, instance string) error {
	bs, err := c.routeBindings(ctx, "route_guids", []string{routeGUID})
	if err != nil {
		return err
	}
	for _, b := range bs {
		if b.Relationships.ServiceInstance.guid() != instance {
			continue
		}
		return c.call(ctx, "unbinding route "+url+" from the route service", func() error {
			return gone(c.cc.do(ctx, http.MethodDelete, "/v3/service_route_bindings/"+b.GUID, nil, nil, nil))
		})
	}
	return nil // already unbound: what counts is the state
}

// isBound reads whether a route is bound to an instance; a failed read says "unknown" as an error.
func (c *Client) isBound(ctx context.Context, routeGUID, instance string) (bool, error) {
	bs, err := c.routeBindings(ctx, "route_guids", []string{routeGUID})
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(bs, func(b ccRouteBinding) bool { return b.Relationships.ServiceInstance.guid() == instance }), nil
}

// ApplyRouteService carries out a route-service plan. On creates the instance when missing, then
// binds route by route; off unbinds, then deletes the instance when nothing else is bound to it
// (then: p.DeleteInstance is cleared, and p.Others and p.Apps counted, when something was bound meanwhile).
// When a call fails, what this run did is undone (bindings, then a created instance), and the
// error names exactly the routes left otherwise than they were.
func (c *Client) ApplyRouteService(ctx context.Context, p *RouteServicePlan, progress func(i int, url string)) error {
	created := false
	status := "maintpage cf route-service status " + p.App.Name
	op := "binding route"
	if !p.Enable {
		op = "unbinding route"
	}
	if p.Enable && p.Instance == "" {
		guid, err := c.createInstance(ctx, p.Target, p.Name, p.URL)
		if err != nil {
			ae := &ApplyError{Op: "creating", Route: "service instance " + p.Name, Err: err, StatusCmd: status}
			if !refused(err) {
				c.undoLostCreate(ctx, p, ae)
			}
			return ae
		}
		p.Instance, created = guid, true
	}
	for i, ch := range p.Changes {
		guid, u := ch.GUID, ch.URL
		var err error
		if p.Enable {
			err = c.bindRoute(ctx, u, guid, p.Instance)
		} else {
			err = c.unbindRoute(ctx, u, guid, p.Instance)
		}
		if err == nil {
			if progress != nil {
				progress(i, u)
			}
			continue
		}
		return c.undoRouteService(ctx, p, i, created, &ApplyError{Op: op, Route: u, Err: err, StatusCmd: status})
	}
	if !p.Enable && p.DeleteInstance {
		// The plan may have waited at the prompt while someone bound another route to the instance,
		// and deleting a user-provided instance deletes its route bindings with it
		// (cloud_controller_ng: app/actions/v3/service_instance_delete.rb): look again first.
		left, err := c.routeBindings(ctx, "service_instance_guids", []string{p.Instance})
		var apps int
		if err == nil {
			apps, err = c.appBindingCount(ctx, p.Instance)
		}
		if err != nil {
			return fmt.Errorf("every route is unbound, but whether service instance %s is still used could not be read, so it was kept (run `cf delete-service %s` once nothing uses it): %w", p.Name, p.Name, err)
		}
		if len(left) > 0 || apps > 0 {
			p.DeleteInstance, p.Others, p.Apps = false, len(left), apps
			return nil
		}
		if err := c.deleteInstance(ctx, p.Name, p.Instance); err != nil {
			return fmt.Errorf("every route is unbound, but service instance %s could not be deleted (run `cf delete-service %s` when convenient): %w", p.Name, p.Name, err)
		}
	}
	return nil
}

// undoLostCreate deletes the instance a create whose answer was lost may have made: the plan found
// none of that name, so one there now is this run's (or a teammate's doing the same, whose rerun
// creates it again). What cannot be checked or deleted is reported as left behind.
func (c *Client) undoLostCreate(ctx context.Context, p *RouteServicePlan, ae *ApplyError) {
	rbctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	what := "service instance " + p.Name + " (perhaps created by this run)"
	si, err := c.findInstance(rbctx, p.Target, p.Name)
	if err == nil && si != nil && si.Type == "user-provided" && si.RouteServiceURL == p.URL {
		err = c.deleteInstance(rbctx, p.Name, si.GUID)
	}
	if err != nil {
		ae.Stuck = append(ae.Stuck, StuckRoute{URL: what, Err: err})
	}
}

// undoRouteService puts back the routes changed before change i failed (and change i itself when
// its answer was lost), then deletes an instance this run created. A route whose way back fails is
// read again: it is reported only if it is really left otherwise than it was.
func (c *Client) undoRouteService(ctx context.Context, p *RouteServicePlan, i int, created bool, ae *ApplyError) error {
	rbctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
	defer cancel()
	undo := p.Changes[:i]
	if !refused(ae.Err) {
		undo = p.Changes[:i+1]
	}
	for j := len(undo) - 1; j >= 0; j-- {
		guid, u := undo[j].GUID, undo[j].URL
		var err error
		if p.Enable {
			err = c.unbindRoute(rbctx, u, guid, p.Instance)
		} else if bound, rerr := c.isBound(rbctx, guid, p.Instance); rerr != nil || !bound {
			err = c.bindRoute(rbctx, u, guid, p.Instance)
		}
		if err != nil {
			// Bound before means on is undone when unbound, off when bound again.
			if bound, rerr := c.isBound(rbctx, guid, p.Instance); rerr != nil || bound == p.Enable {
				ae.Stuck = append(ae.Stuck, StuckRoute{URL: u, Err: err})
				continue
			}
		}
		ae.RolledBack = append(ae.RolledBack, u)
	}
	if created && len(ae.Stuck) == 0 {
		if err := c.deleteInstance(rbctx, p.Name, p.Instance); err != nil {
			ae.Stuck = append(ae.Stuck, StuckRoute{URL: "service instance " + p.Name + " (created by this run)", Err: err})
		}
	}
	return ae
}

// RouteServiceRoute is one line of `maintpage cf route-service status`.
type RouteServiceRoute struct {
	URL   string
	Bound string // the instance's name; empty when not bound
	Via   string // its route service URL
	Ours  bool   // bound to the instance named in the request
	Note  string
}

// RouteServiceStatus says which HTTP routes of the app go through which route service.
func (c *Client) RouteServiceStatus(ctx context.Context, req RouteServiceRequest) (Target, []RouteServiceRoute, error) {
	if req.Name == "" {
		req.Name = DefaultRouteServiceName
	}
	t, err := c.ResolveTarget(ctx, req.Org, req.Space)
	if err != nil {
		return t, nil, err
	}
	_, routes, skipped, err := c.httpRoutes(ctx, t, req.App, req.Routes)
	if err != nil {
		return t, nil, err
	}
	var guids []string
	for _, r := range routes {
		guids = append(guids, r.GUID)
	}
	bindings, err := c.routeBindings(ctx, "route_guids", guids)
	if err != nil {
		return t, nil, err
	}
	boundTo := map[string]string{}
	var insts []string
	for _, b := range bindings {
		boundTo[b.Relationships.Route.guid()] = b.Relationships.ServiceInstance.guid()
		insts = append(insts, b.Relationships.ServiceInstance.guid())
	}
	names, err := c.instanceNames(ctx, insts)
	if err != nil {
		return t, nil, err
	}
	var out []RouteServiceRoute
	for _, r := range routes {
		line := RouteServiceRoute{URL: r.URL}
		if g, ok := boundTo[r.GUID]; ok {
			si := names[g]
			line.Bound, line.Via, line.Ours = si.Name, si.RouteServiceURL, si.Name == req.Name
			if line.Bound == "" {
				line.Bound = "instance " + g
			}
			if req.URL != "" && line.Ours && si.RouteServiceURL != req.URL {
				line.Note = "its URL is not --url " + req.URL
			}
		}
		out = append(out, line)
	}
	for _, s := range skipped {
		out = append(out, RouteServiceRoute{URL: s.URL, Note: "left alone: " + s.Reason})
	}
	return t, out, nil
}
