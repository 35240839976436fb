package server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/maintpage/maintpage/internal/config"
	"github.com/maintpage/maintpage/internal/respond"
	"github.com/maintpage/maintpage/internal/server"
)

// The fast HTTP/2 path is tested differentially: the same requests go to maintpage's server (fast
// path and h2c on) and to net/http's own h2c server with the same handler, once through
// golang.org/x/net/http2's client Transport and once as raw frames, and what comes back — status,
// header fields but Date, body, trailers, RST_STREAM and GOAWAY codes — must be the same.

// mixed is the maintenance responder with an echo handler under /_echo/ (which the fast path never
// answers), for what the responder has not: request bodies, trailers, streamed answers.
type mixed struct{ *respond.Responder }

func (m mixed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/_echo/") {
		m.Responder.ServeHTTP(w, r)
		return
	}
	w.Header().Set("Trailer", "X-Sum")
	w.Header().Set("X-Method", r.Method)
	w.Header().Set("X-Proto", r.Proto)
	w.Header().Set("X-Content-Length", fmt.Sprint(r.ContentLength))
	w.Header().Set("X-Remote-Is-Loopback", fmt.Sprint(strings.HasPrefix(r.RemoteAddr, "127.0.0.1:")))
	var keys []string
	for k := range r.Header {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		w.Header().Add("X-Got", k+"="+strings.Join(r.Header[k], "|"))
	}
	if r.URL.Query().Has("status") {
		w.WriteHeader(http.StatusTeapot)
	}
	b, err := io.ReadAll(r.Body)
	if err != nil {
		w.Header().Set("X-Sum", "read error")
		return
	}
	for k, v := range r.Trailer {
		w.Header().Add("X-Sum", "trailer "+k+"="+strings.Join(v, "|"))
	}
	if r.URL.Query().Has("flush") {
		for i := range 3 {
			fmt.Fprintf(w, "part %d\n", i)
			w.(http.Flusher).Flush()
		}
	}
	w.Write(b)
	w.Header().Set("X-Sum", fmt.Sprint(len(b)))
}

func (m mixed) ServeFast(dst []byte, q *server.FastRequest) (server.FastResponse, bool) {
	if strings.HasPrefix(q.Path, "/_echo/") {
		return server.FastResponse{}, false
	}
	return m.Responder.ServeFast(dst, q)
}

