package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/maintpage/maintpage/internal/reqlog"
)

// twoPaths answers every request with 503 and the same body on both paths, and says in a header
// which one answered; requests to /slow are left to net/http.
type twoPaths struct{}

const testBody = "down for maintenance\n"

func (twoPaths) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Served-By", "net/http")
	w.Header().Set("Content-Length", fmt.Sprint(len(testBody)))
	w.WriteHeader(http.StatusServiceUnavailable)
	if r.Method != http.MethodHead {
		io.WriteString(w, testBody)
	}
}

var (
	fastHead = []byte(fmt.Sprintf("HTTP/1.1 503 Service Unavailable\r\nServed-By: fast\r\nContent-Length: %d\r\n", len(testBody)))
	fastBody = []byte(testBody)
)

func (twoPaths) ServeFast(dst []byte, r *FastRequest) (FastResponse, bool) {
	if r.Path == "/slow" {
		return FastResponse{}, false
	}
	return FastResponse{Head: append(dst, fastHead...), Body: fastBody, Status: 503}, true
}

// testOptions are the server's options as a test starts it: port 0, a short read_header_timeout,
// the fast path on, and the configuration's defaults otherwise.
func testOptions(h http.Handler) Options {
	return Options{
		Addr: "127.0.0.1:0", Handler: h, FastPath: true,
		ReadHeaderTimeout: time.Second, ReadTimeout: 5 * time.Minute, WriteTimeout: 30 * time.Second,
		IdleTimeout: 75 * time.Second, MaxHeaderBytes: 32 << 10,
		Log: slog.New(slog.DiscardHandler),
	}
}

// openServer opens a server with testOptions changed by mutate, and closes it when the test ends.
func openServer(t testing.TB, h http.Handler, mutate func(*Options)) *Server {
	t.Helper()
	o := testOptions(h)
	if mutate != nil {
		mutate(&o)
	}
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- s.Close(ctx) }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Close: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Close did not return")
		}
	})
	return s
}

func startServer(t *testing.T, h http.Handler, mutate func(*Options)) string {
	t.Helper()
	return openServer(t, h, mutate).Addr().String()
}

type rawConn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, c: c, r: bufio.NewReader(c)}
}

func (rc *rawConn) send(s string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, s); err != nil {
		rc.t.Fatal(err)
	}
}

