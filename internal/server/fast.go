package server

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/maintpage/maintpage/internal/reqlog"
)

// The fast path answers, on the server's own connections, the requests whose whole answer is ready
// bytes — the maintenance response — without net/http's per-request parsing and header maps. It
// reads plain HTTP/1.1 requests without a body; at the first request it cannot answer that way (a
// body, an upgrade, the reserved prefix, a proxied request, anything unusual) it hands the
// connection, with the bytes it has read, to net/http, which serves it from then on. So net/http
// stays the one HTTP server; the fast path only answers what needs no server logic.

// FastRequest is what the fast path read of a request: only what a ready answer may depend on.
// The strings point into the connection's buffer and are valid only during ServeFast.
type FastRequest struct {
	Method         string
	Path           string // as sent: the fast path only takes paths with nothing to decode
	RawQuery       string
	Host           string
	Accept         string
	AcceptLanguage string
	Cookie         string
	Origin         string
	XForwardedFor  string // for the request log: the client behind a trusted proxy
}

// FastResponse is a ready answer: Head is the status line and headers, each ending in CRLF, without
// Date and without the blank line that ends the head.
type FastResponse struct {
	Head   []byte
	Body   []byte
	Status int
	Format string // the format's name, for the request log: html, json, problem+json or text
}

// FastHandler is a handler that can answer some requests from ready bytes. ServeFast appends the
// head to dst and returns ok false for any request it wants served by ServeHTTP instead.
type FastHandler interface {
	ServeFast(dst []byte, r *FastRequest) (resp FastResponse, ok bool)
}

// fastBufSize bounds a request head on the fast path; larger heads go to net/http, which applies
// max_header_bytes (and answers 431). Browsers' heads are well under it. It is a size class of
// the allocator's (runtime/sizeclasses.go), so a buffer costs what it holds.
const fastBufSize = 4096

// A connection holds its buffers only while it reads or answers a request: the read buffer from
// the moment bytes are there to read (see fill) until no partial request is left in it, the
// answer's head only while it is written. An idle keep-alive connection holds neither, so memory
// grows with the requests in flight, not with the connections open.
var (
	inPool  = sync.Pool{New: func() any { b := make([]byte, fastBufSize); return &b }}
	outPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}
)

// fastListener is the listener net/http serves: it returns only the connections the fast path
// handed over before answering on them. The fast path accepts from the real listener itself.
type fastListener struct {
	net.Listener
	handoff chan net.Conn
	// handoffLater has the connections handed over after an answer; it is handoff unless the
	// server speaks h2c (see handOver).
	handoffLater chan net.Conn
	done         chan struct{}
	stopOnce     sync.Once

	// h2 serves prior-knowledge HTTP/2 connections (nil: net/http does, as every other handover).
	h2 *h2Server

	handler                                      *atomic.Pointer[http.Handler]
	reqLog                                       *reqlog.Logger
	readHeaderTimeout, idleTimeout, writeTimeout time.Duration

	mu    sync.Mutex
	conns map[*fastConn]struct{}
	wg    sync.WaitGroup
}

func newFastListener(ln net.Listener, h *atomic.Pointer[http.Handler], srv *http.Server, reqLog *reqlog.Logger) *fastListener {
	idle := srv.IdleTimeout
	if idle == 0 {
		idle = srv.ReadTimeout
	}
	handoff := make(chan net.Conn)
	return &fastListener{
		Listener:          ln,
		handoff:           handoff,
		handoffLater:      handoff,
		done:              make(chan struct{}),
		handler:           h,
		reqLog:            reqLog,
		readHeaderTimeout: srv.ReadHeaderTimeout,
		idleTimeout:       idle,
		writeTimeout:      srv.WriteTimeout,
		conns:             map[*fastConn]struct{}{},
	}
}

