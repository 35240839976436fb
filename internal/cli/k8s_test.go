package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/maintpage/maintpage/internal/kube"
	"github.com/maintpage/maintpage/internal/kube/kubetest"
)

// The Kubernetes tests of the command line share one test control plane, started by the first and
// stopped by TestMain (e2e_test.go); internal/kube has the cases of the switch itself.

const k8sShop = `
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: shop}
spec:
  rules:
  - host: shop.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: shop, port: {number: 8080}}}}
`

const k8sMaint = `
apiVersion: v1
kind: Service
metadata: {name: maintpage}
spec:
  selector: {app.kubernetes.io/name: maintpage}
  ports: [{name: http, port: 80, targetPort: 8080}]
`

type k8sWorld struct {
	t    *testing.T
	cp   *kubetest.ControlPlane
	ns   string
	home string
}

func newK8sWorld(t *testing.T, withMaint bool) *k8sWorld {
	t.Helper()
	cp := kubetest.Shared(t)
	w := &k8sWorld{t: t, cp: cp, ns: cp.Namespace(t), home: t.TempDir()}
	if withMaint {
		cp.Create(t, w.ns, k8sMaint)
	}
	cp.Create(t, w.ns, k8sShop)
	if err := os.MkdirAll(filepath.Join(w.home, ".kube"), 0o700); err != nil {
		t.Fatal(err)
	}
	// The kubeconfig's current context is the admin; its namespace is "default", so -n matters.
	if err := cp.WriteKubeconfig(filepath.Join(w.home, ".kube", "config"), kubetest.Admin, "default"); err != nil {
		t.Fatal(err)
	}
	return w
}

// run runs maintpage with HOME pointing at the world's ~/.kube/config (KUBECONFIG unset), as on an
// operator's machine, and stdin that is not a terminal unless given.
func (w *k8sWorld) run(in terminal, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	e := &env{getenv: func(k string) string {
		if k == "HOME" {
			return w.home
		}
		return ""
	}, stdout: &out, stderr: &errb}
	if in == nil {
		in = fakeTerminal{strings.NewReader(""), false}
	}
	root := newRoot(e)
	// Replace the k8s command with one reading the given stdin.
	for _, c := range root.Commands() {
		if c.Name() == "k8s" {
			root.RemoveCommand(c)
		}
	}
	root.AddCommand(newK8sCmdWith(e, in, nil))
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	code := exitCode(root.ExecuteContext(context.Background()), &errb)
	return code, out.String(), errb.String()
}

func exitCode(err error, stderr *bytes.Buffer) int {
	if err == nil {
		return ExitOK
	}
	stderr.WriteString("maintpage: " + err.Error() + "\n")
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	return ExitUsage
}

func (w *k8sWorld) backend() string {
	u := w.cp.Get(w.t, w.ns, "Ingress", "shop")
	b, err := json.Marshal(u.Object["spec"])
	if err != nil {
		w.t.Fatal(err)
	}
	return string(b)
}

func TestK8sTwoCommandWindow(t *testing.T) {
	t.Parallel()
	w := newK8sWorld(t, true)
	before := w.backend()

	code, out, errOut := w.run(nil, "k8s", "on", "ingress/shop", "-n", w.ns, "--yes", "--reason", "release 42")
	if code != 0 {
		t.Fatalf("on: exit %d\n%s%s", code, out, errOut)
	}
	for _, s := range []string{"ingress/shop", "shop.example.com/", "shop:8080", "→", "maintpage:80", "as " + kubetest.Admin, "In maintenance: 1 object(s)", "maintpage k8s off ingress/shop -n " + w.ns} {
		if !strings.Contains(out, s) {
			t.Errorf("on output lacks %q:\n%s", s, out)
		}
	}
	if !strings.Contains(w.backend(), `"name":"maintpage"`) {
		t.Errorf("ingress not switched: %s", w.backend())
	}

	code, out, _ = w.run(nil, "k8s", "status", "-n", w.ns)
	if code != 0 || !strings.Contains(out, "ingress/shop") || !strings.Contains(out, "maintenance") || !strings.Contains(out, kubetest.Admin) || !strings.Contains(out, "release 42") {
		t.Errorf("status: exit %d\n%s", code, out)
	}

	code, out, errOut = w.run(nil, "k8s", "off", "ingress/shop", "-n", w.ns, "--yes")
	if code != 0 || !strings.Contains(out, "Back: 1 object(s)") {
		t.Fatalf("off: exit %d\n%s%s", code, out, errOut)
	}
	if got := w.backend(); got != before {
		t.Errorf("after off: %s, want %s", got, before)
	}
}