// read reads one response and returns it with its body.
func (rc *rawConn) read(method string) (*http.Response, string) {
	rc.t.Helper()
	resp, err := http.ReadResponse(rc.r, &http.Request{Method: method})
	if err != nil {
		rc.t.Fatalf("reading a response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		rc.t.Fatal(err)
	}
	return resp, string(body)
}

func TestFastPathThenHandOver(t *testing.T) {
	t.Parallel()
	c := dial(t, startServer(t, twoPaths{}, nil))
	steps := []struct {
		req, method, wantBy string
	}{
		{"GET /a HTTP/1.1\r\nHost: h\r\n\r\n", "GET", "fast"},
		{"HEAD /a HTTP/1.1\r\nHost: h\r\n\r\n", "HEAD", "fast"},
		{"GET /b?q=1 HTTP/1.1\r\nHost: h\r\nAccept: text/html\r\n\r\n", "GET", "fast"},
		// A body: handed to net/http with the bytes read so far, body included.
		{"POST /c HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", "POST", "net/http"},
		// From then on net/http serves the connection.
		{"GET /a HTTP/1.1\r\nHost: h\r\n\r\n", "GET", "net/http"},
	}
	for i, s := range steps {
		c.send(s.req)
		resp, body := c.read(s.method)
		if resp.StatusCode != 503 || resp.Header.Get("Served-By") != s.wantBy {
			t.Errorf("step %d: %d served by %q, want 503 by %q", i, resp.StatusCode, resp.Header.Get("Served-By"), s.wantBy)
		}
		if resp.Header.Get("Date") == "" {
			t.Errorf("step %d: no Date header", i)
		}
		wantBody := testBody
		if s.method == "HEAD" {
			wantBody = ""
		}
		if body != wantBody || resp.Header.Get("Content-Length") != fmt.Sprint(len(testBody)) {
			t.Errorf("step %d: body %q, Content-Length %q", i, body, resp.Header.Get("Content-Length"))
		}
	}
}

func TestFastPathPipelining(t *testing.T) {
	t.Parallel()
	c := dial(t, startServer(t, twoPaths{}, nil))
	c.send("GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\nGET /slow HTTP/1.1\r\nHost: h\r\n\r\nGET /4 HTTP/1.1\r\nHost: h\r\n\r\n")
	for i, want := range []string{"fast", "fast", "net/http", "net/http"} {
		resp, body := c.read("GET")
		if resp.Header.Get("Served-By") != want || body != testBody {
			t.Errorf("response %d: served by %q, body %q; want %q", i, resp.Header.Get("Served-By"), body, want)
		}
	}
}

func TestFastPathConnectionClose(t *testing.T) {
	t.Parallel()
	c := dial(t, startServer(t, twoPaths{}, nil))
	c.send("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
	resp, _ := c.read("GET")
	if !resp.Close || resp.Header.Get("Served-By") != "fast" {
		t.Errorf("close %v, served by %q; want a closing fast answer", resp.Close, resp.Header.Get("Served-By"))
	}
	if _, err := c.r.ReadByte(); err != io.EOF {
		t.Errorf("after Connection: close, read gave %v, want EOF", err)
	}
}

func TestFastPathLargeHeadsGoToNetHTTP(t *testing.T) {
	t.Parallel()
	addr := startServer(t, twoPaths{}, func(o *Options) { o.MaxHeaderBytes = 16 << 10 })
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: h\r\nCookie: " + strings.Repeat("a", 6000) + "\r\n\r\n")
	if resp, _ := c.read("GET"); resp.StatusCode != 503 || resp.Header.Get("Served-By") != "net/http" {
		t.Errorf("6 KB head: %d by %q, want 503 by net/http", resp.StatusCode, resp.Header.Get("Served-By"))
	}
	c2 := dial(t, addr)
	c2.send("GET / HTTP/1.1\r\nHost: h\r\nCookie: " + strings.Repeat("a", 40000) + "\r\n\r\n")
	if resp, _ := c2.read("GET"); resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("40 KB head: %d, want 431", resp.StatusCode)
	}
}

func TestFastPathOddRequestsGetNetHTTPAnswers(t *testing.T) {
	t.Parallel()
	addr := startServer(t, twoPaths{}, nil)
	for _, req := range []string{
		"GET / HTTP/1.0\r\nHost: h\r\n\r\n",
		"GET /x HTTP/1.1\nHost: h\n\n",
		"GET /a%20b HTTP/1.1\r\nHost: h\r\n\r\n",
	} {
		c := dial(t, addr)
		c.send(req)
		if resp, _ := c.read("GET"); resp.StatusCode != 503 || resp.Header.Get("Served-By") != "net/http" {
			t.Errorf("%q: %d by %q, want 503 by net/http", req, resp.StatusCode, resp.Header.Get("Served-By"))
		}
	}
	for _, req := range []string{
		"GET / HTTP/1.1\r\n\r\n",                       // no Host
		"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", // two
		"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
	} {
		c := dial(t, addr)
		c.send(req)
		if resp, _ := c.read("GET"); resp.StatusCode != 400 {
			t.Errorf("%q: %d, want net/http's 400", req, resp.StatusCode)
		}
	}
}

// TestFastPathClosesSlowHeads: a head that does not end is closed at read_header_timeout — not
// before (a lower bound: the server waits as long as it says), and not much after.
func TestFastPathClosesSlowHeads(t *testing.T) {
	t.Parallel()
	const timeout = 2 * time.Second
	c := dial(t, startServer(t, twoPaths{}, func(o *Options) { o.ReadHeaderTimeout = timeout }))
	start := time.Now()
	c.send("GET / HTTP/1.1\r\nHost: h\r\n")
	_, err := c.r.ReadByte()
	if err == nil {
		t.Fatal("the server answered an unfinished head")
	}
	// The deadline runs from accept, a little before start: allow for that below, and for a busy
	// machine above.
	if waited := time.Since(start); waited < timeout/2 || waited > timeout+8*time.Second {
		t.Errorf("the connection was closed after %v, want about read_header_timeout (%v)", waited, timeout)
	}
}

func TestFastPathShutdownClosesIdleConnections(t *testing.T) {
	t.Parallel()
	o := testOptions(twoPaths{})
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s.Addr().String())
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	c.read("GET")
	const deadline = 8 * time.Second // the default shutdown_timeout
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Close(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(deadline - time.Second):
		t.Fatalf("an idle keep-alive connection held the shutdown up")
	}
	if _, err := c.r.ReadByte(); err == nil {
		t.Error("the idle connection is still open after shutdown")
	}
}

