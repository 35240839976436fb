// Package examples holds ready configurations; its tests start the proxies Debian ships (nginx,
// Caddy, HAProxy) for real with the real maintpage binary and an application, using the example
// files with only their addresses changed, and check the Traefik and Envoy examples against the
// protocol the forward-auth tests speak.
package examples

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

const (
	adminToken   = "examples-admin-token-0123456789"
	bypassSecret = "examples-bypass-secret-0123456789"
)

var (
	buildOnce sync.Once
	binary    string
	buildErr  error
)

// maintpageBinary builds the real binary once for every test in the package.
func maintpageBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "maintpage-examples")
		if err != nil {
			buildErr = err
			return
		}
		binary = filepath.Join(dir, "maintpage")
		out, err := exec.Command("go", "build", "-o", binary, "../cmd/maintpage").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binary
}

// need finds a proxy's binary, or skips the test; with CI=true it fails instead, so that CI cannot
// pass by skipping (the pattern of internal/state/statetest.StartRedis). scripts/test.sh installs
// Debian's nginx, caddy and haproxy when they are missing.
func need(t *testing.T, name string) string {
	t.Helper()
	for _, dir := range []string{"", "/usr/sbin/", "/usr/bin/"} {
		if p, err := exec.LookPath(dir + name); err == nil {
			return p
		}
	}
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatalf("%s not found, and CI=true forbids skipping: install Debian's %s package (scripts/test.sh does)", name, name)
	}
	t.Skipf("%s not found: install Debian's %s package to run this test", name, name)
	return ""
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	return port
}

// process is a started program whose output is kept for failure messages.
type process struct {
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (p *process) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *process) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// run starts a program in its own process group and stops the group when the test ends.
func run(t *testing.T, env []string, name string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(name, args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() { p.cmd.Wait(); close(p.done) }() //nolint:errcheck
	t.Cleanup(func() {
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) //nolint:errcheck
		<-p.done
	})
	return p
}

var listenRE = regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)

// startMaintpage runs maintpage serve with an example's configuration on a port of its own.
func startMaintpage(t *testing.T, config string, env ...string) string {
	t.Helper()
	env = append([]string{"MAINTPAGE_LISTEN=127.0.0.1:0", "MAINTPAGE_LOG_FORMAT=json",
		"MAINTPAGE_ADMIN_TOKEN=" + adminToken, "MAINTPAGE_BYPASS_SECRET=" + bypassSecret}, env...)
	p := run(t, env, maintpageBinary(t), "serve", "--config", config)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if m := listenRE.FindStringSubmatch(p.output()); m != nil {
			return m[1]
		}
		select {
		case <-p.done:
			t.Fatalf("maintpage exited before listening:\n%s", p.output())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("maintpage did not listen within 20s:\n%s", p.output())
	return ""
}

// toggle switches maintenance with the real CLI through the admin API.
func toggle(t *testing.T, maintpage string, on bool) {
	t.Helper()
	verb := "off"
	if on {
		verb = "on"
	}
	cmd := exec.Command(maintpageBinary(t), verb, "--admin", "http://"+maintpage, "--message", "Upgrading the shop")
	if !on {
		cmd = exec.Command(maintpageBinary(t), verb, "--admin", "http://"+maintpage)
	}
	cmd.Env = append(os.Environ(), "MAINTPAGE_ADMIN_TOKEN="+adminToken)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("maintpage %s: %v\n%s", verb, err, out)
	}
}

// app is the application behind the proxy; closing it makes it "down".
func app(t *testing.T) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "the app: "+r.Method+" "+r.URL.Path) //nolint:errcheck
	}))
	t.Cleanup(s.Close)
	return s
}

// example reads an example file with its addresses replaced for this test.
func example(t *testing.T, name string, replace ...string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i+1 < len(replace); i += 2 {
		if !strings.Contains(s, replace[i]) {
			t.Fatalf("%s does not contain %q: the test and the example have drifted apart", name, replace[i])
		}
		s = strings.ReplaceAll(s, replace[i], replace[i+1])
	}
	return s
}

