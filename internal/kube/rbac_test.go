package kube

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"

	"github.com/maintpage/maintpage/internal/kube/kubetest"
)

// shippedRole decodes the Role in deploy/kubernetes strictly: a misspelt field fails the test.
func shippedRole(t *testing.T) *rbacv1.Role {
	t.Helper()
	raw, err := os.ReadFile("../../" + RoleFile)
	if err != nil {
		t.Fatal(err)
	}
	var r rbacv1.Role
	if err := yaml.UnmarshalStrict(raw, &r); err != nil {
		t.Fatalf("%s does not decode strictly into rbac/v1 Role: %v", RoleFile, err)
	}
	if r.APIVersion != "rbac.authorization.k8s.io/v1" || r.Kind != "Role" || r.Name == "" {
		t.Fatalf("%s: apiVersion %q kind %q name %q", RoleFile, r.APIVersion, r.Kind, r.Name)
	}
	return &r
}

// grant creates the Role and binds it to the limited user, then waits until RBAC lets the user do
// probe (a verb the Role grants): the authorizer works from a cache that lags behind the writes, and
// a refusal seen before the binding arrived would prove nothing.
func (w *world) grant(role *rbacv1.Role, probeVerb string, probe Kind) {
	w.t.Helper()
	role = role.DeepCopy()
	role.Namespace = w.ns
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(role)
	if err != nil {
		w.t.Fatal(err)
	}
	u := &unstructured.Unstructured{Object: obj}
	ctx := context.Background()
	if _, err := w.admin.Resource(kubetest.GVR("Role")).Namespace(w.ns).Create(ctx, u, metav1.CreateOptions{}); err != nil {
		w.t.Fatalf("creating the role: %v", err)
	}
	w.create(fmt.Sprintf(`
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: maintpage-k8s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: %s}
subjects: [{kind: User, apiGroup: rbac.authorization.k8s.io, name: %s}]
`, role.Name, kubetest.Limited))
	sar := schema.GroupVersionResource{Group: "authorization.k8s.io", Version: "v1", Resource: "subjectaccessreviews"}
	r := probe.resource()
	review := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
		"spec": map[string]any{"user": kubetest.Limited, "resourceAttributes": map[string]any{
			"namespace": w.ns, "verb": probeVerb, "group": r.Group, "resource": r.Resource,
		}},
	}}
	deadline := time.Now().Add(30 * time.Second)
	for {
		got, err := w.admin.Resource(sar).Create(ctx, review, metav1.CreateOptions{})
		if err == nil {
			if ok, _, _ := unstructured.NestedBool(got.Object, "status", "allowed"); ok {
				return
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("RBAC did not allow %s %s to %s within 30s (last error %v)", probeVerb, r.Resource, kubetest.Limited, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// everything runs every subcommand the way an operator would, each verb of the Role being needed
// by at least one: status of the namespace (list), on by name (get, update), status by selector
// (list), off by selector (list, update).
func everything(ctx context.Context, c *Client) error {
	all := []Ref{{Ingress, "shop"}, {HTTPRoute, "shop"}, {Service, "shop"}}
	if _, err := c.Status(ctx, Request{}); err != nil {
		return err
	}
	p, err := c.PlanOn(ctx, Request{Targets: all, MaintenanceService: "maintpage"})
	if err != nil {
		return err
	}
	if err := c.Apply(ctx, p, nil); err != nil {
		return err
	}
	kinds := []Ref{{Kind: Ingress}, {Kind: HTTPRoute}, {Kind: Service}}
	if _, err := c.Status(ctx, Request{Targets: kinds, Selector: "app=shop"}); err != nil {
		return err
	}
	if p, err = c.PlanOff(ctx, Request{Targets: kinds, Selector: "app=shop"}); err != nil {
		return err
	}
	if len(p.Changes) != 3 {
		return fmt.Errorf("off planned %d changes, want 3", len(p.Changes))
	}
	return c.Apply(ctx, p, nil)
}

func TestShippedRoleIsEnough(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.maintenanceService()
	w.create(shopIngress)
	w.create(shopRoute)
	w.create(shopService)
	w.grant(shippedRole(t), "get", Service)
	if err := everything(context.Background(), w.client(kubetest.Limited)); err != nil {
		t.Fatalf("with exactly the shipped Role: %v", err)
	}
}

// TestShippedRoleHasNoVerbToSpare takes away each verb of the Role in turn: some subcommand must
// then fail, changing nothing it does not put back, and its error must name the missing verb and
// resource.
func TestShippedRoleHasNoVerbToSpare(t *testing.T) {
	t.Parallel()
	role := shippedRole(t)
	for ri, rule := range role.Rules {
		for vi, verb := range rule.Verbs {
			res := rule.Resources[0]
			if rule.APIGroups[0] != "" {
				res += "." + rule.APIGroups[0]
			}
			t.Run(verb+"_"+res, func(t *testing.T) {
				t.Parallel()
				w := newWorld(t)
				w.maintenanceService()
				objs := []*unstructured.Unstructured{w.create(shopIngress), w.create(shopRoute), w.create(shopService)}
				less := role.DeepCopy()
				less.Rules[ri].Verbs = slices.Delete(slices.Clone(rule.Verbs), vi, vi+1)
				probe, probeVerb := Service, "get"
				if res == "services" && verb == "get" {
					probe, probeVerb = Ingress, "get"
				}
				w.grant(less, probeVerb, probe)

				err := everything(context.Background(), w.client(kubetest.Limited))
				if !errors.Is(err, ErrForbidden) {
					t.Fatalf("without %s on %s: %v, want ErrForbidden", verb, res, err)
				}
				want := fmt.Sprintf("missing verb %q on %s", verb, res)
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
				// Whatever failed, nothing is left half-switched: the objects are as they were, or
				// all three in maintenance (when the refusal came after a complete "on").
				var inMaint int
				for i, k := range []Kind{Ingress, HTTPRoute, Service} {
					got := w.get(k, "shop")
					if _, ok := got.GetAnnotations()[AnnotationSaved]; ok {
						inMaint++
						continue
					}
					if !bytes.Equal(rawJSON(got.Object["spec"]), rawJSON(objs[i].Object["spec"])) {
						t.Errorf("%s/shop changed without the annotation: %s", k, rawJSON(got.Object["spec"]))
					}
				}
				if inMaint != 0 && inMaint != 3 {
					t.Errorf("%d of 3 objects left in maintenance", inMaint)
				}
			})
		}
	}
}

func TestRBACRefusalNamesTheVerbAndChangesNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.maintenanceService()
	before := w.create(shopIngress)
	readOnly := shippedRole(t)
	for i := range readOnly.Rules {
		readOnly.Rules[i].Verbs = []string{"get", "list"}
	}
	w.grant(readOnly, "get", Ingress)
	c := w.client(kubetest.Limited)

	_, err := c.PlanOn(context.Background(), req(Ref{Ingress, "shop"}))
	var pe *PlanError
	if !errors.As(err, &pe) || !errors.Is(err, ErrForbidden) {
		t.Fatalf("PlanOn as a read-only user = %v, want a PlanError wrapping ErrForbidden", err)
	}
	for _, s := range []string{`missing verb "update" on ingresses.networking.k8s.io in namespace ` + w.ns, RoleFile, "nothing was changed"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	if got := w.get(Ingress, "shop"); got.GetResourceVersion() != before.GetResourceVersion() {
		t.Error("the ingress was written")
	}
	// Status needs only get and list: the read-only user may look.
	if _, err := c.Status(context.Background(), req(Ref{Ingress, "shop"})); err != nil {
		t.Errorf("status as a read-only user: %v", err)
	}
}
