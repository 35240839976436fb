package server_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/maintpage/maintpage/internal/server"
)

// Adversarial tests of the fast HTTP/2 path: flow control and timeouts a client can play with,
// where the fast path keeps its own state beside net/http's.

// rawConn is a client connection written frame by frame; its frames are read on a goroutine and
// come out of frames until the connection ends (then frames is closed).
type rawConn struct {
	conn   net.Conn
	fr     *http2.Framer
	enc    *hpack.Encoder
	encBuf bytes.Buffer
	frames chan http2.Frame
}

func dialRaw(t *testing.T, addr string, settings ...http2.Setting) *rawConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawConn{conn: conn, frames: make(chan http2.Frame, 1024)}
	c.enc = hpack.NewEncoder(&c.encBuf)
	io.WriteString(conn, http2.ClientPreface)
	c.fr = http2.NewFramer(conn, conn)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.fr.WriteSettings(settings...)
	go func() {
		defer close(c.frames)
		for {
			f, err := c.fr.ReadFrame()
			if err != nil {
				return
			}
			// The Framer reuses DATA frames' buffers: keep a copy.
			if d, ok := f.(*http2.DataFrame); ok {
				f = &copiedData{DataFrame: d, data: bytes.Clone(d.Data())}
			}
			c.frames <- f
		}
	}()
	return c
}

type copiedData struct {
	*http2.DataFrame
	data []byte
}

func (c *rawConn) block(fields ...string) []byte {
	c.encBuf.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		c.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return bytes.Clone(c.encBuf.Bytes())
}

func (c *rawConn) get(id uint32, extra ...string) {
	c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.block(get("/", extra...)...),
		EndStream: true, EndHeaders: true})
}

// next returns the next frame within d, or nil when the connection ended or nothing came.
func (c *rawConn) next(d time.Duration) http2.Frame {
	select {
	case f := <-c.frames:
		return f
	case <-time.After(d):
		return nil
	}
}

// A relayed answer (a request the fast path leaves to net/http) ends with an empty DATA frame
// with END_STREAM when net/http wrote the body in one piece. Flow control does not apply to an
// empty frame (RFC 9113 section 6.9.1): the relay must send it even when the client has just made
// the stream's window negative with a smaller SETTINGS_INITIAL_WINDOW_SIZE (section 6.9.2) — and
// must not crash the whole server on it. The relay is made to wait for the connection's window
// (ready answers used it up), so that the window shrinks between its last DATA and the empty one.
func TestH2RelayEmptyDataOnNegativeWindow(t *testing.T) {
	t.Parallel()
	ours, _ := pair(t)
	for attempt := range 8 {
		c := dialRaw(t, ours)
		// Ready answers until the client's connection window of 65535 is used up.
		id := uint32(1)
		for range 12 {
			c.get(id, "accept", "text/html")
			id += 2
		}
		relayed := id
		c.get(relayed, "accept", "text/html", "te", "trailers") // net/http judges TE: relayed
		var length int
		var got int
		ended := false
		deadline := time.After(20 * time.Second)
		windowGiven := false
		restored := false
		for !ended {
			var f http2.Frame
			select {
			case f = <-c.frames:
			case <-deadline:
				t.Fatalf("attempt %d: the relayed stream did not end (%d of %d bytes)", attempt, got, length)
			case <-time.After(300 * time.Millisecond):
				if windowGiven && !restored {
					// The window went to 0 before the relay sent its data: give it back.
					c.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 65535})
					restored = true
				}
				continue
			}
			if f == nil {
				t.Fatalf("attempt %d: the connection closed (%d of %d bytes)", attempt, got, length)
			}
			switch f := f.(type) {
			case *http2.MetaHeadersFrame:
				if f.StreamID == relayed {
					for _, hf := range f.Fields {
						if hf.Name == "content-length" {
							length, _ = strconv.Atoi(hf.Value)
						}
					}
					if !windowGiven {
						// The relay now waits for the connection's window: give it, and at once
						// take every stream's window away.
						time.Sleep(20 * time.Millisecond)
						c.fr.WriteWindowUpdate(0, 1<<30)
						c.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
						windowGiven = true
					}
				}
			case *copiedData:
				if f.StreamID == relayed {
					got += len(f.data)
					ended = f.StreamEnded()
				}
			case *http2.RSTStreamFrame:
				if f.StreamID == relayed {
					t.Fatalf("attempt %d: relayed stream reset: %v", attempt, f.ErrCode)
				}
			case *http2.GoAwayFrame:
				t.Fatalf("attempt %d: GOAWAY %v", attempt, f.ErrCode)
			}
		}
		if length == 0 || got != length {
			t.Fatalf("attempt %d: relayed body %d bytes, want %d", attempt, got, length)
		}
		c.conn.Close()
	}
}

// relayOne answers / from ready bytes and leaves /relay to ServeHTTP, so that net/http answers it
// through the relay.
type relayOne struct{}

func (relayOne) ServeHTTP(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "relayed") }

