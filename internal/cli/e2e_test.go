package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/maintpage/maintpage/internal/kube/kubetest"
)

// binary is the real maintpage, built once for the end-to-end tests.
var binary string

func TestMain(m *testing.M) {
	if mode := os.Getenv(gcCountChildEnv); mode != "" {
		gcCountChild(mode) // a child of TestMemoryLimitTunerPacesLikeGOGC: no binary needed
	}
	dir, err := os.MkdirTemp("", "maintpage-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "maintpage")
	out, err := exec.Command("go", "build", "-o", binary, "../../cmd/maintpage").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "building maintpage: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	kubetest.StopShared()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running maintpage.
type proc struct {
	cmd    *exec.Cmd
	addr   string
	mu     sync.Mutex
	stderr bytes.Buffer
	stdout syncBuffer
	done   chan error
}

// syncBuffer is a bytes.Buffer safe for the process's writes and the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

var listenRE = regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)

// start runs maintpage with args and env on 127.0.0.1 port 0 and waits until it listens.
func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{done: make(chan error, 1)}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Env = append([]string{"MAINTPAGE_LISTEN=127.0.0.1:0", "MAINTPAGE_LOG_FORMAT=json", "PATH=" + os.Getenv("PATH")}, env...)
	stderr, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout = &p.stdout
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.stderr.WriteString(line + "\n")
			p.mu.Unlock()
			if m := listenRE.FindStringSubmatch(line); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
		}
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
	})
	select {
	case p.addr = <-found:
	case err := <-p.done:
		p.done <- err
		t.Fatalf("maintpage exited (%v) before listening; stderr:\n%s", err, p.logs())
	case <-time.After(20 * time.Second):
		t.Fatalf("maintpage did not start listening; stderr:\n%s", p.logs())
	}
	return p
}

var client = &http.Client{Timeout: 10 * time.Second}

func get(t *testing.T, p *proc, method, path string, header map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+p.addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestBinaryAnswersEveryRequest(t *testing.T) {
	t.Parallel()
	for _, fast := range []string{"true", "false"} {
		t.Run("fast_path="+fast, func(t *testing.T) {
			t.Parallel()
			testAnswersEveryRequest(t, start(t, []string{"MAINTENANCE_MESSAGE=Back at six", "MAINTPAGE_FAST_PATH=" + fast}, "serve"))
		})
	}
}

func testAnswersEveryRequest(t *testing.T, p *proc) {
	for _, method := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PURGE"} {
		for _, path := range []string{"/", "/deep/link?x=1", "/api/v2/orders/7"} {
			for _, accept := range []string{"text/html", "application/json", "*/*"} {
				resp, body := get(t, p, method, path, map[string]string{"Accept": accept})
				if resp.StatusCode != 503 || resp.Header.Get("Retry-After") != "3600" || resp.Header.Get("Cache-Control") != "no-store" {
					t.Errorf("%s %s (%s): %d, Retry-After %q, Cache-Control %q", method, path, accept, resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Cache-Control"))
				}
				if method != "HEAD" && !strings.Contains(body, "Back at six") {
					t.Errorf("%s %s (%s): body lacks the message:\n%s", method, path, accept, body)
				}
			}
		}
	}
	if resp, body := get(t, p, "GET", "/_maintenance/health", nil); resp.StatusCode != 200 || body != "ok\n" {
		t.Errorf("health: %d %q", resp.StatusCode, body)
	}
}

func TestBinaryRejectsOversizedHeaders(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"MAINTPAGE_MAX_HEADER_BYTES=4096"}, "serve")
	resp, _ := get(t, p, "GET", "/", map[string]string{"X-Big": strings.Repeat("a", 8192)})
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431", resp.StatusCode)
	}
}

func TestBinaryDoesNotDrainLargeBodies(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"MAINTPAGE_MAX_BODY_BYTES=1024"}, "serve")
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Announce 100 MB, send a little, and read: the answer must come without the server waiting
	// for (or reading) the rest, and the connection must then be closed.
	fmt.Fprintf(conn, "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n%s", strings.Repeat("x", 4096))
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !resp.Close {
		t.Errorf("status %d, close %v; want 503 and the connection closed", resp.StatusCode, resp.Close)
	}
}

