package server

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/maintpage/maintpage/internal/reqlog"
)

// The fast HTTP/2 path serves prior-knowledge h2c connections (RFC 9113 section 3.3) itself when the
// fast path is on: it reads frames with golang.org/x/net/http2's Framer (which also merges header
// blocks, decodes HPACK, applies the header-list limit and refuses CONTINUATION floods, CVE-2023-45288)
// and answers every stream whose whole answer is ready bytes — the maintenance response, chosen by the
// same FastHandler as the HTTP/1 fast path — with a HEADERS and DATA frames written straight to the
// connection, many answers in one write. Every other stream goes, frame for frame, to net/http's own
// HTTP/2 server over an in-memory connection (see h2relay.go), which runs the handler and judges
// the request, so that those streams get exactly net/http's answer. The connection's own duties —
// SETTINGS, PING, flow control in both directions, GOAWAY, stream states and limits — are here, and
// follow net/http's server (x/net/http2's server.go, named at each rule) so that a client sees one
// server.

const (
	// Advertised to clients as net/http advertises them (x/net/http2's server.go and config.go:
	// defaultMaxStreams, MaxUploadBufferPerStream), so that the relayed streams' limits are net/http's
	// own: the relay's windows and stream count mirror the client's.
	h2MaxStreams    = 250
	h2StreamWindow  = 1 << 20
	h2InitialWindow = 65535 // RFC 9113 section 6.9.2
	h2MaxWindow     = 1<<31 - 1
	// h2FrameSize is the largest frame read: the protocol's minimum, which needs no SETTINGS and
	// bounds the read buffer (net/http takes 1 MiB frames).
	h2FrameSize = 16384
	// h2FlushAt bounds what answers wait in memory for the reads to pause before being written.
	h2FlushAt = 64 << 10
	// h2Linger is how long a connection closed on an error still reads, so that the client gets the
	// GOAWAY before the close (x/net/http2's server.go, goAwayTimeout).
	h2Linger = time.Second
)

const h2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// h2Server holds the fast HTTP/2 connections of one Server, and net/http's server for the streams
// they relay.
type h2Server struct {
	handler       *atomic.Pointer[http.Handler]
	inner         *http.Server
	innerLn       *chanListener
	reqLog        *reqlog.Logger
	log           *slog.Logger
	maxHeaderList uint32
	idleTimeout   time.Duration
	writeTimeout  time.Duration

	mu    sync.Mutex
	conns map[*h2Conn]struct{}
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup
}

// newH2Server builds the fast HTTP/2 path for a server with options o listening on addr; inner is
// net/http's server for relayed streams, to be served on innerLn.
func newH2Server(o Options, addr net.Addr, h *atomic.Pointer[http.Handler], root http.Handler, reqLog *reqlog.Logger) *h2Server {
	inner := o
	inner.H2C = true
	// The relay's in-memory connections live as long as the client's: the client's connection
	// has the idle timeout. (net/http: a negative IdleTimeout is none, where 0 would mean ReadTimeout.)
	inner.IdleTimeout = -1
	maxHeader := o.MaxHeaderBytes
	if maxHeader <= 0 {
		maxHeader = http.DefaultMaxHeaderBytes
	}
	idle := o.IdleTimeout
	if idle == 0 {
		idle = o.ReadTimeout
	}
	return &h2Server{
		handler: h,
		inner:   newHTTPServer(inner, root),
		innerLn: newChanListener(addr),
		reqLog:  reqLog,
		log:     o.Log,
		// net/http's MAX_HEADER_LIST_SIZE (x/net/http2's config.go, adjustHTTP1MaxHeaderSize).
		maxHeaderList: uint32(maxHeader + 10*32),
		idleTimeout:   idle,
		writeTimeout:  o.WriteTimeout,
		conns:         map[*h2Conn]struct{}{},
		done:          make(chan struct{}),
	}
}

// takes reports whether the fast HTTP/2 path serves a connection with handler h: one that answers
// from ready bytes and does not proxy (the gate's h2c stays on net/http).
func (s *h2Server) takes(h http.Handler) bool {
	if s == nil {
		return false
	}
	_, fast := h.(FastHandler)
	_, fwd := h.(FastForwarder)
	return fast && !fwd
}

// serve serves c in the background; read is what was read of it already (copied here).
func (s *h2Server) serve(c net.Conn, read []byte) {
	hc := newH2Conn(s, c, read)
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.done:
		c.Close()
		return
	default:
	}
	s.conns[hc] = struct{}{}
	s.wg.Go(func() {
		hc.serve()
		s.mu.Lock()
		delete(s.conns, hc)
		s.mu.Unlock()
	})
}

// shutdown sends every connection a GOAWAY, lets their streams finish until deadline, then
// closes what is left.
func (s *h2Server) shutdown(deadline <-chan struct{}) {
	s.mu.Lock()
	s.once.Do(func() { close(s.done) })
	for c := range s.conns {
		c.shutdown()
	}
	s.mu.Unlock()
	waitOrClose(&s.wg, deadline, &s.mu, s.conns, func(c *h2Conn) net.Conn { return c.c })
}

