package gate

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strconv"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/maintpage/maintpage/internal/server"
)

// The fast proxy path forwards a plain request — GET or HEAD, no body, nothing a proxy must think
// about — on a pooled upstream connection, from the goroutine that read it, and writes a response
// with a Content-Length back with one writev. It produces the bytes ReverseProxy and net/http would
// produce (the same request to the upstream, the same response to the client: headers canonical and
// sorted, hop-by-hop headers dropped, X-Forwarded-* set, Date added when missing), and it judges
// nothing it is not sure of:
//
//   - a request with anything unusual is declined before anything is sent, and net/http serves it;
//   - a response with anything unusual (no Content-Length, Transfer-Encoding, a repeated or odd
//     Content-Length, 1xx, 204, 304, a fallback status, an oversized head, bare LFs, folding, a
//     body net/http would sniff a Content-Type for) is handed to net/http with the upstream
//     connection and the bytes read from it: ReverseProxy then parses it with http.ReadResponse,
//     exactly as its own transport would, and the connection is closed after it, never pooled.
//
// So the path's parser only has to say "simple" correctly, never parse the hard cases. A pooled
// connection goes back to the pool only after a response whose end was certain: its Content-Length
// read exactly, nothing more buffered, no Connection: close.

// fastProxy is the gate's fast proxy path; nil when the configuration needs ReverseProxy for all
// (route-service mode, an https upstream, an upstream URL with an encoded path).
type fastProxy struct {
	g        *Gate
	pool     *UpstreamPool
	addr     string // the upstream's host:port
	hostLine []byte // "Host: …\r\n" for the upstream, unless the client's host is preserved
	basePath string
	baseQry  string
	// headerTimeout bounds the request's write and the response head's read, as the transport's
	// ResponseHeaderTimeout does; bodyTimeout bounds the body (the server's write timeout, past
	// which it could not reach the client anyway).
	headerTimeout, bodyTimeout time.Duration
}

func newFastProxy(g *Gate, pool *UpstreamPool) *fastProxy {
	u := g.upstream
	if g.rs != nil || u == nil || u.Scheme != "http" || u.RawPath != "" || u.User != nil || !safePath(u.Path) {
		return nil
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	if pool == nil {
		pool = NewUpstreamPool(g.cfg.UpstreamDialTimeout)
	}
	return &fastProxy{
		g: g, pool: pool, addr: addr,
		hostLine: []byte("Host: " + u.Host + "\r\n"),
		basePath: u.Path, baseQry: u.RawQuery,
		headerTimeout: g.cfg.UpstreamHeaderTimeout, bodyTimeout: g.cfg.WriteTimeout,
	}
}

// safePath reports whether p is sent as it is: url.URL.EscapedPath leaves these bytes alone whether
// net/http keeps the path raw or not (see validEncoded and shouldEscape in net/url).
func safePath(p string) bool {
	for i := 0; i < len(p); i++ {
		if !pathChars[p[i]] {
			return false
		}
	}
	return true
}

var pathChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "-._~!$&'()*+,;=:@/" {
		t[c] = true
	}
	return t
}()

// hdr is one header line: name as sent, value trimmed.
type hdr struct{ name, value []byte }

// maxFastHeaders bounds the headers of a request or response on the fast path; more go the slow way.
const maxFastHeaders = 48

// fastScratch is what one exchange needs besides the connection's buffers, lent only while it is
// used: while the request's head is rewritten, and from the response's first bytes until the
// answer is written (not while the upstream is awaited). Its 10568 bytes take the 10880-byte size
// class (runtime/sizeclasses.go).
type fastScratch struct {
	resp [8192]byte
	hs   [maxFastHeaders]hdr
	bufs [2][]byte
	out  net.Buffers // a field, not a local: WriteTo's pointer receiver would move a local to the heap
}

var scratches = sync.Pool{New: func() any { return new(fastScratch) }}

