package server_test

import (
	"bytes"
	"context"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/maintpage/maintpage/internal/server"
)

// A panic on one of the goroutines the fast HTTP/2 path starts for a connection (its frame loop,
// its relay to net/http) is recovered as net/http recovers one serving a connection (net/http's
// server.go, conn.serve): the process lives on, the panic is logged once with its stack, that
// connection is closed and all its goroutines end, and other connections are answered. The frame
// loop's hook runs with the connection's lock held and no deferred unlock, so the recovery must
// give the lock back for the relay's goroutine to end. Not parallel: it sets package hooks.
func TestH2PanicIsRecoveredPerConnection(t *testing.T) {
	const value = "h2 test panic"
	ping := [8]byte{'p', 'a', 'n', 'i', 'c', '!', '!', '!'}
	for _, tc := range []struct {
		name         string
		frame, relay bool // which hook panics
	}{
		{name: "frame loop", frame: true},
		{name: "relay loop", relay: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var log lockedBuffer
			s, err := server.Open(server.Options{Addr: "127.0.0.1:0", Handler: relayOne{}, FastPath: true,
				H2C: true, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: time.Minute,
				Log: slog.New(slog.NewTextHandler(&log, nil))})
			if err != nil {
				t.Fatal(err)
			}
			addr := s.Addr().String()
			var victim sync.Map // the panicking connection's address (the client's local one)
			is := func(remote string) bool { _, ok := victim.Load(remote); return ok }
			var frame, relay func(string, http2.Frame)
			if tc.frame {
				frame = func(remote string, f http2.Frame) {
					if p, ok := f.(*http2.PingFrame); ok && p.Data == ping && is(remote) {
						panic(value)
					}
				}
			}
			if tc.relay {
				relay = func(remote string, f http2.Frame) {
					if _, ok := f.(*http2.HeadersFrame); ok && is(remote) {
						panic(value)
					}
				}
			}
			restore := server.SetH2Hooks(frame, relay)
			defer func() {
				s.Close(context.Background())
				restore()
			}()

			other := dialRaw(t, addr)
			other.get(1)
			waitEnd(t, other, 1)
			before := runtime.NumGoroutine()

			c := dialRaw(t, addr)
			victim.Store(c.conn.LocalAddr().String(), true)
			// A relayed request first, so that the relay's goroutine runs when the frame loop panics.
			c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: c.block(get("/relay")...),
				EndStream: true, EndHeaders: true})
			if tc.frame {
				waitEnd(t, c, 1)
				c.fr.WritePing(false, ping)
			}
			// The connection closes (the client's reader ends), without a PING answer.
			deadline := time.After(10 * time.Second)
		drain:
			for {
				select {
				case f, ok := <-c.frames:
					if !ok {
						break drain
					}
					if p, isPing := f.(*http2.PingFrame); isPing && p.IsAck() {
						t.Fatalf("the panicking connection answered the PING")
					}
				case <-deadline:
					t.Fatal("the panicking connection was not closed within 10s")
				}
			}
			c.conn.Close()

			// The other connection and a new one are answered.
			other.get(3)
			waitEnd(t, other, 3)
			fresh := dialRaw(t, addr)
			fresh.get(1)
			waitEnd(t, fresh, 1)
			fresh.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: fresh.block(get("/relay")...),
				EndStream: true, EndHeaders: true})
			waitEnd(t, fresh, 3)
			fresh.conn.Close()
			for range fresh.frames {
			}

			// The panic is logged once, with its stack.
			logged := log.String()
			if n := strings.Count(logged, "panic serving"); n != 1 {
				t.Fatalf("%d panics logged, want 1:\n%s", n, logged)
			}
			if !strings.Contains(logged, value) || !strings.Contains(logged, "goroutine ") {
				t.Fatalf("the log lacks the panic or its stack:\n%s", logged)
			}

			// Every goroutine of the closed connections ends (the relay's, net/http's inner ones).
			var now int
			for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
				if now = runtime.NumGoroutine(); now <= before {
					return
				}
			}
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines 10s after the panic, %d before:\n%s", now, before, buf[:runtime.Stack(buf, true)])
		})
	}
}

// waitEnd waits up to 10s for the DATA frame that ends stream id (the answers here have bodies;
// only DATA frames are read, as the client's Framer reuses the others).
func waitEnd(t *testing.T, c *rawConn, id uint32) {
	t.Helper()
	for {
		f := c.next(10 * time.Second)
		if f == nil {
			t.Fatalf("stream %d did not end within 10s", id)
		}
		if d, ok := f.(*copiedData); ok && d.StreamID == id && d.StreamEnded() {
			return
		}
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