// h2Conn is one HTTP/2 connection.
type h2Conn struct {
	s      *h2Server
	c      net.Conn
	remote string
	br     *bufio.Reader
	rfr    *http2.Framer // reads; the connection's goroutine only

	// Owned by the connection's goroutine.
	sawSettings bool
	req         FastRequest
	ready       [4]h2Ready // HPACK blocks of recent ready heads
	readyNext   int
	enc         *hpack.Encoder
	encBuf      bytes.Buffer
	respBuf     []byte
	forwarded   [1]string
	rl          *reqlog.Conn // the request log's handle of the connection; nil when off
	// The connection's goroutine holds mu (taken with lock, given back with unlock): when it panics
	// where no deferred unlock gives mu back, its recovery does (see recoverConn).
	holdsLock bool

	mu            sync.Mutex // everything below, and writing to c
	cond          sync.Cond  // the send windows grew, a stream ended, or the connection closed
	wfr           *http2.Framer
	out           h2Out
	streams       map[uint32]*h2Stream
	maxStreamID   uint32
	sendWindow    int64 // connection-level, what the client lets us send
	initialWindow int64 // the client's SETTINGS_INITIAL_WINDOW_SIZE
	maxFrame      int   // the client's SETTINGS_MAX_FRAME_SIZE
	recvWindow    int64 // connection-level, what we let the client send
	unacked       int   // our SETTINGS not yet acknowledged
	goingAway     bool
	goAwayCode    http2.ErrCode
	dead          bool // a write failed or the connection closed
	// The idle timer (net/http's: it runs from the last stream's end, whatever other frames come).
	idleSince   time.Time // when the connection last became idle; zero before the first wait
	active      bool      // a stream was answered or closed since idleSince
	peeking     bool      // the connection's goroutine waits for the client's next frame (pause)
	woken       bool      // wakeUpLocked cut that wait short
	relay       *h2Relay
	relayFailed bool
}

// h2Stream is a stream that outlives the frame that opened it: a ready answer waiting for window,
// or a stream relayed to net/http.
type h2Stream struct {
	id         uint32
	relay      bool
	window     int64     // what the client lets us send on it
	pending    []byte    // the rest of a ready body
	deadline   time.Time // a ready answer waiting for window is reset then (write_timeout)
	remoteDone bool      // the client ended its side (relayed streams)
	localDone  bool      // the answer is complete (relayed streams)
}

type h2Ready struct {
	head, block []byte
}

func newH2Conn(s *h2Server, c net.Conn, read []byte) *h2Conn {
	hc := &h2Conn{
		s:             s,
		c:             c,
		remote:        c.RemoteAddr().String(),
		sendWindow:    h2InitialWindow,
		initialWindow: h2InitialWindow,
		maxFrame:      h2FrameSize,
		recvWindow:    h2InitialWindow,
	}
	hc.cond.L = &hc.mu
	hc.br = bufio.NewReaderSize(&prefixConn{Conn: c, prefix: bytes.Clone(read)}, h2FrameSize)
	hc.rfr = http2.NewFramer(nil, hc.br)
	hc.rfr.SetMaxReadFrameSize(h2FrameSize)
	hc.rfr.MaxHeaderListSize = s.maxHeaderList
	hc.rfr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	hc.wfr = http2.NewFramer(&hc.out, nil)
	hc.enc = newStatelessEncoder(&hc.encBuf)
	return hc
}

// newStatelessEncoder returns an HPACK encoder that never uses the dynamic table, so that the blocks
// it writes, the ready blocks and those relayed from net/http can go out in any order.
func newStatelessEncoder(w *bytes.Buffer) *hpack.Encoder {
	e := hpack.NewEncoder(w)
	e.SetMaxDynamicTableSizeLimit(0)
	// The first field carries the table size update (to 0), which a peer whose table is still 4096
	// has no need of: write it once and drop it.
	e.WriteField(hpack.HeaderField{Name: ":status", Value: "200"})
	w.Reset()
	return e
}

// lock and unlock take and give back mu on the connection's goroutine (only there: see holdsLock).
func (c *h2Conn) lock() {
	c.mu.Lock()
	c.holdsLock = true
}

func (c *h2Conn) unlock() {
	c.holdsLock = false
	c.mu.Unlock()
}

// Test hooks, nil in production: called for each frame the connection's goroutine reads (with mu
// held) and for each frame the relay reads from net/http, so that a test can make them panic.
var (
	h2FrameHook func(c *h2Conn, f http2.Frame)
	h2RelayHook func(c *h2Conn, f http2.Frame)
)

// recoverConn recovers a panic of the connection's goroutine as net/http recovers one serving a
// connection (net/http's server.go, conn.serve): logged with the stack, the connection closed.
// It runs before finish, which then closes the relay.
func (c *h2Conn) recoverConn() {
	e := recover()
	if e == nil {
		return
	}
	if c.holdsLock {
		c.unlock()
	}
	c.crashed(e, "connection")
}

