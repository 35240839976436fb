package kube

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

var (
	metaCreate = metav1.CreateOptions{}
	metaGet    = metav1.GetOptions{}
	dryRunAll  = metav1.UpdateOptions{DryRun: []string{metav1.DryRunAll}}
)

// Direction says which way a plan switches.
type Direction int

// The two directions.
const (
	ToMaintenance Direction = iota
	BackToApp
)

// Request says which objects to switch and to what.
type Request struct {
	// Targets are KIND/NAME, or bare kinds when Selector is set.
	Targets []Ref
	// Selector is a label selector (-l) that picks the objects of the kinds in Targets.
	Selector string
	// MaintenanceService is the Service in the same namespace that serves the maintenance page.
	MaintenanceService string
	// MaintenancePort is a port name or number of that Service; empty means its only port, or the
	// one named "http".
	MaintenancePort string
	// Why is recorded in the saved state (--reason).
	Why string
	// Now is the time recorded as "when" (time.Now when zero).
	Now time.Time
}

// Line is one backend, selector or port that a change moves.
type Line struct{ Where, From, To string }

// Change is one object to write: as read, and as it will be.
type Change struct {
	Ref   Ref
	Lines []Line
	// Saved is the state recorded by "on", or the one "off" restores.
	Saved  *Saved
	before *unstructured.Unstructured
	after  *unstructured.Unstructured
}

// Skip is an object that needs nothing: already in maintenance for "on", not in it for "off".
type Skip struct {
	Ref    Ref
	Reason string
}

// Plan is what a switch will do, checked by the API server's dry run.
type Plan struct {
	Direction   Direction
	Namespace   string
	Maintenance string // NAME:PORT of the maintenance Service ("on" only)
	Who         string
	Changes     []Change
	Done        []Skip
}

// PlanError is a problem found while planning: nothing has been changed.
type PlanError struct{ Err error }

func (e *PlanError) Error() string { return e.Err.Error() + " (nothing was changed)" }
func (e *PlanError) Unwrap() error { return e.Err }

func planErr(err error) error { return &PlanError{Err: err} }

// objects reads the targets: by name with get, or by selector with list.
func (c *Client) objects(ctx context.Context, req Request) ([]Ref, []*unstructured.Unstructured, error) {
	if len(req.Targets) == 0 {
		return nil, nil, errors.New("name at least one object: KIND/NAME, or a kind with -l SELECTOR")
	}
	var refs []Ref
	var objs []*unstructured.Unstructured
	seen := map[Ref]bool{}
	add := func(r Ref, o *unstructured.Unstructured) {
		if !seen[r] {
			seen[r] = true
			refs = append(refs, r)
			objs = append(objs, o)
		}
	}
	for _, t := range req.Targets {
		if req.Selector == "" {
			o, err := c.res(t.Kind).Get(ctx, t.Name, metaGet)
			if err != nil {
				return nil, nil, c.apiError(err, "get", t.Kind, t.Name)
			}
			add(t, o)
			continue
		}
		l, err := c.res(t.Kind).List(ctx, metav1.ListOptions{LabelSelector: req.Selector})
		if err != nil {
			if apierrors.IsBadRequest(err) {
				return nil, nil, fmt.Errorf("label selector %q: %w", req.Selector, err)
			}
			return nil, nil, c.apiError(err, "list", t.Kind, "")
		}
		for i := range l.Items {
			o := &l.Items[i]
			// Items of a list carry no apiVersion and kind; the update needs them.
			o.SetAPIVersion(l.GetAPIVersion())
			o.SetKind(strings.TrimSuffix(l.GetKind(), "List"))
			add(Ref{Kind: t.Kind, Name: o.GetName()}, o)
		}
	}
	if len(refs) == 0 {
		return nil, nil, fmt.Errorf("%w: no %s in namespace %s matches -l %q", ErrNotFound, kindsOf(req.Targets), c.namespace, req.Selector)
	}
	return refs, objs, nil
}

func kindsOf(refs []Ref) string {
	var ks []string
	for _, r := range refs {
		if !slices.Contains(ks, string(r.Kind)) {
			ks = append(ks, string(r.Kind))
		}
	}
	return strings.Join(ks, " or ")
}

// maintenance is the maintenance Service as the switch needs it.
type maintenance struct {
	name     string
	selector map[string]any
	port     servicePort   // the port Ingresses and HTTPRoutes point at
	ports    []servicePort // all of them, for Services mapped port by port
	explicit bool          // the port was named on the command line
}

