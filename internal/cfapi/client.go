package cfapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// call runs one CC request and says what failed in the operator's terms.
func (c *Client) call(ctx context.Context, what string, fn func() error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	err := fn()
	var te *tokenError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &te):
		return fmt.Errorf("%w: %s: the stored login has expired and could not be renewed (%s): run `cf login` again, or check CF_CLIENT_ID/CF_CLIENT_SECRET or CF_USERNAME/CF_PASSWORD", ErrNotLoggedIn, what, te)
	case isInvalidToken(err):
		return fmt.Errorf("%w: %s: the Cloud Controller refused the token: run `cf login` again: %w", ErrNotLoggedIn, what, err)
	}
	return fmt.Errorf("%s: %w", what, tlsHint(err))
}

// ResolveTarget finds the space to work in: the one named by org and space, or the cf CLI's target.
func (c *Client) ResolveTarget(ctx context.Context, org, space string) (Target, error) {
	if org == "" && space == "" {
		if c.targeted.SpaceGUID == "" {
			return Target{}, fmt.Errorf("%w: run `cf target -o ORG -s SPACE`, or pass --org and --space", ErrNoTarget)
		}
		return c.targeted, nil
	}
	if space == "" {
		return Target{}, fmt.Errorf("%w: --org %s needs --space too", ErrNoTarget, org)
	}
	if org == "" {
		if c.targeted.OrgName == "" {
			return Target{}, fmt.Errorf("%w: --space %s needs --org too (no org is targeted)", ErrNoTarget, space)
		}
		org = c.targeted.OrgName
	}
	var orgs []ccNamed
	err := c.call(ctx, "looking up org "+org, func() (err error) {
		orgs, _, err = listAll[ccNamed](ctx, c.cc, "/v3/organizations", url.Values{"names": {listValue(org)}})
		return err
	})
	if err != nil {
		return Target{}, err
	}
	if len(orgs) == 0 {
		return Target{}, fmt.Errorf("%w: org %q not found or not visible to %s: check the name with `cf orgs`", ErrNoTarget, org, c.by)
	}
	var spaces []ccNamed
	err = c.call(ctx, "looking up space "+space, func() (err error) {
		spaces, _, err = listAll[ccNamed](ctx, c.cc, "/v3/spaces", url.Values{"names": {listValue(space)}, "organization_guids": {orgs[0].GUID}})
		return err
	})
	if err != nil {
		return Target{}, err
	}
	if len(spaces) == 0 {
		return Target{}, fmt.Errorf("%w: space %q not found in org %s: check the name with `cf spaces`", ErrNoTarget, space, org)
	}
	return Target{OrgName: org, SpaceName: space, SpaceGUID: spaces[0].GUID}, nil
}

// AppRef names an app.
type AppRef struct{ GUID, Name string }

// findApps looks up apps by name in a space; the result has only the ones found.
func (c *Client) findApps(ctx context.Context, t Target, names ...string) (map[string]AppRef, error) {
	var apps []ccNamed
	err := c.call(ctx, "looking up apps in "+t.String(), func() (err error) {
		apps, _, err = listAll[ccNamed](ctx, c.cc, "/v3/apps", url.Values{"names": {listValue(names...)}, "space_guids": {t.SpaceGUID}})
		return err
	})
	if err != nil {
		return nil, err
	}
	out := map[string]AppRef{}
	for _, a := range apps {
		out[a.Name] = AppRef{GUID: a.GUID, Name: a.Name}
	}
	return out, nil
}

// findApp looks up one app by name in a space.
func (c *Client) findApp(ctx context.Context, t Target, name string) (AppRef, error) {
	apps, err := c.findApps(ctx, t, name)
	if err != nil {
		return AppRef{}, err
	}
	return appIn(apps, name, t)
}

// appIn picks an app from what findApps found, or says how to find the right name.
func appIn(apps map[string]AppRef, name string, t Target) (AppRef, error) {
	app, ok := apps[name]
	if !ok {
		return AppRef{}, fmt.Errorf("%w: app %q is not in %s: check the name with `cf apps`, or pass --org and --space", ErrAppNotFound, name, t)
	}
	return app, nil
}

// appNames maps app GUIDs to names, for display; GUIDs not found are left out.
func (c *Client) appNames(ctx context.Context, guids []string) (map[string]string, error) {
	out := map[string]string{}
	if len(guids) == 0 {
		return out, nil
	}
	var apps []ccNamed
	err := c.call(ctx, "looking up app names", func() (err error) {
		apps, _, err = listAll[ccNamed](ctx, c.cc, "/v3/apps", url.Values{"guids": {listValue(guids...)}})
		return err
	})
	for _, a := range apps {
		out[a.GUID] = a.Name
	}
	return out, err
}

// Route is what the switch needs to know of a route.
type Route struct {
	GUID        string
	SpaceGUID   string
	URL         string
	TCP         bool
	Internal    bool
	Dests       []Dest
	Labels      map[string]string
	Annotations map[string]string
}

// listRoutes pages through GET /v3/routes with include=domain, so each route comes with whether its
// domain is internal, in one request per page.
func (c *Client) listRoutes(ctx context.Context, what string, query url.Values) ([]Route, error) {
	var routes []ccRoute
	var domains []ccDomain
	query.Set("include", "domain")
	err := c.call(ctx, what, func() (err error) {
		routes, domains, err = listAll[ccRoute](ctx, c.cc, "/v3/routes", query)
		return err
	})
	if err != nil {
		return nil, err
	}
	internal := map[string]bool{}
	for _, d := range domains {
		internal[d.GUID] = d.Internal
	}
	out := make([]Route, 0, len(routes))
	for _, r := range routes {
		out = append(out, toRoute(r, internal))
	}
	return out, nil
}

