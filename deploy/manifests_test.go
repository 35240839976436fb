package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/maintpage/maintpage/internal/config"
)

// typed returns an empty object of the Kubernetes API type for apiVersion and kind, or nil for a
// kind this repository has no reason to ship.
func typed(apiVersion, kind string) any {
	switch apiVersion + "/" + kind {
	case "apps/v1/Deployment":
		return &appsv1.Deployment{}
	case "v1/Service":
		return &corev1.Service{}
	case "v1/ConfigMap":
		return &corev1.ConfigMap{}
	case "v1/Secret":
		return &corev1.Secret{}
	case "policy/v1/PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "rbac.authorization.k8s.io/v1/Role":
		return &rbacv1.Role{}
	case "rbac.authorization.k8s.io/v1/RoleBinding":
		return &rbacv1.RoleBinding{}
	case "rbac.authorization.k8s.io/v1/ClusterRole":
		return &rbacv1.ClusterRole{}
	case "v1/ServiceAccount":
		return &corev1.ServiceAccount{}
	}
	return nil
}

// crds are the custom resources the chart's snippets may render; k8s.io/api has no types for
// them, so only their header is checked.
var crds = map[string]bool{
	"traefik.io/v1alpha1/Middleware":                true,
	"gateway.networking.k8s.io/v1/HTTPRoute":        true,
	"kustomize.config.k8s.io/v1beta1/Kustomization": true,
	"kustomize.config.k8s.io/v1alpha1/Component":    true,
}

type object struct {
	source string
	kind   string
	obj    any
}

// decodeAll decodes every document of a YAML stream strictly into its Kubernetes API type, so that
// a misspelt or misplaced field fails: sigs.k8s.io/yaml turns YAML into JSON and decodes it with
// unknown fields refused, as the API server's strict field validation does.
func decodeAll(t *testing.T, source string, stream []byte) []object {
	t.Helper()
	var out []object
	for i, doc := range bytes.Split(stream, []byte("\n---")) {
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Errorf("%s, document %d: %v", source, i+1, err)
			continue
		}
		key := head.APIVersion + "/" + head.Kind
		where := fmt.Sprintf("%s, document %d (%s)", source, i+1, head.Kind)
		obj := typed(head.APIVersion, head.Kind)
		if obj == nil {
			if !crds[key] {
				t.Errorf("%s: %s is not a kind this test knows; add its type", where, key)
			}
			continue
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Errorf("%s: %v", where, err)
			continue
		}
		out = append(out, object{where, head.Kind, obj})
	}
	return out
}

func stripComments(doc []byte) []byte {
	var b bytes.Buffer
	for _, line := range strings.Split(string(doc), "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.Bytes()
}

// checkConfig loads a maintpage configuration file as serve would; it must be valid.
func checkConfig(t *testing.T, where string, content []byte) *config.Config {
	t.Helper()
	file := filepath.Join(t.TempDir(), "maintpage.yaml")
	if err := os.WriteFile(file, content, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file, func(string) string { return "" }, nil)
	if err != nil {
		t.Errorf("%s: maintpage rejects its configuration: %v\n%s", where, err, content)
	}
	return cfg
}

// checkWorkload holds the Deployments to what the issue asks: probes on the reserved health path,
// resources, a read-only root filesystem and a non-root user.
func checkWorkload(t *testing.T, objs []object) {
	t.Helper()
	found := false
	for _, o := range objs {
		d, ok := o.obj.(*appsv1.Deployment)
		if !ok || len(d.Spec.Template.Spec.Containers) == 0 || d.Spec.Template.Spec.Containers[0].Name != "maintpage" {
			continue
		}
		found = true
		c := d.Spec.Template.Spec.Containers[0]
		for name, p := range map[string]*corev1.Probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
			if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != "/_maintenance/health" {
				t.Errorf("%s: %s probe %+v, want an HTTP GET of /_maintenance/health", o.source, name, p)
			}
		}
		if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
			t.Errorf("%s: resources %+v, want CPU requested and memory limited", o.source, c.Resources)
		}
		sc, psc := c.SecurityContext, d.Spec.Template.Spec.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("%s: the root filesystem is not read-only", o.source)
		}
		if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
			t.Errorf("%s: not run as a non-root user", o.source)
		}
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: privilege escalation allowed", o.source)
		}
	}
	if !found {
		t.Error("no maintpage Deployment")
	}
}

