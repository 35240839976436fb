package cffake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// instance is a service instance; the fake makes user-provided ones (CC's managed ones need a
// broker) and a test can add a managed one to see it refused.
type instance struct {
	guid, name, kind string // kind: "user-provided" or "managed"
	routeServiceURL  string
	space            *space
	labels           map[string]string
	annotations      map[string]string
}

type binding struct {
	guid     string
	instance *instance
	route    *route
}

// AddServiceInstance creates a service instance behind the client's back ("user-provided" or
// "managed") and returns its GUID; routeServiceURL may be empty.
func (f *Fake) AddServiceInstance(spaceGUID, name, kind, routeServiceURL string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	si := &instance{guid: f.nextGUID("si"), name: name, kind: kind, routeServiceURL: routeServiceURL,
		space: f.spaceByGUID(spaceGUID), labels: map[string]string{}, annotations: map[string]string{}}
	f.instances = append(f.instances, si)
	return si.guid
}

// BindRoute binds a route to a service instance behind the client's back.
func (f *Fake) BindRoute(instanceGUID, routeGUID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	si, rt := f.instanceByGUID(instanceGUID), f.routeByGUID(routeGUID)
	if si == nil || rt == nil {
		panic("cffake: BindRoute: no such instance or route") // a broken test, not a CC answer
	}
	f.bindings = append(f.bindings, &binding{guid: f.nextGUID("binding"), instance: si, route: rt})
}

// appBinding is a service credential binding of type app (`cf bind-service APP INSTANCE`).
type appBinding struct {
	guid     string
	instance *instance
	app      *app
}

// BindApp binds a service instance to an app behind the client's back, as `cf bind-service` does.
func (f *Fake) BindApp(instanceGUID, appGUID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	si := f.instanceByGUID(instanceGUID)
	i := slices.IndexFunc(f.apps, func(a *app) bool { return a.guid == appGUID })
	if si == nil || i < 0 {
		panic("cffake: BindApp: no such instance or app") // a broken test, not a CC answer
	}
	f.appBindings = append(f.appBindings, &appBinding{guid: f.nextGUID("credential-binding"), instance: si, app: f.apps[i]})
}

// listCredentialBindings is ServiceCredentialBindingsController#index with
// ServiceCredentialBindingListMessage (app/messages/service_credential_binding_list_message.rb);
// the fake holds app bindings only (a user-provided instance has no service keys).
func (f *Fake) listCredentialBindings(w http.ResponseWriter, r *http.Request) {
	if _, ok := checkList(w, r, credentialBindingsList); !ok {
		return
	}
	q := r.URL.Query()
	// The message's own rule: type is one of two values.
	if q.Has("type") && q.Get("type") != "app" && q.Get("type") != "key" {
		fail(w, badQuery("Type must be one of 'app', 'key'"))
		return
	}
	instances, apps := filter(q, "service_instance_guids"), filter(q, "app_guids")
	var out []*appBinding
	for _, b := range f.appBindings {
		if (instances == nil || slices.Contains(instances, b.instance.guid)) && (apps == nil || slices.Contains(apps, b.app.guid)) &&
			(!q.Has("type") || q.Get("type") == "app") {
			out = append(out, b)
		}
	}
	now := time.Now().UTC().Format(time.RFC3339)
	f.paginate(w, r, len(out), func(i int) any {
		b := out[i]
		return map[string]any{
			"guid": b.guid, "type": "app", "name": nil, "created_at": now, "updated_at": now,
			"last_operation": map[string]any{"type": "create", "state": "succeeded"},
			"metadata":       map[string]any{"labels": map[string]any{}, "annotations": map[string]any{}},
			"relationships": map[string]any{
				"app":              map[string]any{"data": map[string]any{"guid": b.app.guid}},
				"service_instance": map[string]any{"data": map[string]any{"guid": b.instance.guid}},
			},
		}
	}, nil)
}

// RouteService is what a test reads back of a route's binding: the instance's name and route
// service URL, or empty strings when the route is not bound.
func (f *Fake) RouteService(routeGUID string) (name, url string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.bindings {
		if b.route.guid == routeGUID {
			return b.instance.name, b.instance.routeServiceURL
		}
	}
	return "", ""
}

// ServiceInstances lists the names of the service instances that exist.
func (f *Fake) ServiceInstances() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, si := range f.instances {
		out = append(out, si.name)
	}
	return out
}