func toRoute(r ccRoute, internal map[string]bool) Route {
	rt := Route{GUID: r.GUID, URL: r.URL, TCP: r.Protocol == "tcp", Internal: internal[r.Relationships.Domain.guid()],
		SpaceGUID: r.Relationships.Space.guid(), Labels: map[string]string{}, Annotations: map[string]string{}}
	for _, d := range r.Destinations {
		rt.Dests = append(rt.Dests, toDest(d))
	}
	for k, v := range r.Metadata.Labels {
		if v != nil {
			rt.Labels[k] = *v
		}
	}
	for k, v := range r.Metadata.Annotations {
		if v != nil {
			rt.Annotations[k] = *v
		}
	}
	return rt
}

// listValue joins the values of a CC list filter. CC splits a filter on commas and unescapes
// each value (cloud_controller_ng: app/messages/base_message.rb, to_array!), so a comma inside a
// name is sent as %2C.
func listValue(vs ...string) string {
	esc := make([]string, len(vs))
	for i, v := range vs {
		esc[i] = strings.ReplaceAll(strings.ReplaceAll(v, "%", "%25"), ",", "%2C")
	}
	return strings.Join(esc, ",")
}

// appRoutes is every route the app serves now, plus every route switched away from it, in CC's order.
func (c *Client) appRoutes(ctx context.Context, app AppRef) ([]Route, error) {
	mapped, err := c.listRoutes(ctx, "listing the routes of "+app.Name, url.Values{"app_guids": {app.GUID}})
	if err != nil {
		return nil, err
	}
	switched, err := c.switchedRoutes(ctx, app.GUID, "")
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, r := range mapped {
		seen[r.GUID] = true
	}
	for _, r := range switched {
		if !seen[r.GUID] {
			mapped = append(mapped, r)
		}
	}
	return mapped, nil
}

// switchedRoutes finds routes by the label maintpage sets when it switches them: for one app, or for
// every app in a space when appGUID is empty.
func (c *Client) switchedRoutes(ctx context.Context, appGUID, spaceGUID string) ([]Route, error) {
	q := url.Values{"label_selector": {LabelApp}}
	if appGUID != "" {
		q.Set("label_selector", LabelApp+"="+appGUID)
	}
	if spaceGUID != "" {
		q.Set("space_guids", spaceGUID)
	}
	return c.listRoutes(ctx, "listing routes in maintenance", q)
}

// getRoute reads one route with its destinations and metadata.
func (c *Client) getRoute(ctx context.Context, url, guid string) (Route, error) {
	var r ccRoute
	err := c.call(ctx, "reading route "+url, func() error {
		return c.cc.do(ctx, http.MethodGet, "/v3/routes/"+guid, nil, nil, &r)
	})
	if err != nil {
		return Route{}, err
	}
	return toRoute(r, nil), nil
}

func (c *Client) destinations(ctx context.Context, url, rt string) ([]Dest, error) {
	var res struct {
		Destinations []ccDest `json:"destinations"`
	}
	err := c.call(ctx, "reading the destinations of route "+url, func() error {
		return c.cc.do(ctx, http.MethodGet, "/v3/routes/"+rt+"/destinations", nil, nil, &res)
	})
	if err != nil {
		return nil, err
	}
	out := make([]Dest, 0, len(res.Destinations))
	for _, d := range res.Destinations {
		out = append(out, toDest(d))
	}
	return out, nil
}

func destsBody(ds []Dest) map[string]any {
	out := make([]ccDest, 0, len(ds))
	for _, d := range ds {
		out = append(out, fromDest(d))
	}
	return map[string]any{"destinations": out}
}

func (c *Client) insertDests(ctx context.Context, url, rt string, ds []Dest) error {
	return c.call(ctx, "adding destinations to route "+url, func() error {
		return c.cc.do(ctx, http.MethodPost, "/v3/routes/"+rt+"/destinations", nil, destsBody(ds), nil)
	})
}

func (c *Client) replaceDests(ctx context.Context, url, rt string, ds []Dest) error {
	return c.call(ctx, "replacing the destinations of route "+url, func() error {
		return c.cc.do(ctx, http.MethodPatch, "/v3/routes/"+rt+"/destinations", nil, destsBody(ds), nil)
	})
}

func (c *Client) removeDest(ctx context.Context, url, rt string, d Dest) error {
	return c.call(ctx, "removing a destination from route "+url, func() error {
		return c.cc.do(ctx, http.MethodDelete, "/v3/routes/"+rt+"/destinations/"+d.GUID, nil, nil, nil)
	})
}

// setMetadata writes maintpage's label and annotation on a route, or removes both when saved is nil.
func (c *Client) setMetadata(ctx context.Context, url, rt, appGUID string, saved *string) error {
	what := "saving the destinations of route " + url + " in its annotation"
	label := &appGUID
	if saved == nil {
		what, label = "removing the saved destinations annotation of route "+url, nil
	}
	body := map[string]any{"metadata": ccMetadata{
		Labels:      map[string]*string{LabelApp: label},
		Annotations: map[string]*string{AnnotationSaved: saved},
	}}
	return c.call(ctx, what, func() error {
		return c.cc.do(ctx, http.MethodPatch, "/v3/routes/"+rt, nil, body, nil)
	})
}

var errEmptyTarget = errors.New("refusing to leave a route with no destination")