func TestBinarySeedReproducesTheOriginalApp(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"MAINTENANCE_MESSAGE=Back at 18:00"}, "serve", "--config", "../../examples/seed.yaml")
	tests := []struct {
		path       string
		wantStatus int
		wantBody   string
		wantHeader [2]string
	}{
		{"/", 200, "INDEX: Back at 18:00", [2]string{}},
		{"/503", 503, "<h1>503 Back at 18:00</h1>", [2]string{}},
		{"/json", 200, `{"type":"Exception","status":503,"response":"Back at 18:00"}`, [2]string{"StatusHeader", "Status: maintenance window"}},
		{"/some/page", 200, "FALLBACK trying to reach /some/page: Back at 18:00", [2]string{}},
		{"/<script>alert(1)</script>", 200, "FALLBACK trying to reach /&lt;script&gt;alert(1)&lt;/script&gt;: Back at 18:00", [2]string{}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := get(t, p, "GET", strings.ReplaceAll(strings.ReplaceAll(tt.path, "<", "%3C"), ">", "%3E"), nil)
			if resp.StatusCode != tt.wantStatus || body != tt.wantBody {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			if k := tt.wantHeader[0]; k != "" && resp.Header.Get(k) != tt.wantHeader[1] {
				t.Errorf("%s = %q, want %q", k, resp.Header.Get(k), tt.wantHeader[1])
			}
		})
	}
}

func TestBinaryFailsAtOnceOnATakenPort(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "serve")
	// The longest timeouts allowed: a process that waited on one of them (a graceful shutdown of
	// what it never started) would take at least 8s.
	cmd.Env = []string{"MAINTPAGE_LISTEN=" + ln.Addr().String(), "MAINTPAGE_SHUTDOWN_TIMEOUT=8s", "MAINTPAGE_READ_HEADER_TIMEOUT=30s"}
	began := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(began)
	var ee *exec.ExitError
	if !errorsAs(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want code 1; output:\n%s", err, out)
	}
	if !strings.Contains(string(out), "cannot listen on "+ln.Addr().String()) || !strings.Contains(string(out), "address already in use") {
		t.Errorf("output does not explain the taken port:\n%s", out)
	}
	if strings.Contains(string(out), `"msg":"listening"`) {
		t.Errorf("it reported listening on a port it could not bind:\n%s", out)
	}
	// At once: under the 8s of the shortest timeout it could have waited on, with room for a busy
	// machine starting a process.
	if took > 6*time.Second {
		t.Errorf("it took %v to fail, want at once (no timeout is involved)", took)
	}
	t.Logf("failed after %v", took.Round(time.Millisecond))
}