func (f *Fake) instanceByGUID(guid string) *instance {
	for _, si := range f.instances {
		if si.guid == guid {
			return si
		}
	}
	return nil
}

// instanceJSON is Presenters::V3::ServiceInstancePresenter for a user-provided instance (its
// route_service_url and syslog_drain_url are shown, its credentials are not).
func (f *Fake) instanceJSON(si *instance) map[string]any {
	now := time.Now().UTC().Format(time.RFC3339)
	out := map[string]any{
		"guid": si.guid, "name": si.name, "type": si.kind, "tags": []string{},
		"created_at": now, "updated_at": now,
		"last_operation": map[string]any{"type": "create", "state": "succeeded", "description": "Operation succeeded"},
		"relationships":  map[string]any{"space": map[string]any{"data": map[string]any{"guid": si.space.guid}}},
		"metadata":       map[string]any{"labels": si.labels, "annotations": si.annotations},
		"links":          map[string]any{"self": map[string]any{"href": f.URL + "/v3/service_instances/" + si.guid}},
	}
	if si.kind == "user-provided" {
		out["route_service_url"], out["syslog_drain_url"] = si.routeServiceURL, ""
	}
	return out
}

func (f *Fake) listInstances(w http.ResponseWriter, r *http.Request) {
	reqs, ok := checkList(w, r, serviceInstancesList)
	if !ok {
		return
	}
	q := r.URL.Query()
	// app/messages/service_instances_list_message.rb: type is one of two values.
	if q.Has("type") && q.Get("type") != "managed" && q.Get("type") != "user-provided" {
		fail(w, badQuery("Type must be one of 'managed', 'user-provided'"))
		return
	}
	names, spaces, guids := filter(q, "names"), filter(q, "space_guids"), filter(q, "guids")
	var out []*instance
	for _, si := range f.instances {
		if (names == nil || slices.Contains(names, si.name)) && (spaces == nil || slices.Contains(spaces, si.space.guid)) &&
			(guids == nil || slices.Contains(guids, si.guid)) && (!q.Has("type") || q.Get("type") == si.kind) && matches(si.labels, reqs) {
			out = append(out, si)
		}
	}
	f.paginate(w, r, len(out), func(i int) any { return f.instanceJSON(out[i]) }, nil)
}

// relGUID reads {"data":{"guid":…}} the way ToOneRelationshipValidator wants it; ok is false when
// the structure is wrong.
func relGUID(raw json.RawMessage) (string, bool) {
	var rel struct {
		Data *struct {
			GUID *string `json:"guid"`
		} `json:"data"`
	}
	if json.Unmarshal(raw, &rel) != nil || rel.Data == nil || rel.Data.GUID == nil || *rel.Data.GUID == "" {
		return "", false
	}
	return *rel.Data.GUID, true
}

func relError(name string) string {
	return fmt.Sprintf(`Relationships %s must be structured like this: "%s: {"data": {"guid": "valid-guid"}}"`,
		strings.ToUpper(name[:1])+strings.ReplaceAll(name[1:], "_", " "), name)
}