func TestK8sConfirmation(t *testing.T) {
	t.Parallel()
	w := newK8sWorld(t, true)
	before := w.backend()

	code, _, errOut := w.run(nil, "k8s", "on", "ingress/shop", "-n", w.ns)
	if code != ExitUsage || !strings.Contains(errOut, "pass --yes") {
		t.Errorf("no terminal, no --yes: exit %d, %s", code, errOut)
	}
	code, out, _ := w.run(fakeTerminal{strings.NewReader("n\n"), true}, "k8s", "on", "ingress/shop", "-n", w.ns)
	if code != ExitFailure || !strings.Contains(out, "Switch these 1 object(s)? [y/N]") {
		t.Errorf("declined: exit %d\n%s", code, out)
	}
	if w.backend() != before {
		t.Error("changed without confirmation")
	}
	code, out, _ = w.run(fakeTerminal{strings.NewReader("y\n"), true}, "k8s", "on", "ingress/shop", "-n", w.ns)
	if code != 0 || w.backend() == before {
		t.Errorf("confirmed: exit %d\n%s", code, out)
	}
}

func TestK8sDryRunAndErrors(t *testing.T) {
	t.Parallel()
	w := newK8sWorld(t, false)
	before := w.backend()

	code, _, errOut := w.run(nil, "k8s", "on", "ingress/shop", "-n", w.ns, "--dry-run")
	if code != ExitUsage || !strings.Contains(errOut, "maintenance service "+w.ns+"/maintpage") {
		t.Errorf("missing maintenance service: exit %d, %s", code, errOut)
	}
	w.cp.Create(t, w.ns, k8sMaint)
	code, out, errOut := w.run(nil, "k8s", "on", "ingress/shop", "-n", w.ns, "--dry-run")
	if code != 0 || !strings.Contains(out, "Dry run") || !strings.Contains(out, "maintpage:80") {
		t.Errorf("dry run: exit %d\n%s%s", code, out, errOut)
	}
	if w.backend() != before {
		t.Error("dry run changed the ingress")
	}

	// The limited user has no rights in this namespace: the error names the verb and the Role.
	code, _, errOut = w.run(nil, "k8s", "on", "ingress/shop", "-n", w.ns, "--context", kubetest.Limited, "--yes")
	if code != ExitUsage || !strings.Contains(errOut, `missing verb "get" on ingresses.networking.k8s.io`) || !strings.Contains(errOut, kube.RoleFile) {
		t.Errorf("without RBAC: exit %d, %s", code, errOut)
	}

	code, _, errOut = w.run(nil, "k8s", "on", "deployment/shop", "-n", w.ns)
	if code != ExitUsage || !strings.Contains(errOut, "use ingress, httproute or service") {
		t.Errorf("unknown kind: exit %d, %s", code, errOut)
	}
	code, _, errOut = w.run(nil, "k8s", "on", "ingress/shop", "-n", w.ns, "--context", "nope")
	if code != ExitUsage || !strings.Contains(errOut, "nope") {
		t.Errorf("unknown context: exit %d, %s", code, errOut)
	}
}

func TestK8sNotLoggedIn(t *testing.T) {
	t.Parallel()
	var out, errb bytes.Buffer
	empty := t.TempDir()
	code := Main(context.Background(), []string{"k8s", "status"}, func(k string) string {
		if k == "HOME" {
			return empty
		}
		return ""
	}, &out, &errb)
	// Outside a pod with no kubeconfig: a usage error that says to log in.
	if _, inPod := os.LookupEnv("KUBERNETES_SERVICE_HOST"); !inPod {
		if code != ExitUsage || !strings.Contains(errb.String(), "not logged in") {
			t.Errorf("exit %d, %s", code, errb.String())
		}
	}
}
