package server

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// recorder notes the status and size of a response for the request log. Unwrap lets
// http.ResponseController reach the connection (flush, hijack for WebSockets) through it.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

var recorders = sync.Pool{New: func() any { return new(recorder) }}

// logRequests writes one line per request, after it is answered. It logs the path but never the
// query or headers, where tokens travel.
func logRequests(next http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := recorders.Get().(*recorder)
		rec.ResponseWriter, rec.status, rec.bytes = w, 0, 0
		// Deferred, so that a request the proxy aborts (http.ErrAbortHandler) is logged too.
		defer func() {
			logLine(log, r.Method, r.URL.Path, rec.status, rec.bytes, time.Since(start), r.RemoteAddr)
			rec.ResponseWriter = nil
			recorders.Put(rec)
		}()
		next.ServeHTTP(rec, r)
	})
}

// logLine is the one request log line, written by the fast path and by net/http's handler chain alike.
func logLine(log *slog.Logger, method, path string, status int, bytes int64, d time.Duration, remote string) {
	log.LogAttrs(context.Background(), slog.LevelInfo, "request",
		slog.String("method", method),
		slog.String("path", path),
		slog.Int("status", status),
		slog.Int64("bytes", bytes),
		slog.Duration("duration", d),
		slog.String("remote", remote),
	)
}

// LogWriter buffers log lines and writes them out every flushEvery, so that logging a request costs
// a copy into memory rather than a system call on the hot path.
type LogWriter struct {
	mu sync.Mutex
	bw *bufio.Writer
}

const flushEvery = 200 * time.Millisecond

// NewLogWriter buffers writes to w and flushes them until ctx ends; call Flush before exiting.
func NewLogWriter(ctx context.Context, w io.Writer) *LogWriter {
	l := &LogWriter{bw: bufio.NewWriterSize(w, 64<<10)}
	go func() {
		t := time.NewTicker(flushEvery)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				l.Flush()
				return
			case <-t.C:
				l.Flush()
			}
		}
	}()
	return l
}

func (l *LogWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.bw.Write(p)
}

// Flush writes out what is buffered.
func (l *LogWriter) Flush() {
	l.mu.Lock()
	l.bw.Flush() //nolint:errcheck // nowhere to report a failed log write
	l.mu.Unlock()
}