// ForwardFast passes x on when the request and the configuration allow; see the top of this file.
func (g *Gate) ForwardFast(x *server.FastExchange) server.FastOutcome {
	fp := g.fast
	q := x.Req
	if fp == nil || q.Method != http.MethodGet && q.Method != http.MethodHead || hasPrefix(q.Path, g.prefix) {
		return server.FastDeclined
	}
	e := g.current(g.now())
	if e.active || e.scoped != nil || g.proxy.trustedPeer(x.Remote) {
		return server.FastDeclined // maintenance (whole site or a scope), bypasses, trusted forwarding headers: ServeHTTP decides
	}
	// The scratch is lent for the head's rewrite only; the response gets one when it comes.
	sc := scratches.Get().(*fastScratch)
	var ok bool
	x.Out, ok = fp.requestHead(x.Out[:0], x, sc.hs[:0])
	scratches.Put(sc)
	if !ok {
		return server.FastDeclined
	}
	out := fp.exchange(x, x.Out)
	if out == server.FastServed {
		g.out.inc(g.out.proxied)
	}
	return out
}

func hasPrefix(s, prefix string) bool { return len(s) >= len(prefix) && s[:len(prefix)] == prefix }

// requestHead appends to dst the head http.Transport writes for the request ReverseProxy and the
// gate's rewrite make of x (net/http's Request.write: request line, Host, User-Agent, then the
// other headers sorted by canonical name), or reports false for a request to decline.
func (fp *fastProxy) requestHead(dst []byte, x *server.FastExchange, hs []hdr) ([]byte, bool) {
	line, rest, _ := bytes.Cut(x.Head, crlf)
	_, line, _ = bytes.Cut(line, sp)
	target, _, _ := bytes.Cut(line, sp)
	path, query, hasQuery := bytes.Cut(target, question)
	if hasQuery && len(query) == 0 || bytes.IndexByte(query, ';') >= 0 || !safePath(string(path)) {
		// "?" alone (ForceQuery) and ";" (cleanQueryParams re-encodes) change the target in
		// ReverseProxy; other path bytes get escaped.
		return dst, false
	}
	var ua []byte
	uaSeen := false
	for len(rest) > 2 {
		line, rest, _ = bytes.Cut(rest, crlf)
		name, value, _ := bytes.Cut(line, colon)
		value = bytes.Trim(value, " \t")
		switch {
		case fold(name, "host"):
			continue // sent as the upstream's, or the client's, below
		case fold(name, "user-agent"):
			if !uaSeen { // Header.Get: the first; Request.write sends only that one
				ua, uaSeen = value, true
			}
			continue
		case fold(name, "content-length"), fold(name, "transfer-encoding"), fold(name, "trailer"),
			fold(name, "te"), fold(name, "upgrade"), fold(name, "close"):
			// A body's framing, trailers ReverseProxy re-announces, and a header the
			// Connection: close token would remove: the slow path.
			return dst, false
		case fold(name, "cookie") && bytes.Contains(value, []byte(CookieName)):
			return dst, false // the bypass cookie is cut out of the header: ServeHTTP does it
		case isHopOrForwarded(name):
			continue
		}
		if len(hs) == cap(hs) {
			return dst, false
		}
		hs = append(hs, hdr{name, value})
	}
	sortHeaders(hs)

	dst = append(dst, x.Req.Method...)
	dst = append(dst, ' ')
	dst = joinPath(dst, fp.basePath, path)
	if cq := query; fp.baseQry != "" || len(cq) > 0 {
		dst = append(dst, '?')
		dst = append(dst, fp.baseQry...)
		if fp.baseQry != "" && len(cq) > 0 {
			dst = append(dst, '&')
		}
		dst = append(dst, cq...)
	}
	dst = append(dst, " HTTP/1.1\r\n"...)
	if fp.g.proxy.preserveHost {
		dst = append(dst, "Host: "...)
		dst = append(dst, x.Req.Host...)
		dst = append(dst, crlf...)
	} else {
		dst = append(dst, fp.hostLine...)
	}
	if len(ua) > 0 {
		dst = append(dst, "User-Agent: "...)
		dst = append(dst, ua...)
		dst = append(dst, crlf...)
	}
	// SetXForwarded's headers, already in order, sort among the others.
	var fwd [3]hdr
	n := 0
	if clientIP, _, err := net.SplitHostPort(x.Remote); err == nil {
		fwd[n] = hdr{xForwardedFor, unsafeBytes(clientIP)}
		n++
	}
	if x.Req.Host != "" {
		fwd[n] = hdr{xForwardedHost, unsafeBytes(x.Req.Host)}
		n++
	}
	fwd[n] = hdr{xForwardedProto, httpScheme}
	n++
	i := 0
	for _, h := range hs {
		for i < n && lessCanon(fwd[i].name, h.name) {
			dst = appendHeader(dst, fwd[i])
			i++
		}
		dst = appendHeader(dst, h)
	}
	for ; i < n; i++ {
		dst = appendHeader(dst, fwd[i])
	}
	return append(dst, crlf...), true
}

