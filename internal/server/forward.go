package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/maintpage/maintpage/internal/reqlog"
)

// A FastForwarder passes some requests on itself — the gate's fast proxy path — on the goroutine
// that read them, for requests its FastHandler side (if any) did not answer from ready bytes.
// ForwardFast writes to the client's connection but leaves its deadlines alone: the server keeps
// track of them, and moves them on only a few times a second on a busy connection.
type FastForwarder interface {
	ForwardFast(x *FastExchange) FastOutcome
}

// FastOutcome is what ForwardFast did with a request.
type FastOutcome uint8

const (
	// FastDeclined: nothing was sent anywhere; net/http serves the request.
	FastDeclined FastOutcome = iota
	// FastServed: the whole answer was written; the connection goes on if x.Keep.
	FastServed
	// FastFailed: the answer could not be written whole; the connection is closed.
	FastFailed
	// FastHandover: the request went on but its answer needs net/http: the connection goes to
	// net/http, whose handler of this same request gets x.Carry from Carried.
	FastHandover
)

// FastExchange is one request offered to a FastForwarder. Head and Req point into the connection's
// buffer and are valid only during ForwardFast.
type FastExchange struct {
	Head   []byte // the request head as read, ending in CRLF CRLF
	Req    *FastRequest
	Remote string   // the client's address, host:port
	Conn   net.Conn // the client's connection, its write deadline set
	// Keep says whether the connection stays open after the answer; when false the answer must
	// say Connection: close. ForwardFast may clear it (and then closes after answering).
	Keep bool
	// Out is scratch space the connection keeps between requests.
	Out []byte

	// Set by ForwardFast: what to log for a served request, and for a handover the value the
	// handler of the request gets from Carried (closed if net/http never reaches the handler).
	Status int
	Bytes  int64
	Carry  io.Closer
}

// forward offers the request to ff and reports what happened and whether the connection stays.
func (fc *fastConn) forward(ff FastForwarder, out *[]byte, head []byte, req *FastRequest, keep bool) (FastOutcome, bool) {
	keep = keep && !fc.l.stopping()
	x := &fc.x
	*x = FastExchange{Head: head, Req: req, Remote: fc.remote, Conn: fc.c, Keep: keep, Out: (*out)[:0]}
	start := time.Now()
	if fc.l.writeTimeout > 0 {
		extend(&fc.wdl, start, fc.l.writeTimeout, fc.c.SetWriteDeadline)
	}
	o := ff.ForwardFast(x)
	*out = x.Out[:0] // keep the grown buffer
	// The buffers go back to their pools after the request; an exchange kept pointing at them
	// would keep them alive for as long as the connection stays idle.
	x.Head, x.Out = nil, nil
	if o == FastServed && fc.rl != nil {
		e := reqlog.Entry{Method: req.Method, Path: req.Path, Status: x.Status, Bytes: x.Bytes,
			Duration: time.Since(start), Remote: fc.remote}
		if req.XForwardedFor != "" {
			fc.forwarded[0] = req.XForwardedFor
			e.Forwarded = fc.forwarded[:]
		}
		fc.rl.Log(&e)
		fc.forwarded[0] = "" // it pointed into the read buffer
	}
	return o, x.Keep
}

type carriedKey struct{}

// connContext hands the value a fast exchange carried to the context of the connection's requests.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if pc, ok := c.(*prefixConn); ok && pc.carry.Load() != nil {
		return context.WithValue(ctx, carriedKey{}, pc)
	}
	return ctx
}

// connState closes a carried value no handler took, when net/http is done with the connection.
func connState(c net.Conn, s http.ConnState) {
	if s != http.StateClosed && s != http.StateHijacked {
		return
	}
	if pc, ok := c.(*prefixConn); ok {
		pc.dropCarry()
	}
}

// Carried returns, to the first caller only, what a FastForwarder handed over with the request
// whose context is ctx; nil when there is nothing.
func Carried(ctx context.Context) io.Closer {
	pc, _ := ctx.Value(carriedKey{}).(*prefixConn)
	if pc == nil {
		return nil
	}
	return pc.takeCarry()
}