// pair starts maintpage's server and net/http's h2c server with the same handler and limits, and
// returns their addresses.
func pair(t testing.TB) (ours, theirs string) {
	t.Helper()
	cfg, err := config.Load("", func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := respond.New(respond.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	h := mixed{r}
	s, err := server.Open(server.Options{
		Addr: "127.0.0.1:0", Handler: h, FastPath: true, H2C: true,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout, ReadTimeout: cfg.ReadTimeout,
		WriteTimeout: cfg.WriteTimeout, IdleTimeout: cfg.IdleTimeout, MaxHeaderBytes: cfg.MaxHeaderBytes,
		Log: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	plain := httptest.NewUnstartedServer(h)
	plain.Config.ReadHeaderTimeout, plain.Config.ReadTimeout = cfg.ReadHeaderTimeout, cfg.ReadTimeout
	plain.Config.WriteTimeout, plain.Config.IdleTimeout = cfg.WriteTimeout, cfg.IdleTimeout
	plain.Config.MaxHeaderBytes = cfg.MaxHeaderBytes
	plain.Config.ErrorLog = log.New(io.Discard, "", 0)
	plain.Config.Protocols = new(http.Protocols)
	plain.Config.Protocols.SetHTTP1(true)
	plain.Config.Protocols.SetUnencryptedHTTP2(true)
	plain.Start()
	t.Cleanup(plain.Close)
	return s.Addr().String(), strings.TrimPrefix(plain.URL, "http://")
}

func h2cClient() *http.Client {
	return &http.Client{Timeout: 20 * time.Second, Transport: &http2.Transport{
		AllowHTTP: true, DisableCompression: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
}

// outcome is what a client saw of one request, comparable between the servers.
func outcome(resp *http.Response, err error) string {
	if err != nil {
		var se http2.StreamError
		if errors.As(err, &se) {
			return "stream error " + se.Code.String()
		}
		return "error " + err.Error()
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	var b strings.Builder
	fmt.Fprintf(&b, "%s %d\n", resp.Proto, resp.StatusCode)
	writeHeader(&b, resp.Header)
	fmt.Fprintf(&b, "\n%q\n", body)
	if err != nil {
		var se http2.StreamError
		if errors.As(err, &se) {
			fmt.Fprintf(&b, "body: stream error %s\n", se.Code)
		} else {
			fmt.Fprintf(&b, "body error: %v\n", err)
		}
	}
	fmt.Fprintf(&b, "trailer:\n")
	writeHeader(&b, resp.Trailer)
	return b.String()
}

func writeHeader(b *strings.Builder, h http.Header) {
	keys := make([]string, 0, len(h))
	for k := range h {
		if k != "Date" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(b, "%s: %q\n", k, h[k])
	}
}

type h2case struct {
	name   string
	method string
	path   string
	header http.Header
	body   string
	// trailer is sent after the body (the Transport declares it).
	trailer http.Header
}

func transportCorpus() []h2case {
	big := strings.Repeat("x", 8000)
	hdr := func(kv ...string) http.Header {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Add(kv[i], kv[i+1])
		}
		return h
	}
	cases := []h2case{
		{name: "plain GET", method: "GET", path: "/"},
		{name: "HEAD", method: "HEAD", path: "/"},
		{name: "html", method: "GET", path: "/page", header: hdr("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")},
		{name: "json", method: "GET", path: "/api/x", header: hdr("Accept", "application/json")},
		{name: "problem json", method: "GET", path: "/", header: hdr("Accept", "application/problem+json")},
		{name: "text", method: "GET", path: "/", header: hdr("Accept", "text/plain")},
		{name: "nothing acceptable", method: "GET", path: "/", header: hdr("Accept", "image/png")},
		{name: "zero q html", method: "GET", path: "/", header: hdr("Accept", "text/html;q=0, */*")},
		{name: "german", method: "GET", path: "/", header: hdr("Accept", "text/html", "Accept-Language", "de-DE,de;q=0.9")},
		{name: "unknown language", method: "GET", path: "/", header: hdr("Accept-Language", "xx")},
		{name: "HEAD html", method: "HEAD", path: "/", header: hdr("Accept", "text/html")},
		{name: "query", method: "GET", path: "/search?q=a&b=c", header: hdr("Accept", "text/html")},
		{name: "encoded path", method: "GET", path: "/a%2Fb"},
		{name: "dot segments", method: "GET", path: "/a/../b"},
		{name: "double slash", method: "GET", path: "//x"},
		{name: "odd method", method: "PURGE", path: "/"},
		{name: "OPTIONS", method: "OPTIONS", path: "/"},
		{name: "DELETE", method: "DELETE", path: "/x"},
		{name: "POST with body", method: "POST", path: "/form", body: "a=1&b=2", header: hdr("Content-Type", "application/x-www-form-urlencoded")},
		{name: "PUT with body", method: "PUT", path: "/x", body: big},
		{name: "health", method: "GET", path: "/_maintenance/health"},
		{name: "status", method: "GET", path: "/_maintenance/status"},
		{name: "HEAD health", method: "HEAD", path: "/_maintenance/health"},
		{name: "reserved unknown", method: "GET", path: "/_maintenance/nope"},
		{name: "asset", method: "GET", path: "/_maintenance/assets/style.css"},
		{name: "large header", method: "GET", path: "/", header: hdr("X-Big", strings.Repeat("a", 20000))},
		{name: "cookies", method: "GET", path: "/", header: hdr("Cookie", "a=1", "Cookie", "b=2")},
		{name: "one cookie", method: "GET", path: "/", header: hdr("Cookie", "a=1")},
		{name: "origin", method: "GET", path: "/", header: hdr("Origin", "https://example.com")},
		{name: "forwarded", method: "GET", path: "/", header: hdr("X-Forwarded-For", "192.0.2.1")},
		{name: "bypass header", method: "GET", path: "/", header: hdr("X-Maintpage-Bypass", "nope")},
		{name: "route service", method: "GET", path: "/", header: hdr("X-Cf-Forwarded-Url", "https://app.example.com/")},
		{name: "expect", method: "PUT", path: "/_echo/e", header: hdr("Expect", "100-continue"), body: "abc"},
		{name: "content-length 0", method: "GET", path: "/", header: hdr("Content-Length", "0")},
		{name: "echo GET", method: "GET", path: "/_echo/x", header: hdr("X-A", "1", "X-A", "2", "User-Agent", "t")},
		{name: "echo body", method: "POST", path: "/_echo/x", body: strings.Repeat("0123456789", 30000)},
		{name: "echo status", method: "POST", path: "/_echo/x?status", body: "x"},
		{name: "echo trailer", method: "POST", path: "/_echo/x", body: "abc", trailer: hdr("X-T", "v")},
		{name: "echo flush", method: "POST", path: "/_echo/x?flush", body: "end\n"},
		{name: "echo HEAD", method: "HEAD", path: "/_echo/x"},
	}
	return cases
}

func (c h2case) request(addr string) *http.Request {
	var body io.Reader
	if c.body != "" {
		body = strings.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, "http://"+addr+c.path, body)
	if err != nil {
		panic(err)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if c.trailer != nil {
		req.Trailer = http.Header{}
		for k := range c.trailer {
			req.Trailer[k] = nil
		}
		// The trailer's values are set once the body is read, as the Transport reads them then.
		req.Body = &trailerBody{Reader: strings.NewReader(c.body), set: func() {
			for k, v := range c.trailer {
				req.Trailer[k] = v
			}
		}}
		req.ContentLength = -1
	}
	return req
}

type trailerBody struct {
	io.Reader
	set func()
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.Reader.Read(p)
	if err == io.EOF {
		b.set()
	}
	return n, err
}

func (b *trailerBody) Close() error { return nil }

func TestH2FastMatchesNetHTTPThroughTransport(t *testing.T) {
	t.Parallel()
	ours, theirs := pair(t)
	oc, tc := h2cClient(), h2cClient()
	for _, c := range transportCorpus() {
		t.Run(c.name, func(t *testing.T) {
			got := outcome(oc.Do(c.request(ours)))
			want := outcome(tc.Do(c.request(theirs)))
			if got != want {
				t.Errorf("maintpage:\n%s\nnet/http:\n%s", got, want)
			}
			if !strings.HasPrefix(got, "HTTP/2.0 ") && !strings.Contains(got, "stream error") {
				t.Errorf("not answered over HTTP/2: %s", got)
			}
		})
	}
}

func TestH2FastManyConcurrentStreams(t *testing.T) {
	t.Parallel()
	ours, theirs := pair(t)
	oc, tc := h2cClient(), h2cClient()
	corpus := transportCorpus()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	for i := range 200 {
		c := corpus[i%len(corpus)]
		if c.trailer != nil {
			continue
		}
		wg.Go(func() {
			got := outcome(oc.Do(c.request(ours)))
			want := outcome(tc.Do(c.request(theirs)))
			if got != want {
				mu.Lock()
				bad = append(bad, fmt.Sprintf("%s: maintpage:\n%s\nnet/http:\n%s", c.name, got, want))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, b := range bad {
		t.Error(b)
	}
}

// A raw case writes frames after the preface and the client's SETTINGS; the servers' frames are
// read until the connection closes or is quiet.
type rawCase struct {
	name  string
	write func(fr *http2.Framer, enc func(fields ...string) []byte, w *rawWait)
}

// rawWait lets a raw case wait for what the server has sent before it writes its next frame, so
// that both servers are in the same state when it arrives (a fixed sleep was not enough on a
// loaded machine: net/http's handler had not always answered). A nil *rawWait waits for nothing
// (the fuzzer only collects the frames).
type rawWait struct {
	mu      sync.Mutex
	changed chan struct{}     // closed and replaced whenever the reader saw a frame or stopped
	seen    map[uint32]string // per stream: "" nothing, "started" a frame came, "ended" END_STREAM or RST_STREAM
	stopped bool
}

// until waits, up to 10 s, for stream id to reach state ("started" or "ended"), then a little
// longer: net/http's serve loop learns that a frame was written through a channel it selects on
// together with the frames it read, so a reply sent the moment the frame arrives could still be
// taken first.
func (w *rawWait) until(id uint32, state string) {
	if w == nil {
		return
	}
	deadline := time.After(10 * time.Second)
	for {
		w.mu.Lock()
		got, stopped, ch := w.seen[id], w.stopped, w.changed
		w.mu.Unlock()
		if got == state || got == "ended" || stopped {
			time.Sleep(20 * time.Millisecond)
			return
		}
		select {
		case <-ch:
		case <-deadline:
			return // the comparison of the two servers' frames then says what differed
		}
	}
}

// answered waits until the server ended stream id (END_STREAM or RST_STREAM).
func (w *rawWait) answered(id uint32) { w.until(id, "ended") }

// started waits until the server sent a frame on stream id (a head, or data up to its window).
func (w *rawWait) started(id uint32) { w.until(id, "started") }

func (w *rawWait) note(id uint32, ended, stop bool) {
	w.mu.Lock()
	if stop {
		w.stopped = true
	} else if ended {
		w.seen[id] = "ended"
	} else if w.seen[id] == "" {
		w.seen[id] = "started"
	}
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

func get(path string, extra ...string) []string {
	return append([]string{":method", "GET", ":scheme", "http", ":authority", "example.com", ":path", path}, extra...)
}

func rawCorpus() []rawCase {
	hdrs := func(id uint32, end bool, block []byte) http2.HeadersFrameParam {
		return http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: end, EndHeaders: true}
	}
	return []rawCase{
		{"get", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(1, true, enc(get("/", "accept", "text/html")...)))
		}},
		{"three streams", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(1, true, enc(get("/")...)))
			fr.WriteHeaders(hdrs(3, true, enc(get("/_maintenance/health")...)))
			fr.WriteHeaders(hdrs(5, true, enc(get("/", "accept", "application/json")...)))
		}},
		{"continuation", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			b := enc(get("/", "accept", "text/html", "x-pad", strings.Repeat("p", 100))...)
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:10], EndStream: true})
			fr.WriteContinuation(1, false, b[10:50])
			fr.WriteContinuation(1, true, b[50:])
		}},
		{"connection header", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(1, true, enc(get("/", "connection", "keep-alive")...)))
		}},
		{"te gzip", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(1, true, enc(get("/", "te", "gzip")...)))
		}},
		{"te trailers", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(1, true, enc(get("/", "te", "trailers")...)))
		}},
		{"host and authority", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(1, true, enc(get("/", "host", "other.example")...)))
		}},
		{"no authority", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(1, true, enc(":method", "GET", ":scheme", "http", ":path", "/")))
		}},
		{"host only", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(1, true, enc(":method", "GET", ":scheme", "http", ":path", "/", "host", "h.example")))
		}},
		{"no path", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(1, true, enc(":method", "GET", ":scheme", "http", ":authority", "a")))
		}},
		{"unknown pseudo", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(1, true, enc(get("/", ":foo", "bar")...)))
		}},
		{"pseudo after regular", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(1, true, enc("accept", "text/html", ":method", "GET", ":scheme", "http", ":path", "/", ":authority", "a")))
		}},
		{"uppercase name", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(1, true, enc(get("/", "Accept", "text/html")...)))
		}},
		{"space in value", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(1, true, enc(get("/", "accept", " text/html ")...)))
		}},
		{"star path", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(1, true, enc(":method", "OPTIONS", ":scheme", "http", ":authority", "a", ":path", "*")))
		}},
		{"CONNECT", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(1, true, enc(":method", "CONNECT", ":authority", "a:443")))
		}},
		{"bad authority", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(1, true, enc(":method", "GET", ":scheme", "http", ":authority", "a b", ":path", "/")))
		}},
		{"data after end stream", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(1, true, enc(get("/")...)))
			w.answered(1)
			fr.WriteData(1, true, []byte("x"))
		}},
		{"data on idle stream", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteData(1, true, []byte("x"))
		}},
		{"rst on idle stream", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteRSTStream(1, http2.ErrCodeCancel)
		}},
		{"window update on idle stream", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteWindowUpdate(1, 100)
		}},
		{"stream id going down", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(5, true, enc(get("/")...)))
			w.answered(5)
			fr.WriteHeaders(hdrs(3, true, enc(get("/")...)))
		}},
		{"even stream id", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(2, true, enc(get("/")...)))
		}},
		{"closed stream headers", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(1, true, enc(get("/")...)))
			w.answered(1)
			fr.WriteHeaders(hdrs(1, true, enc(get("/")...)))
		}},
		{"self dependency", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WritePriority(1, http2.PriorityParam{StreamDep: 1, Weight: 10})
		}},
		{"self dependency in headers", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			p := hdrs(1, true, enc(get("/")...))
			p.Priority = http2.PriorityParam{StreamDep: 1}
			fr.WriteHeaders(p)
		}},
		{"priority then get", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WritePriority(3, http2.PriorityParam{StreamDep: 1, Weight: 10})
			fr.WriteHeaders(hdrs(1, true, enc(get("/")...)))
		}},
		{"zero window update", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteWindowUpdate(0, 0)
		}},
		{"connection window overflow", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteWindowUpdate(0, 1<<31-1)
		}},
		{"small window", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 100})
			fr.WriteHeaders(hdrs(1, true, enc(get("/", "accept", "text/html")...)))
			w.started(1)
			fr.WriteWindowUpdate(1, 1<<20)
		}},
		{"small window relayed", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
			fr.WriteHeaders(hdrs(1, true, enc(get("/_maintenance/status")...)))
			w.started(1)
			fr.WriteWindowUpdate(1, 1<<20)
		}},
		{"window grows by settings", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
			fr.WriteHeaders(hdrs(1, true, enc(get("/")...)))
			w.started(1) // the head; the body waits for window
			fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 16})
		}},
		{"bad setting", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 2})
		}},
		{"window setting too large", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 31})
		}},
		{"ping", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WritePing(false, [8]byte{1, 2, 3})
			fr.WriteHeaders(hdrs(1, true, enc(get("/")...)))
		}},
		{"push promise", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: enc(get("/")...), EndHeaders: true})
		}},
		{"goaway then stream", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(1, true, enc(get("/")...)))
			fr.WriteGoAway(0, http2.ErrCodeNo, nil)
			fr.WriteHeaders(hdrs(3, true, enc(get("/")...)))
		}},
		{"rst after open", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(1, false, enc(get("/_echo/x")...)))
			fr.WriteRSTStream(1, http2.ErrCodeCancel)
			time.Sleep(100 * time.Millisecond)
			fr.WriteData(1, true, []byte("late"))
		}},
		{"body then trailers", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(1, false, enc(":method", "POST", ":scheme", "http", ":authority", "a", ":path", "/_echo/x", "trailer", "x-t")))
			fr.WriteData(1, false, []byte("hello"))
			fr.WriteHeaders(hdrs(1, true, enc("x-t", "v")))
		}},
		{"padded body", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(1, false, enc(":method", "POST", ":scheme", "http", ":authority", "a", ":path", "/_echo/x")))
			fr.WriteDataPadded(1, true, []byte("hello"), make([]byte, 20))
		}},
		{"trailers without end stream", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(1, false, enc(":method", "POST", ":scheme", "http", ":authority", "a", ":path", "/_echo/x")))
			fr.WriteHeaders(hdrs(1, false, enc("x-t", "v")))
		}},
		{"pseudo in trailers", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(1, false, enc(":method", "POST", ":scheme", "http", ":authority", "a", ":path", "/_echo/x")))
			fr.WriteHeaders(hdrs(1, true, enc(":path", "/")))
		}},
		{"body beyond content-length", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(1, false, enc(":method", "POST", ":scheme", "http", ":authority", "a", ":path", "/_echo/x", "content-length", "2")))
			fr.WriteData(1, true, []byte("toolong"))
		}},
		{"headers on a relayed stream after its end", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(1, false, enc(":method", "POST", ":scheme", "http", ":authority", "a", ":path", "/_echo/x")))
			fr.WriteData(1, true, []byte("x"))
			w.answered(1) // the stream is closed
			fr.WriteHeaders(hdrs(1, true, enc("x-t", "v")))
		}},
		{"too many headers", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			var fields []string
			for i := range 40 {
				fields = append(fields, fmt.Sprintf("x-%d", i), strings.Repeat("a", 8000))
			}
			b := enc(get("/", fields...)...)
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:16000], EndStream: true})
			for b = b[16000:]; len(b) > 16000; b = b[16000:] {
				fr.WriteContinuation(1, false, b[:16000])
			}
			fr.WriteContinuation(1, true, b)
		}},
		{"too many headers, a body coming", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			var fields []string
			for i := range 10 {
				fields = append(fields, fmt.Sprintf("x-%d", i), strings.Repeat("a", 8000))
			}
			b := enc(append([]string{":method", "POST", ":scheme", "http", ":authority", "a", ":path", "/"}, fields...)...)
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:16000]})
			for b = b[16000:]; len(b) > 16000; b = b[16000:] {
				fr.WriteContinuation(1, false, b[:16000])
			}
			fr.WriteContinuation(1, true, b)
			w.started(1) // the 431's head
			fr.WriteData(1, true, []byte("body"))
		}},
		{"continuation flood", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: enc(get("/")...), EndStream: true})
			junk := enc("x-flood", strings.Repeat("f", 8000))
			for range 200 {
				if fr.WriteContinuation(1, false, junk) != nil {
					return
				}
			}
		}},
		{"continuation on another stream", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			b := enc(get("/")...)
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b[:5], EndStream: true})
			fr.WriteContinuation(3, true, b[5:])
		}},
		{"settings ack we never asked", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteSettingsAck()
			fr.WriteSettingsAck()
		}},
		{"bad hpack", func(fr *http2.Framer, enc func(...string) []byte, w *rawWait) {
			fr.WriteHeaders(hdrs(1, true, []byte{0xff, 0xff, 0xff, 0xff}))
		}},
	}
}