// createInstance is ServiceInstancesController#create for a user-provided instance: the generic
// ServiceInstanceCreateMessage, then ServiceInstanceCreateUserProvidedMessage
// (app/messages/service_instance_create_message.rb, service_instance_create_user_provided_message.rb),
// the space, then the model's rules (app/models/services/user_provided_service_instance.rb,
// service_instance.rb: a unique name in the space, at most 255 characters).
func (f *Fake) createInstance(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	var errs []string
	var typ, name string
	if json.Unmarshal(body["type"], &typ) != nil || (typ != "managed" && typ != "user-provided") {
		errs = append(errs, "Type must be one of 'managed', 'user-provided'")
	}
	if json.Unmarshal(body["name"], &name) != nil {
		errs = append(errs, "Name must be a string")
	} else if strings.TrimSpace(name) == "" {
		errs = append(errs, "Name can't be blank")
	}
	var rels map[string]json.RawMessage
	spaceGUID := ""
	if json.Unmarshal(body["relationships"], &rels) != nil || rels == nil {
		errs = append(errs, "Relationships must be an object")
	} else if g, ok := relGUID(rels["space"]); !ok {
		errs = append(errs, relError("space"))
	} else {
		spaceGUID = g
	}
	if m, ok := body["metadata"]; ok {
		errs = append(errs, metadataErrors(m)...)
	}
	if len(errs) > 0 {
		fail(w, unprocessable(errs...))
		return
	}
	if typ != "user-provided" {
		fail(w, unprocessable("Invalid service plan. Ensure that the service plan exists, is available, and you have access to it."))
		return
	}
	errs = unknownFields(body, "type", "relationships", "name", "tags", "credentials", "syslog_drain_url", "route_service_url", "metadata")
	errs = append(errs, unknownFields(rels, "space")...)
	var rsURL string
	if raw, ok := body["route_service_url"]; ok && string(raw) != "null" {
		if json.Unmarshal(raw, &rsURL) != nil {
			errs = append(errs, "Route service url must be a valid URI")
		} else if rsURL != "" {
			if u, err := url.Parse(rsURL); err != nil || u.Scheme == "" {
				errs = append(errs, "Route service url must be a valid URI") // UriValidator (app/messages/validators.rb)
			}
			if !strings.HasPrefix(rsURL, "https:") {
				errs = append(errs, "Route service url must be https")
			}
		}
	}
	if len(errs) > 0 {
		fail(w, unprocessable(errs...))
		return
	}
	sp := f.spaceByGUID(spaceGUID)
	if sp == nil {
		fail(w, unprocessable("Invalid space. Ensure that the space exists and you have access to it."))
		return
	}
	// UserProvidedServiceInstance#validate_route_service_url: a host that is missing or starts with a dot.
	if u, _ := url.Parse(rsURL); rsURL != "" && (u.Host == "" || strings.HasPrefix(u.Host, ".")) {
		fail(w, unprocessable("service_instance route_service_url_invalid"))
		return
	}
	if len([]rune(name)) > 255 {
		fail(w, unprocessable("name max_length"))
		return
	}
	for _, si := range f.instances {
		if si.space == sp && si.name == name {
			// ServiceInstanceCreateMixin#validation_error! (app/actions/mixins/service_instance_create.rb)
			fail(w, unprocessable(fmt.Sprintf("The service instance name is taken: %s.", name)))
			return
		}
	}
	si := &instance{guid: f.nextGUID("si"), name: name, kind: typ, routeServiceURL: rsURL, space: sp,
		labels: map[string]string{}, annotations: map[string]string{}}
	if m, ok := body["metadata"]; ok {
		applyMetadata(m, si.labels, si.annotations)
	}
	f.instances = append(f.instances, si)
	writeJSON(w, http.StatusCreated, f.instanceJSON(si))
}

// deleteInstance is ServiceInstancesController#destroy for a user-provided instance:
// V3::ServiceInstanceDelete deletes its route and app bindings first (app/actions/v3/service_instance_delete.rb,
// remove_associations).
func (f *Fake) deleteInstance(w http.ResponseWriter, r *http.Request) {
	si := f.instanceByGUID(r.PathValue("guid"))
	if si == nil {
		fail(w, notFound("Service instance"))
		return
	}
	if si.kind != "user-provided" {
		fail(w, unprocessable("the fake deletes user-provided service instances only"))
		return
	}
	f.bindings = slices.DeleteFunc(f.bindings, func(b *binding) bool { return b.instance == si })
	f.appBindings = slices.DeleteFunc(f.appBindings, func(b *appBinding) bool { return b.instance == si })
	f.instances = slices.DeleteFunc(f.instances, func(x *instance) bool { return x == si })
	w.WriteHeader(http.StatusNoContent)
}

// bindingJSON is Presenters::V3::ServiceRouteBindingPresenter.
func (f *Fake) bindingJSON(b *binding) map[string]any {
	now := time.Now().UTC().Format(time.RFC3339)
	return map[string]any{
		"guid": b.guid, "route_service_url": b.instance.routeServiceURL, "created_at": now, "updated_at": now,
		"last_operation": map[string]any{"type": "create", "state": "succeeded"},
		"metadata":       map[string]any{"labels": map[string]any{}, "annotations": map[string]any{}},
		"relationships": map[string]any{
			"service_instance": map[string]any{"data": map[string]any{"guid": b.instance.guid}},
			"route":            map[string]any{"data": map[string]any{"guid": b.route.guid}},
		},
		"links": map[string]any{"self": map[string]any{"href": f.URL + "/v3/service_route_bindings/" + b.guid}},
	}
}

