package gate

import (
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"time"
)

// UpstreamPool holds the fast proxy path's idle upstream connections, most recently used first, so
// that a burst's surplus ages out rather than every connection staying warm. It outlives reloads,
// as the transport does: a new pool per reload would dial every connection again under load.
type UpstreamPool struct {
	dialer net.Dialer
	mu     sync.Mutex
	idle   map[string][]*upConn
	// sweep runs while connections are idle: it closes those the upstream closed or that aged,
	// as the transport's read loop and idle timer do, rather than leave them for a get that may
	// never reach them (get takes from the top; a burst's surplus lies at the bottom).
	sweep *time.Timer
}

// sweepEvery is how often idle connections are checked; the check is one non-blocking peek each.
const sweepEvery = 2 * time.Second

// upConn is one upstream connection: when it went idle, and while a response head is read, the
// scratch it is read into and how far.
type upConn struct {
	c     net.Conn
	since time.Time
	raw   syscall.RawConn
	// Set up once per connection so that neither allocates.
	peekFn func(fd uintptr)
	readFn func(fd uintptr) bool
	peekB  [1]byte
	waits  bool

	out  []byte       // the request's head, until readSome has written it
	werr error        // how writing it failed
	sc   *fastScratch // nil until the response's first bytes are there
	n    int          // bytes of sc.resp read
	rerr error        // how the last read ended, when it failed
	dl   time.Time    // the deadline last set; zero: none
}

// setDeadline sets the connection's read and write deadline to t.
func (uc *upConn) setDeadline(t time.Time) {
	uc.dl = t
	uc.c.SetDeadline(t)
}

func newUpConn(c net.Conn) *upConn {
	uc := &upConn{c: c}
	// Every connection the pool dials is a *net.TCPConn.
	uc.raw, _ = c.(syscall.Conn).SyscallConn()
	uc.peekFn, uc.readFn = uc.peek, uc.readSome
	return uc
}

func (uc *upConn) peek(fd uintptr) {
	n, _, err := syscall.Recvfrom(int(fd), uc.peekB[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	uc.waits = n > 0 || err == nil || err != syscall.EAGAIN
}

// readSome is one read(2) of the response for raw.Read: false (wait for the socket) while there
// is nothing to read. The scratch is taken only once the bytes are there, and given back while
// there is nothing in it, so that a request waiting for its upstream holds no buffer: at 1000
// connections almost every request is waiting, and only the few running need one.
//
// With the request's head in out, it first writes that and waits without a read: no answer can
// be there yet, and conn.Write then conn.Read would spend a read(2) learning so (EAGAIN) on every
// request. Writing after raw.Read has armed the wait, not before, is what makes this safe: the
// answer's readiness cannot come before the wait that looks for it. A head the socket does not
// take at once (out still set, or werr) is the caller's to finish with conn.Write.
func (uc *upConn) readSome(fd uintptr) bool {
	for len(uc.out) > 0 {
		m, err := syscall.Write(int(fd), uc.out)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return true
		case err != nil:
			uc.werr = uc.opError("write", err)
			return true
		}
		uc.out = uc.out[m:]
		if len(uc.out) == 0 {
			uc.out = nil
			return false
		}
	}
	if uc.sc == nil {
		uc.sc = scratches.Get().(*fastScratch)
	}
	for {
		m, err := syscall.Read(int(fd), uc.sc.resp[uc.n:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			if uc.n == 0 {
				uc.done()
			}
			return false
		case err != nil:
			uc.rerr = uc.opError("read", err)
		case m == 0:
			uc.rerr = io.EOF
		default:
			uc.n += m
		}
		return true
	}
}

// opError is err as conn.Read and conn.Write report it.
func (uc *upConn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "tcp", Source: uc.c.LocalAddr(), Addr: uc.c.RemoteAddr(), Err: os.NewSyscallError(op, err)}
}

// buffered is what was read of the response.
func (uc *upConn) buffered() []byte {
	if uc.sc == nil {
		return nil
	}
	return uc.sc.resp[:uc.n]
}

// done gives the scratch back and forgets the exchange's reading.
func (uc *upConn) done() {
	if uc.sc != nil {
		scratches.Put(uc.sc)
		uc.sc = nil
	}
	uc.n, uc.rerr, uc.out, uc.werr = 0, nil, nil, nil
}

// unsolicited reports whether the idle connection has bytes or an end of stream waiting. Either
// means it cannot carry the next request: an upstream that closed it, or one that sent more than
// its last response announced (read as the next request's response, that would desync the two).
// It is what nginx's keepalive module does on a cached connection's read event, done at reuse.
// Control, not Read: a deadline left from the last request does not matter here.
func (uc *upConn) unsolicited() bool {
	if err := uc.raw.Control(uc.peekFn); err != nil {
		return true
	}
	return uc.waits
}

const (
	// maxIdlePerHost matches the transport's MaxIdleConnsPerHost (see NewTransport for why).
	maxIdlePerHost = 1024
	// idleFor is the transport's IdleConnTimeout: older idle connections are closed, not used.
	idleFor = 90 * time.Second
)

// NewUpstreamPool makes an empty pool whose connections are dialled within dialTimeout.
func NewUpstreamPool(dialTimeout time.Duration) *UpstreamPool {
	return &UpstreamPool{
		dialer: net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second},
		idle:   map[string][]*upConn{},
	}
}

