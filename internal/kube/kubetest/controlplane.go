package kubetest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// Users in the token file: Admin is in system:masters; Limited has no rights but what a test binds
// to it, so a test can take one verb away and see the command name it.
const (
	Admin   = "maintpage-admin"
	Limited = "maintpage-limited"
)

// ControlPlane is a running etcd and kube-apiserver on 127.0.0.1.
type ControlPlane struct {
	// Host is the API server's URL; CAFile the certificate that verifies it.
	Host, CAFile string
	// GatewayCRDs is the directory of the Gateway API's standard-channel CRDs (already applied).
	GatewayCRDs string
	// StartTime is how long etcd and the API server took to become ready.
	StartTime time.Duration

	tokens map[string]string
	dir    string
	procs  []*process
}

type process struct {
	name string
	cmd  *exec.Cmd
	log  *bytes.Buffer
	done chan struct{}
}

// Config is a rest.Config for one of the two users.
func (cp *ControlPlane) Config(user string) *rest.Config {
	return &rest.Config{
		Host:            cp.Host,
		BearerToken:     cp.tokens[user],
		TLSClientConfig: rest.TLSClientConfig{CAFile: cp.CAFile},
		Timeout:         30 * time.Second,
	}
}

// WriteKubeconfig writes a kubeconfig to path with one context per user, named after the user, and
// current as the current one: the CLI's tests log in through it like kubectl would.
func (cp *ControlPlane) WriteKubeconfig(path, current, namespace string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "apiVersion: v1\nkind: Config\ncurrent-context: %s\nclusters:\n- name: test\n  cluster:\n    server: %s\n    certificate-authority: %s\n", current, cp.Host, cp.CAFile)
	b.WriteString("users:\n")
	for _, u := range []string{Admin, Limited} {
		fmt.Fprintf(&b, "- name: %s\n  user:\n    token: %s\n", u, cp.tokens[u])
	}
	b.WriteString("contexts:\n")
	for _, u := range []string{Admin, Limited} {
		fmt.Fprintf(&b, "- name: %s\n  context:\n    cluster: test\n    user: %s\n    namespace: %s\n", u, u, namespace)
	}
	return os.WriteFile(path, []byte(b.String()), 0o600)
}

// Paths are the binaries and CRDs scripts/controlplane.sh built or fetched.
type Paths struct{ APIServer, Etcd, GatewayCRDs string }

// errNotBuilt means the control plane is not built on this machine.
var errNotBuilt = errors.New("the test control plane is not built")

// findPaths asks scripts/controlplane.sh where the cached binaries are, so the cache key lives in
// one place.
func findPaths() (Paths, error) {
	dir, err := os.Getwd()
	if err != nil {
		return Paths{}, err
	}
	for {
		script := filepath.Join(dir, "scripts", "controlplane.sh")
		if _, err := os.Stat(script); err == nil {
			out, err := exec.Command("bash", script, "paths").Output()
			if err != nil {
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					return Paths{}, fmt.Errorf("%w: %s", errNotBuilt, strings.TrimSpace(string(ee.Stderr)))
				}
				return Paths{}, err
			}
			var p Paths
			for _, line := range strings.Split(string(out), "\n") {
				k, v, _ := strings.Cut(line, "=")
				switch k {
				case "KUBE_APISERVER":
					p.APIServer = v
				case "ETCD":
					p.Etcd = v
				case "GATEWAY_API_CRDS":
					p.GatewayCRDs = v
				}
			}
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return Paths{}, fmt.Errorf("%w: scripts/controlplane.sh not found above the test's directory", errNotBuilt)
		}
		dir = parent
	}
}

var (
	sharedOnce sync.Once
	shared     *ControlPlane
	sharedErr  error
)

// Shared returns the package's control plane, started on first use; TestMain stops it with
// StopShared. Without a built control plane the test is skipped, unless CI is "true": there it
// fails, so that CI cannot pass by skipping.
func Shared(tb testing.TB) *ControlPlane {
	tb.Helper()
	sharedOnce.Do(func() {
		var p Paths
		if p, sharedErr = findPaths(); sharedErr == nil {
			shared, sharedErr = Start(context.Background(), p)
		}
	})
	if sharedErr != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci || !errors.Is(sharedErr, errNotBuilt) {
			tb.Fatalf("test control plane: %v", sharedErr)
		}
		tb.Skipf("%v (run scripts/controlplane.sh build; with CI=true this fails)", sharedErr)
	}
	return shared
}

// StopShared stops the shared control plane, if one was started.
func StopShared() {
	if shared != nil {
		shared.Stop()
	}
}