// newEncoder returns a function that HPACK-encodes name, value pairs, with one dynamic table for
// the connection, as a client keeps it.
func newEncoder() func(fields ...string) []byte {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	return func(fields ...string) []byte {
		buf.Reset()
		for i := 0; i+1 < len(fields); i += 2 {
			enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
		}
		return bytes.Clone(buf.Bytes())
	}
}

// dialH2 connects to addr and opens an HTTP/2 connection on it: the client preface and an empty
// SETTINGS frame sent, and a framer that decodes header blocks. The caller closes conn.
func dialH2(addr string) (net.Conn, *http2.Framer, error) {
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, nil, err
	}
	io.WriteString(conn, http2.ClientPreface)
	fr := http2.NewFramer(conn, conn)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.WriteSettings()
	return conn, fr, nil
}

// rawExchange runs a raw case against addr (on any goroutine) and returns what came back: per stream, its header
// blocks (Date left out), its body and its RST_STREAM code; the GOAWAY code; whether it closed.
func rawExchange(t *testing.T, addr string, c rawCase) string {
	t.Helper()
	conn, fr, err := dialH2(addr)
	if err != nil {
		t.Error(err) // on another goroutine than the test's
		return err.Error()
	}
	defer conn.Close()
	encode := newEncoder()
	type stream struct {
		heads []string
		body  []byte
		rst   string
	}
	streams := map[uint32]*stream{}
	var goAway string
	closed := make(chan struct{})
	var mu sync.Mutex
	wait := &rawWait{changed: make(chan struct{}), seen: map[uint32]string{}}
	go func() {
		defer close(closed)
		defer wait.note(0, false, true)
		for {
			conn.SetReadDeadline(time.Now().Add(time.Second))
			f, err := fr.ReadFrame()
			if err != nil {
				return
			}
			if id := f.Header().StreamID; id != 0 {
				ended := false
				switch f := f.(type) {
				case *http2.RSTStreamFrame:
					ended = true
				case *http2.DataFrame:
					ended = f.StreamEnded()
				case *http2.MetaHeadersFrame:
					ended = f.StreamEnded()
				}
				wait.note(id, ended, false)
			}
			mu.Lock()
			id := f.Header().StreamID
			st := streams[id]
			if st == nil && id != 0 {
				st = &stream{}
				streams[id] = st
			}
			// The reader writes nothing (a SETTINGS ACK or WINDOW_UPDATE could land inside a
			// header block the case writes); the answers fit the initial windows.
			switch f := f.(type) {
			case *http2.MetaHeadersFrame:
				var fields []string
				for _, hf := range f.Fields {
					if hf.Name != "date" {
						fields = append(fields, hf.Name+": "+hf.Value)
					}
				}
				sort.Strings(fields)
				st.heads = append(st.heads, fmt.Sprintf("%v end=%v", fields, f.StreamEnded()))
			case *http2.DataFrame:
				st.body = append(st.body, f.Data()...)
			case *http2.RSTStreamFrame:
				st.rst = f.ErrCode.String()
			case *http2.GoAwayFrame:
				goAway = fmt.Sprintf("GOAWAY %s", f.ErrCode)
			}
			mu.Unlock()
		}
	}()
	c.write(fr, encode, wait)
	<-closed
	mu.Lock()
	defer mu.Unlock()
	var b strings.Builder
	ids := slices.Sorted(func(yield func(uint32) bool) {
		for id := range streams {
			if !yield(id) {
				return
			}
		}
	})
	for _, id := range ids {
		st := streams[id]
		fmt.Fprintf(&b, "stream %d: %v body %q rst %q\n", id, st.heads, st.body, st.rst)
	}
	b.WriteString(goAway)
	return b.String()
}

