package server

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/maintpage/maintpage/internal/reqlog"
)

// BenchmarkFastLog is the request log's share of a fast-path answer, with the log off and in each
// mode: what serve does for the log around an answer (the clock when the log wants durations) and
// the call after it (fastConn.log), from as many connections as cores.
func BenchmarkFastLog(b *testing.B) {
	for _, m := range logModes {
		b.Run(m.name, func(b *testing.B) {
			var rl *reqlog.Logger
			if m.on {
				var err error
				if rl, err = reqlog.New(reqlog.Options{Out: io.Discard, Mode: m.mode}); err != nil {
					b.Fatal(err)
				}
				defer rl.Close()
			}
			l := &fastListener{reqLog: rl}
			resp := FastResponse{Body: make([]byte, 6703), Status: http.StatusServiceUnavailable, Format: "html"}
			b.ReportAllocs()
			var conns atomic.Int32
			b.RunParallel(func(pb *testing.PB) {
				i := conns.Add(1)
				fc := &fastConn{l: l, remote: fmt.Sprintf("203.0.113.%d:%d", i, 40000+i)}
				fc.rl = rl.Conn(fc.remote)
				defer fc.rl.Close()
				req := FastRequest{Method: http.MethodGet, Path: "/bench", Host: "h", Accept: "text/html"}
				for pb.Next() {
					var start time.Time
					if fc.rl.Timed() {
						start = time.Now()
					}
					fc.log(&req, &resp, start)
				}
			})
		})
	}
}

// TestFastPathSummaryCountsEveryAnswer: in the summary mode the fast path's connections count
// their answers themselves; with runs of alike requests on keep-alive connections, one connection
// handed over to net/http, and connections still open at shutdown, the summaries still count every
// answer once, by path, and the one request net/http answers has its line.
func TestFastPathSummaryCountsEveryAnswer(t *testing.T) {
	t.Parallel()
	rl, out := summaryLog(t)
	s := openServer(t, twoPaths{}, func(o *Options) { o.RequestLog = rl })
	const conns, each = 4, 400
	var wg sync.WaitGroup
	for i := range conns {
		c := dial(t, s.Addr().String())
		wg.Go(func() {
			for j := range each {
				path := []string{"/a", "/b", "/c"}[j/(i+1)%3] // runs of 1 to 4 alike requests
				method := "GET"
				if j%7 == 0 {
					method = "HEAD"
				}
				fmt.Fprintf(c.c, "%s %s HTTP/1.1\r\nHost: h\r\n\r\n", method, path)
				resp, err := http.ReadResponse(c.r, &http.Request{Method: method})
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if i == 0 { // handed over to net/http, after its answers were counted on the fast path
				c.send("GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
				c.read("GET")
			}
			if i%2 == 1 {
				c.c.Close() // the others are open until the server closes them
			}
		})
	}
	wg.Wait()
	requests, paths, lines := stopAndRead(t, s, rl, out)
	if len(lines) != 1 || lines[0] != "/slow" {
		t.Errorf("lines for %v, want one for /slow alone", lines)
	}
	if want := float64(conns*each + 1); requests != want {
		t.Errorf("summaries count %v requests; want %v", requests, want)
	}
	var sum float64
	for p, n := range paths {
		if !strings.HasPrefix(p, "/") {
			t.Errorf("path %q", p)
		}
		sum += n
	}
	if sum != float64(conns*each+1) || len(paths) != 4 {
		t.Errorf("top paths %v, want /a, /b, /c and /slow adding up to %d", paths, conns*each+1)
	}
}

// TestH2FastSummaryCountsEveryAnswer: the ready answers of the fast HTTP/2 path are counted the
// same way, through the connection's handle.
func TestH2FastSummaryCountsEveryAnswer(t *testing.T) {
	t.Parallel()
	rl, out := summaryLog(t)
	s := openServer(t, twoPaths{}, func(o *Options) { o.RequestLog, o.H2C = rl, true })
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http2.Transport{
		AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}}
	const n = 300
	for i := range n {
		resp, err := client.Get("http://" + s.Addr().String() + []string{"/a", "/a", "/b"}[i%3])
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.Header.Get("Served-By") != "fast" {
			t.Fatalf("HTTP/%d, served by %q; want HTTP/2 and the fast path", resp.ProtoMajor, resp.Header.Get("Served-By"))
		}
	}
	requests, paths, lines := stopAndRead(t, s, rl, out)
	if len(lines) != 0 {
		t.Errorf("lines for %v, want none", lines)
	}
	if requests != n || paths["/a"] != 2*n/3 || paths["/b"] != n/3 {
		t.Errorf("summaries count %v requests, paths %v; want %d: /a %d, /b %d", requests, paths, n, 2*n/3, n/3)
	}
}

// summaryLog is a request log in the summary mode, every few milliseconds, into a file.
func summaryLog(t *testing.T) (*reqlog.Logger, string) {
	out := filepath.Join(t.TempDir(), "requests.log")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	rl, err := reqlog.New(reqlog.Options{Out: f, Mode: reqlog.Summary, SummaryEvery: 3 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return rl, out
}

// stopAndRead closes the server, then the log, and adds up the summaries in the log file at out:
// requests, and by path; and lists the paths of the request lines.
func stopAndRead(t *testing.T, s *Server, rl *reqlog.Logger, out string) (requests float64, paths map[string]float64, lines []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
	rl.Close()
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	paths = map[string]float64{}
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if line == "" {
			continue
		}
		var v struct {
			Msg      string
			Requests float64
			Path     string
			Paths    map[string]float64 `json:"top_paths"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("%v: %q", err, line)
		}
		switch v.Msg {
		case "requests":
			requests += v.Requests
			for p, n := range v.Paths {
				paths[p] += n
			}
		case "request":
			lines = append(lines, v.Path)
		default:
			t.Errorf("line %q", line)
		}
	}
	return requests, paths, lines
}
