package kube

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/maintpage/maintpage/internal/kube/kubetest"
)

const shopIngress = `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: shop
  labels: {app: shop}
  annotations: {nginx.ingress.kubernetes.io/proxy-body-size: 8m}
spec:
  ingressClassName: nginx
  tls:
  - {hosts: [shop.example.com, api.example.com], secretName: shop-tls}
  defaultBackend:
    service: {name: shop-web, port: {number: 8080}}
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: shop-web, port: {number: 8080}}}}
      - {path: /static, pathType: Prefix, backend: {service: {name: shop-static, port: {name: http}}}}
  - host: api.example.com
    http:
      paths:
      - {path: /v1, pathType: Prefix, backend: {service: {name: shop-api, port: {number: 9090}}}}
`

const shopRoute = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: shop, labels: {app: shop}}
spec:
  parentRefs: [{name: public}]
  hostnames: [shop.example.com]
  rules:
  - matches: [{path: {type: PathPrefix, value: /}}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {add: [{name: X-Shop, value: "1"}]}
    backendRefs:
    - {name: shop-blue, port: 8080, weight: 90}
    - {name: shop-green, port: 8080, weight: 10}
  - matches: [{path: {type: PathPrefix, value: /api}}]
    backendRefs:
    - {name: shop-api, port: 9090}
  - matches: [{path: {type: PathPrefix, value: /old}}]
    filters:
    - type: RequestRedirect
      requestRedirect: {path: {type: ReplaceFullPath, replaceFullPath: /new}, statusCode: 301}
`

const shopService = `
apiVersion: v1
kind: Service
metadata: {name: shop, labels: {app: shop}}
spec:
  selector: {app: shop, tier: web}
  ports:
  - {name: web, port: 80, targetPort: 3000}
  - {name: admin, port: 9001, targetPort: 9001}
`

func on(t *testing.T, c *Client, req Request) *Plan {
	t.Helper()
	p, err := c.PlanOn(context.Background(), req)
	if err != nil {
		t.Fatalf("PlanOn: %v", err)
	}
	if err := c.Apply(context.Background(), p, nil); err != nil {
		t.Fatalf("Apply on: %v", err)
	}
	return p
}

func off(t *testing.T, c *Client, req Request) *Plan {
	t.Helper()
	p, err := c.PlanOff(context.Background(), req)
	if err != nil {
		t.Fatalf("PlanOff: %v", err)
	}
	if err := c.Apply(context.Background(), p, nil); err != nil {
		t.Fatalf("Apply off: %v", err)
	}
	return p
}

func req(targets ...Ref) Request {
	return Request{Targets: targets, MaintenanceService: "maintpage", Why: "db upgrade"}
}

// adminWorld starts a world with the maintenance Service, creates docs in it
// and returns the objects as created, in order, with an admin's client.
func adminWorld(t *testing.T, docs ...string) (*world, *Client, []*unstructured.Unstructured) {
	t.Helper()
	w := newWorld(t)
	w.maintenanceService()
	objs := make([]*unstructured.Unstructured, len(docs))
	for i, doc := range docs {
		objs[i] = w.create(doc)
	}
	return w, w.client(kubetest.Admin), objs
}

// unwritten reports an error when the object k/name no longer has before's resourceVersion.
func (w *world) unwritten(k Kind, name string, before *unstructured.Unstructured, what string) {
	w.t.Helper()
	if got := w.get(k, name); got.GetResourceVersion() != before.GetResourceVersion() {
		w.t.Errorf("%s (resourceVersion %s → %s)", what, before.GetResourceVersion(), got.GetResourceVersion())
	}
}

func TestIngressEveryBackendMovesAndComesBack(t *testing.T) {
	t.Parallel()
	w, c, objs := adminWorld(t, shopIngress)
	before := objs[0]
	start := time.Now().Add(-time.Second)
	t.Logf("the shared control plane (etcd, kube-apiserver, Gateway API CRDs) was ready in %s", w.cp.StartTime.Round(time.Millisecond))

	p := on(t, c, req(Ref{Ingress, "shop"}))
	if p.Maintenance != "maintpage:80" {
		t.Errorf("maintenance = %q, want maintpage:80 (the port named http)", p.Maintenance)
	}
	got := w.get(Ingress, "shop")
	want := before.DeepCopy()
	mb := map[string]any{"service": map[string]any{"name": "maintpage", "port": map[string]any{"number": int64(80)}}}
	_ = unstructured.SetNestedField(want.Object, mb, "spec", "defaultBackend")
	rules, _, _ := unstructured.NestedSlice(want.Object, "spec", "rules")
	for _, r := range rules {
		paths, _, _ := unstructured.NestedSlice(r.(map[string]any), "http", "paths")
		for _, pth := range paths {
			pth.(map[string]any)["backend"] = mb
		}
		_ = unstructured.SetNestedSlice(r.(map[string]any), paths, "http", "paths")
	}
	_ = unstructured.SetNestedSlice(want.Object, rules, "spec", "rules")
	sameSpec(t, "in maintenance (hosts, paths, TLS, class and annotations kept)", got, want)

	s := saved(t, got)
	if s.Who != kubetest.Admin || s.Why != "db upgrade" || s.When.Before(start) || s.When.After(time.Now()) {
		t.Errorf("saved who/why/when = %q/%q/%v, want %q/%q/about now", s.Who, s.Why, s.When, kubetest.Admin, "db upgrade")
	}
	if len(s.Fields) != 4 {
		t.Errorf("saved %d fields, want 4 (default backend and three paths)", len(s.Fields))
	}

	off(t, c, req(Ref{Ingress, "shop"}))
	back := w.get(Ingress, "shop")
	sameSpec(t, "after off", back, before)
	if _, ok := back.GetAnnotations()[AnnotationSaved]; ok {
		t.Error("off left the annotation behind")
	}
}

func TestHTTPRouteWeightsDroppedFiltersKept(t *testing.T) {
	t.Parallel()
	w, c, objs := adminWorld(t, shopRoute)
	before := objs[0]

	on(t, c, Request{Targets: []Ref{{HTTPRoute, "shop"}}, MaintenanceService: "maintpage", MaintenancePort: "http"})
	got := w.get(HTTPRoute, "shop")
	rules, _, _ := unstructured.NestedSlice(got.Object, "spec", "rules")
	beforeRules, _, _ := unstructured.NestedSlice(before.Object, "spec", "rules")
	for i, r := range rules {
		rm := r.(map[string]any)
		brm := beforeRules[i].(map[string]any)
		if !sameJSON(rawJSON(rm["filters"]), rawJSON(brm["filters"])) || !sameJSON(rawJSON(rm["matches"]), rawJSON(brm["matches"])) {
			t.Errorf("rule %d: filters or matches changed: %s", i, rawJSON(rm))
		}
		refs, _ := rm["backendRefs"].([]any)
		if i == 2 {
			if len(refs) != 0 {
				t.Errorf("redirect-only rule got backendRefs %s", rawJSON(refs))
			}
			continue
		}
		if len(refs) != 1 {
			t.Fatalf("rule %d: %d backendRefs, want 1: %s", i, len(refs), rawJSON(refs))
		}
		br := refs[0].(map[string]any)
		// The CRD defaults weight to 1 on the server; what matters is that one backend gets it all.
		if br["name"] != "maintpage" || br["port"] != int64(80) || (br["weight"] != nil && br["weight"] != int64(1)) {
			t.Errorf("rule %d backendRef = %s, want maintpage:80 with no weight split", i, rawJSON(br))
		}
	}
	sameSpecExcept(t, got, before, "rules")

	off(t, c, req(Ref{HTTPRoute, "shop"}))
	sameSpec(t, "after off", w.get(HTTPRoute, "shop"), before)
}

// sameSpecExcept checks that a switch left every spec field but one alone.
func sameSpecExcept(t *testing.T, got, want *unstructured.Unstructured, field string) {
	t.Helper()
	g, wa := got.DeepCopy(), want.DeepCopy()
	unstructured.RemoveNestedField(g.Object, "spec", field)
	unstructured.RemoveNestedField(wa.Object, "spec", field)
	sameSpec(t, "spec outside "+field, g, wa)
}

func TestServiceSelectorAndPortsSwap(t *testing.T) {
	t.Parallel()
	w, c, objs := adminWorld(t, shopService)
	before := objs[0]

	on(t, c, req(Ref{Service, "shop"}))
	got := w.get(Service, "shop")
	sel, _, _ := unstructured.NestedStringMap(got.Object, "spec", "selector")
	if len(sel) != 1 || sel["app.kubernetes.io/name"] != "maintpage" {
		t.Errorf("selector = %v, want the maintenance pods' {app.kubernetes.io/name: maintpage}", sel)
	}
	ports := readPorts(got)
	// web:80 matches the maintenance port 80 by number (targetPort 8080); admin:9001 matches by name
	// (targetPort "admin", a named container port of the maintenance pods).
	if len(ports) != 2 || ports[0].targetPort != int64(8080) || ports[1].targetPort != "admin" {
		t.Errorf("ports = %+v, want targetPorts 8080 and \"admin\"", ports)
	}
	if ports[0].port != 80 || ports[1].port != 9001 {
		t.Errorf("service ports changed: %+v", ports)
	}

	off(t, c, req(Ref{Service, "shop"}))
	sameSpec(t, "after off", w.get(Service, "shop"), before)
}

func TestConcurrentEditIsReportedNotOverwritten(t *testing.T) {
	t.Parallel()
	w, c, _ := adminWorld(t, shopIngress)

	p, err := c.PlanOn(context.Background(), req(Ref{Ingress, "shop"}))
	if err != nil {
		t.Fatal(err)
	}
	// Someone edits the Ingress between maintpage's read and its write.
	w.edit(Ingress, "shop", func(u *unstructured.Unstructured) {
		_ = unstructured.SetNestedField(u.Object, "shop-web-v2", "spec", "defaultBackend", "service", "name")
	})
	edited := w.get(Ingress, "shop")
	err = c.Apply(context.Background(), p, nil)
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("Apply = %v, want ErrConflict", err)
	}
	if !strings.Contains(err.Error(), "ingress/shop") || !strings.Contains(err.Error(), "run the command again") {
		t.Errorf("error does not name the object or say what to do: %v", err)
	}
	now := w.get(Ingress, "shop")
	if now.GetResourceVersion() != edited.GetResourceVersion() {
		t.Errorf("the edited object was written again (resourceVersion %s → %s)", edited.GetResourceVersion(), now.GetResourceVersion())
	}
	sameSpec(t, "the other editor's change", now, edited)
}

func TestMissingMaintenanceServiceChangesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	before := w.create(shopIngress)
	c := w.client(kubetest.Admin)

	_, err := c.PlanOn(context.Background(), req(Ref{Ingress, "shop"}))
	var pe *PlanError
	if !errors.As(err, &pe) || !errors.Is(err, ErrNotFound) {
		t.Fatalf("PlanOn = %v, want a PlanError wrapping ErrNotFound", err)
	}
	for _, s := range []string{"maintenance service " + w.ns + "/maintpage", "--maintenance-service", "nothing was changed"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	w.unwritten(Ingress, "shop", before, "the ingress was written")
}

func TestOnAndOffTwiceAreHarmless(t *testing.T) {
	t.Parallel()
	w, c, objs := adminWorld(t, shopService)
	before := objs[0]

	on(t, c, req(Ref{Service, "shop"}))
	first := w.get(Service, "shop")
	p := on(t, c, req(Ref{Service, "shop"}))
	if len(p.Changes) != 0 || len(p.Done) != 1 || !strings.Contains(p.Done[0].Reason, "already in maintenance since") {
		t.Errorf("second on: changes %d, done %+v; want nothing to do, already in maintenance", len(p.Changes), p.Done)
	}
	w.unwritten(Service, "shop", first, "second on wrote the object")
	if s := saved(t, w.get(Service, "shop")); !strings.Contains(string(s.Fields[0].Was), "shop") {
		t.Errorf("second on overwrote the saved selector: %s", s.Fields[0].Was)
	}

	off(t, c, req(Ref{Service, "shop"}))
	back := w.get(Service, "shop")
	p = off(t, c, req(Ref{Service, "shop"}))
	if len(p.Changes) != 0 || len(p.Done) != 1 || !strings.Contains(p.Done[0].Reason, "not in maintenance") {
		t.Errorf("second off: changes %d, done %+v; want nothing to do", len(p.Changes), p.Done)
	}
	w.unwritten(Service, "shop", back, "second off wrote the object")
	sameSpec(t, "after on, on, off, off", w.get(Service, "shop"), before)
}

func TestOffWithoutOn(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	before := w.create(shopRoute)
	c := w.client(kubetest.Admin)

	p := off(t, c, req(Ref{HTTPRoute, "shop"}))
	if len(p.Changes) != 0 || len(p.Done) != 1 {
		t.Fatalf("off without on planned %d changes, done %+v", len(p.Changes), p.Done)
	}
	w.unwritten(HTTPRoute, "shop", before, "off without on wrote the object")
}

func TestFailureOnSecondOfThreeIsRolledBack(t *testing.T) {
	t.Parallel()
	w, c, objs := adminWorld(t, shopIngress, shopRoute, shopService)
	ing, route, svc := objs[0], objs[1], objs[2]

	p, err := c.PlanOn(context.Background(), req(Ref{Ingress, "shop"}, Ref{HTTPRoute, "shop"}, Ref{Service, "shop"}))
	if err != nil {
		t.Fatal(err)
	}
	// The second object changes after the plan: its write fails, the first must be put back.
	c.afterPlan = func() {
		w.edit(HTTPRoute, "shop", func(u *unstructured.Unstructured) {
			u.SetLabels(map[string]string{"app": "shop", "edited": "yes"})
		})
	}
	var done []Ref
	err = c.Apply(context.Background(), p, func(_ int, ch Change) { done = append(done, ch.Ref) })
	var ae *ApplyError
	if !errors.As(err, &ae) {
		t.Fatalf("Apply = %v, want an ApplyError", err)
	}
	if ae.Failed != (Ref{HTTPRoute, "shop"}) || len(ae.RolledBack) != 1 || ae.RolledBack[0] != (Ref{Ingress, "shop"}) || ae.Incomplete() {
		t.Errorf("failed %v, rolled back %v, stuck %v; want httproute/shop failed, ingress/shop rolled back", ae.Failed, ae.RolledBack, ae.Stuck)
	}
	if len(done) != 1 {
		t.Errorf("progress reported %v, want only the first object", done)
	}
	sameSpec(t, "ingress put back", w.get(Ingress, "shop"), ing)
	if _, ok := w.get(Ingress, "shop").GetAnnotations()[AnnotationSaved]; ok {
		t.Error("the rolled-back ingress still carries the annotation")
	}
	gotRoute := w.get(HTTPRoute, "shop")
	if !sameJSON(rawJSON(gotRoute.Object["spec"]), rawJSON(route.Object["spec"])) {
		t.Errorf("the route's spec changed: %s", rawJSON(gotRoute.Object["spec"]))
	}
	if gotRoute.GetLabels()["edited"] != "yes" {
		t.Error("the other editor's change to the route was lost")
	}
	w.unwritten(Service, "shop", svc, "the third object was written")
}

func TestDryRunChangesNothing(t *testing.T) {
	t.Parallel()
	w, c, objs := adminWorld(t, shopIngress)
	before := objs[0]

	p, err := c.PlanOn(context.Background(), req(Ref{Ingress, "shop"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Changes) != 1 || len(p.Changes[0].Lines) != 4 {
		t.Fatalf("plan = %+v, want one object with four backends", p.Changes)
	}
	if l := p.Changes[0].Lines[1]; l.Where != "shop.example.com/" || l.From != "shop-web:8080" || l.To != "maintpage:80" {
		t.Errorf("plan line = %+v", l)
	}
	w.unwritten(Ingress, "shop", before, "planning (with the server's dry run) wrote the object")
}

func TestMissingMaintenancePort(t *testing.T) {
	t.Parallel()
	_, c, _ := adminWorld(t, shopService)
	// A port the maintenance Service does not have is refused before anything is written.
	_, err := c.PlanOn(context.Background(), Request{Targets: []Ref{{Service, "shop"}}, MaintenanceService: "maintpage", MaintenancePort: "9999"})
	if err == nil || !strings.Contains(err.Error(), `no port "9999"`) {
		t.Errorf("PlanOn with a missing port = %v", err)
	}
}

func TestEditDuringMaintenanceIsNotUndone(t *testing.T) {
	t.Parallel()
	w, c, _ := adminWorld(t, shopIngress)
	on(t, c, req(Ref{Ingress, "shop"}))
	w.edit(Ingress, "shop", func(u *unstructured.Unstructured) {
		_ = unstructured.SetNestedField(u.Object, "someone-else", "spec", "defaultBackend", "service", "name")
	})
	edited := w.get(Ingress, "shop")
	_, err := c.PlanOff(context.Background(), req(Ref{Ingress, "shop"}))
	if err == nil || !strings.Contains(err.Error(), "/spec/defaultBackend was edited during maintenance") {
		t.Fatalf("PlanOff = %v, want a refusal naming the edited field", err)
	}
	w.unwritten(Ingress, "shop", edited, "off wrote over an edit made during maintenance")
}

func TestSelectorAndStatus(t *testing.T) {
	t.Parallel()
	_, c, _ := adminWorld(t, shopIngress, shopRoute, shopService)

	p := on(t, c, Request{Targets: []Ref{{Kind: Ingress}, {Kind: HTTPRoute}}, Selector: "app=shop", MaintenanceService: "maintpage", Why: "window"})
	if len(p.Changes) != 2 {
		t.Fatalf("-l app=shop switched %d objects, want the ingress and the route", len(p.Changes))
	}
	st, err := c.Status(context.Background(), Request{})
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 2 || st[0].Ref != (Ref{Ingress, "shop"}) || st[1].Ref != (Ref{HTTPRoute, "shop"}) {
		t.Fatalf("status of the namespace = %+v, want the ingress and the route", st)
	}
	for _, s := range st {
		if !s.InMaintenance || s.Who != kubetest.Admin || s.Why != "window" || s.Since.IsZero() || s.Serving != "maintpage:80" {
			t.Errorf("status %+v", s)
		}
	}
	st, err = c.Status(context.Background(), req(Ref{Service, "shop"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(st) != 1 || st[0].InMaintenance || st[0].Serving != "pods app=shop,tier=web" {
		t.Errorf("status of service/shop = %+v, want live", st)
	}
	if _, err := c.Status(context.Background(), req(Ref{Ingress, "nope"})); !errors.Is(err, ErrNotFound) {
		t.Errorf("status of a missing ingress = %v, want ErrNotFound", err)
	}
}
