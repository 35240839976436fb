package cli_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The fast path answers some requests before net/http sees them; it must not change what a client
// sees. TestFastPathMatchesNetHTTP sends the same bytes to the real binary with the fast path on and
// off, over TCP, and compares what comes back: the answers (status, headers but Date, body), their
// number, and whether the server closed the connection — as the page, with h2c, and as a gate with
// maintenance on and off. The requests are a peer's corpus —
// nodejs/llhttp's request tests, extracted into ../server/testdata/llhttp/requests.txt — each also
// with a Host line added (most of llhttp's requests have none, and net/http rejects those before
// anything else), and generated cases: every split point of a few heads, pipelines that mix answers
// of the fast path with requests it hands to net/http, control bytes in every part of a head, and
// Transfer-Encoding/Content-Length variants.

// diffCase is one exchange: the chunks are written with a pause between them, so that the server
// reads them separately.
type diffCase struct {
	name   string
	chunks []string
}

// llhttpCorpus reads the extracted corpus.
func llhttpCorpus(t *testing.T) []diffCase {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "server", "testdata", "llhttp", "requests.txt"))
	if err != nil {
		t.Fatalf("reading the llhttp corpus: %v", err)
	}
	var cases []diffCase
	name := ""
	for i, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "# ") && name == "" && i > 3:
			name = "llhttp " + strings.TrimPrefix(line, "# ")
		case strings.HasPrefix(line, `"`):
			s, err := strconv.Unquote(line)
			if err != nil {
				t.Fatalf("requests.txt line %d: %v", i+1, err)
			}
			cases = append(cases, diffCase{name, []string{s}})
			if first, rest, ok := strings.Cut(s, "\r\n"); ok && !strings.Contains(strings.ToLower(s), "\nhost:") {
				cases = append(cases, diffCase{name + " (with Host)", []string{first + "\r\nHost: h\r\n" + rest}})
			}
			name = ""
		}
	}
	if len(cases) < 150 {
		t.Fatalf("only %d cases read from the llhttp corpus; is requests.txt complete?", len(cases))
	}
	return cases
}

// Requests the generated cases combine: some the fast path answers, some it hands to net/http.
var diffRequests = []struct{ name, req string }{
	{"fast GET", "GET /a?q=1 HTTP/1.1\r\nHost: h\r\nAccept: text/html\r\n\r\n"},
	{"fast HEAD", "HEAD /a HTTP/1.1\r\nHost: h\r\n\r\n"},
	{"fast json", "GET /api HTTP/1.1\r\nHost: h\r\nAccept: application/json\r\nAccept-Language: de\r\n\r\n"},
	{"fast POST", "POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n"},
	{"fast close", "GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"},
	{"POST body", "POST /form HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\na=1"},
	{"chunked", "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"},
	{"health", "GET /_maintenance/health HTTP/1.1\r\nHost: h\r\n\r\n"},
	{"HTTP/1.0", "GET /old HTTP/1.0\r\nHost: h\r\n\r\n"},
	{"percent", "GET /a%20b HTTP/1.1\r\nHost: h\r\n\r\n"},
	{"bare LF", "GET /lf HTTP/1.1\nHost: t\n\n"},
	{"no Host", "GET / HTTP/1.1\r\n\r\n"},
	{"bad line", "GET /\r\n"},
	{"space in target", "GET /foo bar/ HTTP/1.1\r\nHost: h\r\n\r\n"},
	{"form feed", "GET / HTTP/1.1\r\nHost: h\r\nX: a\x0cb\r\n\r\n"},
	{"h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"},
	{"CRLF", "\r\n"},
}

