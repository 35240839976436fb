package gate

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/maintpage/maintpage/internal/state"
)

// echoWS is an upstream that echoes WebSocket messages, prefixed so the test knows who answered.
func echoWS(t *testing.T) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(websocket.Handler(func(c *websocket.Conn) {
		for {
			var msg string
			if err := websocket.Message.Receive(c, &msg); err != nil {
				return
			}
			if err := websocket.Message.Send(c, "echo: "+msg); err != nil {
				return
			}
		}
	}))
	t.Cleanup(s.Close)
	return s
}

func TestWebSocketThroughTheGate(t *testing.T) {
	t.Parallel()
	up := echoWS(t)
	f := newFixture(t, map[string]string{"upstream": up.URL, "bypass_secret": secret}, nil)
	gw := httptest.NewServer(f.g)
	t.Cleanup(gw.Close)
	wsURL := "ws" + strings.TrimPrefix(gw.URL, "http") + "/socket"

	roundTrip := func(t *testing.T, cfg *websocket.Config) {
		t.Helper()
		c, err := websocket.DialConfig(cfg)
		if err != nil {
			t.Fatalf("dial through the gate: %v", err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		for _, m := range []string{"hello", "world"} {
			if err := websocket.Message.Send(c, m); err != nil {
				t.Fatal(err)
			}
			var got string
			if err := websocket.Message.Receive(c, &got); err != nil {
				t.Fatal(err)
			}
			if got != "echo: "+m {
				t.Errorf("got %q, want %q", got, "echo: "+m)
			}
		}
	}
	cfg, _ := websocket.NewConfig(wsURL, gw.URL)
	roundTrip(t, cfg)

	// During maintenance the upgrade is refused with the maintenance response, unless bypassed.
	f.set(t, state.State{On: true})
	if _, err := websocket.DialConfig(cfg); err == nil || !strings.Contains(err.Error(), "bad status") {
		t.Errorf("dial during maintenance: got %v, want a refused handshake", err)
	}
	bcfg, _ := websocket.NewConfig(wsURL, gw.URL)
	bcfg.Header = map[string][]string{"X-Maintpage-Bypass": {secret}}
	roundTrip(t, bcfg)
}
