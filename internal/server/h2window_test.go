package server_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/maintpage/maintpage/internal/server"
)

// waitOn answers /wait once release is closed, anything else at once; the fast path answers nothing
// itself, so every stream goes through the relay to net/http.
type waitOn struct{ release chan struct{} }

func (h waitOn) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/wait" {
		<-h.release
	}
	io.WriteString(w, "ok")
}

func (waitOn) ServeFast([]byte, *server.FastRequest) (server.FastResponse, bool) {
	return server.FastResponse{}, false
}

// h2spec 6.9.1/3: a request left open (no END_STREAM), then two WINDOW_UPDATEs that take the
// stream's window beyond 2^31-1. RFC 9113 section 6.9.1: on an open stream that is a stream error
// FLOW_CONTROL_ERROR; once the answer is complete and net/http has closed the stream (RST_STREAM
// NO_ERROR after a complete response, section 8.1), a WINDOW_UPDATE on it is ignored (section
// 6.9). Both are compared with net/http's own h2c server, frame for frame: which of the two h2spec
// sees depends only on whether the answer is out before the updates are read.
func TestH2WindowOverflowOnStreamMatchesNetHTTP(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		finished bool // the updates come once the answer is complete
		want     []string
	}{
		{name: "open stream", want: []string{"RST_STREAM 1 FLOW_CONTROL_ERROR"}},
		{name: "finished stream", finished: true, want: []string{"RST_STREAM 1 NO_ERROR", "PING ack"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			run := func(addr string) []string {
				c := dialRaw(t, addr)
				path := "/wait"
				if tc.finished {
					path = "/"
				}
				c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: c.block(get(path)...), EndHeaders: true})
				var seen []string
				note := func(f http2.Frame) bool { // reports whether f ends what is watched
					switch f := f.(type) {
					case *http2.RSTStreamFrame:
						seen = append(seen, fmt.Sprintf("RST_STREAM %d %v", f.StreamID, f.ErrCode))
						return !tc.finished
					case *http2.GoAwayFrame:
						seen = append(seen, fmt.Sprintf("GOAWAY %v", f.ErrCode))
						return true
					case *http2.PingFrame:
						if f.IsAck() && f.Data == [8]byte{2} {
							seen = append(seen, "PING ack")
							return true
						}
					}
					return false
				}
				if tc.finished {
					// The answer, net/http's RST_STREAM NO_ERROR, then a PING's answer: all of it is out.
					waitEnd(t, c, 1)
					c.fr.WritePing(false, [8]byte{1})
					for f := c.next(10 * time.Second); ; f = c.next(10 * time.Second) {
						if f == nil {
							t.Fatal("no PING answer within 10s")
						}
						if p, ok := f.(*http2.PingFrame); ok && p.IsAck() {
							break
						}
						note(f)
					}
				}
				c.fr.WriteWindowUpdate(1, 1<<31-1)
				c.fr.WriteWindowUpdate(1, 1<<31-1)
				if tc.finished {
					c.fr.WritePing(false, [8]byte{2})
				}
				for {
					f := c.next(10 * time.Second)
					if f == nil {
						t.Fatalf("%s: nothing ended the exchange within 10s; seen %v", addr, seen)
					}
					if note(f) {
						return seen
					}
				}
			}
			ours := waitOn{release: make(chan struct{})}
			s := openH2(t, ours, time.Minute)
			defer close(ours.release)
			plainH := waitOn{release: make(chan struct{})}
			plain := httptest.NewUnstartedServer(plainH)
			plain.Config.Protocols = new(http.Protocols)
			plain.Config.Protocols.SetUnencryptedHTTP2(true)
			plain.Start()
			defer plain.Close()
			defer close(plainH.release)

			got, ref := run(s.Addr().String()), run(plain.Listener.Addr().String())
			if !slices.Equal(ref, tc.want) {
				t.Fatalf("net/http: %v, want %v (the reference changed?)", ref, tc.want)
			}
			if !slices.Equal(got, ref) {
				t.Fatalf("maintpage: %v, net/http: %v", got, ref)
			}
		})
	}
}
