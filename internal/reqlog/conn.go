package reqlog

import (
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/maintpage/maintpage/internal/clientaddr"
)

// Conn is one connection's handle on the request log, for a server that serves many requests on
// a connection (the fast path). In the summary mode it makes counting a plain maintenance answer
// cost an atomic add: the peer is parsed once, when the connection opens, and the answers alike in
// a row (same path, status and format, and client network) are counted in the connection, and
// added to the summary's shared counts only when the answer changes, when the connection closes,
// and when a summary is taken. A client on a keep-alive connection asks the same thing over and
// over; a summary line, every few seconds, collects what the open connections have counted.
//
// A Conn's Log and Close are called from one goroutine at a time (the connection's). A nil *Conn
// logs nothing.
//
// A Conn is kept small (192 bytes), as a server has one per open connection; it is allocated in
// the summary mode only.
type Conn struct {
	l *Logger

	// Summary mode only.
	sh      *shard
	proxy   *proxied // the peer is a trusted proxy: the client is in X-Forwarded-For
	peerNet [17]byte // the peer's network (see network), valid when peerOK
	peerOK  bool

	n          atomic.Uint64 // answers like run not yet added to the shard
	mu         sync.Mutex    // held to change run (and proxy's fwd), and by take to read it
	run        run
	prev, next *Conn // in sh.conns
}

// proxied is what a Conn from a trusted proxy needs besides.
type proxied struct {
	peer netip.Addr // unmapped, without zone
	// The X-Forwarded-For the run's network was read from: the one line, or none (fwdLen 0);
	// fwdOK is false when it was too long or several lines, to compare. (One empty line and none
	// are the same: clientaddr skips empty entries.)
	fwd    [topKey]byte
	fwdLen uint8
	fwdOK  bool
}

// run is the kind of answer a Conn counts in a row: what the summary counts it by.
type run struct {
	valid       bool
	status      int32
	statusIndex uint16
	formatIndex uint8
	format      [12]byte // the format as given, to compare: formatIndex folds unknown ones
	formatLen   uint8
	path        [topKey]byte // cut as the top list cuts it
	pathLen     uint8
	pathCut     bool
	net         [17]byte
	hasNet      bool
}

// Conn opens the handle of a connection from remote (host:port); Close it when the connection
// ends. It returns nil when l is nil, so that a server without a request log needs no check.
func (l *Logger) Conn(remote string) *Conn {
	if l == nil {
		return nil
	}
	if l.mode != Summary {
		return l.plain // Log is Logger.Log: nothing of the connection's to keep
	}
	s := l.sum
	c := &Conn{l: l, sh: &s.shards[s.next.Add(1)%uint64(len(s.shards))]}
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		peer := ap.Addr().Unmap().WithZone("")
		c.peerNet, c.peerOK = network(peer)
		if clientaddr.In(s.trusted, peer) {
			c.proxy = &proxied{peer: peer}
		}
	}
	c.sh.connsMu.Lock()
	c.next = c.sh.conns
	if c.next != nil {
		c.next.prev = c
	}
	c.sh.conns = c
	c.sh.connsMu.Unlock()
	return c
}

// Timed says whether Log needs the duration of a plain maintenance answer: in the summary mode it
// is not written, and a server can save reading the clock.
func (c *Conn) Timed() bool { return c != nil && c.l.mode != Summary }

// Again is the shortcut of the summary mode for a plain maintenance answer (Entry's Path, Status
// and Format; forwarded is its X-Forwarded-For, "" for none): when the answer is counted like the
// connection's previous one, it counts it and returns true; else it does nothing, and the caller
// logs the answer with Log. It saves building an Entry for the common case.
func (c *Conn) Again(path string, status int, format, forwarded string) bool {
	if c == nil || c.sh == nil || !c.same(path, status, format, forwarded) || c.l.closed.Load() {
		return false
	}
	c.n.Add(1)
	c.checkClosed()
	return true
}

