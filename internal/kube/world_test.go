package kube

import (
	"context"
	"encoding/json"
	"os"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

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
	return &world{t: t, cp: cp, ns: cp.Namespace(t), admin: admin}
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

// create makes an object from YAML as the admin, in the world's namespace.
func (w *world) create(doc string) *unstructured.Unstructured {
	w.t.Helper()
	return w.cp.Create(w.t, w.ns, doc)
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