// freePort asks the kernel for a free port on 127.0.0.1. Another process could take it before the
// server binds it; the server then fails with its own message, which Start reports.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start runs etcd and kube-apiserver on free ports of 127.0.0.1, waits until the API server is ready,
// and applies the Gateway API CRDs.
func Start(ctx context.Context, p Paths) (_ *ControlPlane, err error) {
	t0 := time.Now()
	dir, err := os.MkdirTemp("", "maintpage-kube-")
	if err != nil {
		return nil, err
	}
	cp := &ControlPlane{dir: dir, GatewayCRDs: p.GatewayCRDs, tokens: map[string]string{}}
	defer func() {
		if err != nil {
			cp.Stop()
		}
	}()

	clientPort, err := freePort()
	if err != nil {
		return nil, err
	}
	peerPort, err := freePort()
	if err != nil {
		return nil, err
	}
	etcdURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	if err := cp.spawn("etcd", p.Etcd, "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", etcdURL, "--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", peerPort)); err != nil {
		return nil, err
	}
	if err := cp.waitFor(ctx, "etcd", 60*time.Second, func() bool {
		r, err := http.Get(etcdURL + "/health")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusOK
	}); err != nil {
		return nil, err
	}

	// The service-account signing key pair: the API server refuses to start without one.
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	saKey, saPub := filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")
	if err := os.WriteFile(saKey, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(saPub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o600); err != nil {
		return nil, err
	}

	// Static tokens (kube-apiserver's --token-auth-file: token,user,uid,"groups").
	var tokens strings.Builder
	for _, u := range []string{Admin, Limited} {
		b := make([]byte, 16)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		cp.tokens[u] = hex.EncodeToString(b)
		groups := ""
		if u == Admin {
			groups = `,"system:masters"`
		}
		fmt.Fprintf(&tokens, "%s,%s,%s%s\n", cp.tokens[u], u, u, groups)
	}
	tokenFile := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(tokenFile, []byte(tokens.String()), 0o600); err != nil {
		return nil, err
	}

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	certDir := filepath.Join(dir, "certs")
	if err := cp.spawn("kube-apiserver", p.APIServer,
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port="+strconv.Itoa(port),
		"--cert-dir="+certDir,
		"--token-auth-file="+tokenFile,
		"--authorization-mode=RBAC",
		"--anonymous-auth=false",
		// No controller manager runs: the API server must not try to keep the kubernetes Service's
		// endpoints, and no pod needs a service account token.
		"--endpoint-reconciler-type=none",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file="+saPub,
		"--service-account-signing-key-file="+saKey,
		"--service-cluster-ip-range=10.96.0.0/24",
		"--disable-admission-plugins=ServiceAccount",
		"--v=0",
	); err != nil {
		return nil, err
	}
	cp.Host = fmt.Sprintf("https://127.0.0.1:%d", port)
	// The API server writes a self-signed certificate (with its CA in the same file) into --cert-dir.
	cp.CAFile = filepath.Join(certDir, "apiserver.crt")
	if err := cp.waitFor(ctx, "kube-apiserver", 120*time.Second, func() bool {
		if _, err := os.Stat(cp.CAFile); err != nil {
			return false
		}
		hc, err := rest.HTTPClientFor(cp.Config(Admin))
		if err != nil {
			return false
		}
		r, err := hc.Get(cp.Host + "/readyz")
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == http.StatusOK
	}); err != nil {
		return nil, err
	}
	if p.GatewayCRDs != "" {
		if err := cp.applyCRDs(ctx); err != nil {
			return nil, fmt.Errorf("applying the Gateway API CRDs from %s: %w", p.GatewayCRDs, err)
		}
	}
	cp.StartTime = time.Since(t0)
	return cp, nil
}

func (cp *ControlPlane) spawn(name, bin string, args ...string) error {
	pr := &process{name: name, cmd: exec.Command(bin, args...), log: &bytes.Buffer{}, done: make(chan struct{})}
	pr.cmd.Stdout = &lockedWriter{w: pr.log}
	pr.cmd.Stderr = pr.cmd.Stdout
	setDeathSignal(pr.cmd)
	if err := pr.cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	go func() { _ = pr.cmd.Wait(); close(pr.done) }()
	cp.procs = append(cp.procs, pr)
	return nil
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (l *lockedWriter) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.String()
}

// waitFor polls ready until it holds, the process exits, or the limit passes; the process's last log
// lines go into the error.
func (cp *ControlPlane) waitFor(ctx context.Context, name string, limit time.Duration, ready func() bool) error {
	pr := cp.procs[len(cp.procs)-1]
	deadline := time.Now().Add(limit)
	for {
		if ready() {
			return nil
		}
		select {
		case <-pr.done:
			return fmt.Errorf("%s exited: %v\n%s", name, pr.cmd.ProcessState, tail(pr))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s\n%s", name, limit, tail(pr))
		}
	}
}

func tail(pr *process) string {
	s := pr.cmd.Stdout.(*lockedWriter).String()
	var lines []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

// Stop kills the API server, then etcd, and removes their files.
func (cp *ControlPlane) Stop() {
	for i := len(cp.procs) - 1; i >= 0; i-- {
		pr := cp.procs[i]
		_ = pr.cmd.Process.Kill()
		<-pr.done
	}
	cp.procs = nil
	_ = os.RemoveAll(cp.dir)
}