// Log records one answered request, as Logger.Log does.
func (c *Conn) Log(e *Entry) {
	if c == nil {
		return
	}
	l := c.l
	if l.mode != Summary || !e.Maintenance || l.closed.Load() {
		l.Log(e)
		return
	}
	if len(e.Forwarded) <= 1 && c.same(e.Path, e.Status, e.Format, firstOr(e.Forwarded)) {
		c.n.Add(1)
	} else {
		c.mu.Lock()
		c.addRun()
		c.setRun(e)
		c.n.Store(1)
		c.mu.Unlock()
	}
	c.checkClosed()
}

func firstOr(lines []string) string {
	if len(lines) == 0 {
		return ""
	}
	return lines[0]
}

// checkClosed follows a count: if Close has taken the last summary, perhaps before the count,
// whatever it did not take gets a line of its own.
func (c *Conn) checkClosed() {
	if c.l.closed.Load() {
		c.mu.Lock()
		c.addRun()
		c.mu.Unlock()
	}
}

// Close adds what the connection counted to the summary and forgets the connection.
func (c *Conn) Close() {
	if c == nil || c.sh == nil {
		return
	}
	c.mu.Lock()
	c.addRun()
	c.mu.Unlock()
	sh := c.sh
	sh.connsMu.Lock()
	if c.prev != nil {
		c.prev.next = c.next
	} else {
		sh.conns = c.next
	}
	if c.next != nil {
		c.next.prev = c.prev
	}
	c.prev, c.next = nil, nil
	sh.connsMu.Unlock()
}

// addRun moves the run's count to the shard, or, once the last summary is taken, into a line of
// its own. c.mu is held.
func (c *Conn) addRun() {
	n := c.n.Swap(0)
	if n == 0 {
		return
	}
	if !c.sh.addRun(&c.run, n) {
		c.l.writeLate(&c.run, n)
	}
}

// same says whether an answer is counted like the run (forwarded: its one X-Forwarded-For line, or
// "" for none). It reads run without c.mu: only this connection's goroutine changes it.
func (c *Conn) same(p string, status int, format, forwarded string) bool {
	r := &c.run
	if !r.valid || status != int(r.status) || string(r.format[:r.formatLen]) != format {
		return false
	}
	if len(p) > topKey {
		p = p[:topKey]
		if !r.pathCut {
			return false
		}
	} else if r.pathCut {
		return false
	}
	if string(r.path[:r.pathLen]) != p {
		return false
	}
	// The network of a peer that is not a trusted proxy is the peer's: X-Forwarded-For is not read.
	px := c.proxy
	return px == nil || px.fwdOK && string(px.fwd[:px.fwdLen]) == forwarded
}

// setRun makes e the run's kind. c.mu is held.
func (c *Conn) setRun(e *Entry) {
	r := &c.run
	r.valid, r.status = true, int32(e.Status)
	r.statusIndex, r.formatIndex = uint16(statusIndex(e.Status)), uint8(formatIndex(e.Format))
	r.formatLen = uint8(copy(r.format[:], e.Format))
	if int(r.formatLen) != len(e.Format) || int(r.status) != e.Status {
		r.valid = false // too long to compare: never the same as the next one
	}
	p := e.Path
	r.pathCut = len(p) > topKey
	if r.pathCut {
		p = p[:topKey]
	}
	r.pathLen = uint8(copy(r.path[:], p))
	r.net, r.hasNet = c.peerNet, c.peerOK
	px := c.proxy
	if px == nil {
		return
	}
	// Behind a trusted proxy the client is in X-Forwarded-For: walk it, as summary.add does.
	r.net, r.hasNet = network(clientaddr.Behind(px.peer, e.Forwarded, c.l.sum.trusted))
	px.fwdOK, px.fwdLen = false, 0
	switch len(e.Forwarded) {
	case 0:
		px.fwdOK = true
	case 1:
		if len(e.Forwarded[0]) <= len(px.fwd) {
			px.fwdLen, px.fwdOK = uint8(copy(px.fwd[:], e.Forwarded[0])), true
		}
	}
}
