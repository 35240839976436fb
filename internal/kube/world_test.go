package kube

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"

	"github.com/maintpage/maintpage/internal/kube/kubetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	kubetest.StopShared()
	os.Exit(code)
}

// world is one namespace of the shared test control plane, with an admin's dynamic client to set
// up and inspect objects behind the back of the client under test.
type world struct {
	t     *testing.T
	cp    *kubetest.ControlPlane
	ns    string
	admin dynamic.Interface
}

func newWorld(t *testing.T) *world {
	t.Helper()
	cp := kubetest.Shared(t)
	admin, err := dynamic.NewForConfig(cp.Config(kubetest.Admin))
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	w := &world{t: t, cp: cp, ns: "t-" + hex.EncodeToString(b), admin: admin}
	w.create(`{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"` + w.ns + `"}}`)
	t.Cleanup(func() {
		_ = admin.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Delete(context.Background(), w.ns, metav1.DeleteOptions{})
	})
	return w
}

// client is the client under test, as the admin or as the limited user.
func (w *world) client(user string) *Client {
	w.t.Helper()
	c, err := NewForConfig(w.cp.Config(user), w.ns, 30*time.Second)
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

func gvrOf(u *unstructured.Unstructured) schema.GroupVersionResource {
	switch u.GetKind() {
	case "Namespace":
		return schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}
	case "Service":
		return Service.resource()
	case "Ingress":
		return Ingress.resource()
	case "HTTPRoute":
		return HTTPRoute.resource()
	case "Role":
		return schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"}
	case "RoleBinding":
		return schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"}
	}
	panic("unknown kind " + u.GetKind())
}

// create makes an object from YAML as the admin, in the world's namespace when it is namespaced.
func (w *world) create(doc string) *unstructured.Unstructured {
	w.t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.UnmarshalStrict([]byte(doc), &u.Object); err != nil {
		w.t.Fatalf("fixture: %v", err)
	}
	var ri dynamic.ResourceInterface = w.admin.Resource(gvrOf(u))
	if u.GetKind() != "Namespace" {
		u.SetNamespace(w.ns)
		ri = w.admin.Resource(gvrOf(u)).Namespace(w.ns)
	}
	got, err := ri.Create(context.Background(), u, metav1.CreateOptions{})
	if err != nil {
		w.t.Fatalf("creating %s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return got
}

func (w *world) get(k Kind, name string) *unstructured.Unstructured {
	w.t.Helper()
	got, err := w.admin.Resource(k.resource()).Namespace(w.ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		w.t.Fatalf("get %s/%s: %v", k, name, err)
	}
	return got
}

// edit changes an object as the admin would with kubectl edit, behind the client's back.
func (w *world) edit(k Kind, name string, change func(u *unstructured.Unstructured)) {
	w.t.Helper()
	u := w.get(k, name)
	change(u)
	if _, err := w.admin.Resource(k.resource()).Namespace(w.ns).Update(context.Background(), u, metav1.UpdateOptions{}); err != nil {
		w.t.Fatalf("edit %s/%s: %v", k, name, err)
	}
}

// maintenanceService is the Service deploy/kubernetes creates: app=maintpage pods, port http.
func (w *world) maintenanceService() {
	w.create(`
apiVersion: v1
kind: Service
metadata: {name: maintpage}
spec:
  selector: {app.kubernetes.io/name: maintpage}
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: admin, port: 9000, targetPort: admin}
`)
}

// spec returns the parts of an object a switch may touch or must keep: spec, labels and the
// annotations other than maintpage's.
func spec(u *unstructured.Unstructured) map[string]any {
	ann := map[string]string{}
	for k, v := range u.GetAnnotations() {
		if k != AnnotationSaved {
			ann[k] = v
		}
	}
	return map[string]any{"spec": u.Object["spec"], "labels": u.GetLabels(), "annotations": ann}
}

func sameSpec(t *testing.T, what string, got, want *unstructured.Unstructured) {
	t.Helper()
	if !reflect.DeepEqual(spec(got), spec(want)) {
		g, _ := json.MarshalIndent(spec(got), "", " ")
		wa, _ := json.MarshalIndent(spec(want), "", " ")
		t.Errorf("%s: got\n%s\nwant\n%s", what, g, wa)
	}
}

func saved(t *testing.T, u *unstructured.Unstructured) *Saved {
	t.Helper()
	raw, ok := u.GetAnnotations()[AnnotationSaved]
	if !ok {
		t.Fatalf("%s/%s has no %s annotation", u.GetKind(), u.GetName(), AnnotationSaved)
	}
	s, err := ParseSaved(raw)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func notFound(err error) bool { return apierrors.IsNotFound(err) }
