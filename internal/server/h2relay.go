package server

import (
	"bytes"
	"net"
	"sync"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2Relay carries the streams the fast HTTP/2 path does not answer to net/http's own HTTP/2 server,
// over an in-memory connection (net.Pipe) that the server serves as an h2c connection from the
// client's address. The client's frames for those streams go on as they came (the header fields
// re-encoded, nothing added or dropped, the same stream ids), and net/http's frames come back as
// they are: its header blocks verbatim — it is told to keep no HPACK table (SETTINGS_HEADER_TABLE_SIZE
// 0), so each block stands alone between our own — and its DATA as the client's windows allow.
// So net/http runs the handler, reads the body, applies its limits and refuses what it refuses,
// exactly as it would on the client's connection; the fast path keeps only the connection.
//
// Flow control: the relay mirrors the client's windows to net/http (its SETTINGS_INITIAL_WINDOW_SIZE
// and its WINDOW_UPDATEs of relayed streams), so net/http never sends more on a stream than the
// client allows and the relay buffers one frame at most; the client's windows for the request
// bodies are net/http's (its WINDOW_UPDATEs go to the client), so they are read as net/http reads.
type h2Relay struct {
	c    *h2Conn
	pc   net.Conn // ours; net/http serves the other end
	done chan struct{}

	wmu    sync.Mutex // writes to pc
	wfr    *http2.Framer
	enc    *hpack.Encoder
	encBuf bytes.Buffer
	pad    [255]byte
}

// relayNew opens a relayed stream for f, starting the relay at the first one.
func (c *h2Conn) relayNew(f *http2.MetaHeadersFrame) error {
	c.lock()
	r := c.relay
	failed := c.relayFailed
	c.unlock()
	if failed {
		return streamErr(f.StreamID, http2.ErrCodeRefusedStream)
	}
	if r == nil {
		r = c.startRelay()
		if r == nil {
			return streamErr(f.StreamID, http2.ErrCodeRefusedStream)
		}
	}
	c.lock()
	if c.streams == nil {
		c.streams = map[uint32]*h2Stream{}
	}
	// Known before net/http can answer it.
	c.streams[f.StreamID] = &h2Stream{id: f.StreamID, relay: true, window: c.initialWindow, remoteDone: f.StreamEnded()}
	c.unlock()
	r.writeHeaders(f)
	return nil
}

func (c *h2Conn) startRelay() *h2Relay {
	ours, theirs := net.Pipe()
	r := &h2Relay{c: c, pc: ours, done: make(chan struct{})}
	r.wfr = http2.NewFramer(ours, nil)
	r.enc = newStatelessEncoder(&r.encBuf)
	if !c.s.innerLn.hand(&innerConn{Conn: theirs, local: c.c.LocalAddr(), remote: c.c.RemoteAddr()}) {
		ours.Close()
		theirs.Close()
		return nil
	}
	c.lock()
	window := c.initialWindow
	c.relay = r
	c.unlock()
	go r.read()
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.pc.Write([]byte(h2Preface))
	r.wfr.WriteSettings(
		http2.Setting{ID: http2.SettingHeaderTableSize, Val: 0},
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: uint32(window)},
	)
	// net/http's connection-level window towards us is not the client's: the client's is shared
	// with the ready answers and kept by relayData; this one is kept open.
	r.wfr.WriteWindowUpdate(0, h2MaxWindow-h2InitialWindow)
	return r
}

// innerConn is the in-memory connection as net/http sees it: from the client's address.
type innerConn struct {
	net.Conn
	local, remote net.Addr
}

func (c *innerConn) LocalAddr() net.Addr  { return c.local }
func (c *innerConn) RemoteAddr() net.Addr { return c.remote }

func (r *h2Relay) close() {
	r.pc.Close()
	<-r.done
}

func (r *h2Relay) writeHeaders(f *http2.MetaHeadersFrame) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.encBuf.Reset()
	for _, hf := range f.Fields {
		r.enc.WriteField(hf)
	}
	block := r.encBuf.Bytes()
	first := true
	for first || len(block) > 0 {
		k := min(len(block), h2FrameSize)
		if first {
			r.wfr.WriteHeaders(http2.HeadersFrameParam{
				StreamID: f.StreamID, BlockFragment: block[:k], EndStream: f.StreamEnded(),
				EndHeaders: k == len(block), Priority: f.Priority,
			})
		} else {
			r.wfr.WriteContinuation(f.StreamID, k == len(block), block[:k])
		}
		block, first = block[k:], false
	}
}

// writeData passes a DATA frame on with its padding, so that net/http counts the same flow control.
func (r *h2Relay) writeData(f *http2.DataFrame) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	data := f.Data()
	if pad := int(f.Length) - len(data); pad > 0 {
		r.wfr.WriteDataPadded(f.StreamID, f.StreamEnded(), data, r.pad[:pad-1])
		return
	}
	r.wfr.WriteData(f.StreamID, f.StreamEnded(), data)
}

func (r *h2Relay) writeReset(id uint32, code http2.ErrCode) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.wfr.WriteRSTStream(id, code)
}

func (r *h2Relay) writeWindowUpdate(id, n uint32) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.wfr.WriteWindowUpdate(id, n)
}

func (r *h2Relay) writeSettings(s []http2.Setting) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.wfr.WriteSettings(s...)
}