// isHopOrForwarded reports the request headers ReverseProxy and the gate's rewrite drop for a peer
// that is not a trusted proxy: hop-by-hop headers (httputil's hopHeaders), the client's own
// forwarding headers, and Cloud Foundry's route-service headers.
func isHopOrForwarded(name []byte) bool {
	switch len(name) {
	case 9:
		return fold(name, "forwarded") || fold(name, "x-real-ip")
	case 10:
		return fold(name, "connection") || fold(name, "keep-alive")
	case 15:
		return fold(name, "x-forwarded-for")
	case 16:
		return fold(name, "x-forwarded-host") || fold(name, "proxy-connection")
	case 17:
		return fold(name, "x-forwarded-proto")
	case 18:
		return fold(name, "proxy-authenticate")
	case 19:
		return fold(name, "proxy-authorization") || fold(name, "x-cf-proxy-metadata")
	case 20:
		return fold(name, "x-cf-proxy-signature")
	}
	return false
}

// joinPath appends what httputil's joinURLPath makes of the upstream's path and the request's.
func joinPath(dst []byte, base string, path []byte) []byte {
	aslash := len(base) > 0 && base[len(base)-1] == '/'
	bslash := len(path) > 0 && path[0] == '/'
	dst = append(dst, base...)
	switch {
	case aslash && bslash:
		return append(dst, path[1:]...)
	case !aslash && !bslash:
		dst = append(dst, '/')
	}
	return append(dst, path...)
}

func appendHeader(dst []byte, h hdr) []byte {
	dst = appendCanon(dst, h.name)
	dst = append(dst, ": "...)
	dst = append(dst, h.value...)
	return append(dst, crlf...)
}

// canonAt is byte i of textproto.CanonicalMIMEHeaderKey(name), for a name that is a token.
func canonAt(name []byte, i int) byte {
	c := name[i]
	upper := i == 0 || name[i-1] == '-'
	if upper && 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	if !upper && 'A' <= c && c <= 'Z' {
		return c + ('a' - 'A')
	}
	return c
}

func appendCanon(dst, name []byte) []byte {
	for i := range name {
		dst = append(dst, canonAt(name, i))
	}
	return dst
}

// lessCanon orders names as net/http's header sorter orders their canonical forms.
func lessCanon(a, b []byte) bool {
	for i := 0; i < len(a) && i < len(b); i++ {
		if ca, cb := canonAt(a, i), canonAt(b, i); ca != cb {
			return ca < cb
		}
	}
	return len(a) < len(b)
}

// sortHeaders sorts by canonical name, keeping the order of lines with the same name, as net/http
// keeps a name's values in the order they came.
func sortHeaders(hs []hdr) {
	for i := 1; i < len(hs); i++ {
		for j := i; j > 0 && lessCanon(hs[j].name, hs[j-1].name); j-- {
			hs[j], hs[j-1] = hs[j-1], hs[j]
		}
	}
}

// fold reports whether b is lower in any case.
func fold(b []byte, lower string) bool { return server.EqualFold(b, lower) }

// unsafeBytes views s as bytes that are only read, without copying.
func unsafeBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

var (
	xForwardedFor   = []byte("X-Forwarded-For")
	xForwardedHost  = []byte("X-Forwarded-Host")
	xForwardedProto = []byte("X-Forwarded-Proto")
	httpScheme      = []byte("http")
	crlf            = []byte("\r\n")
	sp              = []byte(" ")
	colon           = []byte(":")
	question        = []byte("?")
	crlfcrlf        = []byte("\r\n\r\n")
)

