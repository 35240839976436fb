package kubetest

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
)

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// applyCRDs creates every CRD in the Gateway API's standard channel and waits until each is
// established (served), as kubectl apply followed by kubectl wait would.
func (cp *ControlPlane) applyCRDs(ctx context.Context) error {
	files, err := filepath.Glob(filepath.Join(cp.GatewayCRDs, "gateway.networking.k8s.io_*.yaml"))
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return fmt.Errorf("no CRD files in %s", cp.GatewayCRDs)
	}
	dyn, err := dynamic.NewForConfig(cp.Config(Admin))
	if err != nil {
		return err
	}
	var names []string
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return err
		}
		dec := yaml.NewYAMLOrJSONDecoder(fh, 4096)
		for {
			var obj map[string]any
			if err := dec.Decode(&obj); err == io.EOF {
				break
			} else if err != nil {
				fh.Close()
				return fmt.Errorf("%s: %w", f, err)
			}
			if obj == nil {
				continue
			}
			u := &unstructured.Unstructured{Object: obj}
			if u.GetKind() != "CustomResourceDefinition" {
				continue
			}
			if _, err := dyn.Resource(crdResource).Create(ctx, u, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				fh.Close()
				return fmt.Errorf("%s: %w", f, err)
			}
			names = append(names, u.GetName())
		}
		fh.Close()
	}
	deadline := time.Now().Add(60 * time.Second)
	for _, n := range names {
		for {
			got, err := dyn.Resource(crdResource).Get(ctx, n, metav1.GetOptions{})
			if err == nil && established(got) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("CRD %s not established after 60s (last error: %v)", n, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

func established(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" && strings.EqualFold(fmt.Sprint(m["status"]), "True") {
			return true
		}
	}
	return false
}
