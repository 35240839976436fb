package cli_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// load sends keep-alive requests from several connections, each to a path of its own, until the
// server stops answering; it returns the paths it sent and those whose whole answer it received.
type load struct {
	mu       sync.Mutex
	sent     map[string]bool
	received map[string]bool
	wg       sync.WaitGroup
}

func startLoad(t *testing.T, addr string, conns int, request func(path string) string) *load {
	t.Helper()
	l := &load{sent: map[string]bool{}, received: map[string]bool{}}
	for c := range conns {
		l.wg.Go(func() {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				return // the server is already stopping
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(30 * time.Second))
			br := bufio.NewReader(conn)
			for i := 0; ; i++ {
				path := fmt.Sprintf("/c%d/%d", c, i)
				l.mu.Lock()
				l.sent[path] = true
				l.mu.Unlock()
				if _, err := io.WriteString(conn, request(path)); err != nil {
					return
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					return
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil {
					return
				}
				l.mu.Lock()
				l.received[path] = true
				l.mu.Unlock()
				if resp.Close {
					return
				}
			}
		})
	}
	return l
}

func (l *load) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.received)
}

// waitFor polls until cond holds, failing after 20s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("after 20s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for the process to exit 0; stdout is complete when it returns.
func stop(t *testing.T, p *proc) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.done:
		p.done <- err
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v, want 0; stderr:\n%s", err, p.logs())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("still running 20s after SIGTERM; stderr:\n%s", p.logs())
	}
}

// jsonLines parses stdout, failing at the first line that is not whole JSON.
func jsonLines(t *testing.T, out string) []map[string]any {
	t.Helper()
	if out != "" && !strings.HasSuffix(out, "\n") {
		t.Errorf("stdout ends in a partial line: %q", out[max(0, len(out)-100):])
	}
	var got []map[string]any
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if line == "" {
			continue
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("stdout line %d is not JSON (%v): %q", i+1, err, line)
		}
		got = append(got, v)
	}
	return got
}

// TestBinaryLosesNoLineOnSIGTERM loads the real binary from eight connections, sends SIGTERM while
// they are still sending, and checks that every request that got its answer has its line — those
// answered just before the signal were still in the buffer, and those answered during the
// shutdown after it.
func TestBinaryLosesNoLineOnSIGTERM(t *testing.T) {
	t.Parallel()
	for _, fast := range []string{"true", "false"} {
		t.Run("fast_path="+fast, func(t *testing.T) {
			t.Parallel()
			p := start(t, []string{"MAINTPAGE_LOG_REQUESTS=all", "MAINTPAGE_FAST_PATH=" + fast}, "serve")
			l := startLoad(t, p.addr, 8, func(path string) string {
				return "GET " + path + " HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\n\r\n"
			})
			waitFor(t, "500 answers", func() bool { return l.count() >= 500 })
			stop(t, p)
			l.wg.Wait()
			logged := map[string]bool{}
			for _, v := range jsonLines(t, p.stdout.String()) {
				if v["msg"] != "request" || v["status"] != 503.0 {
					t.Fatalf("unexpected line %v", v)
				}
				path := v["path"].(string)
				if logged[path] {
					t.Errorf("%s logged twice", path)
				}
				if !l.sent[path] {
					t.Errorf("%s logged but never sent", path)
				}
				logged[path] = true
			}
			missing := 0
			for path := range l.received {
				if !logged[path] {
					missing++
				}
			}
			if missing > 0 {
				t.Errorf("%d of %d answered requests have no line (%d lines)", missing, len(l.received), len(logged))
			}
			t.Logf("%d requests sent, %d answered, %d lines", len(l.sent), len(l.received), len(logged))
		})
	}
}