// run accepts connections until the listener is closed.
func (l *fastListener) run() error {
	var delay time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			select {
			case <-l.done:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				// Out of file descriptors or a passing error: wait a little, as net/http does.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		fc := &fastConn{l: l, c: c, remote: c.RemoteAddr().String()}
		fc.rl = l.reqLog.Conn(fc.remote)
		l.mu.Lock()
		l.conns[fc] = struct{}{}
		l.wg.Add(1)
		l.mu.Unlock()
		go fc.serve()
	}
}

// Accept returns the next connection handed over to net/http.
func (l *fastListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.handoff:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// laterListener returns the listener of the connections handed over after an answer, for a server
// of its own; from then on handoff has only the others. It closes on its own: each http.Server must
// see its own listener closed by its own Shutdown, or it takes the closing for a failure.
func (l *fastListener) laterListener() net.Listener {
	l.handoffLater = make(chan net.Conn)
	return &chanListener{ch: l.handoffLater, done: make(chan struct{}), addr: l.Addr()}
}

// Close stops accepting; net/http calls it on Shutdown.
func (l *fastListener) Close() error {
	var err error
	l.stopOnce.Do(func() {
		close(l.done)
		err = l.Listener.Close()
	})
	return err
}

// shutdown closes idle fast-path connections and waits, until deadline, for the others to finish
// the request they are answering. http.Server.Shutdown closes the listener: waiting for that keeps
// net/http's Serve from mistaking the closed listener for a failure.
func (l *fastListener) shutdown(deadline <-chan struct{}) {
	select {
	case <-l.done:
	case <-deadline:
		l.Close()
	}
	l.mu.Lock()
	for fc := range l.conns {
		fc.wake()
	}
	l.mu.Unlock()
	waitOrClose(&l.wg, deadline, &l.mu, l.conns, func(fc *fastConn) net.Conn { return fc.c })
}

// waitOrClose waits for wg; if deadline comes first, it closes the net.Conn (given by netConn) of
// every connection still in conns, under mu, and waits on.
func waitOrClose[C comparable](wg *sync.WaitGroup, deadline <-chan struct{}, mu *sync.Mutex, conns map[C]struct{}, netConn func(C) net.Conn) {
	finished := make(chan struct{})
	go func() {
		wg.Wait()
		close(finished)
	}()
	select {
	case <-finished:
	case <-deadline:
		mu.Lock()
		for c := range conns {
			netConn(c).Close()
		}
		mu.Unlock()
		<-finished
	}
}

func (l *fastListener) stopping() bool {
	select {
	case <-l.done:
		return true
	default:
		return false
	}
}

// fastConn is one connection while the fast path serves it.
type fastConn struct {
	l         *fastListener
	c         net.Conn
	remote    string
	bufs      [2][]byte
	out       net.Buffers
	rl        *reqlog.Conn // the request log's handle of the connection; nil when off
	forwarded [1]string    // the request's X-Forwarded-For while it is logged
	x         FastExchange // reused for every forwarded request

	// in is the read buffer, nil while no byte of a request is held; n bytes of it are read.
	in *[]byte
	n  int
	// rc reads only once the connection is readable, so that in is taken when bytes are there
	// (nil when the connection is not a system one: then in is held while waiting).
	rc     syscall.RawConn
	readFn func(fd uintptr) bool // fc.readFd, made once: a method value passed each time allocates
	got    int                   // what the last readFd read
	rerr   error

	// The read and write deadlines as last set (zero: unknown, set the next one). Keep-alive
	// deadlines are set a little later than asked (see extend), so that a connection answering
	// many requests a second sets them a few times a second rather than twice per request.
	rdl, wdl time.Time
}

// wake interrupts a read so that the connection notices the shutdown.
func (fc *fastConn) wake() { fc.c.SetReadDeadline(time.Now()) }

func (fc *fastConn) done() {
	fc.rl.Close()
	fc.release()
	fc.forget()
	fc.l.wg.Done()
}

func (fc *fastConn) forget() {
	fc.l.mu.Lock()
	delete(fc.l.conns, fc)
	fc.l.mu.Unlock()
}

// release gives the read buffer back.
func (fc *fastConn) release() {
	if fc.in != nil {
		inPool.Put(fc.in)
		fc.in, fc.n = nil, 0
	}
}

// read is what has been read of the request so far.
func (fc *fastConn) read() []byte {
	if fc.in == nil {
		return nil
	}
	return (*fc.in)[:fc.n]
}

// fill reads more of a request into the read buffer, which it takes from the pool only when the
// connection has bytes to read. There is room: the caller hands over a full buffer instead.
func (fc *fastConn) fill() error {
	if fc.rc == nil {
		if fc.in == nil {
			fc.in = inPool.Get().(*[]byte)
		}
		m, err := fc.c.Read((*fc.in)[fc.n:])
		fc.n += m
		return err
	}
	fc.got, fc.rerr = 0, nil
	if err := fc.rc.Read(fc.readFn); err != nil {
		return err // a deadline, or the connection closed
	}
	fc.n += fc.got
	return fc.rerr
}

// readFd is fill's read: it returns false, to wait until the connection is readable, when there
// is nothing to read yet, and gives the buffer back meanwhile if it holds nothing.
func (fc *fastConn) readFd(fd uintptr) bool {
	if fc.in == nil {
		fc.in = inPool.Get().(*[]byte)
	}
	for {
		m, err := syscall.Read(int(fd), (*fc.in)[fc.n:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			if fc.n == 0 {
				fc.release()
			}
			return false
		case err != nil:
			fc.rerr = os.NewSyscallError("read", err)
		case m == 0:
			fc.rerr = io.EOF
		default:
			fc.got = m
		}
		return true
	}
}

// setRead sets the read deadline to exactly t.
func (fc *fastConn) setRead(t time.Time) {
	fc.rdl = t
	fc.c.SetReadDeadline(t)
}

// extend moves a deadline *set (applied by apply) to at least now+d, to now+d plus a slack of
// d/8 (at most a second) when it is earlier, so that it fires at most that much late and is set
// at most once per slack rather than for every request. d <= 0 means no deadline.
func extend(set *time.Time, now time.Time, d time.Duration, apply func(time.Time) error) {
	if d <= 0 {
		*set = time.Time{}
		apply(time.Time{})
		return
	}
	want := now.Add(d)
	if !set.IsZero() && !set.Before(want) {
		return
	}
	*set = want.Add(min(d/8, time.Second))
	apply(*set)
}

func (fc *fastConn) serve() {
	defer fc.done()
	if sc, ok := fc.c.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			fc.rc, fc.readFn = rc, fc.readFd
		}
	}
	served := false
	afterPOST := false
	var req FastRequest
	// As net/http does: read_header_timeout from accept for the first request.
	fc.setRead(deadline(fc.l.readHeaderTimeout))
	for {
		// Between requests, idle_timeout until four bytes of the next one are there (net/http
		// peeks at four bytes before it reads a request, and closes without an answer if they do
		// not come), then read_header_timeout for the rest of its head (set below, if the bytes
		// that came are not a whole head).
		headerDeadline := !served
		if served {
			if fc.n < 4 {
				extend(&fc.rdl, time.Now(), fc.l.idleTimeout, fc.c.SetReadDeadline)
				if fc.l.stopping() {
					fc.c.Close()
					return
				}
				for fc.n < 4 {
					if err := fc.fill(); err != nil {
						fc.c.Close()
						return
					}
				}
			}
			if afterPOST {
				// net/http skips up to four CR or LF bytes (of the four it peeked at) before the
				// request that follows a POST (RFC 9112 section 2.2's tolerance for clients that
				// send CRLF after a body); so do we, or the two would read different requests
				// from the same bytes.
				buf := *fc.in
				k := 0
				for k < 4 && (buf[k] == '\r' || buf[k] == '\n') {
					k++
				}
				fc.n = copy(buf, buf[k:fc.n])
				afterPOST = false
			}
		}
		// A shutdown that began before the deadline was set must not wait for it.
		if fc.l.stopping() {
			fc.c.Close()
			return
		}
		// Read line by line until a whole head is buffered, checking each line as it completes:
		// the first line the fast path would not answer hands the connection over at once, so
		// that net/http answers it as soon as it would have on its own (a bad request line gets
		// its 400 without waiting for a head that never ends). Bytes left from the previous
		// request are checked the same way as new ones.
		p := headParser{r: &req}
		req = FastRequest{}
		for {
			done, ok := p.feed(fc.read())
			if !ok {
				fc.handOver(fc.read(), served)
				return
			}
			if done {
				break
			}
			if fc.n == fastBufSize {
				fc.handOver(fc.read(), served)
				return
			}
			if !headerDeadline {
				headerDeadline = true
				fc.setRead(deadline(fc.l.readHeaderTimeout))
				if fc.l.stopping() {
					fc.c.Close()
					return
				}
			}
			if err := fc.fill(); err != nil {
				if fc.n > 0 && !isTimeout(err) && !fc.l.stopping() {
					// Let net/http tell the client what was wrong with a partial request.
					fc.handOver(fc.read(), served)
					return
				}
				fc.c.Close()
				return
			}
		}
		headLen := p.pos
		keep, parsed := p.finish()
		ok := parsed
		var resp FastResponse
		h := *fc.l.handler.Load()
		if ok {
			if fh, isFast := h.(FastHandler); isFast {
				now := time.Now() // for Date and the write deadline
				var start time.Time
				if fc.rl.Timed() { // not for the default summary, which has no durations
					start = now
				}
				out := outPool.Get().(*[]byte)
				resp, ok = fh.ServeFast((*out)[:0], &req)
				if ok {
					// While stopping, say that the connection closes after this answer, as net/http does.
					keep = keep && !fc.l.stopping()
					if !fc.write(&resp, req.Method == http.MethodHead, keep, now) {
						outPool.Put(out)
						fc.c.Close()
						return
					}
					fc.log(&req, &resp, start)
					*out = resp.Head[:0] // keep the grown buffer
					afterPOST = req.Method == http.MethodPost
				}
				outPool.Put(out)
			} else {
				ok = false
			}
		}
		if ff, isFwd := h.(FastForwarder); !ok && parsed && isFwd {
			out := outPool.Get().(*[]byte)
			o, k := fc.forward(ff, out, fc.read()[:headLen], &req, keep)
			outPool.Put(out)
			if o != FastDeclined {
				switch o {
				case FastFailed:
					fc.c.Close()
					return
				case FastHandover:
					fc.handOverCarrying(fc.read(), served, fc.x.Carry)
					return
				}
				ok, afterPOST, keep = true, false, k
			}
		}
		if !ok {
			fc.handOver(fc.read(), served)
			return
		}
		served = true
		req = FastRequest{} // its strings point into the read buffer, which they would keep alive
		fc.n = copy(*fc.in, (*fc.in)[headLen:fc.n])
		if fc.n == 0 {
			fc.release() // nothing of the next request yet: wait without a buffer
		}
		if !keep {
			fc.c.Close()
			return
		}
	}
}

