package server

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/maintpage/maintpage/internal/config"
	"github.com/maintpage/maintpage/internal/reqlog"
)

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// startLogged starts a server with the fast path and a request log in mode.
func startLogged(t testing.TB, mode reqlog.Mode) string {
	t.Helper()
	cfg, err := config.Load("", func(k string) string {
		return map[string]string{"MAINTPAGE_LISTEN": "127.0.0.1:0"}[k]
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rl, err := reqlog.New(reqlog.Options{Out: discard{}, Mode: mode, SampleEvery: 7})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Options{Config: cfg, Handler: twoPaths{}, Log: slog.New(slog.DiscardHandler), RequestLog: rl,
			Listening: func(a net.Addr) { addr <- a.String() }})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			t.Error("Run did not return after cancel")
		}
		rl.Close()
	})
	return <-addr
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
