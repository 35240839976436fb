package kubetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/yaml"
)

// Namespace creates a namespace with a random name for one test, deleted when the test ends.
func (cp *ControlPlane) Namespace(t testing.TB) string {
	t.Helper()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	ns := "t-" + hex.EncodeToString(b)
	cp.Create(t, "", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"`+ns+`"}}`)
	t.Cleanup(func() {
		_ = cp.admin(t).Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	return ns
}

func (cp *ControlPlane) admin(t testing.TB) dynamic.Interface {
	d, err := dynamic.NewForConfig(cp.Config(Admin))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// GVR maps the kinds the tests create to their resources (what kubectl learns from discovery).
func GVR(kind string) schema.GroupVersionResource {
	switch kind {
	case "Ingress":
		return schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"}
	case "HTTPRoute":
		return schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}
	case "Role":
		return schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"}
	case "RoleBinding":
		return schema.GroupVersionResource{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"}
	}
	gvr, _ := meta.UnsafeGuessKindToResource(schema.GroupVersionKind{Version: "v1", Kind: kind})
	return gvr
}

// Create makes an object from YAML as the admin, in namespace ns (empty for cluster-scoped objects).
func (cp *ControlPlane) Create(t testing.TB, ns, doc string) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{}
	if err := yaml.UnmarshalStrict([]byte(doc), &u.Object); err != nil {
		t.Fatalf("fixture: %v", err)
	}
	var ri dynamic.ResourceInterface = cp.admin(t).Resource(GVR(u.GetKind()))
	if ns != "" {
		ri = cp.admin(t).Resource(GVR(u.GetKind())).Namespace(ns)
	}
	got, err := ri.Create(context.Background(), u, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("creating %s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return got
}

// Get reads an object as the admin.
func (cp *ControlPlane) Get(t testing.TB, ns, kind, name string) *unstructured.Unstructured {
	t.Helper()
	got, err := cp.admin(t).Resource(GVR(kind)).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get %s %s/%s: %v", kind, ns, name, err)
	}
	return got
}
