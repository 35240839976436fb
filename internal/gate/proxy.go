package gate

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/maintpage/maintpage/internal/clientaddr"
	"github.com/maintpage/maintpage/internal/config"
	"github.com/maintpage/maintpage/internal/metrics"
)

// proxy passes requests to the upstream, or to a route-service request's forwarded URL.
type proxy struct {
	g            *Gate
	rp           *httputil.ReverseProxy
	pendingRP    *httputil.ReverseProxy // rp over pendingTransport: answers the fast path's handovers
	preserveHost bool
	fallback     [600]bool // upstream statuses answered with the unplanned response
	trusted      []netip.Prefix
	readTimeout  time.Duration // the server's, given back to upgraded connections other than WebSockets
	writeTimeout time.Duration
	errs         map[string]prometheus.Counter
	logLimit     limiter
}

// errFallbackStatus is ModifyResponse's way of handing a configured status to ErrorHandler.
var errFallbackStatus = errors.New("upstream answered with a fallback status")

// Headers of Cloud Foundry's route-service protocol. They go to the forwarded URL unchanged and
// nowhere else, and never into a response.
const (
	cfForwardedURL = "X-Cf-Forwarded-Url"
	cfSignature    = "X-Cf-Proxy-Signature"
	cfMetadata     = "X-Cf-Proxy-Metadata"
)

// bypassSecretHeader carries the bypass secret for scripted smoke tests; it never reaches the upstream.
const bypassSecretHeader = "X-Maintpage-Bypass"

// NewTransport is the upstream transport: bounded dial, TLS and header waits so that a hung
// upstream turns into the unplanned page, and an idle pool large enough for a busy gate. The same
// transport carries route-service requests to the router, so upstream_ca_file (a foundation whose
// router certificate a private CA signed) and upstream_insecure_skip_verify apply to both.
func NewTransport(cfg *config.Config) *http.Transport {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(cfg.UpstreamCAPEM) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool() // no system pool on this platform: the file alone
		}
		pool.AppendCertsFromPEM(cfg.UpstreamCAPEM) // checked when the configuration was loaded
		tlsConfig.RootCAs = pool
	}
	// #nosec G402 -- only when the operator sets upstream_insecure_skip_verify, logged at every load.
	tlsConfig.InsecureSkipVerify = cfg.UpstreamInsecureSkipVerify
	return &http.Transport{
		TLSClientConfig: tlsConfig,
		// The upstream is named in the configuration; an HTTP_PROXY meant for outbound calls of
		// other programs must not reroute it.
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   cfg.UpstreamDialTimeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: cfg.UpstreamHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		// A proxy passes the body as the upstream encoded it, for the Accept-Encoding the client
		// sent. Left on, the transport would ask for gzip on behalf of clients that did not, then
		// decompress: CPU spent twice, and the response streamed without its Content-Length.
		DisableCompression: true,
		// Every connection the gate opens to one upstream under load should stay open for the next
		// request: with a smaller per-host pool, a burst of more concurrent requests than the pool
		// holds closes the surplus after each response and dials again (measured with 256 at 1000
		// client connections: one request in eight dialled, 1500 dials a second). The pool is not a
		// cap: MaxConnsPerHost stays 0, since a cap would queue every request behind long polls and
		// event streams that hold their connections.
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 1024,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   true, // https upstreams only; one multiplexed connection instead of many
	}
}

var errorKinds = []string{"refused", "timeout", "dns", "tls", "reset", "status", "other"}