// TestBinaryReloadsOnSIGHUPAlone proves SIGHUP reloads on its own: the configuration file is a
// symbolic link, and the file it points to, in another directory, is changed. The watcher watches the
// link's directory and sees nothing — the old configuration keeps serving, which the test checks —
// until SIGHUP.
func TestBinaryReloadsOnSIGHUPAlone(t *testing.T) {
	t.Parallel()
	linkDir, realDir := t.TempDir(), t.TempDir()
	target := filepath.Join(realDir, "maintpage.yaml")
	if err := os.WriteFile(target, []byte("message: before the signal\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(linkDir, "maintpage.yaml")
	if err := os.Symlink(target, cfg); err != nil {
		t.Fatal(err)
	}
	p := start(t, nil, "serve", "--config", cfg)
	body := func() string {
		_, b := get(t, p, "GET", "/", map[string]string{"Accept": "text/plain"})
		return b
	}
	if !strings.Contains(body(), "before the signal") {
		t.Fatalf("the first configuration is not served: %q", body())
	}
	if err := os.WriteFile(target, []byte("message: after the signal\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Many times the watcher's debounce (150ms): a reload from the file change would show by now.
	time.Sleep(2 * time.Second)
	if b := body(); !strings.Contains(b, "before the signal") {
		t.Fatalf("the configuration changed without SIGHUP (%q): the test would not tell SIGHUP's reload from the watcher's", b)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(body(), "after the signal") {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP did not reload the configuration; logs:\n%s", p.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(p.logs(), "SIGHUP: reloading configuration") {
		t.Errorf("the reload was not logged as SIGHUP's; logs:\n%s", p.logs())
	}
}

func errorsAs(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}

func TestBinaryConfigErrorExitsTwo(t *testing.T) {
	t.Parallel()
	cfg := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(cfg, []byte("port: 80x\nmesage: hi\n"), 0o600)
	cmd := exec.Command(binary, "serve", "--config", cfg)
	cmd.Env = []string{}
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errorsAs(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit: %v, want code 2; output:\n%s", err, out)
	}
	for _, want := range []string{cfg + ":1: port: invalid value \"80x\"", cfg + ":2: mesage: unknown setting; did you mean \"message\"?"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestBinaryShutsDownGracefully(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"MAINTPAGE_SHUTDOWN_TIMEOUT=5s"}, "serve")
	// An idle keep-alive connection must not hold the shutdown up.
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprint(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err // for the cleanup
		if err != nil {
			t.Errorf("exit after SIGTERM: %v, want 0; logs:\n%s", err, p.logs())
		}
	case <-time.After(9 * time.Second):
		t.Fatalf("still running 9s after SIGTERM; logs:\n%s", p.logs())
	}
	if !strings.Contains(p.logs(), `"msg":"stopped"`) {
		t.Errorf("no stop message in logs:\n%s", p.logs())
	}
}

func TestBinaryReloadsUnderLoadWithoutFailures(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "maintpage.yaml")
	write := func(body string) {
		t.Helper()
		tmp := filepath.Join(dir, "new.yaml")
		if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, cfg); err != nil { // how editors and config tools replace files
			t.Fatal(err)
		}
	}
	write("message: first message\n")
	p := start(t, nil, "serve", "--config", cfg)

	var requests, failures atomic.Int64
	var lastErr atomic.Value
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	tr := &http.Transport{MaxIdleConnsPerHost: 8}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				resp, err := c.Get("http://" + p.addr + "/page")
				requests.Add(1)
				if err != nil {
					failures.Add(1)
					lastErr.Store(err.Error())
					continue
				}
				body, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 503 || !bytes.Contains(body, []byte("message")) {
					failures.Add(1)
					lastErr.Store(fmt.Sprintf("%d %q %v", resp.StatusCode, body, err))
				}
			}
		}()
	}
	waitFor := func(want string) {
		t.Helper()
		deadline := time.Now().Add(15 * time.Second)
		for time.Now().Before(deadline) {
			_, body := get(t, p, "GET", "/", map[string]string{"Accept": "text/plain"})
			if strings.Contains(body, want) {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("the server never answered with %q; logs:\n%s", want, p.logs())
	}
	waitFor("first message")
	write("message: second message\n")
	waitFor("second message")
	write("message: [unclosed\n") // invalid: logged, the old one keeps serving
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(p.logs(), "reload failed") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(p.logs(), "reload failed") {
		t.Errorf("an invalid configuration was not reported; logs:\n%s", p.logs())
	}
	waitFor("second message")
	write("message: third message\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	waitFor("third message")
	stop()
	wg.Wait()
	if n := failures.Load(); n != 0 {
		t.Errorf("%d of %d requests failed during reloads; last: %v", n, requests.Load(), lastErr.Load())
	}
	if requests.Load() < 10 {
		t.Errorf("only %d requests were made during the reloads; the test did not exercise concurrency", requests.Load())
	}
	t.Logf("%d requests during three reloads, %d failures", requests.Load(), failures.Load())
}

func TestBinaryStatusEndpoint(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"MAINTENANCE_MESSAGE=db upgrade", "MAINTPAGE_UNTIL=2030-01-01T00:00:00Z"}, "serve")
	resp, body := get(t, p, "GET", "/_maintenance/status", nil)
	var st map[string]any
	if err := json.Unmarshal([]byte(body), &st); err != nil || resp.StatusCode != 200 {
		t.Fatalf("status: %d %q %v", resp.StatusCode, body, err)
	}
	if st["maintenance"] != true || st["message"] != "db upgrade" || st["until"] != "2030-01-01T00:00:00Z" {
		t.Errorf("status = %v", st)
	}
}

func TestBinaryLogsOneLinePerRequestWithoutQuery(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"MAINTPAGE_LOG_REQUESTS=all"}, "serve")
	get(t, p, "POST", "/orders/7?token=s3cret", map[string]string{"Authorization": "Bearer hunter2hunter2"})
	var line map[string]any
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, l := range strings.Split(p.stdout.String(), "\n") {
			if strings.Contains(l, `"path":"/orders/7"`) {
				if err := json.Unmarshal([]byte(l), &line); err != nil {
					t.Fatalf("log line is not JSON: %v: %s", err, l)
				}
			}
		}
		if line != nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if line == nil {
		t.Fatalf("no request log line; stdout:\n%s", p.stdout.String())
	}
	if line["method"] != "POST" || line["status"] != float64(503) || line["msg"] != "request" {
		t.Errorf("log line = %v", line)
	}
	if out := p.stdout.String() + p.logs(); strings.Contains(out, "s3cret") || strings.Contains(out, "hunter2") {
		t.Errorf("a secret from the request reached the logs:\n%s", out)
	}
}

