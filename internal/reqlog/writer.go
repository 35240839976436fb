package reqlog

import (
	"bytes"
	"io"
	"sync"
)

// pipeBuf is PIPE_BUF on Linux: a write of at most this many bytes to a pipe is never interleaved
// with another process's (or this process's stderr's) write to the same pipe.
const pipeBuf = 4096

// writer collects whole lines in memory and writes them out in order, each write(2) holding only
// whole lines. Two buffers take turns: requests append to one while the other is being written, so
// a slow reader of stdout holds up requests only once both are full. Each grows as lines come, up
// to size, and keeps what it grew to: the default summary mode writes a few lines a second and
// keeps them small, where two buffers of full size would be 128 KiB more of live heap for the
// garbage collector to pace by.
type writer struct {
	mu     sync.Mutex // guards buf and closed
	buf    []byte
	closed bool

	wmu   sync.Mutex // held while writing out; taken with mu held, so writes keep the lines' order
	spare []byte     // the buffer not being filled, free when wmu is free
	out   io.Writer
	size  int // of each buffer
}

func newWriter(out io.Writer, size int) *writer {
	return &writer{out: out, size: size}
}

// write appends one or more whole lines.
func (w *writer) write(lines []byte) {
	w.mu.Lock()
	if !w.closed && len(w.buf)+len(lines) <= w.size {
		w.buf = append(w.buf, lines...)
		w.mu.Unlock()
		return
	}
	w.wmu.Lock()
	full := w.buf
	w.buf, w.spare = w.spare[:0], nil
	if w.closed || len(lines) > w.size {
		// After Close nothing flushes the buffer any more, and an overlong line does not fit:
		// write them out at once, behind what was buffered.
		w.mu.Unlock()
		w.writeOut(full)
		w.writeOut(lines)
	} else {
		w.buf = append(w.buf, lines...)
		w.mu.Unlock()
		w.writeOut(full)
	}
	w.spare = full[:0]
	w.wmu.Unlock()
}

// flush writes out what is buffered.
func (w *writer) flush() {
	w.mu.Lock()
	if len(w.buf) == 0 {
		w.mu.Unlock()
		return
	}
	w.wmu.Lock()
	full := w.buf
	w.buf, w.spare = w.spare[:0], nil
	w.mu.Unlock()
	w.writeOut(full)
	w.spare = full[:0]
	w.wmu.Unlock()
}

// close flushes and makes every later line go straight out: a handler that outlives the server's
// shutdown deadline still gets its line written. Both happen under one hold of mu: a line appended
// between a flush and the closing would stay in the buffer for good.
func (w *writer) close() {
	w.mu.Lock()
	w.closed = true
	w.wmu.Lock()
	full := w.buf
	w.buf, w.spare = w.spare[:0], nil
	w.mu.Unlock()
	w.writeOut(full)
	w.spare = full[:0]
	w.wmu.Unlock()
}

// writeOut writes p, which holds whole lines, in writes of whole lines of at most pipeBuf bytes
// (a single longer line is a write of its own). Errors are dropped: a log write has nowhere to
// report them, and a request must not fail for it.
func (w *writer) writeOut(p []byte) {
	for len(p) > 0 {
		n := len(p)
		if n > pipeBuf {
			n = bytes.LastIndexByte(p[:pipeBuf], '\n') + 1
			if n == 0 {
				if n = bytes.IndexByte(p, '\n') + 1; n == 0 {
					n = len(p)
				}
			}
		}
		w.out.Write(p[:n]) //nolint:errcheck // see above
		p = p[n:]
	}
}
