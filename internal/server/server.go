package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maintpage/maintpage/internal/reqlog"
)

// Options configure one listener and what answers on it. They hold what the server needs, not the
// whole configuration: the caller translates its configuration into them.
type Options struct {
	Addr    string // host:port; port 0 picks a free one (see Server.Addr)
	Handler http.Handler

	// The timeouts and limits of http.Server, applied by the fast path too.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	MaxHeaderBytes                                            int

	// H2C serves HTTP/2 without TLS beside HTTP/1.1; FastPath answers what a FastHandler can
	// answer from ready bytes before net/http parses it.
	H2C, FastPath bool

	// Log is for the server's own messages; RequestLog gets every answered request (nil: none).
	Log        *slog.Logger
	RequestLog *reqlog.Logger
}

// Server serves one listener in the background, from Open until Close.
type Server struct {
	ln   net.Listener
	http *http.Server
	fast *fastListener // nil when the fast path is off
	// later serves, with HTTP/1 alone, the connections the fast path hands over after answering
	// on them, when http speaks h2c too (see handOver); nil otherwise.
	later *http.Server
	// h2 serves prior-knowledge h2c connections when the fast path is on (nil otherwise); the
	// streams it does not answer go to its inner net/http server.
	h2      *h2Server
	handler atomic.Pointer[http.Handler]
	log     *slog.Logger

	failed chan struct{} // closed when serving stopped on an error before Close
	err    error         // set before failed is closed
	once   sync.Once
	wg     sync.WaitGroup
}

// Open listens on o.Addr, so that a taken port fails here and at once, then serves in the background.
func Open(o Options) (*Server, error) {
	if o.Handler == nil {
		return nil, errors.New("server: no handler")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %w", o.Addr, err)
	}
	s := &Server{ln: ln, log: o.Log, failed: make(chan struct{})}
	s.handler.Store(&o.Handler)
	var root http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*s.handler.Load()).ServeHTTP(w, r)
	})
	if o.RequestLog != nil {
		root = o.RequestLog.Wrap(root)
	}
	s.http = newHTTPServer(o, root)
	served := ln
	if o.FastPath {
		// net/http serves the connections the fast path hands over; the fast path accepts.
		s.fast = newFastListener(ln, &s.handler, s.http, o.RequestLog)
		served = s.fast
		s.wg.Go(func() {
			if err := s.fast.run(); err != nil {
				s.fail(fmt.Errorf("accept: %w", err))
			}
		})
		if o.H2C {
			h1 := o
			h1.H2C = false
			s.later = newHTTPServer(h1, root)
			later := s.fast.laterListener()
			s.wg.Go(func() {
				if err := s.later.Serve(later); err != nil && !errors.Is(err, http.ErrServerClosed) {
					s.fail(err)
				}
			})
			s.h2 = newH2Server(o, ln.Addr(), &s.handler, root, o.RequestLog)
			s.fast.h2 = s.h2
			s.wg.Go(func() {
				if err := s.h2.inner.Serve(s.h2.innerLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
					s.fail(err)
				}
			})
		}
	}
	s.wg.Go(func() {
		if err := s.http.Serve(served); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.fail(err)
		}
	})
	return s, nil
}

func newHTTPServer(o Options, h http.Handler) *http.Server {
	s := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		ReadTimeout:       o.ReadTimeout,
		WriteTimeout:      o.WriteTimeout,
		IdleTimeout:       o.IdleTimeout,
		MaxHeaderBytes:    o.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(o.Log.Handler(), slog.LevelDebug),
		ConnContext:       connContext,
		ConnState:         connState,
	}
	if o.H2C {
		s.Protocols = new(http.Protocols)
		s.Protocols.SetHTTP1(true)
		s.Protocols.SetUnencryptedHTTP2(true)
	}
	return s
}

func (s *Server) fail(err error) {
	s.once.Do(func() {
		s.err = err
		close(s.failed)
	})
}

// Addr is the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// SetHandler makes h answer the requests that start from now on; requests in flight finish on the
// handler they started with.
func (s *Server) SetHandler(h http.Handler) { s.handler.Store(&h) }

// Failed is closed when the server stopped serving on its own, on an error Err returns.
func (s *Server) Failed() <-chan struct{} { return s.failed }

// Err is the error that stopped the server before Close, or nil.
func (s *Server) Err() error {
	select {
	case <-s.failed:
		return s.err
	default:
		return nil
	}
}

// Close stops accepting, lets the requests in flight finish until ctx ends, then closes every
// connection. It returns the error that stopped the server early, if any.
func (s *Server) Close(ctx context.Context) error {
	var stopping sync.WaitGroup
	servers := []*http.Server{s.http, s.later}
	if s.h2 != nil {
		servers = append(servers, s.h2.inner)
		stopping.Go(func() { s.h2.shutdown(ctx.Done()) })
	}
	for _, hs := range servers {
		if hs == nil {
			continue
		}
		stopping.Go(func() {
			if err := hs.Shutdown(ctx); err != nil {
				s.log.Warn("shutdown deadline passed; closing remaining connections", "error", err)
				hs.Close()
			}
		})
	}
	if s.fast != nil {
		s.fast.shutdown(ctx.Done())
	}
	stopping.Wait()
	s.wg.Wait()
	return s.Err()
}
