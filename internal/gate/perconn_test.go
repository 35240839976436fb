package gate

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// footprint is what the process holds at one moment: goroutines, goroutine stacks, and heap in use
// after a full collection.
type footprint struct{ goroutines, stack, heap int }

func measure() footprint {
	// Two collections: sync.Pool lets go of what it keeps only after the second.
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return footprint{runtime.NumGoroutine(), int(ms.StackInuse), int(ms.HeapInuse)}
}

// heldUpstreamMain is the upstream of TestFastProxyFootprintPerConnection, run by TestMain in a
// process of its own so that its goroutines and buffers are not counted as the gate's. It prints
// its address, reads a request head on each connection, and answers once a byte comes on its
// standard input.
func heldUpstreamMain() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		os.Stdout.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	os.Stdout.WriteString(ln.Addr().String() + "\n")
	release := make(chan struct{})
	go func() {
		os.Stdin.Read(make([]byte, 1))
		close(release)
	}()
	go func() {
		// The test's end: stdin closes (or the process is killed).
		<-release
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			os.Exit(1)
		}
		go func() {
			br := bufio.NewReader(c)
			for {
				for {
					line, err := br.ReadSlice('\n')
					if err != nil {
						return
					}
					if len(line) == 2 {
						break
					}
				}
				os.Stdout.WriteString("head\n")
				<-release
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok")
			}
		}()
	}
}

// TestFastProxyFootprintPerConnection counts what the gate holds for each client connection on
// the fast proxy path: while its request waits for the upstream, and while the connection is idle
// between requests. The upstream runs in a process of its own; the client side here is bare
// sockets (a few hundred bytes each, counted in).
func TestFastProxyFootprintPerConnection(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "MAINTPAGE_HELD_UPSTREAM=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	out := bufio.NewReader(stdout)
	upAddr, err := out.ReadString('\n')
	if err != nil {
		t.Fatalf("the upstream process did not start: %v", err)
	}
	_, addr := openGate(t, "http://"+strings.TrimSpace(upAddr), true, map[string]string{"upstream_header_timeout": "1m"})

	const n = 200
	before := measure()
	clients := make([]net.Conn, n)
	for i := range clients {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		io.WriteString(c, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n")
		clients[i] = c
	}
	for range n {
		if line, err := out.ReadString('\n'); err != nil || line != "head\n" {
			t.Fatalf("the upstream process: %q, %v; want a request head for each connection", line, err)
		}
	}
	busy := measure()
	stdin.Write([]byte{1})
	for _, c := range clients {
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
	}
	time.Sleep(100 * time.Millisecond) // the connections go back to the pool after the answer
	idle := measure()
	per := func(a footprint) (g, s, h float64) {
		return float64(a.goroutines-before.goroutines) / n, float64(a.stack-before.stack) / n, float64(a.heap-before.heap) / n
	}
	bg, bs, bh := per(busy)
	ig, is, ih := per(idle)
	t.Logf("per client connection: waiting for the upstream %.2f goroutines, %.0f stack bytes, %.0f heap bytes; idle %.2f goroutines, %.0f stack bytes, %.0f heap bytes", bg, bs, bh, ig, is, ih)
	// One goroutine per connection, the one that reads it, and none per upstream connection.
	if bg > 1.05 || ig > 1.05 {
		t.Errorf("%.2f goroutines per connection waiting for the upstream, %.2f idle; want 1", bg, ig)
	}
	// Before the response buffer was taken only once the response is there, a waiting request
	// held 8 KiB more (18.5 KiB in all).
	if bh > 12<<10 {
		t.Errorf("%.0f heap bytes per connection waiting for the upstream; want at most 12 KiB (no response buffer while waiting)", bh)
	}
	// The upstream is dialled on a goroutine of its own, whose stack the dialler's depth grows,
	// so that the connection's stays at 4 KiB (it was 8 KiB). The race detector's stacks are
	// larger.
	if !raceEnabled && bs > 7<<10 {
		t.Errorf("%.0f stack bytes per connection waiting for the upstream; want at most 7 KiB (one 4 KiB stack, and the dialling goroutines' left in the runtime's stack cache)", bs)
	}
	// An idle connection holds no buffer: not the read buffer, not the answer's (before, 7.7 KiB).
	if ih > 5<<10 {
		t.Errorf("%.0f heap bytes per idle connection; want at most 5 KiB (no buffer while idle)", ih)
	}
}