func generatedCases() []diffCase {
	var cases []diffCase
	// Every split point of a few heads, the fast path's and net/http's.
	for _, i := range []int{0, 5, 12} {
		r := diffRequests[i]
		for at := 1; at < len(r.req); at++ {
			cases = append(cases, diffCase{fmt.Sprintf("split %s at %d", r.name, at), []string{r.req[:at], r.req[at:]}})
		}
	}
	// Pipelines of two requests in one write, and in two writes.
	for _, a := range diffRequests {
		for _, b := range diffRequests {
			cases = append(cases,
				diffCase{"pipeline " + a.name + " + " + b.name, []string{a.req + b.req}},
				diffCase{"sequence " + a.name + " + " + b.name, []string{a.req, b.req}})
		}
	}
	// Three in a row: fast, handed over, fast.
	for _, mid := range diffRequests[5:] {
		cases = append(cases, diffCase{"pipeline fast + " + mid.name + " + fast", []string{diffRequests[0].req + mid.req + diffRequests[2].req}})
	}
	// Control bytes (and DEL, and a byte above ASCII) in each part of a head.
	for c := 0; c <= 0x20; c++ {
		for _, b := range []byte{byte(c), 0x7f, 0x80, 0xff} {
			if c > 0 && b != byte(c) {
				continue // 0x7f, 0x80 and 0xff once, with c == 0
			}
			s := string([]byte{b})
			for _, part := range []struct{ name, req string }{
				{"method", "G" + s + "T / HTTP/1.1\r\nHost: h\r\n\r\n"},
				{"target", "GET /a" + s + "b HTTP/1.1\r\nHost: h\r\n\r\n"},
				{"version", "GET / HTTP/1.1" + s + "\r\nHost: h\r\n\r\n"},
				{"header name", "GET / HTTP/1.1\r\nHost: h\r\nX" + s + "Y: 1\r\n\r\n"},
				{"header value", "GET / HTTP/1.1\r\nHost: h\r\nAccept: text/" + s + "html\r\n\r\n"},
				{"value start", "GET / HTTP/1.1\r\nHost: h\r\nAccept:" + s + "text/html\r\n\r\n"},
				{"host", "GET / HTTP/1.1\r\nHost: h" + s + "x\r\n\r\n"},
				{"line end", "GET / HTTP/1.1\r\nHost: h\r\nX: 1" + s + "\r\n\r\n"},
			} {
				cases = append(cases, diffCase{fmt.Sprintf("byte %#x in %s", b, part.name), []string{part.req}})
			}
		}
	}
	// Framing: Transfer-Encoding and Content-Length, alone, together, repeated, odd.
	for _, h := range []string{
		"Content-Length: 0", "Content-Length: 00", "Content-Length: +0", "Content-Length: -0",
		"Content-Length: 0\r\nContent-Length: 0", "Content-Length: 0\r\nContent-Length: 1",
		"Content-Length: 0, 0", "Content-Length:0", "Content-Length : 0", "Content-Length: 0x0",
		"Content-Length: 1", "Content-Length: 99999999999999999999", "Content-Length:\t0\t",
		"Transfer-Encoding: chunked", "Transfer-Encoding: Chunked", "Transfer-Encoding: gzip",
		"Transfer-Encoding: gzip, chunked", "Transfer-Encoding: chunked, gzip", "Transfer-Encoding: identity",
		"Transfer-Encoding: chunked\r\nContent-Length: 0", "Content-Length: 0\r\nTransfer-Encoding: chunked",
		"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked", "Transfer-Encoding:", "Transfer-Encoding: \x0bchunked",
		"Transfer-Encoding : chunked", " Transfer-Encoding: chunked",
	} {
		for _, m := range []string{"GET", "POST"} {
			req := m + " / HTTP/1.1\r\nHost: h\r\n" + h + "\r\n\r\n"
			cases = append(cases,
				diffCase{fmt.Sprintf("%s with %q", m, h), []string{req + "0\r\n\r\n"}},
				diffCase{fmt.Sprintf("%s with %q then fast GET", m, h), []string{req + diffRequests[0].req}})
		}
	}
	return cases
}

// exchange sends the chunks and reads until the server closes the connection or stays silent for
// quiet. closed is true when it closed (FIN or reset).
func exchange(addr string, chunks []string, quiet time.Duration) (got []byte, closed bool, err error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, false, err
	}
	defer c.Close()
	var buf bytes.Buffer
	for i, ch := range chunks {
		if i > 0 {
			time.Sleep(30 * time.Millisecond)
		}
		c.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, ch); err != nil {
			// The server may have answered and closed already; read what it sent.
			break
		}
	}
	b := make([]byte, 64<<10)
	for {
		c.SetReadDeadline(time.Now().Add(quiet))
		n, err := c.Read(b)
		buf.Write(b[:n])
		var ne net.Error
		switch {
		case err == nil:
		case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
			return buf.Bytes(), true, nil
		case errors.As(err, &ne) && ne.Timeout():
			return buf.Bytes(), false, nil
		default:
			return buf.Bytes(), false, err
		}
	}
}