// exchange sends head upstream and answers the client; see the top of this file.
func (fp *fastProxy) exchange(x *server.FastExchange, head []byte) server.FastOutcome {
	var uc *upConn
	var w headWait
	var err error
	now := time.Now()
	for {
		var reused bool
		if uc, reused = fp.pool.get(fp.addr, now); uc == nil {
			c, derr := fp.pool.dial(fp.addr)
			if derr != nil {
				return server.FastDeclined // nothing was sent: ReverseProxy dials again and reports
			}
			uc = newUpConn(c)
		}
		w.client = x.Conn
		w.start(now, fp.headerTimeout, uc)
		uc.out = head // written by readHead's first read (see readSome)
		err = w.readHead(uc)
		if err != nil && uc.n == 0 && reused && closedIdle(err) {
			// The upstream closed a pooled connection before answering on it: http.Transport
			// retries a GET or HEAD on another connection in this case, and so do we.
			uc.done()
			uc.c.Close()
			continue
		}
		break
	}
	if err == errClientGone {
		// As the transport does when ReverseProxy's request context ends with the client: the
		// upstream connection closes, and the client gets nothing more.
		uc.done()
		uc.c.Close()
		return server.FastFailed
	}
	if err == nil {
		if o, ok := fp.answer(x, uc, now); ok {
			return o
		}
	}
	// Anything else is ReverseProxy's to answer, from what the upstream sent, within what is left
	// of the header timeout (the wait's steps are the fast path's own).
	uc.setDeadline(w.end)
	pe := &pending{c: uc.c, err: writeErr(err, uc.n)}
	pe.lim.r = io.MultiReader(bytes.NewReader(bytes.Clone(uc.buffered())), uc.c)
	uc.done()
	pe.br = bufio.NewReader(&pe.lim)
	x.Carry = pe
	return server.FastHandover
}

// clientCheckEvery is how often an exchange waiting for the upstream's head looks whether its
// client is still there: net/http notices a client leaving at once (its background read ends
// ReverseProxy's context); the fast path's goroutine is busy waiting, so it looks between steps.
const clientCheckEvery = time.Second

// errClientGone ends an exchange whose client left while it waited for the upstream's head.
var errClientGone = errors.New("gate: the client left while the upstream's head was awaited")

// headWait bounds the write of a request and the read of its response head by the header
// timeout, as the transport's ResponseHeaderTimeout does, in steps of about clientCheckEvery
// after each of which the client's connection is looked at.
//
// A step's deadline is kept from one request to the next while it is between half a step and a
// step away and within the header timeout, so that a connection carrying many requests a second
// sets one a few times a second, not once per request (each is a timer the runtime moves under a
// lock).
type headWait struct {
	end    time.Time // the header timeout; zero: none
	client net.Conn
}

func (w *headWait) start(now time.Time, timeout time.Duration, uc *upConn) {
	w.end = time.Time{}
	if timeout > 0 {
		w.end = now.Add(timeout)
	}
	if dl := uc.dl; !dl.Before(now.Add(clientCheckEvery/2)) && !dl.After(now.Add(clientCheckEvery)) &&
		(w.end.IsZero() || !dl.After(w.end)) {
		return
	}
	w.step(now, uc)
}

func (w *headWait) step(now time.Time, uc *upConn) {
	d := now.Add(clientCheckEvery)
	if !w.end.IsZero() && w.end.Before(d) {
		d = w.end
	}
	uc.setDeadline(d)
}

// again is called when a step's deadline passed: it reports errClientGone, the timeout itself when
// the header timeout is over, or nil after setting the next step.
func (w *headWait) again(uc *upConn, timeout error) error {
	now := time.Now()
	if !w.end.IsZero() && !now.Before(w.end) {
		return timeout
	}
	if clientGone(w.client) {
		return errClientGone
	}
	w.step(now, uc)
	return nil
}

func (w *headWait) write(uc *upConn, head []byte) error {
	for {
		m, err := uc.c.Write(head)
		if err == nil || !isTimeout(err) {
			return err
		}
		if err = w.again(uc, err); err != nil {
			return err
		}
		head = head[m:]
	}
}