// crashed logs the panic e of one of the connection's goroutines and closes the connection, so that
// its other goroutines end: a read or write on the client's connection or the relay's in-memory one
// fails, and a relay waiting for window is woken.
func (c *h2Conn) crashed(e any, where string) {
	const size = 64 << 10 // as net/http
	buf := make([]byte, size)
	buf = buf[:runtime.Stack(buf, false)]
	if c.s.log != nil {
		c.s.log.Error("http2: panic serving "+c.remote+": "+fmt.Sprint(e), "goroutine", where, "stack", string(buf))
	}
	c.c.Close()
	c.mu.Lock()
	c.dead = true
	c.relayFailed = true
	r := c.relay
	c.cond.Broadcast()
	c.mu.Unlock()
	if r != nil {
		r.pc.Close()
	}
}

func (c *h2Conn) serve() {
	c.rl = c.s.reqLog.Conn(c.remote) // closed by finish
	defer c.finish()
	defer c.recoverConn()
	c.lock()
	// Our SETTINGS first (RFC 9113 section 3.4), then a window for the connection as large as
	// net/http's, given by the relay once there is one (see h2Relay).
	c.wfr.WriteSettings(
		http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: h2MaxStreams},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: c.s.maxHeaderList},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: h2StreamWindow},
	)
	c.unacked++
	c.flushLocked()
	c.unlock()
	// The preface, under the deadline the fast path set (read_header_timeout).
	var pre [len(h2Preface)]byte
	if _, err := io.ReadFull(c.br, pre[:]); err != nil || string(pre[:]) != h2Preface {
		return
	}
	for {
		if c.br.Buffered() == 0 {
			if !c.pause() {
				return
			}
		}
		f, err := c.rfr.ReadFrame()
		if err != nil {
			if !c.readError(f, err) {
				return
			}
		} else if err := c.processFrame(f); err != nil {
			if !c.frameError(f, err) {
				return
			}
		}
		c.lock()
		if h2FrameHook != nil {
			h2FrameHook(c, f)
		}
		stop := c.dead || c.goingAway && c.goAwayCode != http2.ErrCodeNo
		if !stop && len(c.out.segs) > 0 && c.out.n >= h2FlushAt {
			c.flushLocked()
		}
		c.unlock()
		if stop {
			return
		}
	}
}

// pause writes what is waiting, then waits for the next bytes: until idle_timeout after the last
// stream ended when no stream is open (net/http closes an idle connection with a GOAWAY; frames
// that open no stream, PINGs, do not put it off), for ever while one is. It reports false when
// the connection is over.
func (c *h2Conn) pause() bool {
	for {
		c.lock()
		var expiry time.Time
		if len(c.streams) > 0 && c.s.writeTimeout > 0 {
			expiry = c.expireLocked()
		}
		c.flushLocked()
		idle := len(c.streams) == 0
		if c.dead || c.goingAway && (idle || c.goAwayCode != http2.ErrCodeNo) {
			c.unlock()
			return false
		}
		var until time.Time
		if idle && c.s.idleTimeout > 0 {
			if c.active || c.idleSince.IsZero() {
				c.idleSince, c.active = time.Now(), false
			}
			until = c.idleSince.Add(c.s.idleTimeout)
		} else if !idle {
			until = expiry
		}
		// Set under mu, so that a wakeUpLocked (a stream's end on the relay's goroutine, a
		// shutdown) is either seen above or cuts this wait short.
		c.peeking = true
		c.c.SetReadDeadline(until)
		c.unlock()
		_, err := c.br.Peek(1)
		c.lock()
		c.peeking = false
		if c.woken {
			// The wake may have come after the bytes: the frame must be read under until.
			c.woken = false
			if err == nil {
				c.c.SetReadDeadline(until)
			}
		}
		expired := err != nil && isTimeout(err) && !until.IsZero() && !time.Now().Before(until) &&
			len(c.streams) == 0 && !c.active
		if expired {
			c.goAwayLocked(http2.ErrCodeNo)
		}
		c.unlock()
		switch {
		case err == nil:
			return true
		case expired || !isTimeout(err):
			return false
		}
	}
}

// expireLocked resets the ready answers that have waited for the client's window past their
// deadline, as net/http resets a stream whose handler's write timed out (x/net/http2's server.go,
// onWriteTimeout), and returns the next deadline (zero: none).
func (c *h2Conn) expireLocked() time.Time {
	var now, next time.Time
	for _, st := range c.streams {
		if st.deadline.IsZero() {
			continue
		}
		if now.IsZero() {
			now = time.Now()
		}
		if !now.Before(st.deadline) {
			c.wfr.WriteRSTStream(st.id, http2.ErrCodeInternal)
			c.closeStreamLocked(st)
			continue
		}
		if next.IsZero() || st.deadline.Before(next) {
			next = st.deadline
		}
	}
	return next
}

// wakeUpLocked cuts short pause's wait for the client, so that the connection notices a shutdown
// or that its last stream ended (and starts its idle timer). A read in the middle of a frame is
// cut only once the connection is over.
func (c *h2Conn) wakeUpLocked() {
	if c.peeking || c.dead || c.goingAway && c.goAwayCode != http2.ErrCodeNo {
		c.woken = c.peeking
		c.c.SetReadDeadline(time.Now())
	}
}