// metrics reads what p serves on the metrics listener its log names.
func metrics(t *testing.T, p *proc) []byte {
	t.Helper()
	m := regexp.MustCompile(`"msg":"metrics listening","addr":"([^"]+)"`).FindStringSubmatch(p.logs())
	if m == nil {
		t.Fatalf("no metrics listener in logs:\n%s", p.logs())
	}
	resp, err := client.Get("http://" + m[1] + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func TestBinaryServesMetricsOnItsOwnListener(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"MAINTPAGE_METRICS_LISTEN=127.0.0.1:0"}, "serve")
	get(t, p, "GET", "/x", map[string]string{"Accept": "application/json"})
	body := metrics(t, p)
	if want := `maintpage_responses_total{format="json",rule="default",status="503"} 1`; !strings.Contains(string(body), want) {
		t.Errorf("metrics lack %q:\n%s", want, body)
	}
	if r, _ := get(t, p, "GET", "/_maintenance/metrics", nil); r.StatusCode != 404 {
		t.Errorf("metrics on the main port without a token: %d, want 404", r.StatusCode)
	}
}

// TestBinarySpeaksH2C talks HTTP/2 with prior knowledge to the real binary over TCP, with the fast
// path (ready answers on the fast HTTP/2 path, the rest relayed to net/http) and without it (net/http
// alone), and wants the same answers from both.
func TestBinarySpeaksH2C(t *testing.T) {
	t.Parallel()
	fast := start(t, []string{"MAINTPAGE_H2C=true"}, "serve")
	plain := start(t, []string{"MAINTPAGE_H2C=true", "MAINTPAGE_FAST_PATH=false"}, "serve")
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	for _, c := range []struct{ method, path, accept, body string }{
		{"GET", "/x", "text/html", ""},
		{"HEAD", "/x", "application/json", ""},
		{"GET", "/_maintenance/health", "", ""},
		{"POST", "/form", "", "a=1"},
	} {
		var answers [2]string
		for i, p := range []*proc{fast, plain} {
			var body io.Reader
			if c.body != "" {
				body = strings.NewReader(c.body)
			}
			req, _ := http.NewRequest(c.method, "http://"+p.addr+c.path, body)
			req.Header.Set("Accept", c.accept)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || resp.ProtoMajor != 2 {
				t.Fatalf("%s %s: %s, %v; want HTTP/2", c.method, c.path, resp.Proto, err)
			}
			resp.Header.Del("Date")
			answers[i] = fmt.Sprintf("%d %v %q", resp.StatusCode, resp.Header, b)
		}
		if answers[0] != answers[1] {
			t.Errorf("%s %s: fast path on:\n%s\noff:\n%s", c.method, c.path, answers[0], answers[1])
		}
		if want := map[string]string{"/_maintenance/health": "200"}[c.path]; want == "" && !strings.HasPrefix(answers[0], "503 ") || want != "" && !strings.HasPrefix(answers[0], want+" ") {
			t.Errorf("%s %s: %s", c.method, c.path, answers[0])
		}
	}
}