func (relayOne) ServeFast(dst []byte, q *server.FastRequest) (server.FastResponse, bool) {
	if q.Path == "/relay" {
		return server.FastResponse{}, false
	}
	return server.FastResponse{Head: append(dst, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 2\r\n"...), Body: []byte("no"), Status: 503}, true
}

// plainH2C starts net/http's own h2c server for relayOne with these timeouts, and returns its address.
func plainH2C(t *testing.T, write, idle time.Duration) string {
	plain := httptest.NewUnstartedServer(relayOne{})
	plain.Config.WriteTimeout, plain.Config.IdleTimeout = write, idle
	plain.Config.Protocols = new(http.Protocols)
	plain.Config.Protocols.SetUnencryptedHTTP2(true)
	plain.Start()
	t.Cleanup(plain.Close)
	return plain.Listener.Addr().String()
}

// waitGoAway reads c until a GOAWAY, and returns how long after start it came; it fails the test
// when none comes within limit.
func waitGoAway(t *testing.T, c *rawConn, start time.Time, limit time.Duration) time.Duration {
	t.Helper()
	for {
		f := c.next(time.Until(start.Add(limit)))
		if f == nil {
			t.Fatalf("no GOAWAY within %v", limit)
		}
		if g, ok := f.(*http2.GoAwayFrame); ok {
			if g.ErrCode != http2.ErrCodeNo {
				t.Errorf("GOAWAY %v, want NO_ERROR", g.ErrCode)
			}
			return time.Since(start)
		}
	}
}

// A connection whose last stream was answered by net/http through the relay is idle as after a
// ready answer: GOAWAY after idle_timeout (net/http starts its idle timer when the last stream
// closes, x/net/http2's server.go closeStream), not never.
func TestH2IdleTimeoutAfterRelayedStream(t *testing.T) {
	t.Parallel()
	const idle = 300 * time.Millisecond
	s := openH2(t, relayOne{}, idle)
	t.Cleanup(func() { s.Close(context.Background()) })
	c := dialRaw(t, s.Addr().String())
	c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: c.block(get("/relay")...), EndStream: true, EndHeaders: true})
	var answered time.Time
	for answered.IsZero() {
		f := c.next(20 * time.Second)
		if f == nil {
			t.Fatal("no answer")
		}
		if d, ok := f.(*copiedData); ok && d.StreamID == 1 && d.StreamEnded() {
			answered = time.Now()
		}
	}
	if waited := waitGoAway(t, c, answered, 20*time.Second); waited < idle-50*time.Millisecond {
		t.Errorf("GOAWAY %v after the answer, want at least the idle timeout %v", waited, idle)
	}
}

// PINGs (or any frame that opens no stream) do not keep an idle connection open: net/http's idle
// timer runs from the last stream's end whatever else the client sends, and so must ours.
func TestH2IdleTimeoutNotExtendedByPings(t *testing.T) {
	t.Parallel()
	const idle = 400 * time.Millisecond
	s := openH2(t, relayOne{}, idle)
	t.Cleanup(func() { s.Close(context.Background()) })
	for name, addr := range map[string]string{"maintpage": s.Addr().String(), "net/http": plainH2C(t, 0, idle)} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := dialRaw(t, addr)
			start := time.Now()
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				var n uint64
				for {
					select {
					case <-stop:
						return
					case <-time.After(idle / 4):
					}
					n++
					if c.fr.WritePing(false, [8]byte{byte(n)}) != nil {
						return
					}
				}
			}()
			if waited := waitGoAway(t, c, start, 20*time.Second); waited < idle-50*time.Millisecond {
				t.Errorf("GOAWAY after %v, want at least the idle timeout %v", waited, idle)
			}
		})
	}
}

// A ready answer that waits for a window the client never gives is reset after write_timeout, as
// net/http resets a stream whose handler's write timed out (x/net/http2's server.go,
// onWriteTimeout); the connection is then idle and closed after idle_timeout. Without that, a
// client holds a connection (and its goroutine) for ever by sending SETTINGS_INITIAL_WINDOW_SIZE 0
// and one request.
func TestH2ReadyAnswerWaitingForWindowTimesOut(t *testing.T) {
	t.Parallel()
	const write, idle = 400 * time.Millisecond, 300 * time.Millisecond
	s, err := server.Open(server.Options{Addr: "127.0.0.1:0", Handler: relayOne{}, FastPath: true, H2C: true,
		ReadHeaderTimeout: 5 * time.Second, WriteTimeout: write, IdleTimeout: idle, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	for name, addr := range map[string]string{"maintpage": s.Addr().String(), "net/http": plainH2C(t, write, idle)} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := dialRaw(t, addr, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
			start := time.Now()
			c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: c.block(get("/")...), EndStream: true, EndHeaders: true})
			var reset time.Duration
			for {
				f := c.next(time.Until(start.Add(20 * time.Second)))
				if f == nil {
					t.Fatal("the stream waiting for window was neither reset nor the connection closed within 20s")
				}
				if r, ok := f.(*http2.RSTStreamFrame); ok && r.StreamID == 1 {
					if r.ErrCode != http2.ErrCodeInternal {
						t.Errorf("RST_STREAM %v, want INTERNAL_ERROR", r.ErrCode)
					}
					reset = time.Since(start)
					break
				}
			}
			if reset < write-50*time.Millisecond {
				t.Errorf("reset after %v, want at least the write timeout %v", reset, write)
			}
			waitGoAway(t, c, start, 20*time.Second)
		})
	}
}
