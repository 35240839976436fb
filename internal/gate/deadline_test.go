package gate

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"
)

// writeTimeout is the gateways' write_timeout in these tests; the upstreams take longer.
const writeTimeout = 300 * time.Millisecond

// timedGateway serves a gate over up with the server's write timeout set as serve sets it.
func timedGateway(t *testing.T, up string) *httptest.Server {
	t.Helper()
	f := newFixture(t, map[string]string{"upstream": up, "write_timeout": writeTimeout.String()}, nil)
	gw := httptest.NewUnstartedServer(f.g)
	gw.Config.WriteTimeout = writeTimeout
	gw.Start()
	t.Cleanup(gw.Close)
	return gw
}

// What the client asks for does not lift the write timeout: a client that names an Upgrade or
// asks for an event stream, from an upstream that answers neither, gets no more time than anyone.
func TestWriteTimeoutHoldsUntilTheUpstreamAnswersLongLived(t *testing.T) {
	t.Parallel()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * writeTimeout):
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "late")
	}))
	t.Cleanup(slow.Close)
	gw := timedGateway(t, slow.URL)
	for name, header := range map[string]map[string]string{
		"Upgrade: foo":                 {"Connection": "Upgrade", "Upgrade": "foo"},
		"Upgrade: websocket":           {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="},
		"Accept: text/event-stream":    {"Accept": "text/event-stream"},
		"Accept lists an event stream": {"Accept": "application/json, text/event-stream;q=0.1"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			req, _ := http.NewRequest("GET", gw.URL+"/slow", nil)
			for k, v := range header {
				req.Header.Set(k, v)
			}
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
			if err != nil {
				return // the write timeout closed the connection: what we want
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && string(body) == "late" {
				t.Errorf("got %d %q after the write timeout; the request's own headers lifted it", resp.StatusCode, body)
			}
		})
	}
}

// An event stream outlives the write timeout once the upstream answered with text/event-stream,
// whatever the request's Accept said.
func TestEventStreamOutlivesTheWriteTimeout(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
		io.WriteString(w, "data: first\n\n")
		http.NewResponseController(w).Flush()
		select {
		case <-time.After(3 * writeTimeout):
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "data: second\n\n")
	}))
	t.Cleanup(up.Close)
	gw := timedGateway(t, up.URL)
	for _, accept := range []string{"text/event-stream", ""} {
		t.Run("Accept "+accept, func(t *testing.T) {
			req, _ := http.NewRequest("GET", gw.URL+"/events", nil)
			if accept != "" {
				req.Header.Set("Accept", accept)
			}
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil || !strings.Contains(string(body), "data: second") {
				t.Errorf("got %q, %v; want both events, the second after the write timeout", body, err)
			}
		})
	}
}

// A WebSocket the upstream accepted outlives the write timeout.
func TestWebSocketOutlivesTheWriteTimeout(t *testing.T) {
	t.Parallel()
	gw := timedGateway(t, echoWS(t).URL)
	cfg, _ := websocket.NewConfig("ws"+strings.TrimPrefix(gw.URL, "http")+"/socket", gw.URL)
	c, err := websocket.DialConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	for _, m := range []string{"before", "after"} {
		if err := websocket.Message.Send(c, m); err != nil {
			t.Fatalf("send %q: %v", m, err)
		}
		var got string
		if err := websocket.Message.Receive(c, &got); err != nil || got != "echo: "+m {
			t.Fatalf("got %q, %v; want %q", got, err, "echo: "+m)
		}
		time.Sleep(3 * writeTimeout)
	}
}

// Another protocol the upstream switches to keeps the server's timeouts: only WebSockets are
// long-lived by design.
func TestOtherUpgradesKeepTheWriteTimeout(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\nfirst\n")
		brw.Flush()
		time.Sleep(3 * writeTimeout)
		brw.WriteString("late\n")
		brw.Flush()
		io.Copy(io.Discard, c) // until the gate closes its side
	}))
	t.Cleanup(up.Close)
	gw := timedGateway(t, up.URL)
	c, err := net.Dial("tcp", gw.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /tunnel HTTP/1.1\r\nHost: app.example.com\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("got %v, %v; want 101", resp, err)
	}
	if line, err := br.ReadString('\n'); line != "first\n" {
		t.Fatalf("got %q, %v; want the first line", line, err)
	}
	if line, err := br.ReadString('\n'); err == nil {
		t.Errorf("got %q after the write timeout; want the connection closed", line)
	}
}