// dial connects to addr on a goroutine of its own, which ends with the dial. The dialler runs
// deep (resolver, socket options, the connect's wait): on the connection's goroutine it would
// grow that stack from 4 to 8 KiB, kept for as long as the client stays — 4 MiB more at 1000
// connections, for a dial that happens once per upstream connection.
func (p *UpstreamPool) dial(addr string) (net.Conn, error) {
	type dialed struct {
		c   net.Conn
		err error
	}
	ch := make(chan dialed, 1)
	go func() {
		c, err := p.dialer.Dial("tcp", addr)
		ch <- dialed{c, err}
	}()
	d := <-ch
	return d.c, d.err
}

// get takes the most recently used idle connection to addr that can carry a request; nil when
// there is none.
func (p *UpstreamPool) get(addr string, now time.Time) (uc *upConn, reused bool) {
	for {
		p.mu.Lock()
		cs := p.idle[addr]
		if len(cs) == 0 {
			p.mu.Unlock()
			return nil, false
		}
		uc = cs[len(cs)-1]
		cs[len(cs)-1] = nil
		p.idle[addr] = cs[:len(cs)-1]
		p.mu.Unlock()
		if now.Sub(uc.since) < idleFor && !uc.unsolicited() {
			return uc, true
		}
		uc.c.Close()
	}
}

// put keeps uc for the next request to addr, or closes it when the pool is full. now is when its
// last exchange began: a little before it went idle, so that it ages out a little early, never late.
func (p *UpstreamPool) put(addr string, uc *upConn, now time.Time) {
	uc.since = now
	p.mu.Lock()
	cs := p.idle[addr]
	if len(cs) < maxIdlePerHost {
		p.idle[addr] = append(cs, uc)
		uc = nil
		if p.sweep == nil {
			p.sweep = time.AfterFunc(sweepEvery, p.sweepIdle)
		}
	}
	p.mu.Unlock()
	if uc != nil {
		uc.c.Close()
	}
}

// sweepIdle closes the idle connections that cannot carry a request any more, and comes back
// while any stay idle.
func (p *UpstreamPool) sweepIdle() {
	now := time.Now()
	var dead []*upConn
	p.mu.Lock()
	left := 0
	for addr, cs := range p.idle {
		kept := cs[:0]
		for _, uc := range cs {
			if now.Sub(uc.since) >= idleFor || uc.unsolicited() {
				dead = append(dead, uc)
			} else {
				kept = append(kept, uc)
			}
		}
		clear(cs[len(kept):])
		if len(kept) == 0 {
			delete(p.idle, addr)
		} else {
			p.idle[addr] = kept
		}
		left += len(kept)
	}
	if left > 0 {
		p.sweep.Reset(sweepEvery)
	} else {
		p.sweep = nil
	}
	p.mu.Unlock()
	for _, uc := range dead {
		uc.c.Close()
	}
}

// CloseIdle closes every idle connection; connections in use close or return after their request.
func (p *UpstreamPool) CloseIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = map[string][]*upConn{}
	if p.sweep != nil {
		p.sweep.Stop()
		p.sweep = nil
	}
	p.mu.Unlock()
	for _, cs := range idle {
		for _, uc := range cs {
			uc.c.Close()
		}
	}
}