func (f *Fake) listBindings(w http.ResponseWriter, r *http.Request) {
	if _, ok := checkList(w, r, routeBindingsList); !ok {
		return
	}
	q := r.URL.Query()
	instances, names, routes := filter(q, "service_instance_guids"), filter(q, "service_instance_names"), filter(q, "route_guids")
	var out []*binding
	for _, b := range f.bindings {
		if (instances == nil || slices.Contains(instances, b.instance.guid)) && (names == nil || slices.Contains(names, b.instance.name)) &&
			(routes == nil || slices.Contains(routes, b.route.guid)) {
			out = append(out, b)
		}
	}
	f.paginate(w, r, len(out), func(i int) any { return f.bindingJSON(out[i]) }, nil)
}

// createBinding is ServiceRouteBindingsController#create (app/controllers/v3/service_route_bindings_controller.rb)
// with ServiceRouteBindingCreateMessage (app/messages/service_route_binding_create_message.rb) and
// V3::ServiceRouteBindingCreate#precursor (app/actions/service_route_binding_create.rb), in CC's order.
func (f *Fake) createBinding(w http.ResponseWriter, r *http.Request) {
	body, ok := readBody(w, r)
	if !ok {
		return
	}
	errs := unknownFields(body, "relationships", "parameters", "metadata")
	var rels map[string]json.RawMessage
	var siGUID, rtGUID string
	if json.Unmarshal(body["relationships"], &rels) != nil || rels == nil {
		errs = append(errs, "Relationships must be an object")
	} else {
		errs = append(errs, unknownFields(rels, "service_instance", "route")...)
		var ok bool
		if siGUID, ok = relGUID(rels["service_instance"]); !ok {
			errs = append(errs, relError("service_instance"))
		}
		if rtGUID, ok = relGUID(rels["route"]); !ok {
			errs = append(errs, relError("route"))
		}
	}
	if p, ok := body["parameters"]; ok && string(p) != "null" && (len(p) == 0 || p[0] != '{') {
		errs = append(errs, "Parameters must be an object")
	}
	if m, ok := body["metadata"]; ok {
		errs = append(errs, metadataErrors(m)...)
	}
	if len(errs) > 0 {
		fail(w, unprocessable(errs...))
		return
	}
	si := f.instanceByGUID(siGUID)
	if si == nil {
		fail(w, unprocessable("The service instance could not be found: "+siGUID))
		return
	}
	rt := f.routeByGUID(rtGUID)
	if rt == nil {
		fail(w, unprocessable("The route could not be found: "+rtGUID))
		return
	}
	if _, ok := body["parameters"]; ok && si.kind == "user-provided" {
		fail(w, unprocessable("Binding parameters are not supported for user-provided service instances"))
		return
	}
	var bound *binding
	for _, b := range f.bindings {
		if b.route == rt {
			bound = b
		}
	}
	switch {
	case si.kind == "user-provided" && si.routeServiceURL == "":
		fail(w, unprocessable("This service instance does not support route binding"))
	case rt.domain.internal:
		fail(w, unprocessable("Route services cannot be bound to internal routes"))
	case rt.space != si.space:
		fail(w, unprocessable("The service instance and the route are in different spaces"))
	case bound != nil && bound.instance != si:
		fail(w, unprocessable("A route may only be bound to a single service instance"))
	case bound != nil:
		fail(w, alreadyBound())
	case si.kind != "user-provided":
		fail(w, unprocessable("the fake binds user-provided service instances only"))
	default:
		b := &binding{guid: f.nextGUID("binding"), instance: si, route: rt}
		f.bindings = append(f.bindings, b)
		writeJSON(w, http.StatusCreated, f.bindingJSON(b))
	}
}

// deleteBinding is ServiceRouteBindingsController#destroy for a user-provided instance: 204.
func (f *Fake) deleteBinding(w http.ResponseWriter, r *http.Request) {
	i := slices.IndexFunc(f.bindings, func(b *binding) bool { return b.guid == r.PathValue("guid") })
	if i < 0 {
		fail(w, notFound("Service route binding"))
		return
	}
	f.bindings = slices.Delete(f.bindings, i, i+1)
	w.WriteHeader(http.StatusNoContent)
}