// shutdown starts a graceful close: GOAWAY with the last stream taken, then the open streams finish.
func (c *h2Conn) shutdown() {
	c.mu.Lock()
	c.goAwayLocked(http2.ErrCodeNo)
	c.flushLocked()
	c.wakeUpLocked()
	c.mu.Unlock()
}

func (c *h2Conn) finish() {
	c.lock()
	c.flushLocked()
	lingering := c.goingAway && c.goAwayCode != http2.ErrCodeNo && !c.dead
	c.dead = true
	c.cond.Broadcast()
	r := c.relay
	c.unlock()
	if r != nil {
		r.close()
	}
	if lingering {
		// Let the GOAWAY reach the client before the close: stop writing, read what it still
		// sends for a moment.
		if cw, ok := c.c.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
		c.c.SetReadDeadline(time.Now().Add(h2Linger))
		io.Copy(io.Discard, c.br)
	}
	c.c.Close()
	c.rl.Close()
}

// readError handles an error from reading a frame, as net/http's processFrameFromReader does; it
// reports whether the connection goes on.
func (c *h2Conn) readError(f http2.Frame, err error) bool {
	if err == http2.ErrFrameTooLarge {
		c.lock()
		c.goAwayLocked(http2.ErrCodeFrameSize)
		c.unlock()
		return false
	}
	var se http2.StreamError
	var ce http2.ConnectionError
	switch {
	case errors.As(err, &se):
		// A malformed header block resets its stream without opening it, as in net/http.
		c.resetStream(se.StreamID, se.Code)
		return true
	case errors.As(err, &ce):
		c.lock()
		if f != nil {
			if id := f.Header().StreamID; id > c.maxStreamID {
				c.maxStreamID = id
			}
		}
		c.goAwayLocked(http2.ErrCode(ce))
		c.unlock()
		return false
	}
	return false
}

// h2ConnError is a connection error found while processing a frame.
type h2ConnError http2.ErrCode

func (e h2ConnError) Error() string { return http2.ErrCode(e).String() }

// frameError handles what processFrame found wrong, and reports whether the connection goes on.
func (c *h2Conn) frameError(f http2.Frame, err error) bool {
	var se http2.StreamError
	if errors.As(err, &se) {
		c.resetStream(se.StreamID, se.Code)
		return true
	}
	code := http2.ErrCodeInternal
	var ce h2ConnError
	if errors.As(err, &ce) {
		code = http2.ErrCode(ce)
	}
	c.lock()
	if id := f.Header().StreamID; id > c.maxStreamID && id%2 == 1 {
		c.maxStreamID = id
	}
	c.goAwayLocked(code)
	c.unlock()
	return false
}

func streamErr(id uint32, code http2.ErrCode) error {
	return http2.StreamError{StreamID: id, Code: code}
}

// processFrame is net/http's processFrame (x/net/http2's server.go) for one connection.
func (c *h2Conn) processFrame(f http2.Frame) error {
	// The first frame must be SETTINGS (RFC 9113 section 3.4).
	if !c.sawSettings {
		if _, ok := f.(*http2.SettingsFrame); !ok {
			return h2ConnError(http2.ErrCodeProtocol)
		}
		c.sawSettings = true
	}
	c.lock()
	discard := c.goingAway && (c.goAwayCode != http2.ErrCodeNo || f.Header().StreamID > c.maxStreamID)
	c.unlock()
	if discard {
		// After a GOAWAY, frames of streams it did not take are dropped; the flow control they
		// used is given back (RFC 9113 section 6.8).
		if d, ok := f.(*http2.DataFrame); ok {
			c.lock()
			defer c.unlock()
			if !c.takeRecv(d.Length) {
				return streamErr(d.StreamID, http2.ErrCodeFlowControl)
			}
			c.giveRecv(d.Length)
		}
		return nil
	}
	switch f := f.(type) {
	case *http2.SettingsFrame:
		return c.processSettings(f)
	case *http2.MetaHeadersFrame:
		return c.processHeaders(f)
	case *http2.WindowUpdateFrame:
		return c.processWindowUpdate(f)
	case *http2.PingFrame:
		if !f.IsAck() {
			c.lock()
			c.wfr.WritePing(true, f.Data)
			c.unlock()
		}
		return nil
	case *http2.DataFrame:
		return c.processData(f)
	case *http2.RSTStreamFrame:
		return c.processReset(f)
	case *http2.PriorityFrame:
		if f.StreamDep == f.StreamID {
			// RFC 9113 section 5.3.1: a stream cannot depend on itself.
			return streamErr(f.StreamID, http2.ErrCodeProtocol)
		}
		return nil
	case *http2.GoAwayFrame:
		// The client is leaving: no new streams, finish the open ones.
		c.lock()
		c.goAwayLocked(http2.ErrCodeNo)
		c.unlock()
		return nil
	case *http2.PushPromiseFrame:
		return h2ConnError(http2.ErrCodeProtocol) // a client cannot push
	default:
		return nil // unknown frame types are ignored (RFC 9113 section 4.1)
	}
}