func TestH2FastMatchesNetHTTPOnRawFrames(t *testing.T) {
	t.Parallel()
	ours, theirs := pair(t)
	for _, c := range rawCorpus() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			var got, want string
			var wg sync.WaitGroup
			wg.Go(func() { got = rawExchange(t, ours, c) })
			wg.Go(func() { want = rawExchange(t, theirs, c) })
			wg.Wait()
			if got != want {
				t.Errorf("maintpage:\n%s\nnet/http:\n%s", got, want)
			}
		})
	}
}

// FuzzH2Frames sends any bytes after the preface and the client's SETTINGS; the server must not
// panic, must close the connection soon after the client stops sending, and must still answer on
// a new connection. The seeds are the raw corpus's frames.
func FuzzH2Frames(f *testing.F) {
	for _, c := range rawCorpus() {
		var b bytes.Buffer
		c.write(http2.NewFramer(&b, nil), newEncoder(), nil)
		f.Add(b.Bytes())
	}
	ours, _ := pair(f)
	client := h2cClient()
	f.Fuzz(func(t *testing.T, frames []byte) {
		conn, err := net.DialTimeout("tcp", ours, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		go func() {
			var settings bytes.Buffer
			http2.NewFramer(&settings, nil).WriteSettings()
			conn.Write(append(append([]byte(http2.ClientPreface), settings.Bytes()...), frames...))
			conn.(*net.TCPConn).CloseWrite()
		}()
		// Whatever the frames, the connection ends once the client has sent them all: at once on
		// an error, or when the server sees the end of the stream. 20s is generous for 2 busy cores.
		conn.SetReadDeadline(time.Now().Add(20 * time.Second))
		if _, err := io.Copy(io.Discard, conn); err != nil && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("the server did not close the connection: %v", err)
		}
		resp, err := client.Get("http://" + ours + "/_maintenance/health")
		if err != nil {
			t.Fatalf("the server no longer answers: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("health: %d", resp.StatusCode)
		}
	})
}

// Rapid reset (CVE-2023-44487): streams opened and reset at once, ready and relayed, cost the
// server no more than answering them; the connection still answers afterwards, or net/http hangs
// up on the flood with ENHANCE_YOUR_CALM, as it does on its own connections. (The flood stays
// under net/http's queue of 4×250 handlers: past it, the connection is closed a second after the
// GOAWAY, which a client reading slowly on a busy machine sees as a reset before the GOAWAY.)
const rapidResets = 600

func TestH2FastRapidReset(t *testing.T) {
	t.Parallel()
	ours, _ := pair(t)
	conn, fr, err := dialH2(ours)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var encBuf bytes.Buffer
	enc := hpack.NewEncoder(&encBuf)
	block := func(path string, end bool) []byte {
		encBuf.Reset()
		for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":authority", "a"}, {":path", path}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		return bytes.Clone(encBuf.Bytes())
	}
	go func() {
		id := uint32(1)
		for i := range rapidResets {
			path := "/"
			if i%2 == 1 {
				path = "/_echo/x"
			}
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block(path, false), EndHeaders: true})
			fr.WriteRSTStream(id, http2.ErrCodeCancel)
			id += 2
		}
		encBuf.Reset()
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "a"}, {":path", "/_maintenance/health"}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: bytes.Clone(encBuf.Bytes()), EndStream: true, EndHeaders: true})
	}()
	last := uint32(1 + 2*rapidResets)
	conn.SetReadDeadline(time.Now().Add(60 * time.Second))
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("no answer to the last stream, nor GOAWAY: %v", err)
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			if f.ErrCode != http2.ErrCodeEnhanceYourCalm {
				t.Fatalf("GOAWAY %v, want ENHANCE_YOUR_CALM or an answer", f.ErrCode)
			}
			return
		case *http2.MetaHeadersFrame:
			if f.StreamID == last {
				if got := f.PseudoValue("status"); got != "200" {
					t.Fatalf("last stream: status %s, want 200", got)
				}
				return
			}
		}
	}
}

