package server

import (
	"io"
	"net"
	"testing"

	"github.com/maintpage/maintpage/internal/reqlog"
)

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// startLogged opens a server with the fast path and a request log in mode.
func startLogged(t testing.TB, mode reqlog.Mode) string {
	t.Helper()
	rl, err := reqlog.New(reqlog.Options{Out: discard{}, Mode: mode, SampleEvery: 7})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rl.Close() }) // after the server's Close: cleanups run last first
	return openServer(t, twoPaths{}, func(o *Options) { o.RequestLog = rl }).Addr().String()
}

// TestFastPathLogsWithoutAllocating is TestFastPathAllocatesNothingPerRequest with the request log
// on, in each mode: writing, sampling or counting the line costs no allocation either.
func TestFastPathLogsWithoutAllocating(t *testing.T) {
	for _, mode := range []reqlog.Mode{reqlog.All, reqlog.Sample, reqlog.Summary} {
		c := dial(t, startLogged(t, mode))
		req := []byte("GET /x HTTP/1.1\r\nHost: h\r\nAccept: text/html\r\n\r\n")
		c.c.Write(req)
		if resp, _ := c.read("GET"); resp.Header.Get("Served-By") != "fast" {
			t.Fatal("not served by the fast path")
		}
		buf := make([]byte, 4096)
		c.c.Write(req)
		n, _ := c.r.Read(buf)
		allocs := testing.AllocsPerRun(500, func() {
			c.c.Write(req)
			if _, err := io.ReadFull(c.r, buf[:n]); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("log_requests %v: %v allocations per request on the fast path, want 0", mode, allocs)
		}
	}
}

// BenchmarkFastPathLogged is BenchmarkFastPathRoundTrip with the request log in each mode.
func BenchmarkFastPathLogged(b *testing.B) {
	for _, mode := range []reqlog.Mode{reqlog.All, reqlog.Sample, reqlog.Summary} {
		b.Run(mode.String(), func(b *testing.B) {
			c, err := net.Dial("tcp", startLogged(b, mode))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			req := []byte("GET /x HTTP/1.1\r\nHost: h\r\nAccept: text/html\r\n\r\n")
			c.Write(req)
			buf := make([]byte, 4096)
			n, err := c.Read(buf)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				c.Write(req)
				if _, err := io.ReadFull(c, buf[:n]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