func TestFastPathOff(t *testing.T) {
	t.Parallel()
	c := dial(t, startServer(t, twoPaths{}, func(o *Options) { o.FastPath = false }))
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	if resp, _ := c.read("GET"); resp.Header.Get("Served-By") != "net/http" {
		t.Errorf("fast_path false: served by %q, want net/http", resp.Header.Get("Served-By"))
	}
}

// logModes are the request log's settings the fast path is measured with: off, and each mode.
var logModes = []struct {
	name string
	mode reqlog.Mode
	on   bool
}{{"log_off", 0, false}, {"log_all", reqlog.All, true}, {"log_sample", reqlog.Sample, true}, {"log_summary", reqlog.Summary, true}}

// openLogged opens a server with the fast path and, when on, a request log in mode that writes to
// io.Discard.
func openLogged(t testing.TB, on bool, mode reqlog.Mode) string {
	t.Helper()
	if !on {
		return openServer(t, twoPaths{}, nil).Addr().String()
	}
	// Loopback trusted: the X-Forwarded-For of TestFastPathAllocatesNothingPerRequest is read.
	rl, err := reqlog.New(reqlog.Options{Out: io.Discard, Mode: mode, SampleEvery: 7,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rl.Close() }) // after the server's Close: cleanups run last first
	return openServer(t, twoPaths{}, func(o *Options) { o.RequestLog = rl }).Addr().String()
}