// held answers / from ready bytes and holds /slow in ServeHTTP until release is closed.
type held struct {
	started chan struct{}
	release chan struct{}
}

func (h held) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/slow" {
		close(h.started)
		<-h.release
	}
	io.WriteString(w, "done")
}

func (held) ServeFast(dst []byte, q *server.FastRequest) (server.FastResponse, bool) {
	if q.Path == "/slow" {
		return server.FastResponse{}, false
	}
	return server.FastResponse{Head: append(dst, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n"...), Body: []byte("no"), Status: 503}, true
}

// openH2 opens a server with the fast path and h2c on, for h, with idle as its idle timeout.
func openH2(t *testing.T, h http.Handler, idle time.Duration) *server.Server {
	t.Helper()
	s, err := server.Open(server.Options{Addr: "127.0.0.1:0", Handler: h, FastPath: true, H2C: true,
		ReadHeaderTimeout: 5 * time.Second, IdleTimeout: idle, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Close sends GOAWAY (NO_ERROR) at once, lets a relayed request in flight finish, and returns when it
// has; the connection then closes.
func TestH2FastCloseIsGraceful(t *testing.T) {
	t.Parallel()
	h := held{started: make(chan struct{}), release: make(chan struct{})}
	s := openH2(t, h, time.Minute)
	conn, fr, err := dialH2(s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	encode := newEncoder()
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: encode(get("/slow")...), EndStream: true, EndHeaders: true})
	<-h.started
	closed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		closed <- s.Close(ctx)
	}()
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("no GOAWAY: %v", err)
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			if g.ErrCode != http2.ErrCodeNo || g.LastStreamID != 1 {
				t.Fatalf("GOAWAY %v last stream %d, want NO_ERROR and 1", g.ErrCode, g.LastStreamID)
			}
			break
		}
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(h.release)
	var body []byte
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("the request in flight got %q, then %v", body, err)
		}
		if d, ok := f.(*http2.DataFrame); ok && d.StreamID == 1 {
			body = append(body, d.Data()...)
			if d.StreamEnded() {
				break
			}
		}
	}
	if string(body) != "done" {
		t.Errorf("body %q, want done", body)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := fr.ReadFrame(); err == nil {
		t.Errorf("the connection is still open after Close")
	}
}

// An idle connection gets GOAWAY (NO_ERROR) and is closed after idle_timeout, not before.
func TestH2FastIdleTimeout(t *testing.T) {
	t.Parallel()
	const idle = 300 * time.Millisecond
	s := openH2(t, held{}, idle)
	t.Cleanup(func() { s.Close(context.Background()) })
	conn, fr, err := dialH2(s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: newEncoder()(get("/")...), EndStream: true, EndHeaders: true})
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	var answered time.Time
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("no GOAWAY: %v", err)
		}
		if d, ok := f.(*http2.DataFrame); ok && d.StreamEnded() {
			answered = time.Now()
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			if g.ErrCode != http2.ErrCodeNo {
				t.Errorf("GOAWAY %v, want NO_ERROR", g.ErrCode)
			}
			break
		}
	}
	if answered.IsZero() {
		t.Fatal("no answer before the GOAWAY")
	}
	if waited := time.Since(answered); waited < idle-50*time.Millisecond {
		t.Errorf("GOAWAY %v after the answer, want at least the idle timeout %v", waited, idle)
	}
	if _, err := fr.ReadFrame(); err == nil {
		t.Errorf("the connection is still open after the GOAWAY")
	}
}
