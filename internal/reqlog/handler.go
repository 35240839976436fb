package reqlog

import (
	"net/http"
	"sync"
	"time"
)

// Wrap logs every request next answers, once answered. It logs the path but never the query or
// headers, where tokens travel.
func (l *Logger) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := recorders.Get().(*recorder)
		rec.ResponseWriter, rec.status, rec.bytes, rec.maintenance, rec.format = w, 0, 0, false, ""
		// Deferred, so that a request the proxy aborts (http.ErrAbortHandler) is logged too.
		defer func() {
			e := Entry{
				Method: r.Method, Path: r.URL.Path, Status: rec.status, Bytes: rec.bytes,
				Duration: time.Since(start), Remote: r.RemoteAddr, Forwarded: r.Header["X-Forwarded-For"],
				Maintenance: rec.maintenance, Format: rec.format,
			}
			l.Log(&e)
			rec.ResponseWriter = nil
			recorders.Put(rec)
		}()
		next.ServeHTTP(rec, r)
	})
}

// MarkMaintenance tells the request log that w carries a plain maintenance answer in format (html,
// json, problem+json or text), which the summary and sample modes count rather than write. It
// does nothing when w is not logged.
func MarkMaintenance(w http.ResponseWriter, format string) {
	for {
		switch t := w.(type) {
		case *recorder:
			t.maintenance, t.format = true, format
			return
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return
		}
	}
}

// recorder notes the status and size of a response for the request log. Unwrap lets
// http.ResponseController reach the connection (flush, hijack for WebSockets) through it.
type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	maintenance bool
	format      string
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 { // 1xx answers (103 Early Hints) come before the real one
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
