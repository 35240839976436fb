package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

// benchPath is the path every load test asks for: not /, so that every system takes its catch-all
// route (the original app's FALLBACK, maintpage's default response).
const benchPath = "/bench"

// upstreamBody is what bench/upstream answers (its Body constant).
const upstreamBody = "upstream OK\n"

// message is the original app's MAINTENANCE_MESSAGE in the Flask rows; maintpage and nginx serve
// maintpage's default page.
const message = "We are doing some planned maintenance and will be back soon."

// readyTimeout bounds how long a server may take to answer its first request.
const readyTimeout = 15 * time.Second

// system is one row of the table: how to start it and what it must answer.
type system struct {
	ID, Name string
	Group    string // "maintenance" or "gate" (loaded with wrk), or "h2" (loaded with h2load, h2.go)
	Baseline string // ID of the nginx row it is compared with (see references)
	Want     int    // expected status
	start    func(h *harness) (*instance, error)
	// unavailable is set when the system cannot run here yet (the gate before it exists); its rows
	// then say why instead of failing the run.
	unavailable error
}

// instance is one running copy of a system.
type instance struct {
	addr    string
	main    *proc   // the server measured (RSS)
	deps    []*proc // servers it needs (the upstream)
	startup time.Duration
	// requestLog is the file maintpage's request log goes to, for the log rows (logging.go).
	requestLog string
}

func (in *instance) stop() {
	in.main.stop()
	for _, d := range in.deps {
		d.stop()
	}
}

// errUnavailable marks a system that cannot run in this build, as opposed to one that broke.
var errUnavailable = errors.New("not available")

func allSystems() []*system {
	return append([]*system{
		{ID: "maintpage", Name: "maintpage serve", Group: "maintenance", Baseline: "nginx", Want: 503, start: startMaintpage},
		// The same binary with the fast path off: what net/http alone does, to show what the fast path is worth.
		{ID: "maintpage-nethttp", Name: "maintpage serve, fast_path off (net/http only)", Group: "maintenance", Baseline: "nginx", Want: 503,
			start: func(h *harness) (*instance, error) { return startMaintpageEnv(h, "MAINTPAGE_FAST_PATH=false") }},
		{ID: "nginx", Name: "nginx (static 503, sendfile on)", Group: "maintenance", Baseline: "nginx", Want: 503, start: startNginx},
		// sendfile sends a 6.7 KB page in two system calls where a copy takes one: both are
		// measured, and the faster of the two in each round is the reference (see referenceOf).
		{ID: "nginx-nosendfile", Name: "nginx (static 503, sendfile off)", Group: "maintenance", Baseline: "nginx", Want: 503,
			start: func(h *harness) (*instance, error) { return startNginxSendfile(h, false) }},
		{ID: "flask", Name: "Flask app, Procfile (python maintenance.py)", Group: "maintenance", Baseline: "nginx", Want: 200, start: startFlask},
		{ID: "gunicorn", Name: "Flask app, gunicorn (1 worker/core)", Group: "maintenance", Baseline: "nginx", Want: 200, start: startGunicorn},
		{ID: "upstream", Name: "upstream direct", Group: "gate", Baseline: "nginx-proxy", Want: 200, start: startUpstreamDirect},
		{ID: "gate", Name: "maintpage gate (maintenance off)", Group: "gate", Baseline: "nginx-proxy", Want: 200, start: startGate},
		{ID: "nginx-proxy", Name: "nginx proxy_pass (keepalive 64)", Group: "gate", Baseline: "nginx-proxy", Want: 200, start: startNginxProxy},
		{ID: "haproxy", Name: "HAProxy (http-reuse always)", Group: "gate", Baseline: "nginx-proxy", Want: 200, start: startHAProxy},
		{ID: "caddy", Name: "Caddy reverse_proxy", Group: "gate", Baseline: "nginx-proxy", Want: 200, start: startCaddy},
	}, append(logSystems(), h2Systems()...)...)
}

// defaultSystems are the systems the full run measures when --systems is not given: every one a
// goal is measured against. The others (net/http alone, the Flask app, the upstream direct, the
// sample and all log modes) are for --systems; --smoke starts every system once.
var defaultSystems = []string{
	"maintpage", "nginx", "nginx-nosendfile", "maintpage-log-summary",
	"gate", "nginx-proxy", "haproxy", "caddy",
	"maintpage-h2c", "nginx-h2", "nginx-h2-nosendfile",
}

// reference is maintpage's default HTML response, which nginx is configured to repeat byte for byte.
type reference struct {
	status int
	header http.Header
	body   []byte
}