func (c *h2Conn) processSettings(f *http2.SettingsFrame) error {
	c.lock()
	defer c.unlock()
	if f.IsAck() {
		c.unacked--
		if c.unacked < 0 {
			return h2ConnError(http2.ErrCodeProtocol)
		}
		return nil
	}
	// net/http hangs up on suspiciously large SETTINGS frames and repeated settings.
	if f.NumSettings() > 100 || f.HasDuplicates() {
		return h2ConnError(http2.ErrCodeProtocol)
	}
	var relayed []http2.Setting
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			var ce http2.ConnectionError
			if errors.As(err, &ce) {
				return h2ConnError(ce)
			}
			return err
		}
		switch s.ID {
		case http2.SettingInitialWindowSize:
			// RFC 9113 section 6.9.2: the change applies to every open stream's window.
			delta := int64(s.Val) - c.initialWindow
			c.initialWindow = int64(s.Val)
			for _, st := range c.streams {
				st.window += delta
				if st.window > h2MaxWindow {
					return h2ConnError(http2.ErrCodeFlowControl)
				}
			}
			relayed = append(relayed, s)
		case http2.SettingMaxFrameSize:
			c.maxFrame = int(s.Val)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.wfr.WriteSettingsAck()
	c.sendPendingLocked()
	c.cond.Broadcast()
	if len(relayed) > 0 && c.relay != nil {
		r := c.relay
		c.unlock()
		r.writeSettings(relayed)
		c.lock()
	}
	return nil
}

func (c *h2Conn) processWindowUpdate(f *http2.WindowUpdateFrame) error {
	c.lock()
	if f.StreamID == 0 {
		defer c.unlock()
		if c.sendWindow+int64(f.Increment) > h2MaxWindow {
			return h2ConnError(http2.ErrCodeFlowControl)
		}
		c.sendWindow += int64(f.Increment)
		c.sendPendingLocked()
		c.cond.Broadcast()
		return nil
	}
	if c.idleLocked(f.StreamID) {
		c.unlock()
		return h2ConnError(http2.ErrCodeProtocol)
	}
	st := c.streams[f.StreamID]
	if st == nil {
		c.unlock()
		return nil // a closed stream: allowed (RFC 9113 section 5.1)
	}
	if st.window+int64(f.Increment) > h2MaxWindow {
		c.unlock()
		return streamErr(f.StreamID, http2.ErrCodeFlowControl)
	}
	st.window += int64(f.Increment)
	c.sendPendingLocked()
	c.cond.Broadcast()
	r := c.relayOf(st)
	c.unlock()
	if r != nil {
		r.writeWindowUpdate(f.StreamID, f.Increment)
	}
	return nil
}

// idleLocked reports whether a stream is idle: never opened by the client.
func (c *h2Conn) idleLocked(id uint32) bool {
	return id%2 == 0 || id > c.maxStreamID
}

func (c *h2Conn) relayOf(st *h2Stream) *h2Relay {
	if st != nil && st.relay {
		return c.relay
	}
	return nil
}

func (c *h2Conn) processReset(f *http2.RSTStreamFrame) error {
	c.lock()
	if c.idleLocked(f.StreamID) {
		c.unlock()
		return h2ConnError(http2.ErrCodeProtocol)
	}
	st := c.streams[f.StreamID]
	r := c.relayOf(st)
	if st != nil {
		c.closeStreamLocked(st)
	}
	c.unlock()
	if r != nil {
		r.writeReset(f.StreamID, f.ErrCode)
	}
	return nil
}

func (c *h2Conn) processData(f *http2.DataFrame) error {
	c.lock()
	id := f.StreamID
	if id == 0 || c.idleLocked(id) {
		c.unlock()
		return h2ConnError(http2.ErrCodeProtocol)
	}
	if !c.takeRecv(f.Length) {
		c.unlock()
		return streamErr(id, http2.ErrCodeFlowControl)
	}
	st := c.streams[id]
	if st == nil || !st.relay {
		// Closed, or half-closed (remote) with a ready answer: STREAM_CLOSED, and the
		// connection's window back (net/http's processData).
		c.giveRecv(f.Length)
		c.unlock()
		return streamErr(id, http2.ErrCodeStreamClosed)
	}
	if f.StreamEnded() {
		st.remoteDone = true
		c.maybeCloseLocked(st)
	}
	r := c.relay
	c.unlock()
	r.writeData(f)
	return nil
}

// takeRecv takes n from what the client may send on the connection.
func (c *h2Conn) takeRecv(n uint32) bool {
	if int64(n) > c.recvWindow {
		return false
	}
	c.recvWindow -= int64(n)
	return true
}

// giveRecv gives n back to the client at once, for data nobody will read.
func (c *h2Conn) giveRecv(n uint32) {
	if n == 0 {
		return
	}
	c.recvWindow += int64(n)
	c.wfr.WriteWindowUpdate(0, n)
}