func newProxy(g *Gate, transport http.RoundTripper, m *metrics.Metrics) *proxy {
	cfg := g.cfg
	p := &proxy{
		g: g, preserveHost: cfg.PreserveHost, trusted: cfg.TrustedProxies,
		readTimeout: cfg.ReadTimeout, writeTimeout: cfg.WriteTimeout,
		errs: map[string]prometheus.Counter{},
	}
	for _, s := range cfg.FallbackStatuses {
		p.fallback[s] = true
	}
	if m != nil {
		for _, k := range errorKinds {
			p.errs[k] = m.UpstreamErrors.WithLabelValues(k)
		}
	}
	if transport == nil {
		transport = NewTransport(cfg)
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:   p.rewrite,
		Transport: transport,
		// Zero, not -1: ReverseProxy already flushes after every write for text/event-stream and
		// for bodies of unknown length (chunked streams, long polls), which are the streams. A
		// response with a Content-Length is sent when the handler ends or the buffer fills, in one
		// write; flushing each of its writes cost a system call and a timer per request.
		FlushInterval:  0,
		BufferPool:     bufferPool{},
		ModifyResponse: p.modifyResponse,
		ErrorHandler:   p.errorHandler,
		ErrorLog:       slog.NewLogLogger(g.log.Handler(), slog.LevelDebug),
	}
	prp := *p.rp
	prp.Transport = pendingTransport{}
	p.pendingRP = &prp
	return p
}

// serve proxies r and reports whether the unplanned response answered instead.
func (p *proxy) serve(w http.ResponseWriter, r *http.Request, e *entry, target *url.URL) (fellBack bool) {
	if target != nil {
		// Rewrite sees only the request: hand it the target already checked, rather than parse
		// and check the header a second time.
		r = r.WithContext(context.WithValue(r.Context(), targetKey{}, target))
	}
	return p.serveWith(p.rp, w, r, e, target)
}

// servePending finishes, through ReverseProxy, an exchange the fast proxy path started.
func (p *proxy) servePending(w http.ResponseWriter, r *http.Request, e *entry, pe *pending) (fellBack bool) {
	r = r.WithContext(context.WithValue(r.Context(), pendingKey{}, pe))
	return p.serveWith(p.pendingRP, w, r, e, nil)
}

func (p *proxy) serveWith(rp *httputil.ReverseProxy, w http.ResponseWriter, r *http.Request, e *entry, target *url.URL) (fellBack bool) {
	fw := writers.Get().(*fallbackWriter)
	fw.ResponseWriter, fw.e, fw.target, fw.fellBack = w, e, target, false
	fw.p, fw.websocket = p, isWebSocket(r)
	rp.ServeHTTP(fw, r)
	fellBack = fw.fellBack
	fw.ResponseWriter, fw.e, fw.target, fw.p = nil, nil, nil, nil
	writers.Put(fw)
	return fellBack
}

// isWebSocket reports whether r asks for a WebSocket (RFC 6455: a GET with Connection: Upgrade and
// Upgrade: websocket).
func isWebSocket(r *http.Request) bool {
	return r.Method == http.MethodGet &&
		hasToken(r.Header["Connection"], "upgrade") && hasToken(r.Header["Upgrade"], "websocket")
}

// hasToken reports whether a comma-separated header holds token, in any case.
func hasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// fallbackWriter carries what the proxy's callbacks need to know about one request, without a
// context value. Unwrap keeps flushing and hijacking (WebSockets) working through it.
//
// It also lifts the server's read and write timeouts for the two kinds of response that outlive
// them by design, and only once the upstream has answered as one: a WebSocket the upstream accepted
// with 101, and an event stream (Content-Type text/event-stream). Lifting them on what the client
// asks for would let any client hold a connection to the gate and one to the upstream for as long
// as it likes, by naming an Upgrade or an Accept and then reading slowly.
type fallbackWriter struct {
	http.ResponseWriter
	p         *proxy
	e         *entry
	target    *url.URL // a route-service request's forwarded URL; nil: the upstream
	fellBack  bool
	websocket bool // the request asks for a WebSocket
}

func (f *fallbackWriter) Unwrap() http.ResponseWriter { return f.ResponseWriter }