// childEnv is a small, clean environment, so that the caller's PORT or MAINTPAGE_* cannot change
// what is measured.
func childEnv(extra ...string) []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LANG=C.UTF-8"}
	return append(env, extra...)
}

func (h *harness) newDir(name string) (string, error) {
	dir, err := os.MkdirTemp(h.tmp, name+"-")
	if err != nil {
		return "", err
	}
	// nginx's workers run as nobody when the harness is root; they must read the page.
	return dir, os.Chmod(dir, 0o755)
}

func startMaintpage(h *harness) (*instance, error) { return startMaintpageEnv(h) }

func startMaintpageEnv(h *harness, env ...string) (*instance, error) {
	return startMaintpageWith(h, env, nil, false)
}

// startMaintpageWith runs maintpage serve with its request log off, env added to its environment
// and args to its command line; it is ready when it answers 503 (with h2, over HTTP/2 with prior
// knowledge).
func startMaintpageWith(h *harness, env, args []string, h2 bool) (*instance, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := h.newDir("maintpage")
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	argv := append([]string{h.maintpage, "serve", "--log-format", "off"}, args...)
	p, err := startProc("maintpage", dir, childEnv(append([]string{"MAINTPAGE_LISTEN=" + addr}, env...)...), filepath.Join(dir, "out.log"),
		argv...)
	if err != nil {
		return nil, err
	}
	if h2 {
		return readyH2(p, addr, 503)
	}
	return ready(p, addr, 503)
}

// behindProxy starts the small upstream and then, with a free port and a directory of its own, the
// proxy in front of it; the upstream stops with the proxy, or at once if the proxy does not start.
func behindProxy(h *harness, name string, start func(dir string, port int, upstream string) (*instance, error)) (*instance, error) {
	up, err := startUpstream(h)
	if err != nil {
		return nil, err
	}
	in, err := func() (*instance, error) {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		dir, err := h.newDir(name)
		if err != nil {
			return nil, err
		}
		return start(dir, port, up.addr)
	}()
	if err != nil {
		up.stop()
		return nil, err
	}
	in.deps = append(in.deps, up.main)
	return in, nil
}

func startGate(h *harness) (*instance, error) {
	return behindProxy(h, "gate", func(dir string, port int, upstream string) (*instance, error) {
		addr := "127.0.0.1:" + strconv.Itoa(port)
		upURL := "http://" + upstream
		cfg := filepath.Join(dir, "gate.yaml")
		if err := os.WriteFile(cfg, []byte("upstream: "+upURL+"\n"), 0o644); err != nil {
			return nil, err
		}
		p, err := startProc("maintpage gate", dir,
			childEnv("MAINTPAGE_LISTEN="+addr, "MAINTPAGE_UPSTREAM="+upURL), filepath.Join(dir, "out.log"),
			h.maintpage, "serve", "--log-format", "off", "--config", cfg)
		if err != nil {
			return nil, err
		}
		in, err := ready(p, addr, 200)
		if err != nil && p.exited() && strings.Contains(p.logTail(3), "unknown setting") {
			// A maintpage that does not know the setting upstream has no gate. Any other refusal or
			// crash is a failure.
			return nil, fmt.Errorf("%w: %s", errUnavailable, firstLine(p.logTail(3)))
		}
		return in, err
	})
}

// firstLine picks maintpage's error out of its output, shortened: "maintpage: invalid
// configuration: /tmp/…/gate.yaml:1: upstream: unknown setting; known ones are …" becomes
// "maintpage serve: upstream: unknown setting".
func firstLine(s string) string {
	line := strings.TrimSpace(s)
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, "maintpage:") || strings.Contains(l, "upstream") {
			line = strings.TrimSpace(l)
			break
		}
	}
	if i := strings.Index(line, "upstream:"); i >= 0 {
		line = "maintpage serve: " + line[i:]
	}
	line, _, _ = strings.Cut(line, "; known ones are")
	return line
}

func startUpstream(h *harness) (*instance, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := h.newDir("upstream")
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p, err := startProc("upstream", dir, childEnv(), filepath.Join(dir, "out.log"), h.upstream, "-listen", addr)
	if err != nil {
		return nil, err
	}
	return ready(p, addr, 200)
}

func startUpstreamDirect(h *harness) (*instance, error) { return startUpstream(h) }

func startFlask(h *harness) (*instance, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := h.newDir("flask")
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	// As the Procfile runs it: python maintenance.py, Flask's built-in server, its request log on.
	p, err := startProc("flask", h.flaskDir,
		childEnv("PORT="+strconv.Itoa(port), "HOST=127.0.0.1", "MAINTENANCE_MESSAGE="+message, "PYTHONDONTWRITEBYTECODE=1"),
		filepath.Join(dir, "out.log"), h.python, "maintenance.py")
	if err != nil {
		return nil, err
	}
	return ready(p, addr, 200)
}