// recoverRelay recovers a panic of the relay's goroutine (see recoverConn). Every lock it takes is given
// back by a deferred unlock, so none is held here.
func (r *h2Relay) recoverRelay() {
	if e := recover(); e != nil {
		r.c.crashed(e, "relay")
	}
}

func (r *h2Relay) writeSettingsAck() {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.wfr.WriteSettingsAck()
}

func (r *h2Relay) writePingAck(data [8]byte) {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.wfr.WritePing(true, data)
}

// read passes net/http's frames to the client until the in-memory connection closes.
func (r *h2Relay) read() {
	defer close(r.done)
	defer r.recoverRelay()
	fr := http2.NewFramer(nil, r.pc)
	var block []byte
	var blockID uint32
	var blockEnd bool
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			r.c.relayGone()
			r.pc.Close()
			return
		}
		if h2RelayHook != nil {
			h2RelayHook(r.c, f)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				r.writeSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				r.writePingAck(f.Data)
			}
		case *http2.HeadersFrame:
			block = append(block[:0], f.HeaderBlockFragment()...)
			blockID, blockEnd = f.StreamID, f.StreamEnded()
			if f.HeadersEnded() {
				r.c.relayHeaders(blockID, block, blockEnd)
			}
		case *http2.ContinuationFrame:
			// The Framer checks that it continues the block being read.
			block = append(block, f.HeaderBlockFragment()...)
			if f.HeadersEnded() {
				r.c.relayHeaders(blockID, block, blockEnd)
			}
		case *http2.DataFrame:
			r.c.relayData(f.StreamID, f.Data(), f.StreamEnded())
			if f.Length > 0 {
				r.writeWindowUpdate(0, f.Length)
			}
		case *http2.RSTStreamFrame:
			r.c.relayReset(f.StreamID, f.ErrCode)
		case *http2.WindowUpdateFrame:
			r.c.relayWindowUpdate(f.StreamID, f.Increment)
		case *http2.GoAwayFrame:
			r.c.relayGoAway(f.LastStreamID, f.ErrCode)
		}
		if cap(block) > 64<<10 {
			block = nil
		}
	}
}

func (c *h2Conn) relayHeaders(id uint32, block []byte, end bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.streams[id]
	if st == nil || !st.relay || st.localDone {
		return // reset meanwhile: net/http has the RST_STREAM too
	}
	c.writeBlockLocked(id, end, block)
	if end {
		st.localDone = true
		c.maybeCloseLocked(st)
	}
	c.flushLocked()
}

// relayData sends net/http's DATA as the client's windows allow, waiting for them.
func (c *h2Conn) relayData(id uint32, data []byte, end bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		st := c.streams[id]
		if c.dead || st == nil || !st.relay || st.localDone {
			return
		}
		// An empty frame (net/http's END_STREAM after a body written in one piece) is not flow
		// controlled (RFC 9113 section 6.9.1): it goes even when a smaller
		// SETTINGS_INITIAL_WINDOW_SIZE made the stream's window negative (section 6.9.2).
		n := int64(min(len(data), c.maxFrame))
		if n > 0 {
			n = min(n, c.sendWindow, st.window)
			if n <= 0 {
				c.cond.Wait()
				continue
			}
		}
		var flags http2.Flags
		last := int(n) == len(data)
		if last && end {
			flags = http2.FlagDataEndStream
		}
		c.out.frameHeader(int(n), http2.FrameData, flags, id)
		c.out.Write(data[:n])
		c.sendWindow -= n
		st.window -= n
		data = data[n:]
		if last {
			if end {
				st.localDone = true
				c.maybeCloseLocked(st)
			}
			c.flushLocked()
			return
		}
	}
}

func (c *h2Conn) relayReset(id uint32, code http2.ErrCode) {
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.streams[id]
	if st == nil || !st.relay {
		return
	}
	c.wfr.WriteRSTStream(id, code)
	c.closeStreamLocked(st)
	c.flushLocked()
}

// relayWindowUpdate passes on what net/http lets the client send: on a relayed stream, or on the
// connection, where only relayed streams have bodies.
func (c *h2Conn) relayWindowUpdate(id, n uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if id == 0 {
		c.recvWindow += int64(n)
	} else if st := c.streams[id]; st == nil || !st.relay {
		return
	}
	c.wfr.WriteWindowUpdate(id, n)
	c.flushLocked()
}

// relayGoAway: net/http hung up. On an error, so does the connection, with its code; on a graceful
// close (the server shutting down), streams it did not take are refused and the connection closes
// gracefully too.
func (c *h2Conn) relayGoAway(last uint32, code http2.ErrCode) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.relayFailed = true
	for id, st := range c.streams {
		if st.relay && id > last {
			c.wfr.WriteRSTStream(id, http2.ErrCodeRefusedStream)
			c.closeStreamLocked(st)
		}
	}
	c.goAwayLocked(code)
	c.flushLocked()
	c.wakeUpLocked()
}

// relayGone: the in-memory connection closed; its streams cannot be answered.
func (c *h2Conn) relayGone() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.relayFailed = true
	if c.dead {
		return
	}
	for _, st := range c.streams {
		if st.relay {
			c.wfr.WriteRSTStream(st.id, http2.ErrCodeInternal)
			c.closeStreamLocked(st)
		}
	}
	c.goAwayLocked(http2.ErrCodeNo)
	c.flushLocked()
	c.wakeUpLocked()
}