type servicePort struct {
	name       string
	port       int64
	targetPort any // int64 or string, as the API holds it; nil when unset (then it is port)
}

func (p servicePort) String() string {
	if p.name != "" {
		return fmt.Sprintf("%d (%s)", p.port, p.name)
	}
	return strconv.FormatInt(p.port, 10)
}

func (p servicePort) target() any {
	if p.targetPort == nil {
		return p.port
	}
	return p.targetPort
}

func readPorts(o *unstructured.Unstructured) []servicePort {
	raw, _, _ := unstructured.NestedSlice(o.Object, "spec", "ports")
	var ps []servicePort
	for _, r := range raw {
		m, _ := r.(map[string]any)
		p := servicePort{}
		p.name, _ = m["name"].(string)
		p.port, _ = m["port"].(int64)
		p.targetPort = m["targetPort"]
		ps = append(ps, p)
	}
	return ps
}

// pickPort finds want (a name or number) among ps; empty want means the only port or "http".
func pickPort(ps []servicePort, want string) (servicePort, bool) {
	if want == "" {
		if len(ps) == 1 {
			return ps[0], true
		}
		want = "http"
	}
	n, numErr := strconv.ParseInt(want, 10, 64)
	for _, p := range ps {
		if (numErr == nil && p.port == n) || (numErr != nil && p.name == want) {
			return p, true
		}
	}
	return servicePort{}, false
}

func (c *Client) maintenanceService(ctx context.Context, req Request) (*maintenance, error) {
	name := req.MaintenanceService
	if name == "" {
		return nil, errors.New("no maintenance service given: pass --maintenance-service NAME[:PORT]")
	}
	o, err := c.res(Service).Get(ctx, name, metaGet)
	if apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("maintenance service %s/%s: %w: deploy maintpage in namespace %s (deploy/kubernetes), or pass --maintenance-service NAME[:PORT]", c.namespace, name, ErrNotFound, c.namespace)
	}
	if err != nil {
		return nil, c.apiError(err, "get", Service, name)
	}
	m := &maintenance{name: name, ports: readPorts(o), explicit: req.MaintenancePort != ""}
	m.selector, _, _ = unstructured.NestedMap(o.Object, "spec", "selector")
	p, ok := pickPort(m.ports, req.MaintenancePort)
	if ok {
		m.port = p
	} else if m.explicit {
		return nil, fmt.Errorf("maintenance service %s has no port %q (it has %s): pass --maintenance-service %s:PORT with one of them", name, req.MaintenancePort, portList(m.ports), name)
	}
	return m, nil
}

func portList(ps []servicePort) string {
	if len(ps) == 0 {
		return "no ports"
	}
	var s []string
	for _, p := range ps {
		s = append(s, p.String())
	}
	return strings.Join(s, ", ")
}

// field is one change the switch makes: the new value at a JSON pointer, and how to say it.
type field struct {
	at    string
	value any
	line  Line
}