func deadline(d time.Duration) time.Time {
	if d <= 0 {
		return time.Time{}
	}
	return time.Now().Add(d)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// write sends the head (with Date, and Connection: close when the connection ends after it) and the
// body in one system call.
func (fc *fastConn) write(resp *FastResponse, head, keep bool, now time.Time) bool {
	h := append(resp.Head, dateLine(now)...)
	if !keep {
		h = append(h, "Connection: close\r\n"...)
	}
	h = append(h, "\r\n"...)
	resp.Head = h
	fc.bufs[0], fc.bufs[1] = h, nil
	if !head {
		fc.bufs[1] = resp.Body
	}
	// A field, not a local: WriteTo takes a pointer, which would move a local to the heap.
	fc.out = fc.bufs[:]
	if fc.l.writeTimeout > 0 {
		extend(&fc.wdl, now, fc.l.writeTimeout, fc.c.SetWriteDeadline)
	}
	_, err := fc.out.WriteTo(fc.c)
	return err == nil
}

func (fc *fastConn) log(req *FastRequest, resp *FastResponse, start time.Time) {
	logFast(fc.rl, req, resp, fc.remote, start, &fc.forwarded)
}

// handOver gives the connection to net/http with the bytes already read, unless the server is
// shutting down. A connection the fast path has answered on goes to a server that speaks only
// HTTP/1: net/http switches to HTTP/2 only on a preface at the very start of a connection, and later
// reads one as an HTTP/1 request (PRI * HTTP/2.0), which is what the client must get here too.
func (fc *fastConn) handOver(read []byte, answered bool) { fc.handOverCarrying(read, answered, nil) }

// handOverCarrying hands the connection over with carry for the handler of its first request (see
// Carried); carry is closed if no handler takes it.
func (fc *fastConn) handOverCarrying(read []byte, answered bool, carry io.Closer) {
	if !answered && carry == nil && fc.l.h2.takes(*fc.l.handler.Load()) && bytes.HasPrefix(read, []byte(h2Preface[:16])) {
		// HTTP/2 with prior knowledge (its preface reads as the request line PRI * HTTP/2.0).
		fc.forget()
		fc.l.h2.serve(fc.c, read)
		return
	}
	fc.forget() // from now on net/http's shutdown, not ours, closes it
	fc.c.SetDeadline(time.Time{})
	pc := &prefixConn{Conn: fc.c, prefix: bytes.Clone(read)}
	if carry != nil {
		pc.carry.Store(&carry)
	}
	to := fc.l.handoff
	if answered {
		to = fc.l.handoffLater
	}
	select {
	case to <- pc:
	case <-fc.l.done:
		pc.dropCarry()
		fc.c.Close()
	}
}

// prefixConn replays what the fast path read before reading from the connection.
type prefixConn struct {
	net.Conn
	prefix []byte
	carry  atomic.Pointer[io.Closer] // taken once, by Carried or dropCarry
}

func (p *prefixConn) takeCarry() io.Closer {
	if c := p.carry.Swap(nil); c != nil {
		return *c
	}
	return nil
}

func (p *prefixConn) dropCarry() {
	if c := p.takeCarry(); c != nil {
		c.Close()
	}
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.prefix) > 0 {
		n := copy(b, p.prefix)
		p.prefix = p.prefix[n:]
		if len(p.prefix) == 0 {
			p.prefix = nil // let the copy go
		}
		return n, nil
	}
	return p.Conn.Read(b)
}

// ReadFrom keeps sendfile for net/http's file responses on a handed-over connection.
func (p *prefixConn) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := p.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{p.Conn}, r)
}

// CloseWrite lets net/http half-close the connection, as it does for a plain TCP connection.
func (p *prefixConn) CloseWrite() error {
	if cw, ok := p.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// The Date header, formatted once a second.
type dateCache struct {
	unix int64
	line []byte
}

var dates atomic.Pointer[dateCache]

// dateLine is the Date field for the second of now.
func dateLine(now time.Time) []byte {
	return cachedDate(&dates, now, func(now time.Time) []byte {
		line := now.UTC().AppendFormat([]byte("Date: "), http.TimeFormat)
		return append(line, "\r\n"...)
	})
}

// cachedDate returns what render makes of the second of now, made once a second.
func cachedDate(cache *atomic.Pointer[dateCache], now time.Time, render func(time.Time) []byte) []byte {
	unix := now.Unix()
	if d := cache.Load(); d != nil && d.unix == unix {
		return d.line
	}
	line := render(now)
	cache.Store(&dateCache{unix: unix, line: line})
	return line
}