func startGunicorn(h *harness) (*instance, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := h.newDir("gunicorn")
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	p, err := startProc("gunicorn", h.flaskDir,
		childEnv("MAINTENANCE_MESSAGE="+message, "PYTHONDONTWRITEBYTECODE=1"), filepath.Join(dir, "out.log"),
		h.python, "-m", "gunicorn", "--workers", strconv.Itoa(runtime.NumCPU()), "--bind", addr, "maintenance:app")
	if err != nil {
		return nil, err
	}
	return ready(p, addr, 200)
}

func startNginx(h *harness) (*instance, error) { return startNginxSendfile(h, true) }

func startNginxSendfile(h *harness, sendfile bool) (*instance, error) {
	return startNginxPage(h, sendfile, false)
}

// startNginxPage runs nginx answering maintpage's page; with h2, on a cleartext HTTP/2 port
// (`listen … http2;`, prior knowledge: nginx 1.22 speaks only HTTP/2 there).
func startNginxPage(h *harness, sendfile, h2 bool) (*instance, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := h.newDir("nginx")
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "html"), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "html", "maint.html"), h.ref.body, 0o644); err != nil {
		return nil, err
	}
	conf, err := nginxMaintConf(dir, port, h.ref.header, sendfile, h2)
	if err != nil {
		return nil, err
	}
	return runNginx(h, dir, port, conf, 503, h2)
}

func startNginxProxy(h *harness) (*instance, error) {
	return behindProxy(h, "nginx-proxy", func(dir string, port int, upstream string) (*instance, error) {
		return runNginx(h, dir, port, nginxProxyConf(dir, port, upstream), 200, false)
	})
}

func runNginx(h *harness, dir string, port int, conf string, want int, h2 bool) (*instance, error) {
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	p, err := startProc("nginx", dir, childEnv(), filepath.Join(dir, "out.log"),
		h.nginx, "-e", filepath.Join(dir, "error.log"), "-p", dir, "-c", path)
	if err != nil {
		return nil, err
	}
	readyFn := ready
	if h2 {
		readyFn = readyH2
	}
	in, err := readyFn(p, "127.0.0.1:"+strconv.Itoa(port), want)
	if err != nil {
		if b, _ := os.ReadFile(filepath.Join(dir, "error.log")); len(b) > 0 {
			err = fmt.Errorf("%w; error.log: %s", err, strings.TrimSpace(string(b)))
		}
	}
	return in, err
}

// nginxCommon is the part of both nginx configurations that is not about the answer: the
// harness's temporary directory for every path, worker_processes = cores, no access log, and
// keep-alive without a per-connection request limit (maintpage has none either).
func nginxCommon(dir string, sendfile bool) string {
	onOff := map[bool]string{true: "on", false: "off"}[sendfile]
	return fmt.Sprintf(`daemon off;
master_process on;
worker_processes %d;
worker_rlimit_nofile 16384;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 8192; }
http {
    access_log off;
    client_body_temp_path %[2]s/client_body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    sendfile %[3]s;
    tcp_nodelay on;
`, runtime.NumCPU(), dir, onOff)
}

// nginxMaintConf answers every path with 503 and maintpage's HTML body and headers. The body is a
// file served through error_page (kept open by open_file_cache); every header maintpage sends,
// except those nginx writes itself, is added with "always" so that it is on the 503.
func nginxMaintConf(dir string, port int, hdr http.Header, sendfile, h2 bool) (string, error) {
	var b strings.Builder
	listen := strconv.Itoa(port)
	if h2 {
		listen += " http2"
	}
	b.WriteString(nginxCommon(dir, sendfile))
	fmt.Fprintf(&b, `    open_file_cache max=16 inactive=1h;
    etag off;
    types { }
    default_type %s;
    server {
        listen 127.0.0.1:%s;
        root %s/html;
        error_page 503 /maint.html;
`, nginxQuote(hdr.Get("Content-Type")), listen, dir)
	names := make([]string, 0, len(hdr))
	for k := range hdr {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		switch k {
		case "Date", "Content-Length", "Content-Type", "Connection", "Transfer-Encoding", "Server":
			continue
		}
		for _, v := range hdr[k] {
			if strings.ContainsAny(v, "$\r\n") {
				return "", fmt.Errorf("header %s: %q cannot be written in nginx's configuration", k, v)
			}
			fmt.Fprintf(&b, "        add_header %s %s always;\n", k, nginxQuote(v))
		}
	}
	b.WriteString(`        location = /maint.html { internal; }
        location / { return 503; }
    }
}
`)
	return b.String(), nil
}

