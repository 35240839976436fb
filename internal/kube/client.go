package kube

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Options say how to reach the cluster. The zero value logs in like kubectl with no flags.
type Options struct {
	// Getenv reads KUBECONFIG and HOME (os.Getenv in the binary; tests pass their own).
	Getenv func(string) string
	// Context is the kubeconfig context to use instead of the current one (--context).
	Context string
	// Namespace overrides the context's namespace (-n).
	Namespace string
	// Timeout bounds every API call (default 30s): a hung API server must not hang the command.
	Timeout time.Duration
}

// Client talks to one cluster in one namespace.
type Client struct {
	dyn       dynamic.Interface
	namespace string
	host      string
	// afterPlan, when set by a test, runs between reading the objects and writing them: the window
	// in which someone else's edit must be detected rather than overwritten.
	afterPlan func()
}

// Connect logs in like kubectl: the files in KUBECONFIG (a path list), else ~/.kube/config, else the
// in-cluster service account; --context picks a context, -n a namespace (default: the context's, or
// the pod's, or "default").
func Connect(opts Options) (*Client, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	rules := &clientcmd.ClientConfigLoadingRules{}
	if kc := getenv("KUBECONFIG"); kc != "" {
		rules.Precedence = filepath.SplitList(kc)
	} else if home := getenv("HOME"); home != "" {
		rules.Precedence = []string{filepath.Join(home, ".kube", "config")}
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: opts.Context}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	cfg, err := cc.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, fmt.Errorf("%w: no kubeconfig found (KUBECONFIG, ~/.kube/config) and not running in a pod: log in with kubectl first", ErrNotLoggedIn)
		}
		return nil, fmt.Errorf("%w: reading the kubeconfig: %w", ErrNotLoggedIn, err)
	}
	ns := opts.Namespace
	if ns == "" {
		if ns, _, err = cc.Namespace(); err != nil {
			return nil, fmt.Errorf("reading the namespace from the kubeconfig: %w (pass -n NAMESPACE)", err)
		}
	}
	return NewForConfig(cfg, ns, opts.Timeout)
}

// NewForConfig builds a client from a rest.Config (tests use this with the test control plane).
func NewForConfig(cfg *rest.Config, namespace string, timeout time.Duration) (*Client, error) {
	if namespace == "" {
		namespace = "default"
	}
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = timeout
	cfg.UserAgent = "maintpage"
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building the Kubernetes client: %w", err)
	}
	return &Client{dyn: dyn, namespace: namespace, host: cfg.Host}, nil
}

// Namespace is the namespace the client works in.
func (c *Client) Namespace() string { return c.namespace }

// Host is the API server's URL.
func (c *Client) Host() string { return c.host }

// ErrNotLoggedIn means there is no usable kubeconfig or in-cluster login.
var ErrNotLoggedIn = errors.New("not logged in to a Kubernetes cluster")

// ErrNotFound means an object named on the command line, or the maintenance Service, does not exist.
var ErrNotFound = errors.New("not found")

// ErrForbidden means RBAC refused a verb; the error names the verb and the resource.
var ErrForbidden = errors.New("forbidden by RBAC")

// RoleFile is where the repository keeps the Role with exactly the verbs the command needs.
const RoleFile = "deploy/kubernetes/rbac/maintpage-k8s-role.yaml"

// apiError turns an API error into one that says what to do: for RBAC, the verb and resource the
// Role is missing; for a missing object, its kind, namespace and name.
func (c *Client) apiError(err error, verb string, k Kind, name string) error {
	what := fmt.Sprintf("%s %s/%s", k, c.namespace, name)
	if name == "" {
		what = fmt.Sprintf("%s in %s", k.resource().Resource, c.namespace)
	}
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%w: %s %s: missing verb %q on %s in namespace %s — grant it (see %s): %w",
			ErrForbidden, verb, what, verb, k.resourceName(), c.namespace, RoleFile, err)
	case apierrors.IsNotFound(err) && name != "":
		if k == HTTPRoute {
			return fmt.Errorf("%s: %w (or the Gateway API CRDs are not installed): %w", what, ErrNotFound, err)
		}
		return fmt.Errorf("%s: %w: %w", what, ErrNotFound, err)
	case apierrors.IsUnauthorized(err):
		return fmt.Errorf("%w: the API server at %s refused the credentials (expired token?): log in again: %w", ErrNotLoggedIn, c.host, err)
	}
	return fmt.Errorf("%s %s: %w", verb, what, err)
}

func (c *Client) res(k Kind) dynamic.ResourceInterface {
	return c.dyn.Resource(k.resource()).Namespace(c.namespace)
}

// who asks the API server who we are (SelfSubjectReview, allowed to every authenticated user by the
// system:basic-user ClusterRole), so the saved "who" is the identity RBAC sees, not a local name.
func (c *Client) who(ctx context.Context) string {
	r := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
	}}
	gvr := schema.GroupVersionResource{Group: "authentication.k8s.io", Version: "v1", Resource: "selfsubjectreviews"}
	got, err := c.dyn.Resource(gvr).Create(ctx, r, metaCreate)
	if err != nil {
		return "unknown (SelfSubjectReview failed)"
	}
	name, _, _ := unstructured.NestedString(got.Object, "status", "userInfo", "username")
	if name == "" {
		return "unknown"
	}
	return name
}