// BenchmarkFastPathRoundTrip sends keep-alive requests over loopback TCP and reads the answers
// with no allocation on the client side, so allocs/op is what the server's fast path allocates,
// with the request log off and in each mode.
func BenchmarkFastPathRoundTrip(b *testing.B) {
	for _, m := range logModes {
		b.Run(m.name, func(b *testing.B) {
			c, err := net.Dial("tcp", openLogged(b, m.on, m.mode))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := []byte("GET /x HTTP/1.1\r\nHost: h\r\nAccept: text/html\r\n\r\n")
			// Learn the response's length once, then read exactly that much each time.
			c.Write(req)
			buf := make([]byte, 4096)
			n, err := c.Read(buf)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				c.Write(req)
				if _, err := io.ReadFull(c, buf[:n]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestFastPathAllocatesNothingPerRequest: neither answering nor logging (writing, sampling or
// counting the line) allocates, nor taking the buffers from their pools and giving them back.
// scripts/test.sh runs it without the race detector, whose sync.Pool allocates on purpose.
func TestFastPathAllocatesNothingPerRequest(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's sync.Pool drops what is put back at random; run without -race")
	}
	for _, m := range logModes {
		c := dial(t, openLogged(t, m.on, m.mode))
		req := []byte("GET /x HTTP/1.1\r\nHost: h\r\nAccept: text/html\r\nAccept-Language: de\r\nX-Forwarded-For: 203.0.113.7\r\n\r\n")
		c.c.Write(req)
		resp, _ := c.read("GET")
		if resp.Header.Get("Served-By") != "fast" {
			t.Fatal("not served by the fast path")
		}
		buf := make([]byte, 4096)
		var n int
		c.c.Write(req)
		n, _ = c.r.Read(buf) // the client's buffered reader is empty: this is one whole response
		if n == 0 {
			t.Fatal("no response")
		}
		allocs := testing.AllocsPerRun(500, func() {
			c.c.Write(req)
			if _, err := io.ReadFull(c.r, buf[:n]); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per request on the fast path, want 0", m.name, allocs)
		}
	}
}

func TestFastPathSilentConnectionGetsTheHeaderTimeout(t *testing.T) {
	t.Parallel()
	c := dial(t, startServer(t, twoPaths{}, func(o *Options) { o.IdleTimeout = 30 * time.Second })) // read_header_timeout 1s
	start := time.Now()
	if _, err := c.r.ReadByte(); err == nil {
		t.Fatal("the server sent something to a silent connection")
	}
	if waited := time.Since(start); waited > 8*time.Second {
		t.Errorf("a connection that sent nothing stayed open %v; want about read_header_timeout (1s), not idle_timeout (30s)", waited)
	}
}

func TestFastPathLineEndingsItDoesNotRead(t *testing.T) {
	t.Parallel()
	addr := startServer(t, twoPaths{}, nil)
	for _, req := range []string{
		"GET /x HTTP/1.1\r\nHost: h\n\r\n",
		"GET /x HTTP/1.1\nHost: h\r\n\r\n",
	} {
		c := dial(t, addr)
		c.send(req)
		if resp, _ := c.read("GET"); resp.StatusCode != 503 || resp.Header.Get("Served-By") != "net/http" {
			t.Errorf("%q: %d by %q, want net/http's answer at once", req, resp.StatusCode, resp.Header.Get("Served-By"))
		}
	}
}

func TestParseRequestRepeatAfterEmptyValue(t *testing.T) {
	t.Parallel()
	for _, head := range []string{
		"GET / HTTP/1.1\r\nHost: h\r\nAccept:\r\nAccept: application/json\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nAccept-Language:\r\nAccept-Language: de\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nOrigin:\r\nOrigin: https://x.example\r\n\r\n",
	} {
		var r FastRequest
		if _, ok := parseRequest([]byte(head), &r); ok {
			t.Errorf("%q: accepted; a repeated header must go to net/http, whose Get returns the first (empty) value", head)
		}
	}
}

// TestFastPathAnswersBadLinesAtOnce sends heads that never complete: net/http answers 400 as soon as
// it has read the bad line, and so must the fast path (it used to wait for the end of the head).
func TestFastPathAnswersBadLinesAtOnce(t *testing.T) {
	t.Parallel()
	addr := startServer(t, twoPaths{}, func(o *Options) { o.ReadHeaderTimeout = 30 * time.Second })
	for _, req := range []string{
		"GET /\r\n",
		"GET /foo bar/ HTTP/1.1\r\n",
		"GET /x ICE/1.0\r\nHost: a\r\n",
		"\r\nGET /test HTTP/1.1\r\n",
	} {
		c := dial(t, addr)
		start := time.Now()
		c.send(req)
		resp, _ := c.read("GET")
		if resp.StatusCode != 400 {
			t.Errorf("%q: %d, want 400", req, resp.StatusCode)
		}
		if _, err := c.r.ReadByte(); err != io.EOF {
			t.Errorf("%q: after the 400, read gave %v, want EOF", req, err)
		}
		// read_header_timeout is 30s: an answer that waited for it would take that long.
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("%q: answered and closed after %v, want at once (read_header_timeout is 30s)", req, took)
		}
	}
}

// TestFastPathChecksWhatFollowsAnAnswer pipelines a plain request and then one the fast path must
// leave to net/http; the second gets net/http's answer, as without the fast path.
func TestFastPathChecksWhatFollowsAnAnswer(t *testing.T) {
	t.Parallel()
	addr := startServer(t, twoPaths{}, func(o *Options) { o.ReadHeaderTimeout = 30 * time.Second })
	first := "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
	tests := []struct {
		second     string
		wantStatus int
		wantBy     string
	}{
		{"GET /lf HTTP/1.1\nHost: t\n\n", 503, "net/http"},
		{"GET /\r\n", 400, ""},
		{"GET / HTTP/1.1\r\nHost: h\r\nX: a\x0cb\r\n\r\n", 400, ""},
	}
	for _, tt := range tests {
		c := dial(t, addr)
		c.send(first + tt.second)
		if resp, _ := c.read("GET"); resp.Header.Get("Served-By") != "fast" {
			t.Fatalf("%q: first answer by %q, want the fast path", tt.second, resp.Header.Get("Served-By"))
		}
		resp, _ := c.read("GET")
		if resp.StatusCode != tt.wantStatus || resp.Header.Get("Served-By") != tt.wantBy {
			t.Errorf("%q after a fast answer: %d by %q, want %d by %q", tt.second, resp.StatusCode, resp.Header.Get("Served-By"), tt.wantStatus, tt.wantBy)
		}
	}
}

// TestFastPathSkipsCRLFAfterPOST: net/http skips up to four CR/LF bytes after a POST; the fast
// path, which answers body-less POSTs, must read the next request the same way.
func TestFastPathSkipsCRLFAfterPOST(t *testing.T) {
	t.Parallel()
	c := dial(t, startServer(t, twoPaths{}, nil))
	c.send("POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n")
	for i := range 2 {
		if resp, _ := c.read("GET"); resp.StatusCode != 503 || resp.Header.Get("Served-By") != "fast" {
			t.Errorf("response %d: %d by %q, want 503 by the fast path", i, resp.StatusCode, resp.Header.Get("Served-By"))
		}
	}
}

// TestFastPathNoHTTP2MidConnection: with h2c on, an HTTP/2 preface after an answer is read as an
// HTTP/1 request (PRI * HTTP/2.0), answered, and the connection closed — as net/http does — not a
// switch of protocol in the middle of a connection.
func TestFastPathNoHTTP2MidConnection(t *testing.T) {
	t.Parallel()
	addr := startServer(t, twoPaths{}, func(o *Options) { o.H2C = true })
	c := dial(t, addr)
	c.send("GET /a HTTP/1.1\r\nHost: h\r\n\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	if resp, _ := c.read("GET"); resp.Header.Get("Served-By") != "fast" {
		t.Fatalf("first answer by %q, want the fast path", resp.Header.Get("Served-By"))
	}
	resp, _ := c.read("PRI")
	if resp.StatusCode != 503 || resp.ProtoMajor != 1 || !resp.Close {
		t.Errorf("preface after an answer: %s %d close=%v, want HTTP/1.1 503 and close", resp.Proto, resp.StatusCode, resp.Close)
	}
	if _, err := c.r.ReadByte(); err != io.EOF {
		t.Errorf("after the preface's answer, read gave %v, want EOF", err)
	}
	// At the start of a connection the preface still starts HTTP/2.
	c2 := dial(t, addr)
	c2.send("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	head := make([]byte, 9)
	if _, err := io.ReadFull(c2.r, head); err != nil || head[3] != 0x4 { // a SETTINGS frame
		t.Errorf("preface at the start: read %x, %v; want the server's SETTINGS frame", head, err)
	}
}

// TestFastPathIdleConnectionsHoldNoBuffers: a keep-alive connection waiting for its next request
// costs its goroutine and a few small structures, not a read buffer (fastBufSize) or the answer's
// head: both go back to their pools once a request is answered with nothing of the next one read.
// The figures, for the record: goroutines, heap and stack bytes per idle connection (before this
// test, 7.3 KiB of heap: the 4096-byte buffer in a 4864-byte size class and 1 KiB for the head).
func TestFastPathIdleConnectionsHoldNoBuffers(t *testing.T) {
	const n = 200
	addr := startServer(t, twoPaths{}, nil)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	conns := make([]net.Conn, 0, n)
	buf := make([]byte, 1024)
	req := []byte("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		c.Write(req)
		if _, err := c.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	goroutines := runtime.NumGoroutine() - g0
	heap := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	stack := (int64(after.StackInuse) - int64(before.StackInuse)) / n
	t.Logf("per idle connection (server and client side): %.2f goroutine(s), %d heap bytes, %d stack bytes",
		float64(goroutines)/n, heap, stack)
	if goroutines != n {
		t.Errorf("%d goroutines for %d idle connections, want one each", goroutines, n)
	}
	// The race detector's bookkeeping doubles the small structures (3.6 KiB here), and its
	// sync.Pool drops buffers: the bytes are checked without it (scripts/test.sh runs this so).
	if heap >= fastBufSize && !raceEnabled {
		t.Errorf("%d heap bytes per idle connection, want less than a read buffer (%d): a buffer is held while idle", heap, fastBufSize)
	}
	runtime.KeepAlive(conns)
}

// TestFastPathIdleTimeoutCountsFromTheLastAnswer: the keep-alive deadline, moved on lazily (at most
// once per idle_timeout/8), never closes a connection earlier than idle_timeout after its last
// answer, however many answers came before.
func TestFastPathIdleTimeoutCountsFromTheLastAnswer(t *testing.T) {
	t.Parallel()
	const idle = time.Second
	c := dial(t, startServer(t, twoPaths{}, func(o *Options) { o.IdleTimeout = idle }))
	var last time.Time
	for i := range 8 {
		if i > 0 {
			time.Sleep(idle / 10)
		}
		c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		c.read("GET")
		last = time.Now()
	}
	if _, err := c.r.ReadByte(); err == nil {
		t.Fatal("the server sent something to an idle connection")
	}
	if waited := time.Since(last); waited < idle || waited > idle+8*time.Second {
		t.Errorf("the idle connection was closed %v after its last answer, want idle_timeout (%v) or a little more", waited, idle)
	}
}
