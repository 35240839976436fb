package gate

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// holdingUpstream accepts one connection, reads a request head, writes first, then calls rest with
// the connection (which may write more) and reports on the returned channel when the gate closes
// the connection (a read returns EOF or an error), with what the upstream managed to write.
func holdingUpstream(t *testing.T, first string, rest func(c net.Conn)) (addr string, closed <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conn net.Conn
	accepted := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		conn = c
		close(accepted)
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if line == "\r\n" {
				break
			}
		}
		io.WriteString(c, first)
		if rest != nil {
			go rest(c)
		}
		// Wait for the gate to let go of the connection; nothing more comes from the gate.
		io.Copy(io.Discard, br)
	}()
	t.Cleanup(func() {
		ln.Close()
		<-accepted
		if conn != nil {
			conn.Close()
		}
		<-done
	})
	return ln.Addr().String(), done
}

// A client that leaves a streamed response (an event stream, a long poll) must free the upstream
// connection at once, as http.Transport does when ReverseProxy's request context ends: the
// application learns that its subscriber left, and the gate keeps no goroutine and no two sockets
// waiting for an upstream that may send nothing for hours.
func TestProxyLetsGoOfUpstreamWhenClientLeaves(t *testing.T) {
	t.Parallel()
	for _, fast := range []bool{false, true} {
		name := map[bool]string{false: "ReverseProxy", true: "fast path"}[fast]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			addr, closed := holdingUpstream(t, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"+
				"Transfer-Encoding: chunked\r\n\r\n6\r\ndata:1\r\n", nil)
			_, gateAddr := openGate(t, "http://"+addr, fast, nil)
			c, err := net.Dial("tcp", gateAddr)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(20 * time.Second))
			io.WriteString(c, "GET /events HTTP/1.1\r\nHost: example.com\r\nAccept: text/event-stream\r\n\r\n")
			got := make([]byte, 0, 512)
			buf := make([]byte, 512)
			for !strings.Contains(string(got), "data:1") {
				n, err := c.Read(buf)
				got = append(got, buf[:n]...)
				if err != nil {
					t.Fatalf("reading the stream: %v (got %q)", err, got)
				}
			}
			c.Close()
			select {
			case <-closed:
			case <-time.After(20 * time.Second):
				t.Fatal("the upstream connection was still open 20 s after the client left; want it closed at once")
			}
		})
	}
}

// An upstream whose response head never ends must not make the gate buffer it without limit:
// http.Transport gives up after MaxResponseHeaderBytes (10 MiB by default), so must the response
// the fast path hands to ReverseProxy. The upstream here sends 16 MiB of header lines and then
// waits; the header timeout (a minute) is far away, so only the size limit can end the exchange.
func TestProxyBoundsUpstreamResponseHead(t *testing.T) {
	t.Parallel()
	for _, fast := range []bool{false, true} {
		name := map[bool]string{false: "ReverseProxy", true: "fast path"}[fast]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			line := "X-Filler: " + strings.Repeat("a", 1000) + "\r\n"
			addr, closed := holdingUpstream(t, "HTTP/1.1 200 OK\r\n", func(c net.Conn) {
				for i := 0; i < 16<<10; i++ {
					if _, err := io.WriteString(c, line); err != nil {
						return
					}
				}
			})
			_, gateAddr := openGate(t, "http://"+addr, fast, map[string]string{"upstream_header_timeout": "1m"})
			c, err := net.Dial("tcp", gateAddr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(40 * time.Second))
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
			status, err := bufio.NewReader(c).ReadString('\n')
			if err != nil {
				t.Fatalf("no answer within 40 s: %v; want the unplanned response once the head passed 10 MiB", err)
			}
			if !strings.HasPrefix(status, "HTTP/1.1 5") {
				t.Errorf("status line %q, want a 5xx (the unplanned response)", status)
			}
			select {
			case <-closed:
			case <-time.After(20 * time.Second):
				t.Fatal("the upstream connection was still open 20 s after the answer; want it closed")
			}
		})
	}
}

// An idle pooled connection the upstream closed (its keep-alive timeout, a restart) must not stay
// open in the gate until some later request happens to take it: http.Transport closes its side at
// once, and a pool that keeps the stack's bottom after a burst would hold up to 1024 sockets in
// CLOSE_WAIT for as long as the process runs.
func TestFastProxyPoolDropsConnectionsTheUpstreamClosed(t *testing.T) {
	t.Parallel()
	u := newRawUpstream(t, func(i int, head string) (string, bool, string) {
		return normal(head), true, "" // answers with a length, keep-alive implied, then closes
	})
	f, addr := openGate(t, "http://"+u.ln.Addr().String(), true, nil)
	exchange(t, addr, u, []string{get})
	if f.waitPooled() == 0 {
		t.Fatal("the answer did not go through the fast path (no upstream connection pooled)")
	}
	for deadline := time.Now().Add(30 * time.Second); f.fastPooled() > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the pool still held the connection 30 s after the upstream closed it; want it closed and dropped")
		}
	}
}

// awaitingClient is a client connection whose request the gate (fast path or not) has passed to
// an upstream that reads it and answers nothing, with holdingUpstream's channel; the header timeout
// is a minute. The connection closes with the test.
func awaitingClient(t *testing.T, fast bool) (net.Conn, <-chan struct{}) {
	t.Helper()
	addr, closed := holdingUpstream(t, "", nil)
	_, gateAddr := openGate(t, "http://"+addr, fast, map[string]string{"upstream_header_timeout": "1m"})
	c, err := net.Dial("tcp", gateAddr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: example.com\r\n\r\n")
	return c, closed
}

// A client that leaves while its request waits for the upstream's head must free the upstream
// connection well before the header timeout, as with ReverseProxy, whose context net/http's
// background read ends at once; a client that stays must not be cut off by that watch.
func TestProxyLetsGoOfUpstreamWhenClientLeavesBeforeTheHead(t *testing.T) {
	t.Parallel()
	for _, fast := range []bool{false, true} {
		name := map[bool]string{false: "ReverseProxy", true: "fast path"}[fast]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, closed := awaitingClient(t, fast)
			// Longer than the fast path's step between looks at the client.
			select {
			case <-closed:
				t.Fatal("the upstream connection closed while the client was still waiting")
			case <-time.After(clientCheckEvery + 500*time.Millisecond):
			}
			c.Close()
			left := time.Now()
			select {
			case <-closed:
				t.Logf("the upstream connection closed %v after the client left", time.Since(left).Round(time.Millisecond))
			case <-time.After(20 * time.Second):
				t.Fatal("the upstream connection was still open 20 s after the client left (header timeout 1 min); want it closed within a few seconds")
			}
		})
	}
}

// A request head the upstream's socket cannot take at once (its buffers full: an upstream that is
// not reading yet) is written whole once there is room, and its answer read after it: the head is
// written from the read's first attempt (see readSome), and the rest must not be lost there.
func TestFastProxyHeadWrittenWhenTheSocketHasRoom(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	// Fill the buffers between the two until not even one byte goes through.
	filler := make([]byte, 64<<10)
	filled := 0
	for size := len(filler); size > 0; size /= 4 {
		for {
			c.SetWriteDeadline(time.Now().Add(20 * time.Millisecond))
			m, err := c.Write(filler[:size])
			filled += m
			if err != nil {
				break
			}
		}
	}
	c.SetWriteDeadline(time.Time{})
	head := []byte("GET /after-the-filler HTTP/1.1\r\nHost: up\r\n\r\n")
	const answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
	got := make(chan string, 1)
	go func() {
		time.Sleep(200 * time.Millisecond) // the gate finds the socket full first
		if _, err := io.ReadFull(peer, make([]byte, filled)); err != nil {
			got <- err.Error()
			return
		}
		b := make([]byte, len(head))
		if _, err := io.ReadFull(peer, b); err != nil {
			got <- err.Error()
			return
		}
		got <- string(b)
		io.WriteString(peer, answer)
	}()
	uc := newUpConn(c)
	defer uc.done()
	w := headWait{client: c}
	w.start(time.Now(), 10*time.Second, uc)
	uc.out = head
	if err := w.readHead(uc); err != nil {
		t.Fatalf("readHead: %v", err)
	}
	if g := <-got; g != string(head) {
		t.Errorf("the upstream read %q after the filler, want the head %q", g, head)
	}
	if g := string(uc.buffered()); g != answer {
		t.Errorf("read %q, want the answer %q", g, answer)
	}
}

// A client that half-closes its connection after its request (shutdown(SHUT_WR), as nc -N does)
// and whose upstream has not answered yet gets no answer at all on either path: net/http's
// background read sees the end of the stream and ends the request's context, as the fast path's
// look at the client does, and nginx closes such a connection likewise ("client prematurely closed
// connection", 499). It must not get a made-up "200 OK" with an empty body, which is what net/http
// sends for a handler that returns without writing.
func TestProxyAnswersNothingToAClientThatHalfClosedBeforeTheHead(t *testing.T) {
	t.Parallel()
	for _, fast := range []bool{false, true} {
		name := map[bool]string{false: "ReverseProxy", true: "fast path"}[fast]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, _ := awaitingClient(t, fast)
			c.(*net.TCPConn).CloseWrite()
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			got, err := io.ReadAll(c)
			if err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("reading the answer: %v (want the connection closed within a few seconds)", err)
			}
			if len(got) > 0 {
				t.Errorf("the client that left got %q; want nothing (the upstream never answered)", got)
			}
		})
	}
}