// PlanOn reads the objects and the maintenance Service and works out every change, each checked by
// the API server's dry run. Objects already in maintenance are left alone.
func (c *Client) PlanOn(ctx context.Context, req Request) (*Plan, error) {
	refs, objs, err := c.objects(ctx, req)
	if err != nil {
		return nil, planErr(err)
	}
	m, err := c.maintenanceService(ctx, req)
	if err != nil {
		return nil, planErr(err)
	}
	p := &Plan{Direction: ToMaintenance, Namespace: c.namespace, Maintenance: m.name}
	if m.port.port != 0 {
		p.Maintenance = fmt.Sprintf("%s:%d", m.name, m.port.port)
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	for i, o := range objs {
		r := refs[i]
		if raw, ok := o.GetAnnotations()[AnnotationSaved]; ok {
			reason := "already in maintenance"
			if s, err := ParseSaved(raw); err == nil {
				reason = fmt.Sprintf("already in maintenance since %s by %s", s.When.Format(time.RFC3339), s.Who)
			}
			p.Done = append(p.Done, Skip{Ref: r, Reason: reason})
			continue
		}
		var fs []field
		switch r.Kind {
		case Ingress:
			fs, err = ingressOn(o, m)
		case HTTPRoute:
			fs, err = routeOn(o, m)
		case Service:
			fs, err = serviceOn(o, m)
		}
		if err != nil {
			return nil, planErr(fmt.Errorf("%s: %w", r, err))
		}
		p.Changes = append(p.Changes, Change{Ref: r, before: o, Saved: &Saved{
			Version: savedVersion, When: now.UTC().Truncate(time.Second), Why: req.Why, Maintenance: p.Maintenance,
		}})
		ch := &p.Changes[len(p.Changes)-1]
		for _, f := range fs {
			was, _ := getAt(o.Object, f.at)
			ch.Saved.Fields = append(ch.Saved.Fields, Field{At: f.at, Was: rawJSON(was), Now: rawJSON(f.value)})
			ch.Lines = append(ch.Lines, f.line)
		}
	}
	if len(p.Changes) > 0 {
		p.Who = c.who(ctx)
	}
	for i := range p.Changes {
		ch := &p.Changes[i]
		ch.Saved.Who = p.Who
		if err := c.prepare(ctx, ch, true); err != nil {
			return nil, planErr(err)
		}
	}
	return p, nil
}

// prepare builds the object to write and has the API server dry-run it, which checks RBAC,
// validation and admission before anything changes. On "on", what the server would store at each
// field (with its defaults filled in, as for an HTTPRoute's backendRefs) is what is saved as Now, so
// that "off" compares like with like.
func (c *Client) prepare(ctx context.Context, ch *Change, on bool) error {
	after := ch.before.DeepCopy()
	for _, f := range ch.Saved.Fields {
		raw := f.Now
		if !on {
			raw = f.Was
		}
		v, err := decodeValue(raw)
		if err != nil {
			return fmt.Errorf("%s: saved value at %s: %w", ch.Ref, f.At, err)
		}
		if err := setAt(after.Object, f.At, v); err != nil {
			return fmt.Errorf("%s: %w: the object's structure changed while in maintenance; restore it by hand and remove the annotation %s", ch.Ref, err, AnnotationSaved)
		}
	}
	ann := after.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	if on {
		enc, err := ch.Saved.encode()
		if err != nil {
			return err
		}
		ann[AnnotationSaved] = enc
	} else {
		delete(ann, AnnotationSaved)
	}
	after.SetAnnotations(ann)
	if on && annotationsSize(ann) > maxAnnotations {
		return fmt.Errorf("%s: the saved state would make the annotations larger than the API server's %d bytes", ch.Ref, maxAnnotations)
	}

	dry, err := c.res(ch.Ref.Kind).Update(ctx, after, dryRunAll)
	if err != nil {
		return c.writeError(err, ch.Ref, ch.before.GetResourceVersion(), true)
	}
	if on {
		for i, f := range ch.Saved.Fields {
			v, ok := getAt(dry.Object, f.At)
			if !ok {
				v = nil
			}
			ch.Saved.Fields[i].Now = rawJSON(v)
		}
		enc, err := ch.Saved.encode()
		if err != nil {
			return err
		}
		ann[AnnotationSaved] = enc
		after.SetAnnotations(ann)
	}
	ch.after = after
	return nil
}

func annotationsSize(ann map[string]string) int {
	n := 0
	for k, v := range ann {
		n += len(k) + len(v)
	}
	return n
}

// ErrConflict means someone else changed an object between maintpage reading and writing it.
var ErrConflict = errors.New("changed by someone else")

func (c *Client) writeError(err error, r Ref, rv string, dry bool) error {
	if apierrors.IsConflict(err) {
		return fmt.Errorf("%s/%s was %w after maintpage read it (resourceVersion %s): their edit was kept, not overwritten; run the command again to plan from the new state: %w",
			r, c.namespace, ErrConflict, rv, err)
	}
	if dry && apierrors.IsInvalid(err) {
		return fmt.Errorf("%s: the API server's dry run refused the change: %w", r, err)
	}
	return c.apiError(err, "update", r.Kind, r.Name)
}

// PlanOff reads the objects and works out how to put back what each one's annotation saved. An
// object whose switched fields were edited during maintenance is refused, not overwritten.
func (c *Client) PlanOff(ctx context.Context, req Request) (*Plan, error) {
	refs, objs, err := c.objects(ctx, req)
	if err != nil {
		return nil, planErr(err)
	}
	p := &Plan{Direction: BackToApp, Namespace: c.namespace}
	for i, o := range objs {
		r := refs[i]
		raw, ok := o.GetAnnotations()[AnnotationSaved]
		if !ok {
			p.Done = append(p.Done, Skip{Ref: r, Reason: "not in maintenance (no " + AnnotationSaved + " annotation)"})
			continue
		}
		s, err := ParseSaved(raw)
		if err != nil {
			return nil, planErr(fmt.Errorf("%s: %w", r, err))
		}
		ch := Change{Ref: r, before: o, Saved: s}
		for _, f := range s.Fields {
			cur, ok := getAt(o.Object, f.At)
			if !ok {
				cur = nil
			}
			if !sameJSON(rawJSON(cur), f.Now) {
				return nil, planErr(fmt.Errorf("%s: %s was edited during maintenance (it is %s, maintpage had set %s): put back what you want by hand and remove the annotation %s",
					r, f.At, rawJSON(cur), f.Now, AnnotationSaved))
			}
			ch.Lines = append(ch.Lines, Line{Where: f.At, From: describe(r.Kind, f.At, f.Now), To: describe(r.Kind, f.At, f.Was)})
		}
		p.Changes = append(p.Changes, ch)
	}
	for i := range p.Changes {
		if err := c.prepare(ctx, &p.Changes[i], false); err != nil {
			return nil, planErr(err)
		}
	}
	return p, nil
}

func ingressOn(o *unstructured.Unstructured, m *maintenance) ([]field, error) {
	if m.port.port == 0 {
		return nil, fmt.Errorf("maintenance service %s has ports %s: say which with --maintenance-service %s:PORT", m.name, portList(m.ports), m.name)
	}
	to := map[string]any{"service": map[string]any{"name": m.name, "port": map[string]any{"number": m.port.port}}}
	toS := fmt.Sprintf("%s:%d", m.name, m.port.port)
	var fs []field
	if b, ok, _ := unstructured.NestedMap(o.Object, "spec", "defaultBackend"); ok {
		fs = append(fs, field{at: "/spec/defaultBackend", value: to, line: Line{Where: "default backend", From: backendString(b), To: toS}})
	}
	rules, _, _ := unstructured.NestedSlice(o.Object, "spec", "rules")
	for i, r := range rules {
		rm, _ := r.(map[string]any)
		host, _ := rm["host"].(string)
		if host == "" {
			host = "*"
		}
		paths, _, _ := unstructured.NestedSlice(rm, "http", "paths")
		for j, pth := range paths {
			pm, _ := pth.(map[string]any)
			b, _ := pm["backend"].(map[string]any)
			path, _ := pm["path"].(string)
			fs = append(fs, field{at: pointer("spec", "rules", i, "http", "paths", j, "backend"), value: to,
				line: Line{Where: host + path, From: backendString(b), To: toS}})
		}
	}
	if len(fs) == 0 {
		return nil, errors.New("the ingress has no backend to switch")
	}
	return fs, nil
}

func backendString(b map[string]any) string {
	if name, ok, _ := unstructured.NestedString(b, "service", "name"); ok {
		if n, ok, _ := unstructured.NestedInt64(b, "service", "port", "number"); ok {
			return fmt.Sprintf("%s:%d", name, n)
		}
		if n, ok, _ := unstructured.NestedString(b, "service", "port", "name"); ok {
			return name + ":" + n
		}
		return name
	}
	if kind, ok, _ := unstructured.NestedString(b, "resource", "kind"); ok {
		name, _, _ := unstructured.NestedString(b, "resource", "name")
		return "resource " + kind + "/" + name
	}
	return string(rawJSON(b))
}

func routeOn(o *unstructured.Unstructured, m *maintenance) ([]field, error) {
	if m.port.port == 0 {
		return nil, fmt.Errorf("maintenance service %s has ports %s: say which with --maintenance-service %s:PORT", m.name, portList(m.ports), m.name)
	}
	// Weights are dropped: one backend takes all the traffic. Filters on the rule stay; filters on a
	// single backendRef belonged to that backend and go with it.
	to := []any{map[string]any{"group": "", "kind": "Service", "name": m.name, "port": m.port.port}}
	toS := fmt.Sprintf("%s:%d", m.name, m.port.port)
	var fs []field
	rules, _, _ := unstructured.NestedSlice(o.Object, "spec", "rules")
	for i, r := range rules {
		rm, _ := r.(map[string]any)
		refs, _ := rm["backendRefs"].([]any)
		if len(refs) == 0 {
			continue // a redirect-only rule has no backend and keeps redirecting
		}
		var from []string
		for _, br := range refs {
			bm, _ := br.(map[string]any)
			s := fmt.Sprint(bm["name"])
			if k, _ := bm["kind"].(string); k != "" && k != "Service" {
				s = k + "/" + s
			}
			if port, ok := bm["port"].(int64); ok {
				s += ":" + strconv.FormatInt(port, 10)
			}
			if w, ok := bm["weight"].(int64); ok {
				s += fmt.Sprintf(" (weight %d)", w)
			}
			from = append(from, s)
		}
		fs = append(fs, field{at: pointer("spec", "rules", i, "backendRefs"), value: to,
			line: Line{Where: fmt.Sprintf("rule %d", i), From: strings.Join(from, ", "), To: toS}})
	}
	if len(fs) == 0 {
		return nil, errors.New("the HTTPRoute has no rule with backendRefs to switch")
	}
	return fs, nil
}

func serviceOn(o *unstructured.Unstructured, m *maintenance) ([]field, error) {
	if t, _, _ := unstructured.NestedString(o.Object, "spec", "type"); t == "ExternalName" {
		return nil, errors.New("an ExternalName service has no selector to swap")
	}
	if o.GetName() == m.name {
		return nil, errors.New("this is the maintenance service itself")
	}
	sel, ok, _ := unstructured.NestedMap(o.Object, "spec", "selector")
	if !ok || len(sel) == 0 {
		return nil, errors.New("the service has no selector (its endpoints are managed by hand): point its clients at the maintenance service instead")
	}
	if len(m.selector) == 0 {
		return nil, fmt.Errorf("maintenance service %s has no selector to copy", m.name)
	}
	fs := []field{{at: "/spec/selector", value: maps.Clone(m.selector),
		line: Line{Where: "selector", From: selectorString(sel), To: selectorString(m.selector)}}}
	for i, p := range readPorts(o) {
		mp, ok := matchPort(p, m)
		if !ok {
			return nil, fmt.Errorf("port %s has no match in maintenance service %s (%s) by name or number: name the port, or pass --maintenance-service %s:PORT", p, m.name, portList(m.ports), m.name)
		}
		fs = append(fs, field{at: pointer("spec", "ports", i, "targetPort"), value: mp.target(),
			line: Line{Where: "port " + p.String(), From: "targetPort " + fmt.Sprint(p.target()), To: "targetPort " + fmt.Sprint(mp.target())}})
	}
	return fs, nil
}

// matchPort maps one port of the switched Service onto the maintenance Service: by name, else by
// number, else the port given on the command line, else the maintenance Service's only port.
func matchPort(p servicePort, m *maintenance) (servicePort, bool) {
	if p.name != "" {
		for _, mp := range m.ports {
			if mp.name == p.name {
				return mp, true
			}
		}
	}
	for _, mp := range m.ports {
		if mp.port == p.port {
			return mp, true
		}
	}
	if m.explicit || len(m.ports) == 1 {
		return m.port, m.port.port != 0
	}
	return servicePort{}, false
}

func selectorString(sel map[string]any) string {
	keys := slices.Collect(maps.Keys(sel))
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%v", k, sel[k]))
	}
	return strings.Join(parts, ",")
}

// describe says in a few words what a saved value is, for the plan "off" shows.
func describe(k Kind, at string, raw []byte) string {
	v, err := decodeValue(raw)
	if err != nil || v == nil {
		return "(none)"
	}
	switch x := v.(type) {
	case map[string]any:
		if k == Ingress {
			return backendString(x)
		}
		if k == Service && at == "/spec/selector" {
			return selectorString(x)
		}
	case []any:
		var s []string
		for _, e := range x {
			if m, ok := e.(map[string]any); ok {
				d := fmt.Sprint(m["name"])
				if port, ok := m["port"].(int64); ok {
					d += ":" + strconv.FormatInt(port, 10)
				}
				if w, ok := m["weight"].(int64); ok {
					d += fmt.Sprintf(" (weight %d)", w)
				}
				s = append(s, d)
			}
		}
		return strings.Join(s, ", ")
	case int64, string:
		return fmt.Sprint("targetPort ", x)
	}
	return string(raw)
}