func (f *fallbackWriter) WriteHeader(code int) {
	if code >= 200 && isEventStream(f.Header()["Content-Type"]) {
		rc := http.NewResponseController(f.ResponseWriter)
		_ = rc.SetReadDeadline(time.Time{})
		_ = rc.SetWriteDeadline(time.Time{})
	}
	f.ResponseWriter.WriteHeader(code)
}

// Hijack is how ReverseProxy takes over the connection after the upstream answered 101, and only
// then. net/http clears the connection's deadlines when it is hijacked: a WebSocket keeps it so,
// any other protocol gets the server's timeouts back.
func (f *fallbackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(f.ResponseWriter).Hijack()
	if err != nil || f.websocket || f.p == nil {
		return c, brw, err
	}
	now := time.Now()
	if d := f.p.readTimeout; d > 0 {
		_ = c.SetReadDeadline(now.Add(d))
	}
	if d := f.p.writeTimeout; d > 0 {
		_ = c.SetWriteDeadline(now.Add(d))
	}
	return c, brw, nil
}

// isEventStream reports whether a Content-Type is text/event-stream, parameters aside.
func isEventStream(ct []string) bool {
	if len(ct) == 0 {
		return false
	}
	v := strings.TrimSpace(ct[0])
	const es = "text/event-stream"
	if len(v) < len(es) || !strings.EqualFold(v[:len(es)], es) {
		return false
	}
	rest := strings.TrimSpace(v[len(es):])
	return rest == "" || rest[0] == ';'
}

// targetKey carries a route-service target, checked against the host patterns, from serve to rewrite.
type targetKey struct{}

var writers = sync.Pool{New: func() any { return new(fallbackWriter) }}

func (p *proxy) rewrite(pr *httputil.ProxyRequest) {
	target, _ := pr.In.Context().Value(targetKey{}).(*url.URL)
	h := pr.Out.Header
	delete(h, bypassSecretHeader)
	dropBypassCookie(h)
	if target != nil {
		// The route-service protocol: the forwarded URL exactly, signature and metadata unchanged.
		u := *target
		pr.Out.URL = &u
		pr.Out.Host = ""
	} else {
		delete(h, cfForwardedURL)
		delete(h, cfSignature)
		delete(h, cfMetadata)
		pr.SetURL(p.g.upstream)
		if p.preserveHost {
			pr.Out.Host = pr.In.Host
		}
	}
	p.forwarded(pr)
}

// forwarded sets X-Forwarded-For, -Host and -Proto. What the client sent there, in Forwarded and
// in X-Real-Ip is kept only when it came through a trusted proxy; anyone else could write anything
// there, and an application that believes it would log, rate-limit or allow the wrong address.
// (ReverseProxy drops Forwarded and X-Forwarded-* before Rewrite; X-Real-Ip it leaves.)
func (p *proxy) forwarded(pr *httputil.ProxyRequest) {
	trusted := p.trustedPeer(pr.In.RemoteAddr)
	if trusted {
		if prior := pr.In.Header["X-Forwarded-For"]; len(prior) > 0 {
			pr.Out.Header["X-Forwarded-For"] = prior
		}
		if prior := pr.In.Header["Forwarded"]; len(prior) > 0 {
			pr.Out.Header["Forwarded"] = prior
		}
	} else {
		delete(pr.Out.Header, "Forwarded")
		delete(pr.Out.Header, "X-Real-Ip")
	}
	pr.SetXForwarded()
	if trusted {
		if v := pr.In.Header.Get("X-Forwarded-Proto"); v == "https" || v == "http" {
			pr.Out.Header.Set("X-Forwarded-Proto", v)
		}
		if v := pr.In.Header.Get("X-Forwarded-Host"); v != "" {
			pr.Out.Header.Set("X-Forwarded-Host", v)
		}
	}
}

