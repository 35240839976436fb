package gate

import (
	"net"
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

// upConn is one upstream connection and when it went idle.
type upConn struct {
	c     net.Conn
	since time.Time
	// For waiting: a peek at the socket, set up once per connection so that it allocates nothing.
	raw    syscall.RawConn
	peekFn func(fd uintptr) bool
	peekB  [1]byte
	waits  bool
}

func newUpConn(c net.Conn) *upConn {
	uc := &upConn{c: c}
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			uc.raw, uc.peekFn = raw, uc.peek
		}
	}
	return uc
}

func (uc *upConn) peek(fd uintptr) bool {
	n, _, err := syscall.Recvfrom(int(fd), uc.peekB[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
	uc.waits = n > 0 || err == nil || err != syscall.EAGAIN
	return true
}

// unsolicited reports whether the idle connection has bytes or an end of stream waiting. Either
// means it cannot carry the next request: an upstream that closed it, or one that sent more than
// its last response announced (read as the next request's response, that would desync the two).
// It is what nginx's keepalive module does on a cached connection's read event, done at reuse.
func (uc *upConn) unsolicited() bool {
	if uc.raw == nil {
		return false
	}
	if err := uc.raw.Read(uc.peekFn); err != nil {
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

func (p *UpstreamPool) dial(addr string) (net.Conn, error) { return p.dialer.Dial("tcp", addr) }

// get takes the most recently used idle connection to addr that can carry a request; nil when
// there is none.
func (p *UpstreamPool) get(addr string) (uc *upConn, reused bool) {
	now := time.Now()
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

// put keeps uc for the next request to addr, or closes it when the pool is full.
func (p *UpstreamPool) put(addr string, uc *upConn) {
	uc.since = time.Now()
	// A deadline left from the request would fail the reuse check once it passes.
	uc.c.SetDeadline(time.Time{})
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