// TestBinarySummaryCountsEveryRequest runs the default mode: the maintenance answers — from the fast
// path and from net/http (a request with a body) alike — are only counted, every other request
// has its line, and the summaries written up to and at SIGTERM add up to every answered request.
func TestBinarySummaryCountsEveryRequest(t *testing.T) {
	t.Parallel()
	p := start(t, nil, "serve")
	l := startLoad(t, p.addr, 6, func(path string) string {
		switch n := len(path); {
		case strings.HasPrefix(path, "/c0/"):
			return "GET /_maintenance/health HTTP/1.1\r\nHost: x\r\nX-Path: " + path + "\r\n\r\n"
		case strings.HasPrefix(path, "/c1/"):
			return "POST " + path + " HTTP/1.1\r\nHost: x\r\nAccept: application/json\r\nContent-Length: 2\r\n\r\n{}"
		case n%2 == 0:
			return "GET " + path + " HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\n\r\n"
		default:
			return "GET " + path + " HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\n\r\n"
		}
	})
	waitFor(t, "600 answers", func() bool { return l.count() >= 600 })
	stop(t, p)
	l.wg.Wait()
	var requests, maintenance, logged, lines, health float64
	formats := map[string]float64{}
	for _, v := range jsonLines(t, p.stdout.String()) {
		switch v["msg"] {
		case "request":
			lines++
			if v["path"] != "/_maintenance/health" || v["status"] != 200.0 {
				t.Errorf("a line for %v %v; want lines only for the health checks", v["path"], v["status"])
			}
		case "requests":
			requests += v["requests"].(float64)
			maintenance += v["maintenance"].(float64)
			logged += v["logged"].(float64)
			if n, ok := v["status"].(map[string]any)["200"].(float64); ok {
				health += n
			}
			for f, n := range v["format"].(map[string]any) {
				formats[f] += n.(float64)
			}
		}
	}
	var sentHealth, gotHealth, gotPost float64
	for path := range l.received {
		switch {
		case strings.HasPrefix(path, "/c0/"):
			gotHealth++
		case strings.HasPrefix(path, "/c1/"):
			gotPost++
		}
	}
	for path := range l.sent {
		if strings.HasPrefix(path, "/c0/") {
			sentHealth++
		}
	}
	received, sent := float64(len(l.received)), float64(len(l.sent))
	if requests < received || requests > sent {
		t.Errorf("the summaries count %v requests; %v were answered and %v sent", requests, received, sent)
	}
	if logged != lines || lines != health || health < gotHealth || health > sentHealth {
		t.Errorf("%v lines, %v logged in the summaries, %v health checks counted; %v answered, %v sent",
			lines, logged, health, gotHealth, sentHealth)
	}
	if maintenance+logged != requests || formats["json"] < gotPost || formats["html"] == 0 || formats["text"] == 0 {
		t.Errorf("summaries: %v maintenance + %v logged of %v, formats %v (%v POSTs answered)", maintenance, logged, requests, formats, gotPost)
	}
	if bytes.Count([]byte(p.stdout.String()), []byte(`"msg":"requests"`)) == 0 {
		t.Errorf("no summary line")
	}
}

// TestBinarySummaryNamesClientsBehindTrustedProxies: with trusted_proxies set, the summary's client
// networks are those of X-Forwarded-For, on the fast path and on net/http's alike.
func TestBinarySummaryNamesClientsBehindTrustedProxies(t *testing.T) {
	t.Parallel()
	p := start(t, []string{"MAINTPAGE_TRUSTED_PROXIES=127.0.0.0/8"}, "serve")
	conn, err := net.Dial("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	for i, client := range []string{"203.0.113.7", "203.0.113.8", "198.51.100.1, 127.0.0.5", "203.0.113.9"} {
		req := "GET / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: " + client + "\r\n\r\n"
		if i == 3 { // with a body: net/http answers
			req = "POST / HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: " + client + "\r\nContent-Length: 2\r\n\r\n{}"
		}
		io.WriteString(conn, req)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	stop(t, p)
	nets := map[string]float64{} // summed, should the requests straddle two summaries
	for _, v := range jsonLines(t, p.stdout.String()) {
		if v["msg"] == "requests" {
			for k, n := range v["top_networks"].(map[string]any) {
				nets[k] += n.(float64)
			}
		}
	}
	if want := map[string]float64{"203.0.113.0/24": 3, "198.51.100.0/24": 1}; fmt.Sprint(nets) != fmt.Sprint(want) {
		t.Errorf("top networks %v, want %v", nets, want)
	}
}