// dropBypassCookie removes the bypass cookie from the Cookie header, and nothing else: it is a
// credential for the gate, and the application would log it with the rest of its cookies.
func dropBypassCookie(h http.Header) {
	vs := h["Cookie"]
	for i := 0; i < len(vs); i++ {
		if !strings.Contains(vs[i], CookieName) {
			continue
		}
		var kept []string
		for part := range strings.SplitSeq(vs[i], ";") {
			name, _, _ := strings.Cut(part, "=")
			if strings.TrimSpace(name) != CookieName {
				kept = append(kept, strings.TrimSpace(part))
			}
		}
		if len(kept) == 0 {
			vs = append(vs[:i], vs[i+1:]...)
			i--
			continue
		}
		vs[i] = strings.Join(kept, "; ")
	}
	if len(vs) == 0 {
		delete(h, "Cookie")
		return
	}
	h["Cookie"] = vs
}

func (p *proxy) trustedPeer(remote string) bool {
	if len(p.trusted) == 0 {
		return false
	}
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return false
	}
	return clientaddr.In(p.trusted, ap.Addr().Unmap())
}

func (p *proxy) modifyResponse(resp *http.Response) error {
	delete(resp.Header, cfForwardedURL)
	delete(resp.Header, cfSignature)
	delete(resp.Header, cfMetadata)
	if resp.StatusCode < len(p.fallback) && p.fallback[resp.StatusCode] {
		return fmt.Errorf("%w %d", errFallbackStatus, resp.StatusCode)
	}
	return nil
}

func (p *proxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		// The client went away (or half-closed its connection, which net/http's background read
		// takes for the same); the upstream did nothing wrong. Returning without a write would make
		// net/http send a "200 OK" with no body to a client that may still read, for a request
		// nothing answered: abort instead, as ReverseProxy does when copying a body fails, so that
		// the connection closes with nothing sent, as on the fast path and in nginx.
		panic(http.ErrAbortHandler)
	}
	kind := errorKind(err)
	if c := p.errs[kind]; c != nil {
		c.Inc()
	}
	fw, _ := w.(*fallbackWriter)
	if kind != "status" {
		if n, ok := p.logLimit.allow(); ok {
			host := ""
			if fw != nil && fw.target != nil {
				host = fw.target.Host
			} else if p.g.upstream != nil {
				host = p.g.upstream.Host
			}
			// The error names the upstream's address, never the request's query or headers.
			p.g.log.Warn("upstream failed; answering with the unplanned maintenance response",
				"kind", kind, "error", redactErr(err), "upstream", host, "path", r.URL.Path, "suppressed", n)
		}
	}
	e := p.g.cur.Load()
	if fw != nil {
		fw.fellBack = true
		e = fw.e
	}
	e.unplanned.Unplanned(w, r)
}

// redactErr drops url.Error's copy of the URL, which holds the query.
func redactErr(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}

func errorKind(err error) string {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	switch {
	case errors.Is(err, errFallbackStatus):
		return "status"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.As(err, &dnsErr):
		return "dns"
	case errors.As(err, &certErr), errors.As(err, &recErr), errors.As(err, &unknownAuth), errors.As(err, &hostErr):
		return "tls"
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return "timeout"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.EPIPE),
		isServerClosedIdle(err):
		return "reset"
	}
	return "other"
}

// isServerClosedIdle recognises the transport's error for an upstream that closed a connection
// before answering on it (one it had just accepted, too). net/http does not export it.
func isServerClosedIdle(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if err.Error() == "http: server closed idle connection" {
			return true
		}
	}
	return false
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// limiter lets one log line through per second and counts the rest, so an outage under load does
// not turn into a log flood.
type limiter struct {
	last       atomic.Int64
	suppressed atomic.Int64
}

func (l *limiter) allow() (suppressed int64, ok bool) {
	now := time.Now().UnixNano()
	last := l.last.Load()
	if now-last < int64(time.Second) || !l.last.CompareAndSwap(last, now) {
		l.suppressed.Add(1)
		return 0, false
	}
	return l.suppressed.Swap(0), true
}

// bufferPool lends the 32 KiB copy buffers of streamed bodies.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *buffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }
