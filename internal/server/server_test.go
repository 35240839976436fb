package server

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestOpenFailsOnATakenPort(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	o := testOptions(twoPaths{})
	o.Addr = ln.Addr().String()
	s, err := Open(o)
	if err == nil {
		s.Close(context.Background())
		t.Fatal("Open succeeded on a port another listener holds")
	}
	if !strings.Contains(err.Error(), "cannot listen on "+o.Addr) || !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("error %q, want one naming the address and wrapping EADDRINUSE", err)
	}
}

// named answers on both paths with its name in a header, so a test sees which handler answered.
type named string

func (n named) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Served-By", "net/http "+string(n))
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(503)
}

func (n named) ServeFast(dst []byte, r *FastRequest) (FastResponse, bool) {
	if r.Path == "/slow" {
		return FastResponse{}, false
	}
	return FastResponse{Head: append(dst, "HTTP/1.1 503 Service Unavailable\r\nServed-By: fast "+string(n)+"\r\nContent-Length: 0\r\n"...), Status: 503}, true
}

func TestSetHandlerAppliesToTheNextRequest(t *testing.T) {
	t.Parallel()
	for _, fast := range []bool{true, false} {
		s := openServer(t, named("a"), func(o *Options) { o.FastPath = fast })
		c := dial(t, s.Addr().String())
		for _, step := range []struct{ set, path, want string }{
			{"", "/", "fast a"},
			{"", "/slow", "net/http a"},
			{"b", "/slow", "net/http b"}, // net/http serves this connection now
		} {
			if step.set != "" {
				s.SetHandler(named(step.set))
			}
			c.send("GET " + step.path + " HTTP/1.1\r\nHost: h\r\n\r\n")
			resp, _ := c.read("GET")
			want := step.want
			if !fast {
				want = "net/http" + want[strings.Index(want, " "):]
			}
			if got := resp.Header.Get("Served-By"); got != want {
				t.Errorf("fast path %v, %s after SetHandler(%q): served by %q, want %q", fast, step.path, step.set, got, want)
			}
		}
		c2 := dial(t, s.Addr().String())
		c2.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
		resp, _ := c2.read("GET")
		want := "fast b"
		if !fast {
			want = "net/http b"
		}
		if got := resp.Header.Get("Served-By"); got != want {
			t.Errorf("fast path %v, new connection after SetHandler: served by %q, want %q", fast, got, want)
		}
	}
}

// blocking holds each request until release is closed, and says on started that one arrived.
type blocking struct{ started, release chan struct{} }

func (b blocking) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	b.started <- struct{}{}
	<-b.release
	io.WriteString(w, "finished")
}

// startBlocked opens a server (closed by the test) with a request in flight that waits for b.release.
func startBlocked(t *testing.T) (blocking, *Server, *rawConn) {
	t.Helper()
	b := blocking{started: make(chan struct{}, 1), release: make(chan struct{})}
	s, err := Open(testOptions(b))
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, s.Addr().String())
	c.send("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	<-b.started
	return b, s, c
}

func TestCloseLetsARequestInFlightFinish(t *testing.T) {
	t.Parallel()
	b, s, c := startBlocked(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- s.Close(ctx) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a request was in flight", err)
	case <-time.After(300 * time.Millisecond):
	}
	if _, err := net.DialTimeout("tcp", s.Addr().String(), time.Second); err == nil {
		t.Error("a closing server still accepts connections")
	}
	close(b.release)
	resp, body := c.read("GET")
	if resp.StatusCode != 200 || body != "finished" || !resp.Close {
		t.Errorf("the request in flight got %d %q (close %v), want 200 \"finished\" and Connection: close", resp.StatusCode, body, resp.Close)
	}
	select {
	case err := <-closed:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(8 * time.Second):
		t.Fatal("Close did not return after the request finished")
	}
}

func TestCloseEndsAtTheDeadline(t *testing.T) {
	t.Parallel()
	b, s, c := startBlocked(t)
	defer close(b.release)
	const deadline = 500 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	start := time.Now()
	if err := s.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
	if took := time.Since(start); took < deadline-50*time.Millisecond || took > deadline+5*time.Second {
		t.Errorf("Close took %v with a request that never ends, want about the deadline (%v)", took, deadline)
	}
	if _, err := c.r.ReadByte(); err == nil {
		t.Error("the connection of the unfinished request is still open after Close")
	}
}