// readHead writes uc.out and reads until a CRLF CRLF is buffered; a bare LF or a head larger than
// the scratch stops it with errHeadTooOdd (the bytes are kept for the slow path).
func (w *headWait) readHead(uc *upConn) error {
	for {
		from := max(uc.n-3, 0)
		err := uc.raw.Read(uc.readFn)
		if uc.werr != nil {
			return uc.werr
		}
		if rest := uc.out; err == nil && len(rest) > 0 {
			// The socket took only part of the head: the rest waits for room, step by step.
			uc.out = nil
			if err := w.write(uc, rest); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			if oe, ok := err.(*net.OpError); ok {
				oe.Op = "read" // as conn.Read says it, not "raw-read"
			}
			if isTimeout(err) {
				if err = w.again(uc, err); err == nil {
					continue
				}
			}
			return err
		}
		buf := uc.buffered()
		if k := bytes.Index(buf[from:], crlfcrlf); k >= 0 {
			if bareLFIn(buf[:from+k]) {
				return errHeadTooOdd
			}
			return nil
		}
		if uc.rerr != nil {
			return uc.rerr
		}
		if len(buf) == len(uc.sc.resp) || bareLFIn(buf) {
			return errHeadTooOdd
		}
	}
}

// clientGone reports whether the client closed its connection or it failed, as net/http's
// background read would notice: a peek that finds the end of the stream or an error. Bytes
// waiting (a pipelined request) say nothing either way, as for net/http, which stops looking then.
func clientGone(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	gone := false
	err = raw.Control(func(fd uintptr) {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		gone = n == 0 && err == nil || err != nil && err != syscall.EAGAIN && err != syscall.EINTR
	})
	return gone || err != nil
}

// writeErr keeps an error only when no response byte came: then the response cannot be read and
// ReverseProxy answers the error; otherwise ReadResponse meets the error itself.
func writeErr(err error, n int) error {
	if n == 0 {
		return err
	}
	return nil
}

// closedIdle is the transport's "server closed idle connection": EOF or a reset before any byte.
func closedIdle(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// errHeadTooOdd is readHead's way of saying "not a head the fast path reads" (bare LF, too big).
var errHeadTooOdd = errors.New("response head for the slow path")

func bareLFIn(b []byte) bool {
	for i, c := range b {
		if c == '\n' && (i == 0 || b[i-1] != '\r') {
			return true
		}
	}
	return false
}

// answer writes a simple response back and reports ok; ok false means nothing was written and the
// response, of which uc.n bytes are buffered in uc.sc, is for the slow path.
func (fp *fastProxy) answer(x *server.FastExchange, uc *upConn, now time.Time) (o server.FastOutcome, ok bool) {
	sc, n := uc.sc, uc.n
	end := bytes.Index(sc.resp[:n], crlfcrlf)
	r, simple := fp.parseResponse(sc.resp[:end+2], sc.hs[:0])
	if !simple {
		return 0, false
	}
	head := x.Req.Method == http.MethodHead
	if !head && r.length > 0 && !r.haveType && !r.hasCE {
		return 0, false // net/http would sniff a Content-Type from the first write
	}
	bodyLen := r.length
	if head {
		bodyLen = 0 // a response to HEAD has no body, whatever its Content-Length says
	}
	bodyStart := end + 4
	if int64(n) < int64(bodyStart)+bodyLen {
		fp.bodyDeadline(uc) // more to read: the body's time, no longer the head's
	}
	// A body that fits is read whole before anything is written, so that an upstream failing
	// half-way leaves the client's connection untouched for ReverseProxy's answer, as with the
	// transport; a larger one streams, as ReverseProxy streams it.
	if want := int64(bodyStart) + bodyLen; want <= int64(len(sc.resp)) {
		for int64(n) < want {
			m, rerr := uc.c.Read(sc.resp[n:want])
			n += m
			if rerr != nil && int64(n) < want {
				uc.n = n
				return 0, false // ReadResponse meets the same end again
			}
		}
	}
	// The client's head, as net/http writes ReverseProxy's: status line, the upstream's headers
	// sorted, then Date when the upstream sent none, then Connection: close when closing.
	dst := x.Out[:0]
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(r.status), 10)
	dst = append(dst, ' ')
	dst = append(dst, http.StatusText(r.status)...)
	dst = append(dst, crlf...)
	for _, h := range r.hs {
		dst = appendHeader(dst, h)
	}
	if !r.haveDate {
		dst = append(dst, "Date: "...)
		dst = time.Now().UTC().AppendFormat(dst, http.TimeFormat)
		dst = append(dst, crlf...)
	}
	if !x.Keep {
		dst = append(dst, "Connection: close\r\n"...)
	}
	dst = append(dst, crlf...)
	x.Out = dst

	body := sc.resp[bodyStart:n]
	extra := int64(len(body)) > bodyLen // the upstream sent more than it announced
	body = body[:min(int64(len(body)), bodyLen)]
	sc.bufs[0], sc.bufs[1] = dst, body
	sc.out = sc.bufs[:]
	_, err := sc.out.WriteTo(x.Conn)
	sc.bufs[0], sc.bufs[1] = nil, nil
	uc.done() // nothing in the scratch is needed any more
	if err != nil {
		uc.c.Close()
		return server.FastFailed, true
	}
	x.Status, x.Bytes = r.status, bodyLen
	if rest := bodyLen - int64(len(body)); rest > 0 {
		// The rest of a large body goes from one socket to the other (splice on Linux).
		if _, err := io.CopyN(x.Conn, uc.c, rest); err != nil {
			uc.c.Close()
			return server.FastFailed, true
		}
	}
	if extra || r.close {
		uc.c.Close() // never reuse a connection whose next bytes are not a response's first
	} else {
		fp.pool.put(fp.addr, uc, now)
	}
	return server.FastServed, true
}