func nginxQuote(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

// nginxProxyConf proxies to the upstream with a keep-alive pool, as one would put nginx in front.
func nginxProxyConf(dir string, port int, upstream string) string {
	return nginxCommon(dir, true) + fmt.Sprintf(`    upstream app {
        server %s;
        keepalive 64;
    }
    server {
        listen 127.0.0.1:%d;
        location / {
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
`, upstream, port)
}

// startHAProxy puts HAProxy (Debian's package) in front of the upstream: one process with a thread
// per core, keep-alive on both sides, idle upstream connections shared between requests.
func startHAProxy(h *harness) (*instance, error) {
	return behindProxy(h, "haproxy", func(dir string, port int, upstream string) (*instance, error) {
		conf := fmt.Sprintf(`global
    nbthread %d
    maxconn 8000
defaults
    mode http
    timeout connect 5s
    timeout client 75s
    timeout server 75s
    timeout http-keep-alive 75s
    option http-keep-alive
    http-reuse always
frontend fe
    bind 127.0.0.1:%d
    default_backend app
backend app
    server app %s
`, runtime.NumCPU(), port, upstream)
		path := filepath.Join(dir, "haproxy.cfg")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			return nil, err
		}
		p, err := startProc("haproxy", dir, childEnv(), filepath.Join(dir, "out.log"), h.haproxy, "-db", "-f", path)
		if err != nil {
			return nil, err
		}
		return ready(p, "127.0.0.1:"+strconv.Itoa(port), 200)
	})
}

// startCaddy puts Caddy (Debian's package) in front of the upstream with reverse_proxy, its
// defaults otherwise (keep-alive pool, no access log), admin endpoint and automatic HTTPS off.
func startCaddy(h *harness) (*instance, error) {
	return behindProxy(h, "caddy", func(dir string, port int, upstream string) (*instance, error) {
		conf := fmt.Sprintf(`{
	admin off
	auto_https off
}
http://127.0.0.1:%d {
	reverse_proxy %s
}
`, port, upstream)
		path := filepath.Join(dir, "Caddyfile")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			return nil, err
		}
		p, err := startProc("caddy", dir, childEnv("XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir), filepath.Join(dir, "out.log"),
			h.caddy, "run", "--config", path, "--adapter", "caddyfile")
		if err != nil {
			return nil, err
		}
		return ready(p, "127.0.0.1:"+strconv.Itoa(port), 200)
	})
}

// ready waits for the first expected answer and records the time it took.
func ready(p *proc, addr string, want int) (*instance, error) {
	d, err := firstResponse(p, addr, benchPath, want, readyTimeout)
	if err != nil {
		p.stop()
		return nil, err
	}
	return &instance{addr: addr, main: p, startup: d}, nil
}

// fetch makes one request as wrk does (Accept: text/html) on a connection of its own.
func fetch(addr string) (*http.Response, []byte, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+benchPath, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "text/html")
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

// check verifies, outside the load, that the system gives exactly the answer it should: the status,
// the body bytes, and for the maintenance responses the headers nginx must repeat.
func (h *harness) check(s *system, in *instance) error {
	get := fetch
	if s.Group == "h2" {
		get = fetchH2
	}
	resp, body, err := get(in.addr)
	if err != nil {
		return fmt.Errorf("%s: GET %s: %w", s.ID, benchPath, err)
	}
	if resp.StatusCode != s.Want {
		return fmt.Errorf("%s: GET %s answered %d, want %d", s.ID, benchPath, resp.StatusCode, s.Want)
	}
	var want []byte
	switch {
	case s.Want == 503: // every maintenance answer is maintpage's page
		want = h.ref.body
		for _, k := range []string{"Retry-After", "Cache-Control", "Content-Type"} {
			if got, w := resp.Header.Get(k), h.ref.header.Get(k); got != w {
				return fmt.Errorf("%s: %s is %q, want %q (maintpage's)", s.ID, k, got, w)
			}
		}
	case s.ID == "flask" || s.ID == "gunicorn":
		want = []byte("FALLBACK trying to reach " + benchPath + ": " + message)
	default:
		want = []byte(upstreamBody)
	}
	if !bytes.Equal(body, want) {
		return fmt.Errorf("%s: body differs from the expected one (%d bytes, want %d): %.80q", s.ID, len(body), len(want), body)
	}
	return nil
}
