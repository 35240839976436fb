package kube

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation"
)

// Kind is one of the three kinds of object the command switches.
type Kind string

// The kinds, spelt as they are on the command line.
const (
	Ingress   Kind = "ingress"
	HTTPRoute Kind = "httproute"
	Service   Kind = "service"
)

// Kinds lists every kind, in the order status reports them.
var Kinds = []Kind{Ingress, HTTPRoute, Service}

// resource is where the API server keeps a kind; HTTPRoute is the Gateway API's v1 (standard channel).
func (k Kind) resource() schema.GroupVersionResource {
	switch k {
	case Ingress:
		return schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"}
	case HTTPRoute:
		return schema.GroupVersionResource{Group: "gateway.networking.k8s.io", Version: "v1", Resource: "httproutes"}
	default:
		return schema.GroupVersionResource{Version: "v1", Resource: "services"}
	}
}

// resourceName is the name RBAC rules use: "ingresses.networking.k8s.io", "services".
func (k Kind) resourceName() string {
	r := k.resource()
	if r.Group == "" {
		return r.Resource
	}
	return r.Resource + "." + r.Group
}

// aliases are the spellings kubectl accepts for the same kinds.
var aliases = map[string]Kind{
	"ingress": Ingress, "ingresses": Ingress, "ing": Ingress,
	"ingress.networking.k8s.io": Ingress, "ingresses.networking.k8s.io": Ingress,
	"httproute": HTTPRoute, "httproutes": HTTPRoute,
	"httproute.gateway.networking.k8s.io": HTTPRoute, "httproutes.gateway.networking.k8s.io": HTTPRoute,
	"service": Service, "services": Service, "svc": Service,
}

// ParseKind reads a kind as kubectl spells it (ingress, ing, httproutes, svc …).
func ParseKind(s string) (Kind, error) {
	k, ok := aliases[strings.ToLower(s)]
	if !ok {
		return "", fmt.Errorf("unknown kind %q: use ingress, httproute or service", s)
	}
	return k, nil
}

// Ref names one object: KIND/NAME. Name is empty when the objects are chosen by a label selector.
type Ref struct {
	Kind Kind
	Name string
}

func (r Ref) String() string { return string(r.Kind) + "/" + r.Name }

// ParseRef reads KIND/NAME, or a bare KIND when bare is true (with -l, the selector picks the names).
func ParseRef(s string, bare bool) (Ref, error) {
	kind, name, hasName := strings.Cut(s, "/")
	k, err := ParseKind(kind)
	if err != nil {
		return Ref{}, fmt.Errorf("%q: %w", s, err)
	}
	if bare {
		if hasName {
			return Ref{}, fmt.Errorf("%q: with -l give kinds only (ingress, httproute, service); the selector picks the names", s)
		}
		return Ref{Kind: k}, nil
	}
	if !hasName || name == "" {
		return Ref{}, fmt.Errorf("%q: give KIND/NAME, e.g. ingress/shop (or a kind with -l SELECTOR)", s)
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return Ref{}, fmt.Errorf("%q: %q is not a valid object name: %s", s, name, strings.Join(errs, "; "))
	}
	return Ref{Kind: k, Name: name}, nil
}