func (c *h2Conn) processHeaders(f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	if id%2 != 1 {
		return h2ConnError(http2.ErrCodeProtocol) // RFC 9113 section 5.1.1
	}
	c.lock()
	if st := c.streams[id]; st != nil {
		r := c.relayOf(st)
		if r == nil {
			// Half-closed (remote), waiting to send its answer.
			c.unlock()
			return streamErr(id, http2.ErrCodeStreamClosed)
		}
		// Trailers, or a mistake net/http judges.
		if f.StreamEnded() {
			st.remoteDone = true
			c.maybeCloseLocked(st)
		}
		c.unlock()
		r.writeHeaders(f)
		return nil
	}
	if id <= c.maxStreamID {
		c.unlock()
		return h2ConnError(http2.ErrCodeProtocol) // a stream id going down
	}
	c.maxStreamID = id
	if len(c.streams)+1 > h2MaxStreams {
		code := http2.ErrCodeRefusedStream
		if c.unacked == 0 {
			code = http2.ErrCodeProtocol // they know the limit (net/http's processHeaders)
		}
		c.unlock()
		return streamErr(id, code)
	}
	c.unlock()
	if f.HasPriority() && f.Priority.StreamDep == id {
		return streamErr(id, http2.ErrCodeProtocol)
	}
	if f.Truncated {
		c.tooLarge(id, f.StreamEnded())
		return nil
	}
	if h := *c.s.handler.Load(); c.s.takes(h) && c.fastRequest(f) {
		var start time.Time
		if c.rl.Timed() {
			start = time.Now()
		}
		resp, ok := h.(FastHandler).ServeFast(c.respBuf[:0], &c.req)
		if ok {
			c.answer(id, &resp, c.req.Method == http.MethodHead)
			c.respBuf = resp.Head[:0]
			logFast(c.rl, &c.req, &resp, c.remote, start, &c.forwarded)
			return nil
		}
	}
	return c.relayNew(f)
}

// fastRequest reads a request the fast path may answer into c.req: no body, the pseudo-header
// fields of a plain request, every field one the HTTP/1 fast path takes too (read by the same
// code), nothing net/http would refuse.
func (c *h2Conn) fastRequest(f *http2.MetaHeadersFrame) bool {
	if !f.StreamEnded() {
		return false
	}
	c.req = FastRequest{}
	p := headParser{r: &c.req}
	var method, scheme, path, authority string
	for _, hf := range f.Fields {
		if strings.HasPrefix(hf.Name, ":") {
			switch hf.Name {
			case ":method":
				method = hf.Value
			case ":scheme":
				scheme = hf.Value
			case ":path":
				path = hf.Value
			case ":authority":
				authority = hf.Value
			default:
				return false
			}
			continue
		}
		switch hf.Name {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "host":
			// Connection-specific fields make a request malformed (RFC 9113 section 8.2.2), and
			// Host beside :authority needs net/http's rules: net/http judges these.
			return false
		}
		v := hf.Value
		if v != "" && (v[0] == ' ' || v[0] == '\t' || v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
			return false
		}
		if !p.field(bytesOf(hf.Name), bytesOf(v)) {
			return false
		}
	}
	if method == "" || method == http.MethodConnect || !isToken(bytesOf(method)) ||
		(scheme != "http" && scheme != "https") || !fastTarget(bytesOf(path)) || !validHost(bytesOf(authority)) {
		return false
	}
	c.req.Method, c.req.Host = method, authority
	c.req.Path, c.req.RawQuery, _ = strings.Cut(path, "?")
	return true
}

// bytesOf views s as bytes, for the parser's checks, which do not keep or change them.
func bytesOf(s string) []byte {
	if s == "" {
		return nil
	}
	return unsafe.Slice(unsafe.StringData(s), len(s))
}

// answer writes a ready answer: HEADERS (the head's fields and Date) and its body in DATA frames as
// far as the windows allow; the rest waits for WINDOW_UPDATE.
func (c *h2Conn) answer(id uint32, resp *FastResponse, head bool) {
	block := c.readyBlock(resp.Head)
	date := h2DateField()
	body := resp.Body
	if head {
		body = nil
	}
	c.lock()
	defer c.unlock()
	c.active = true // a stream opened and (mostly) ended: the idle timer starts again
	c.writeBlockLocked(id, len(body) == 0, block, date)
	if len(body) == 0 {
		return
	}
	st := h2Stream{id: id, window: c.initialWindow, pending: body}
	if c.sendBodyLocked(&st) {
		p := st
		c.pendingLocked(&p)
	}
}

// writeBlockLocked writes a header block made of parts as HEADERS and, past the client's frame
// size, CONTINUATION frames.
func (c *h2Conn) writeBlockLocked(id uint32, endStream bool, parts ...[]byte) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	flags := http2.FlagHeadersEndHeaders
	if endStream {
		flags |= http2.FlagHeadersEndStream
	}
	if n <= c.maxFrame {
		c.out.frameHeader(n, http2.FrameHeaders, flags, id)
		for _, p := range parts {
			c.out.Write(p)
		}
		return
	}
	block := bytes.Join(parts, nil)
	typ := http2.FrameHeaders
	flags &^= http2.FlagHeadersEndHeaders
	for len(block) > 0 {
		k := min(len(block), c.maxFrame)
		f := flags
		if k == len(block) {
			f |= http2.FlagHeadersEndHeaders // the same bit as CONTINUATION's END_HEADERS
		}
		c.out.frameHeader(k, typ, f, id)
		c.out.Write(block[:k])
		block = block[k:]
		typ, flags = http2.FrameContinuation, 0
	}
}