// tlsFiles writes the test's certificate for 127.0.0.1 into dir: cert.pem, key.pem, and both in
// one file for HAProxy. The proxies terminate TLS as they would in production, so that the gate
// knows the client used https (the secret link's cookie is Secure).
func tlsFiles(t *testing.T, dir string) (cert, key, both string) {
	t.Helper()
	cert, key, both = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"), filepath.Join(dir, "both.pem")
	for name, b := range map[string][]byte{cert: testCert.cert, key: testCert.key, both: append(append([]byte{}, testCert.cert...), testCert.key...)} {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return cert, key, both
}

// testCert is a self-signed certificate for 127.0.0.1, made once for the package.
var testCert = func() (c struct{ cert, key []byte }) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:         true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &priv.PublicKey, priv)
	if err != nil {
		panic(err)
	}
	k, err := x509.MarshalECPrivateKey(priv)
	if err != nil {
		panic(err)
	}
	c.cert = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	c.key = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: k})
	return c
}()

var client = func() *http.Client {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(testCert.cert)
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}},
		// The bypass link answers with a redirect; the test reads it rather than following it.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}()

type answer struct {
	status int
	header http.Header
	body   string
}

func ask(t *testing.T, method, url string, header map[string]string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, resp.Header, string(b)}
}

// waitFor polls until the proxy answers at all (it has bound its port).
func waitFor(t *testing.T, url string, p *process) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-p.done:
			t.Fatalf("the proxy exited:\n%s", p.output())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("the proxy did not answer %s within 30s:\n%s", url, p.output())
}