func (fp *fastProxy) bodyDeadline(uc *upConn) {
	uc.setDeadline(deadline(fp.bodyTimeout))
}

func deadline(d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return time.Now().Add(d)
}

// fastResponse is what parseResponse learnt of a simple response head.
type fastResponse struct {
	status                           int
	length                           int64
	hs                               []hdr // the headers to send on, sorted
	close, haveType, hasCE, haveDate bool
}

// parseResponse reads head (ending in one CRLF) and reports ok only for a response the fast path
// answers: HTTP/1.1, a final status with a body other than a fallback one, exactly one
// Content-Length of plain digits, no Transfer-Encoding or Trailer, Connection only close or
// keep-alive, every line a token, a colon and a value without control bytes.
func (fp *fastProxy) parseResponse(head []byte, hs []hdr) (r fastResponse, ok bool) {
	line, rest, _ := bytes.Cut(head, crlf)
	if len(line) < 12 || string(line[:9]) != "HTTP/1.1 " || len(line) > 12 && line[12] != ' ' {
		return r, false
	}
	for _, c := range line[9:12] {
		if c < '0' || c > '9' {
			return r, false
		}
		r.status = r.status*10 + int(c-'0')
	}
	if r.status < 200 || r.status == http.StatusNoContent || r.status == http.StatusNotModified ||
		r.status >= len(fp.g.proxy.fallback) || fp.g.proxy.fallback[r.status] || http.StatusText(r.status) == "" {
		return r, false
	}
	r.length = -1
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, crlf)
		name, value, found := bytes.Cut(line, colon)
		if !found || !server.IsToken(name) {
			return r, false
		}
		value = bytes.Trim(value, " \t")
		for _, c := range value {
			if c < ' ' && c != '\t' || c == 0x7f {
				return r, false
			}
		}
		switch {
		case fold(name, "content-length"):
			if r.length >= 0 || len(value) == 0 || len(value) > 18 {
				return r, false
			}
			r.length = 0
			for _, c := range value {
				if c < '0' || c > '9' {
					return r, false
				}
				r.length = r.length*10 + int64(c-'0')
			}
		case fold(name, "transfer-encoding"), fold(name, "trailer"), fold(name, "close"):
			return r, false
		case fold(name, "connection"):
			for _, t := range bytes.Split(value, []byte(",")) {
				switch t = bytes.Trim(t, " \t"); {
				case fold(t, "close"):
					r.close = true
				case fold(t, "keep-alive"), len(t) == 0:
				default:
					return r, false // a header named in Connection is removed too: the slow path
				}
			}
			continue
		case fold(name, "keep-alive"), fold(name, "proxy-connection"), fold(name, "proxy-authenticate"),
			fold(name, "proxy-authorization"), fold(name, "te"), fold(name, "upgrade"),
			fold(name, "x-cf-forwarded-url"), fold(name, "x-cf-proxy-signature"), fold(name, "x-cf-proxy-metadata"):
			continue // hop-by-hop (removeHopByHopHeaders) and route-service headers (modifyResponse)
		case fold(name, "content-type"):
			r.haveType = true
		case fold(name, "content-encoding"):
			if !r.hasCE && len(value) > 0 {
				r.hasCE = true
			}
		case fold(name, "date"):
			r.haveDate = true
		}
		if len(hs) == cap(hs) {
			return r, false
		}
		hs = append(hs, hdr{name, value})
	}
	if r.length < 0 {
		return r, false
	}
	sortHeaders(hs)
	r.hs = hs
	return r, true
}