// pendingLocked keeps st, a ready answer whose body waits for window, until write_timeout.
func (c *h2Conn) pendingLocked(st *h2Stream) {
	if c.streams == nil {
		c.streams = map[uint32]*h2Stream{}
	}
	if c.s.writeTimeout > 0 {
		st.deadline = time.Now().Add(c.s.writeTimeout)
	}
	c.streams[st.id] = st
}

// sendBodyLocked sends what the windows allow of st's pending body, and reports whether some is
// left.
func (c *h2Conn) sendBodyLocked(st *h2Stream) bool {
	for len(st.pending) > 0 {
		n := int64(min(len(st.pending), c.maxFrame))
		n = min(n, c.sendWindow, st.window)
		if n <= 0 {
			return true
		}
		var flags http2.Flags
		if int(n) == len(st.pending) {
			flags = http2.FlagDataEndStream
		}
		c.out.frameHeader(int(n), http2.FrameData, flags, st.id)
		c.out.ext(st.pending[:n])
		st.pending = st.pending[n:]
		c.sendWindow -= n
		st.window -= n
	}
	return false
}

// sendPendingLocked sends the waiting ready bodies the windows now allow.
func (c *h2Conn) sendPendingLocked() {
	if c.sendWindow <= 0 {
		return
	}
	for _, st := range c.streams {
		if len(st.pending) > 0 && !c.sendBodyLocked(st) {
			c.closeStreamLocked(st)
		}
	}
}

func (c *h2Conn) closeStreamLocked(st *h2Stream) {
	delete(c.streams, st.id)
	c.cond.Broadcast()
	if len(c.streams) == 0 {
		// Idle from now: a shutdown may close it, the idle timer starts.
		c.active = true
		c.wakeUpLocked()
	}
}

func (c *h2Conn) maybeCloseLocked(st *h2Stream) {
	if st.remoteDone && st.localDone {
		c.closeStreamLocked(st)
	}
}

// resetStream answers a stream error: RST_STREAM, the stream closed, and net/http's side of a
// relayed stream cancelled.
func (c *h2Conn) resetStream(id uint32, code http2.ErrCode) {
	c.lock()
	c.wfr.WriteRSTStream(id, code)
	st := c.streams[id]
	r := c.relayOf(st)
	if st != nil {
		c.closeStreamLocked(st)
	}
	c.unlock()
	if r != nil {
		r.writeReset(id, http2.ErrCodeCancel)
	}
}

// goAwayLocked sends GOAWAY once (a later error only changes the code kept, as net/http's goAway).
func (c *h2Conn) goAwayLocked(code http2.ErrCode) {
	if c.goingAway {
		if c.goAwayCode == http2.ErrCodeNo {
			c.goAwayCode = code
		}
		return
	}
	c.goingAway, c.goAwayCode = true, code
	c.wfr.WriteGoAway(c.maxStreamID, code, nil)
}

func (c *h2Conn) flushLocked() {
	if c.dead || len(c.out.segs) == 0 {
		c.out.reset()
		return
	}
	if c.s.writeTimeout > 0 {
		c.c.SetWriteDeadline(time.Now().Add(c.s.writeTimeout))
	}
	if err := c.out.flush(c.c); err != nil {
		c.dead = true
		c.cond.Broadcast()
		c.wakeUpLocked()
	}
}

// readyBlock returns the HPACK block of a ready head (an HTTP/1 status line and fields), without
// Date: :status, then each field with its name in lower case, as net/http's HTTP/2 server writes
// a handler's header (x/net/http2's write.go, encodeHeaders); Connection and Transfer-Encoding,
// which HTTP/2 does not have, are left out as net/http leaves them out.
func (c *h2Conn) readyBlock(head []byte) []byte {
	for i := range c.ready {
		if r := &c.ready[i]; r.block != nil && bytes.Equal(r.head, head) {
			return r.block
		}
	}
	c.encBuf.Reset()
	line, rest, _ := bytes.Cut(head, crlf)
	status := ""
	if len(line) >= 12 {
		status = string(line[9:12])
	}
	c.enc.WriteField(hpack.HeaderField{Name: ":status", Value: status})
	for len(rest) > 0 {
		line, rest, _ = bytes.Cut(rest, crlf)
		name, value, _ := bytes.Cut(line, colon)
		lower := strings.ToLower(string(name))
		if lower == "connection" || lower == "transfer-encoding" {
			continue
		}
		c.enc.WriteField(hpack.HeaderField{Name: lower, Value: string(bytes.TrimLeft(value, " "))})
	}
	r := &c.ready[c.readyNext]
	c.readyNext = (c.readyNext + 1) % len(c.ready)
	r.head = append(r.head[:0], head...)
	r.block = bytes.Clone(c.encBuf.Bytes())
	return r.block
}

