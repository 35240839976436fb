package cfapi

import (
	"context"
	"errors"
	"fmt"

	"github.com/cloudfoundry/go-cfclient/v3/client"
	"github.com/cloudfoundry/go-cfclient/v3/resource"
)

// call runs one CC request. When CC says the token is invalid although go-cfclient thought it fresh,
// it starts over from the refresh token and tries once more: a 401 means CC did nothing.
func (c *Client) call(ctx context.Context, what string, fn func(cf *client.Client) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	err := asCCError(fn(c.cf))
	if err != nil && isInvalidToken(err) && c.reauth != nil && !c.reauthed {
		c.reauthed = true
		cf, rerr := c.reauth()
		if rerr != nil {
			return fmt.Errorf("%w: the stored login has expired and could not be renewed: run `cf login` again: %w", ErrNotLoggedIn, rerr)
		}
		c.cf = cf
		err = asCCError(fn(c.cf))
	}
	switch {
	case err == nil:
		return nil
	case isInvalidToken(err):
		return fmt.Errorf("%w: %s: the Cloud Controller refused the token: run `cf login` again: %w", ErrNotLoggedIn, what, err)
	case isTokenFetchError(err):
		return fmt.Errorf("%w: %s: the UAA refused a token (%s): run `cf login` again, or check CF_CLIENT_ID/CF_CLIENT_SECRET or CF_USERNAME/CF_PASSWORD", ErrNotLoggedIn, what, tokenErrorText(err))
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
	var orgs []*resource.Organization
	err := c.call(ctx, "looking up org "+org, func(cf *client.Client) (err error) {
		opts := client.NewOrganizationListOptions()
		opts.Names.EqualTo(org)
		orgs, err = cf.Organizations.ListAll(ctx, opts)
		return err
	})
	if err != nil {
		return Target{}, err
	}
	if len(orgs) == 0 {
		return Target{}, fmt.Errorf("%w: org %q not found or not visible to %s: check the name with `cf orgs`", ErrNoTarget, org, c.by)
	}
	var spaces []*resource.Space
	err = c.call(ctx, "looking up space "+space, func(cf *client.Client) (err error) {
		opts := client.NewSpaceListOptions()
		opts.Names.EqualTo(space)
		opts.OrganizationGUIDs.EqualTo(orgs[0].GUID)
		spaces, err = cf.Spaces.ListAll(ctx, opts)
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
	var apps []*resource.App
	err := c.call(ctx, "looking up apps in "+t.String(), func(cf *client.Client) (err error) {
		opts := client.NewAppListOptions()
		opts.Names.EqualTo(names...)
		opts.SpaceGUIDs.EqualTo(t.SpaceGUID)
		apps, err = cf.Applications.ListAll(ctx, opts)
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
	var apps []*resource.App
	err := c.call(ctx, "looking up app names", func(cf *client.Client) (err error) {
		opts := client.NewAppListOptions()
		opts.GUIDs.EqualTo(guids...)
		apps, err = cf.Applications.ListAll(ctx, opts)
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
	URL         string
	TCP         bool
	Internal    bool
	Dests       []Dest
	Labels      map[string]string
	Annotations map[string]string
}

func toDest(d resource.RouteDestination) Dest {
	out := Dest{Port: d.Port, Weight: d.Weight}
	if d.GUID != nil {
		out.GUID = *d.GUID
	}
	if d.App.GUID != nil {
		out.App = *d.App.GUID
	}
	if d.App.Process != nil {
		out.Process = d.App.Process.Type
	}
	if d.Protocol != nil {
		out.Protocol = *d.Protocol
	}
	return out
}

// listRoutes pages through GET /v3/routes with include=domain, so each route comes with whether its
// domain is internal, in one request per page.
func (c *Client) listRoutes(ctx context.Context, what string, set func(*client.RouteListOptions)) ([]Route, error) {
	var routes []*resource.Route
	var domains []*resource.Domain
	err := c.call(ctx, what, func(cf *client.Client) (err error) {
		opts := client.NewRouteListOptions()
		set(opts)
		routes, domains, err = cf.Routes.ListIncludeDomainsAll(ctx, opts)
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
		rt := Route{GUID: r.GUID, URL: r.URL, TCP: r.Protocol == "tcp", Labels: map[string]string{}, Annotations: map[string]string{}}
		if r.Relationships.Domain.Data != nil {
			rt.Internal = internal[r.Relationships.Domain.Data.GUID]
		}
		for _, d := range r.Destinations {
			rt.Dests = append(rt.Dests, toDest(d))
		}
		if r.Metadata != nil {
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
		}
		out = append(out, rt)
	}
	return out, nil
}

// appRoutes is every route the app serves now, plus every route switched away from it, in CC's order.
func (c *Client) appRoutes(ctx context.Context, app AppRef) ([]Route, error) {
	mapped, err := c.listRoutes(ctx, "listing the routes of "+app.Name, func(o *client.RouteListOptions) {
		o.AppGUIDs.EqualTo(app.GUID)
	})
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
	return c.listRoutes(ctx, "listing routes in maintenance", func(o *client.RouteListOptions) {
		o.LabelSel = client.LabelSelector{}
		if appGUID != "" {
			o.LabelSel.EqualTo(LabelApp, appGUID)
		} else {
			o.LabelSel.Existence(LabelApp)
		}
		if spaceGUID != "" {
			o.SpaceGUIDs.EqualTo(spaceGUID)
		}
	})
}

func (c *Client) destinations(ctx context.Context, url, rt string) ([]Dest, error) {
	var res *resource.RouteDestinations
	err := c.call(ctx, "reading the destinations of route "+url, func(cf *client.Client) (err error) {
		res, err = cf.Routes.GetDestinations(ctx, rt)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make([]Dest, 0, len(res.Destinations))
	for _, d := range res.Destinations {
		if d != nil {
			out = append(out, toDest(*d))
		}
	}
	return out, nil
}

func toRequest(ds []Dest) []*resource.RouteDestinationInsertOrReplace {
	out := make([]*resource.RouteDestinationInsertOrReplace, 0, len(ds))
	for _, d := range ds {
		r := resource.NewRouteDestinationInsertOrReplace(d.App)
		if d.Process != "" {
			r.WithProcessType(d.Process)
		}
		if d.Port != nil {
			r.WithPort(*d.Port)
		}
		if d.Protocol != "" {
			r.WithProtocol(d.Protocol)
		}
		if d.Weight != nil {
			r.WithWeight(*d.Weight)
		}
		out = append(out, r)
	}
	return out
}

func (c *Client) insertDests(ctx context.Context, url, rt string, ds []Dest) error {
	return c.call(ctx, "adding destinations to route "+url, func(cf *client.Client) error {
		_, err := cf.Routes.InsertDestinations(ctx, rt, toRequest(ds))
		return err
	})
}

func (c *Client) replaceDests(ctx context.Context, url, rt string, ds []Dest) error {
	return c.call(ctx, "replacing the destinations of route "+url, func(cf *client.Client) error {
		_, err := cf.Routes.ReplaceDestinations(ctx, rt, toRequest(ds))
		return err
	})
}

func (c *Client) removeDest(ctx context.Context, url, rt string, d Dest) error {
	return c.call(ctx, "removing a destination from route "+url, func(cf *client.Client) error {
		return cf.Routes.RemoveDestination(ctx, rt, d.GUID)
	})
}

// setMetadata writes maintpage's label and annotation on a route, or removes both when saved is nil.
func (c *Client) setMetadata(ctx context.Context, url, rt, appGUID string, saved *string) error {
	what := "saving the destinations of route " + url + " in its annotation"
	label := &appGUID
	if saved == nil {
		what, label = "removing the saved destinations annotation of route "+url, nil
	}
	return c.call(ctx, what, func(cf *client.Client) error {
		_, err := cf.Routes.Update(ctx, rt, &resource.RouteUpdate{Metadata: &resource.Metadata{
			Labels:      map[string]*string{LabelApp: label},
			Annotations: map[string]*string{AnnotationSaved: saved},
		}})
		return err
	})
}

var errEmptyTarget = errors.New("refusing to leave a route with no destination")