// pending is an upstream exchange the fast path started and ReverseProxy finishes: the connection,
// with the bytes already read from it in front, or the error that ended it before any byte came.
type pending struct {
	c   net.Conn
	br  *bufio.Reader
	lim headLimit // under br: bounds what the response heads may take, as the transport does
	err error
}

// maxResponseHead is http.Transport's default MaxResponseHeaderBytes, which NewTransport keeps:
// an upstream whose head never ends gets an error, not the gate's memory.
const maxResponseHead = 10 << 20

// headLimit is persistConn's readLimit: reads fail once n bytes were read, until it is lifted for
// the body.
type headLimit struct {
	r io.Reader
	n int64
}

func (l *headLimit) Read(b []byte) (int, error) {
	if l.n <= 0 {
		return 0, errHeadTooLarge
	}
	if int64(len(b)) > l.n {
		b = b[:l.n]
	}
	m, err := l.r.Read(b)
	l.n -= int64(m)
	return m, err
}

var errHeadTooLarge = fmt.Errorf("net/http: server response headers exceeded %d bytes; aborted", maxResponseHead)

func (p *pending) Close() error { return p.c.Close() }

type pendingKey struct{}

// pendingTransport is the round tripper of a request the fast path already sent: it reads the
// response as http.Transport's persistConn.readResponse does (ReadResponse, 1xx responses passed
// to the trace and skipped, 101 with a writable body), and the connection closes with the body.
type pendingTransport struct{}

func (pendingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	p, _ := req.Context().Value(pendingKey{}).(*pending)
	if p == nil {
		return nil, errors.New("gate: no pending upstream exchange")
	}
	if p.err != nil {
		p.c.Close()
		return nil, p.err
	}
	// As the transport does when the request's context ends (the client left, the server shuts
	// down): the connection closes, whether the head or the body is being read, so that nothing
	// waits on an upstream that may send nothing for hours.
	ctx := req.Context()
	stop := context.AfterFunc(ctx, func() { p.c.Close() })
	fail := func(err error) (*http.Response, error) {
		stop()
		p.c.Close()
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	trace := httptrace.ContextClientTrace(ctx)
	p.lim.n = maxResponseHead
	for {
		resp, err := http.ReadResponse(p.br, req)
		if err != nil {
			if p.lim.n <= 0 {
				err = errHeadTooLarge
			}
			return fail(err)
		}
		if code := resp.StatusCode; code >= 100 && code <= 199 && code != http.StatusSwitchingProtocols {
			if trace != nil && trace.Got1xxResponse != nil {
				if err := trace.Got1xxResponse(code, textproto.MIMEHeader(resp.Header)); err != nil {
					return fail(err)
				}
				p.lim.n = maxResponseHead // delivered to the client: the transport resets the limit too
			}
			continue
		}
		p.lim.n = 1<<63 - 1          // the body has no limit
		p.c.SetDeadline(time.Time{}) // the header timeout is over; the body has none, as in the transport
		if resp.StatusCode == http.StatusSwitchingProtocols {
			resp.Body = &rwBody{Reader: p.br, c: p.c, stop: stop}
		} else {
			resp.Body = &closingBody{ReadCloser: resp.Body, c: p.c, stop: stop}
		}
		return resp, nil
	}
}

type closingBody struct {
	io.ReadCloser
	c    net.Conn
	stop func() bool
}

func (b *closingBody) Close() error {
	b.stop()
	b.ReadCloser.Close()
	return b.c.Close()
}

type rwBody struct {
	io.Reader
	c    net.Conn
	stop func() bool
}

func (b *rwBody) Write(p []byte) (int, error) { return b.c.Write(p) }
func (b *rwBody) Close() error                { b.stop(); return b.c.Close() }
