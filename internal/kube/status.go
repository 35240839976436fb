package kube

import (
	"context"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// ObjectStatus is one object's state: in maintenance or not, since when, by whom, why, and what it
// serves now.
type ObjectStatus struct {
	Ref           Ref
	InMaintenance bool
	Since         time.Time
	Who, Why      string
	Serving       string
	Note          string // a problem with the saved state, if any
}

// Status reports on the targets (by name or selector). With no targets it lists every Ingress,
// HTTPRoute and Service in the namespace that is in maintenance.
func (c *Client) Status(ctx context.Context, req Request) ([]ObjectStatus, error) {
	var refs []Ref
	var objs []*unstructured.Unstructured
	onlyInMaintenance := len(req.Targets) == 0
	if onlyInMaintenance {
		for _, k := range Kinds {
			l, err := c.res(k).List(ctx, metav1.ListOptions{LabelSelector: req.Selector})
			if err != nil {
				if k == HTTPRoute && apierrors.IsNotFound(err) {
					continue // no Gateway API CRDs in this cluster: no HTTPRoutes to report
				}
				return nil, c.apiError(err, "list", k, "")
			}
			for i := range l.Items {
				refs = append(refs, Ref{Kind: k, Name: l.Items[i].GetName()})
				objs = append(objs, &l.Items[i])
			}
		}
	} else {
		var err error
		if refs, objs, err = c.objects(ctx, req); err != nil {
			return nil, err
		}
	}
	var out []ObjectStatus
	for i, o := range objs {
		st := ObjectStatus{Ref: refs[i], Serving: serving(refs[i].Kind, o)}
		if raw, ok := o.GetAnnotations()[AnnotationSaved]; ok {
			st.InMaintenance = true
			if s, err := ParseSaved(raw); err != nil {
				st.Note = err.Error()
			} else {
				st.Since, st.Who, st.Why = s.When, s.Who, s.Why
			}
		}
		if onlyInMaintenance && !st.InMaintenance {
			continue
		}
		out = append(out, st)
	}
	return out, nil
}

// serving says in a few words where an object sends traffic now.
func serving(k Kind, o *unstructured.Unstructured) string {
	var s []string
	add := func(v string) {
		for _, e := range s {
			if e == v {
				return
			}
		}
		s = append(s, v)
	}
	switch k {
	case Ingress:
		if b, ok, _ := unstructured.NestedMap(o.Object, "spec", "defaultBackend"); ok {
			add(backendString(b))
		}
		rules, _, _ := unstructured.NestedSlice(o.Object, "spec", "rules")
		for _, r := range rules {
			paths, _, _ := unstructured.NestedSlice(r.(map[string]any), "http", "paths")
			for _, p := range paths {
				b, _ := p.(map[string]any)["backend"].(map[string]any)
				add(backendString(b))
			}
		}
	case HTTPRoute:
		rules, _, _ := unstructured.NestedSlice(o.Object, "spec", "rules")
		for _, r := range rules {
			refs, _ := r.(map[string]any)["backendRefs"].([]any)
			for _, br := range refs {
				bm, _ := br.(map[string]any)
				d := fmt.Sprint(bm["name"])
				if port, ok := bm["port"].(int64); ok {
					d += fmt.Sprintf(":%d", port)
				}
				add(d)
			}
		}
	case Service:
		sel, _, _ := unstructured.NestedMap(o.Object, "spec", "selector")
		add("pods " + selectorString(sel))
	}
	return strings.Join(s, ", ")
}