// tooLarge answers a request whose header list is over the limit with net/http's 431
// (x/net/http2's server.go, handleHeaderListTooLong); a request body is not waited for.
func (c *h2Conn) tooLarge(id uint32, ended bool) {
	const body = "<h1>HTTP Error 431</h1><p>Request Header Field(s) Too Large</p>"
	c.encBuf.Reset()
	c.enc.WriteField(hpack.HeaderField{Name: ":status", Value: "431"})
	c.enc.WriteField(hpack.HeaderField{Name: "content-type", Value: "text/html; charset=utf-8"})
	c.enc.WriteField(hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(len(body))})
	block := bytes.Clone(c.encBuf.Bytes())
	c.lock()
	defer c.unlock()
	c.active = true
	c.writeBlockLocked(id, false, block, h2DateField())
	st := h2Stream{id: id, window: c.initialWindow, pending: []byte(body)}
	if c.sendBodyLocked(&st) {
		// The rest waits for window; the client's DATA meanwhile gets STREAM_CLOSED.
		c.pendingLocked(&st)
	} else if !ended {
		// The answer is complete: the client may stop sending (RFC 9113 section 8.1).
		c.wfr.WriteRSTStream(id, http2.ErrCodeNo)
	}
}

// h2Dates holds the Date field, HPACK-encoded once a second.
var h2Dates atomic.Pointer[dateCache]

func h2DateField() []byte {
	return cachedDate(&h2Dates, time.Now(), func(now time.Time) []byte {
		var b bytes.Buffer
		newStatelessEncoder(&b).WriteField(hpack.HeaderField{Name: "date", Value: now.UTC().Format(http.TimeFormat)})
		return b.Bytes()
	})
}

// h2Out is what waits to be written: frame headers and small payloads in buf, ready bodies by
// reference, in order, for one writev.
type h2Out struct {
	buf  []byte
	segs []h2Seg
	n    int
	iov  [][]byte
	vec  net.Buffers
}

type h2Seg struct {
	ext      []byte
	from, to int
}

// Write appends a copy of p; the Framer that writes control frames writes here.
func (o *h2Out) Write(p []byte) (int, error) {
	from := len(o.buf)
	o.buf = append(o.buf, p...)
	o.mark(from)
	return len(p), nil
}

func (o *h2Out) mark(from int) {
	o.n += len(o.buf) - from
	if k := len(o.segs); k > 0 && o.segs[k-1].ext == nil && o.segs[k-1].to == from {
		o.segs[k-1].to = len(o.buf)
		return
	}
	o.segs = append(o.segs, h2Seg{from: from, to: len(o.buf)})
}

// ext appends p by reference: p must not change until the flush.
func (o *h2Out) ext(p []byte) {
	o.n += len(p)
	o.segs = append(o.segs, h2Seg{ext: p})
}

func (o *h2Out) frameHeader(length int, t http2.FrameType, flags http2.Flags, id uint32) {
	from := len(o.buf)
	o.buf = append(o.buf, byte(length>>16), byte(length>>8), byte(length), byte(t), byte(flags),
		byte(id>>24&0x7f), byte(id>>16), byte(id>>8), byte(id))
	o.mark(from)
}

func (o *h2Out) flush(w io.Writer) error {
	o.iov = o.iov[:0]
	for _, s := range o.segs {
		if s.ext != nil {
			o.iov = append(o.iov, s.ext)
		} else {
			o.iov = append(o.iov, o.buf[s.from:s.to])
		}
	}
	// A field, not a local: WriteTo takes a pointer, which would move a local to the heap.
	o.vec = o.iov
	_, err := o.vec.WriteTo(w)
	clear(o.iov) // the bodies are the handler's; let a replaced handler's go
	o.reset()
	return err
}

func (o *h2Out) reset() {
	o.buf, o.segs, o.n = o.buf[:0], o.segs[:0], 0
	if cap(o.buf) > 4*h2FlushAt {
		o.buf = nil // a burst of relayed data
	}
}

// logFast logs a ready answer of the fast paths through the connection's handle on the request
// log (nothing when rl is nil); start is zero when rl wants no durations (see reqlog.Conn.Timed).
func logFast(rl *reqlog.Conn, req *FastRequest, resp *FastResponse, remote string, start time.Time, fwd *[1]string) {
	if rl == nil || rl.Again(req.Path, resp.Status, resp.Format, req.XForwardedFor) {
		return
	}
	size := len(resp.Body)
	if req.Method == http.MethodHead {
		size = 0
	}
	// Every ready answer is a plain maintenance answer: ready bytes, no server logic.
	e := reqlog.Entry{
		Method: req.Method, Path: req.Path, Status: resp.Status, Bytes: int64(size),
		Remote: remote, Maintenance: true, Format: resp.Format,
	}
	if !start.IsZero() {
		e.Duration = time.Since(start)
	}
	if req.XForwardedFor != "" {
		// An array the caller keeps, not a slice literal, so that nothing is allocated.
		fwd[0] = req.XForwardedFor
		e.Forwarded = fwd[:]
	}
	rl.Log(&e)
	fwd[0] = "" // it pointed into the request
}

// chanListener is a listener whose connections are handed to it.
type chanListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
	addr net.Addr
}

func newChanListener(addr net.Addr) *chanListener {
	return &chanListener{ch: make(chan net.Conn), done: make(chan struct{}), addr: addr}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return l.addr }

// hand gives c to the listener's server, unless it is closed.
func (l *chanListener) hand(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}