// checkShape runs the checks every example must pass through its real proxy.
//   - maintenance off: the application answers;
//   - on: the maintenance response, 503 with Retry-After and no-store, in each format;
//   - the secret link through the proxy sets the cookie, and the cookie lets its holder through;
//   - the application down (maintenance off): the unplanned page with downStatus.
func checkShape(t *testing.T, base, maintpage string, appSrv *httptest.Server, downStatus int) {
	t.Helper()
	if a := ask(t, "GET", base+"/cart", nil); a.status != 200 || a.body != "the app: GET /cart" {
		t.Fatalf("maintenance off: %d %q, want the app", a.status, a.body)
	}
	if a := ask(t, "POST", base+"/orders", nil); a.status != 200 || a.body != "the app: POST /orders" {
		t.Fatalf("maintenance off, POST: %d %q, want the app", a.status, a.body)
	}
	toggle(t, maintpage, true)
	for _, f := range []struct{ accept, ctype, want string }{
		{"text/html", "text/html", "<h1>Down for maintenance</h1>"},
		{"application/problem+json", "application/problem+json", `"detail":"Upgrading the shop"`},
		{"text/plain", "text/plain", "Upgrading the shop"},
	} {
		a := ask(t, "GET", base+"/cart", map[string]string{"Accept": f.accept})
		if a.status != 503 || !strings.HasPrefix(a.header.Get("Content-Type"), f.ctype) || !strings.Contains(a.body, f.want) {
			t.Fatalf("maintenance on, Accept %s: %d %s %q, want 503 %s with %q", f.accept, a.status, a.header.Get("Content-Type"), a.body, f.ctype, f.want)
		}
		if a.header.Get("Retry-After") == "" || a.header.Get("Cache-Control") != "no-store" {
			t.Errorf("maintenance on, Accept %s: Retry-After %q, Cache-Control %q", f.accept, a.header.Get("Retry-After"), a.header.Get("Cache-Control"))
		}
	}
	if a := ask(t, "GET", base+"/cart", map[string]string{"Accept": "text/html", "Accept-Language": "de"}); a.header.Get("Content-Language") != "de" || !strings.Contains(a.body, "Wartungsarbeiten") {
		t.Errorf("Accept-Language de through the proxy: Content-Language %q", a.header.Get("Content-Language"))
	}
	if a := ask(t, "POST", base+"/orders", map[string]string{"Accept": "application/problem+json"}); a.status != 503 {
		t.Errorf("maintenance on, POST: %d, want 503", a.status)
	}
	// The secret link, through the proxy: a cookie, then the app for its holder only.
	a := ask(t, "GET", base+"/_maintenance/bypass?secret="+bypassSecret, nil)
	if a.status != http.StatusSeeOther {
		t.Fatalf("bypass link through the proxy: %d %q, want 303", a.status, a.body)
	}
	var cookie string
	for _, c := range (&http.Response{Header: a.header}).Cookies() {
		if c.Name == "maintpage_bypass" {
			cookie = c.Name + "=" + c.Value
		}
	}
	if cookie == "" {
		t.Fatalf("bypass link through the proxy set no cookie: %v", a.header)
	}
	if a := ask(t, "GET", base+"/cart", map[string]string{"Cookie": cookie}); a.status != 200 || a.body != "the app: GET /cart" {
		t.Errorf("with the bypass cookie: %d %q, want the app", a.status, a.body)
	}
	if a := ask(t, "GET", base+"/cart", map[string]string{"Cookie": cookie + "x"}); a.status != 503 {
		t.Errorf("with a forged bypass cookie: %d, want 503", a.status)
	}
	if a := ask(t, "GET", base+"/_maintenance/bypass?secret=wrong-secret-000000000", nil); a.status != 403 {
		t.Errorf("bypass link with a wrong secret: %d, want 403", a.status)
	}
	toggle(t, maintpage, false)
	if a := ask(t, "GET", base+"/cart", nil); a.status != 200 {
		t.Fatalf("maintenance off again: %d %q, want the app", a.status, a.body)
	}
	appSrv.Close()
	a = ask(t, "GET", base+"/cart", map[string]string{"Accept": "application/problem+json"})
	if a.status != downStatus || !strings.Contains(a.body, `"unplanned":true`) {
		t.Errorf("the app down: %d %q, want %d and the unplanned page", a.status, a.body, downStatus)
	}
	a = ask(t, "GET", base+"/cart", map[string]string{"Accept": "text/html"})
	if a.status != downStatus || !strings.Contains(a.body, "Temporarily unavailable") {
		t.Errorf("the app down, HTML: %d, want %d and the unplanned page", a.status, downStatus)
	}
}

// forwardAuth is the common setup of the forward-auth examples (nginx, Caddy): the proxy's binary,
// the app, maintpage started with <proxy>/maintpage.yaml, a free port, and TLS files in a temp dir.
type forwardAuth struct {
	bin           string
	app           *httptest.Server
	mp, port, dir string
	cert, key     string
}

func newForwardAuth(t *testing.T, proxy string) *forwardAuth {
	t.Helper()
	f := &forwardAuth{bin: need(t, proxy)}
	f.app = app(t)
	f.mp = startMaintpage(t, proxy+"/maintpage.yaml")
	f.port = freePort(t)
	f.dir = t.TempDir()
	f.cert, f.key, _ = tlsFiles(t, f.dir)
	return f
}

// example reads the example name with the app's and maintpage's addresses put in, then replace.
func (f *forwardAuth) example(t *testing.T, name string, replace ...string) string {
	t.Helper()
	return example(t, name, append([]string{
		"127.0.0.1:3000", strings.TrimPrefix(f.app.URL, "http://"),
		"127.0.0.1:8080", f.mp,
	}, replace...)...)
}