// TestManifestFilesDecode decodes every file under deploy/kubernetes as it is written (resources,
// patches, and the RBAC of "maintpage k8s"), and loads the configuration the ConfigMap carries.
func TestManifestFilesDecode(t *testing.T) {
	t.Parallel()
	n := 0
	err := filepath.WalkDir("kubernetes", func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || (!strings.HasSuffix(p, ".yaml") && !strings.HasSuffix(p, ".yml")) {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		if filepath.Base(p) == "maintpage.yaml" {
			checkConfig(t, p, b)
			return nil
		}
		decodeAll(t, p, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 5 {
		t.Errorf("only %d manifest files under deploy/kubernetes", n)
	}
}

// tool finds a program installed with go install (GOBIN, GOPATH/bin) or on PATH; without it the
// test skips, or fails with CI=true. scripts/test.sh installs kustomize and helm at pinned versions.
func tool(t *testing.T, name, install string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	var dirs []string
	if b := os.Getenv("GOBIN"); b != "" {
		dirs = append(dirs, b)
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, d := range filepath.SplitList(strings.TrimSpace(string(out))) {
			dirs = append(dirs, filepath.Join(d, "bin"))
		}
	}
	for _, d := range dirs {
		if p := filepath.Join(d, name); isExec(p) {
			return p
		}
	}
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatalf("%s not found, and CI=true forbids skipping: %s (scripts/test.sh does)", name, install)
	}
	t.Skipf("%s not found: %s", name, install)
	return ""
}

func isExec(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

func output(t *testing.T, env []string, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return out
}

// configMapConfig returns the maintpage.yaml a rendered ConfigMap carries.
func configMapConfig(t *testing.T, objs []object) []byte {
	t.Helper()
	for _, o := range objs {
		if cm, ok := o.obj.(*corev1.ConfigMap); ok {
			if c, ok := cm.Data["maintpage.yaml"]; ok {
				return []byte(c)
			}
		}
	}
	t.Fatal("no ConfigMap with maintpage.yaml")
	return nil
}

// TestKustomizeBuilds renders deploy/kubernetes with kustomize, alone and with the Redis component,
// and decodes the result strictly.
func TestKustomizeBuilds(t *testing.T) {
	t.Parallel()
	kustomize := tool(t, "kustomize", "go install sigs.k8s.io/kustomize/kustomize/v5@"+kustomizeVersion)
	base, err := filepath.Abs("kubernetes")
	if err != nil {
		t.Fatal(err)
	}
	// An overlay as a user would write one: the base and the Redis component (kustomize wants them
	// relative to the overlay).
	withRedis := t.TempDir()
	rel, err := filepath.Rel(withRedis, base)
	if err != nil {
		t.Fatal(err)
	}
	k := fmt.Sprintf("resources: [%s]\ncomponents: [%s]\n", rel, filepath.Join(rel, "redis"))
	if err := os.WriteFile(filepath.Join(withRedis, "kustomization.yaml"), []byte(k), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, dir := range map[string]string{"base": base, "with redis": withRedis} {
		objs := decodeAll(t, "kustomize build ("+name+")", output(t, nil, kustomize, "build", dir))
		checkWorkload(t, objs)
		checkConfig(t, "kustomize build ("+name+")", configMapConfig(t, objs))
		var state string
		kinds := map[string]int{}
		for _, o := range objs {
			kinds[o.kind]++
			if d, ok := o.obj.(*appsv1.Deployment); ok && d.Spec.Template.Spec.Containers[0].Name == "maintpage" {
				for _, e := range d.Spec.Template.Spec.Containers[0].Env {
					if e.Name == "MAINTPAGE_STATE" {
						state = e.Value
					}
				}
				// The ConfigMap's generated name (with its content hash) must be the one mounted.
				if v := d.Spec.Template.Spec.Volumes[0].ConfigMap.Name; !strings.HasPrefix(v, "maintpage-config-") {
					t.Errorf("%s: the Deployment mounts ConfigMap %q, not the generated one", name, v)
				}
			}
		}
		if kinds["PodDisruptionBudget"] != 1 || kinds["Service"] < 1 || kinds["ConfigMap"] != 1 {
			t.Errorf("%s: kinds %v", name, kinds)
		}
		if (name == "with redis") != (state == "redis://maintpage-redis:6379/0") {
			t.Errorf("%s: MAINTPAGE_STATE %q", name, state)
		}
	}
}

const (
	kustomizeVersion = "v5.4.3"
	helmVersion      = "v3.16.4"
)

// TestHelmChart lints the chart and renders it in every mode, decoding the result strictly and
// loading the configuration each mode gives maintpage.
func TestHelmChart(t *testing.T) {
	t.Parallel()
	helm := tool(t, "helm", "go install helm.sh/helm/v3/cmd/helm@"+helmVersion)
	// Helm's own directories in the test's, so that nothing of the user's is read or written.
	home := t.TempDir()
	henv := []string{"HELM_CONFIG_HOME=" + home, "HELM_CACHE_HOME=" + home, "HELM_DATA_HOME=" + home}
	output(t, henv, helm, "lint", "--strict", "helm/maintpage")
	modes := []struct {
		name string
		set  []string
		want map[string]bool // settings the configuration must have
	}{
		{"standalone", nil, nil},
		{"gate", []string{"mode=gate", "gate.upstream=http://shop-web.shop.svc:80", "state=redis://redis:6379/0", "adminToken=0123456789abcdef0123"}, map[string]bool{"gate": true}},
		{"forward-auth", []string{"mode=forward-auth", "traefik.middlewares=true", "bypassSecret=0123456789abcdef0123"}, map[string]bool{"forward_auth": true}},
		{"error-pages", []string{"mode=error-pages", "gatewayAPI.enabled=true", "gatewayAPI.parentRef.name=web"}, map[string]bool{"error_pages": true}},
	}
	for _, m := range modes {
		args := []string{"template", "shop", "helm/maintpage", "--namespace", "shop"}
		for _, s := range m.set {
			args = append(args, "--set", s)
		}
		objs := decodeAll(t, "helm template ("+m.name+")", output(t, henv, helm, args...))
		checkWorkload(t, objs)
		cfg := checkConfig(t, "helm template ("+m.name+")", configMapConfig(t, objs))
		if cfg == nil {
			continue
		}
		if m.want["gate"] != cfg.Gate() || m.want["forward_auth"] != cfg.ForwardAuth || m.want["error_pages"] != cfg.ErrorPages {
			t.Errorf("%s: gate %v, forward_auth %v, error_pages %v", m.name, cfg.Gate(), cfg.ForwardAuth, cfg.ErrorPages)
		}
	}
	// A mode that does not exist, and gate mode without an upstream, fail at render time.
	for _, bad := range [][]string{{"mode=proxy"}, {"mode=gate"}} {
		args := []string{"template", "shop", "helm/maintpage"}
		for _, s := range bad {
			args = append(args, "--set", s)
		}
		cmd := exec.Command(helm, args...)
		cmd.Env = append(os.Environ(), henv...)
		if out, err := cmd.CombinedOutput(); err == nil {
			t.Errorf("helm template --set %v succeeded:\n%s", bad, out)
		}
	}
}