// describe turns the bytes of the answers into text to compare: per answer the status line, the
// headers but Date in a fixed order, and the body. A body is as long as Content-Length says, except
// when the next answer starts right away (an answer to HEAD), or until the end without one.
func describe(b []byte) string {
	if len(b) >= 9 && b[3] == 0x4 && !bytes.HasPrefix(b, []byte("HTTP/")) {
		// net/http switched to HTTP/2 (a preface at the start of the connection, which the fast
		// path hands over before reading further): its frames after the SETTINGS depend on timing
		// (what it has sent when it reads the bytes that are not a frame), in both modes alike.
		return "HTTP/2, starting with the server's SETTINGS frame\n"
	}
	var out strings.Builder
	r := bufio.NewReader(bytes.NewReader(b))
	for i := 0; ; i++ {
		if _, err := r.Peek(1); err != nil {
			break
		}
		tp := textproto.NewReader(r)
		status, err := tp.ReadLine()
		if err != nil {
			fmt.Fprintf(&out, "[%d] unreadable rest %q\n", i, status)
			break
		}
		h, err := tp.ReadMIMEHeader()
		fmt.Fprintf(&out, "[%d] %s\n", i, status)
		if err != nil {
			fmt.Fprintf(&out, "    unreadable header: %v\n", err)
			break
		}
		delete(h, "Date")
		for _, k := range slices.Sorted(func(yield func(string) bool) {
			for k := range h {
				if !yield(k) {
					return
				}
			}
		}) {
			fmt.Fprintf(&out, "    %s: %s\n", k, strings.Join(h[k], " | "))
		}
		var body []byte
		if cl := h.Get("Content-Length"); cl != "" {
			n, _ := strconv.Atoi(cl)
			if next, _ := r.Peek(len("HTTP/1.")); string(next) != "HTTP/1." {
				body = make([]byte, n)
				k, _ := io.ReadFull(r, body)
				body = body[:k]
			}
		} else {
			body, _ = io.ReadAll(r)
		}
		fmt.Fprintf(&out, "    body %d bytes %q\n", len(body), firstBytes(body, 80))
	}
	return out.String()
}

func firstBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

type observation struct {
	answers string
	closed  bool
}

func observe(addr string, c diffCase, quiet time.Duration) (observation, error) {
	b, closed, err := exchange(addr, c.chunks, quiet)
	return observation{describe(b), closed}, err
}

func TestFastPathMatchesNetHTTP(t *testing.T) {
	t.Parallel()
	cases := append(llhttpCorpus(t), generatedCases()...)
	t.Logf("%d cases (%d from the llhttp corpus with their Host variants)", len(cases), len(llhttpCorpus(t)))

	// Long header and idle timeouts, so that "closed" means closed at once, not timed out.
	common := []string{"MAINTPAGE_READ_HEADER_TIMEOUT=30s", "MAINTPAGE_IDLE_TIMEOUT=30s", "MAINTENANCE_MESSAGE=Differential"}
	stateFile := filepath.Join(t.TempDir(), "state.json")
	cli(t, nil, "on", "--state", "file:"+stateFile, "--message", "Differential gate")
	app := appUpstream(t)
	modes := []struct {
		name string
		env  []string
	}{
		{"serve", nil},
		{"serve h2c", []string{"MAINTPAGE_H2C=true"}},
		{"gate", []string{"MAINTPAGE_UPSTREAM=" + app.URL, "MAINTPAGE_STATE=file:" + stateFile}},
		// Maintenance off: requests go through to the application (a fast proxy path must match
		// ReverseProxy as the fast path matches net/http).
		{"gate passing", []string{"MAINTPAGE_UPSTREAM=" + app.URL}},
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			env := append(slices.Clone(common), m.env...)
			fast := start(t, append(env, "MAINTPAGE_FAST_PATH=true"), "serve")
			plain := start(t, append(env, "MAINTPAGE_FAST_PATH=false"), "serve")
			sem := make(chan struct{}, 24)
			var wg sync.WaitGroup
			var mu sync.Mutex
			failed := 0
			for _, c := range cases {
				sem <- struct{}{}
				wg.Go(func() {
					defer func() { <-sem }()
					// A short silence first; a difference is checked again with a long one, so
					// that a slow moment of a busy machine is not taken for a difference.
					var f, p observation
					for _, quiet := range []time.Duration{600 * time.Millisecond, 4 * time.Second} {
						var errF, errP error
						var two sync.WaitGroup
						two.Go(func() { f, errF = observe(fast.addr, c, quiet) })
						two.Go(func() { p, errP = observe(plain.addr, c, quiet) })
						two.Wait()
						if err := errors.Join(errF, errP); err != nil {
							t.Errorf("%s: %v", c.name, err)
							return
						}
						if f == p {
							return
						}
					}
					mu.Lock()
					defer mu.Unlock()
					failed++
					if failed <= 20 {
						t.Errorf("%s: sent %q\nfast path (closed %v):\n%s\nnet/http (closed %v):\n%s",
							c.name, c.chunks, f.closed, f.answers, p.closed, p.answers)
					}
				})
			}
			wg.Wait()
			if failed > 0 {
				t.Errorf("%d of %d cases differ", failed, len(cases))
			}
		})
	}
}