func TestNginxForwardAuth(t *testing.T) {
	t.Parallel()
	f := newForwardAuth(t, "nginx")
	nginx, appSrv, mp, port, dir, cert, key := f.bin, f.app, f.mp, f.port, f.dir, f.cert, f.key
	site := f.example(t, "nginx/maintpage.conf",
		"listen 443 ssl;", "listen 127.0.0.1:"+port+" ssl;",
		"/etc/ssl/certs/shop.example.com.pem", cert,
		"/etc/ssl/private/shop.example.com.key", key)
	if err := os.WriteFile(filepath.Join(dir, "site.conf"), []byte(site), 0o644); err != nil {
		t.Fatal(err)
	}
	// The frame a distribution's nginx.conf gives: the example is included into http { }.
	conf := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/site.conf;
}
`, dir)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	p := run(t, nil, nginx, "-p", dir, "-e", "stderr", "-c", filepath.Join(dir, "nginx.conf"))
	checkThrough(t, p, port, mp, appSrv, 503)
}

// checkThrough waits for the proxy p on port, then runs checkShape through it.
func checkThrough(t *testing.T, p *process, port, maintpage string, appSrv *httptest.Server, downStatus int) {
	t.Helper()
	base := "https://127.0.0.1:" + port
	waitFor(t, base+"/_maintenance/health", p)
	checkShape(t, base, maintpage, appSrv, downStatus)
	if t.Failed() {
		t.Logf("%s:\n%s", filepath.Base(p.cmd.Path), p.output())
	}
}

func TestCaddyForwardAuth(t *testing.T) {
	t.Parallel()
	f := newForwardAuth(t, "caddy")
	caddy, appSrv, mp, port, dir, cert, key := f.bin, f.app, f.mp, f.port, f.dir, f.cert, f.key
	site := f.example(t, "caddy/Caddyfile",
		"shop.example.com {", "https://127.0.0.1:"+port+" {\n\ttls "+cert+" "+key)
	// Global options for a test: no admin endpoint and no http→https redirect listener (their
	// fixed ports would clash between runs), and the test's certificate instead of ACME.
	conf := "{\n\tadmin off\n\tauto_https disable_redirects\n}\n\n" + site
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	p := run(t, []string{"HOME=" + dir, "XDG_DATA_HOME=" + dir, "XDG_CONFIG_HOME=" + dir},
		caddy, "run", "--config", file, "--adapter", "caddyfile")
	checkThrough(t, p, port, mp, appSrv, 502)
}

func TestHAProxyGate(t *testing.T) {
	t.Parallel()
	haproxy := need(t, "haproxy")
	appSrv := app(t)
	mp := startMaintpage(t, "haproxy/maintpage.yaml", "MAINTPAGE_UPSTREAM="+appSrv.URL)
	port := freePort(t)
	dir := t.TempDir()
	_, _, both := tlsFiles(t, dir)
	conf := example(t, "haproxy/haproxy.cfg",
		"127.0.0.1:8080", mp,
		"bind :443 ssl crt /etc/haproxy/certs/shop.example.com.pem", "bind 127.0.0.1:"+port+" ssl crt "+both)
	file := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(file, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	p := run(t, nil, haproxy, "-db", "-f", file)
	checkThrough(t, p, port, mp, appSrv, 503)
}

// TestTraefikExampleSpeaksTheProtocol checks examples/traefik against a running maintpage: Traefik
// is not in Debian, so the request Traefik's ForwardAuth makes (pkg/middlewares/auth/forward.go:
// GET to the address, the original headers, X-Forwarded-Method, -Proto, -Host, -Uri and -For) is
// sent to the address dynamic.yml names, and the errors middleware's query is asked for.
func TestTraefikExampleSpeaksTheProtocol(t *testing.T) {
	t.Parallel()
	var dyn struct {
		HTTP struct {
			Middlewares map[string]struct {
				ForwardAuth *struct{ Address string } `yaml:"forwardAuth"`
				Errors      *struct {
					Status  []string
					Service string
					Query   string
				}
			}
			Routers map[string]struct {
				Rule        string
				Middlewares []string
				Service     string
			}
		}
	}
	readYAML(t, "traefik/dynamic.yml", &dyn)
	fa, errs := dyn.HTTP.Middlewares["maintenance"].ForwardAuth, dyn.HTTP.Middlewares["app-down"].Errors
	if fa == nil || errs == nil {
		t.Fatal("dynamic.yml has no maintenance forwardAuth or app-down errors middleware")
	}
	if r := dyn.HTTP.Routers["maintpage"]; !strings.Contains(r.Rule, "PathPrefix(`/_maintenance/`)") || r.Service != "maintpage" {
		t.Errorf("the reserved prefix is not routed to maintpage: %+v", r)
	}
	mp := startMaintpage(t, "traefik/maintpage.yaml", "MAINTPAGE_TRUSTED_PROXIES=127.0.0.1/32")
	toggle(t, mp, true)
	address := strings.Replace(fa.Address, "maintpage:8080", mp, 1)
	traefik := map[string]string{"Accept": "text/html", "X-Forwarded-For": "198.51.100.7", "X-Forwarded-Method": "GET",
		"X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example.com", "X-Forwarded-Uri": "/cart?page=2"}
	if a := ask(t, "GET", address, traefik); a.status != 503 || !strings.Contains(a.body, "Upgrading the shop") {
		t.Errorf("forwardAuth, maintenance on: %d, want the 503 page", a.status)
	}
	traefik["X-Maintpage-Bypass"] = bypassSecret
	if a := ask(t, "GET", address, traefik); a.status != 200 || a.body != "" {
		t.Errorf("forwardAuth with the bypass header: %d %q, want 200 and no body", a.status, a.body)
	}
	for _, code := range []string{"502", "503", "504"} {
		query := strings.Replace(errs.Query, "{status}", code, 1)
		if a := ask(t, "GET", "http://"+mp+query, map[string]string{"Accept": "application/problem+json"}); a.status != atoi(code) || !strings.Contains(a.body, `"status":`+code) {
			t.Errorf("errors query %s: %d %q", query, a.status, a.body)
		}
	}
}

// TestEnvoyExampleSpeaksTheProtocol checks examples/envoy against a running maintpage: Envoy's
// ext_authz HTTP service (api/envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto) keeps the
// original method and Host, appends the original path to path_prefix, and sends only the headers
// allowed_headers names, which must include what maintpage reads.
func TestEnvoyExampleSpeaksTheProtocol(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("envoy/envoy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	conf := string(b)
	m := regexp.MustCompile(`path_prefix: (\S+)`).FindStringSubmatch(conf)
	if m == nil || m[1] != "/_maintenance/forward-auth" {
		t.Fatalf("envoy.yaml's path_prefix is %v, want /_maintenance/forward-auth", m)
	}
	for _, h := range []string{"accept", "accept-language", "cookie", "x-forwarded-for", "x-forwarded-proto", "x-maintpage-bypass"} {
		if !strings.Contains(conf, "{exact: "+h+", ignore_case: true}") {
			t.Errorf("envoy.yaml does not let %s through to maintpage", h)
		}
	}
	var parsed map[string]any
	readYAML(t, "envoy/envoy.yaml", &parsed)
	mp := startMaintpage(t, "envoy/maintpage.yaml", "MAINTPAGE_TRUSTED_PROXIES=127.0.0.1/32")
	toggle(t, mp, true)
	envoy := map[string]string{"Accept": "application/problem+json", "X-Forwarded-For": "198.51.100.7", "X-Forwarded-Proto": "https"}
	if a := ask(t, "POST", "http://"+mp+m[1]+"/orders?id=7", envoy); a.status != 503 || !strings.Contains(a.body, `"status":503`) {
		t.Errorf("ext_authz, maintenance on: %d %q, want the 503 problem JSON", a.status, a.body)
	}
	toggle(t, mp, false)
	if a := ask(t, "POST", "http://"+mp+m[1]+"/orders?id=7", envoy); a.status != 200 {
		t.Errorf("ext_authz, maintenance off: %d, want 200 (Envoy allows only on 200)", a.status)
	}
}

func readYAML(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}
