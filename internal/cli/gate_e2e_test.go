package cli_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/maintpage/maintpage/internal/state/statetest"
)

// appUpstream is the application behind the gates: it answers "app".
func appUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "app")
	}))
	t.Cleanup(s.Close)
	return s
}

// cli runs the real binary once, as an operator would.
func cli(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append([]string{"USER=e2e"}, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("maintpage %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func statusOf(p *proc) int {
	resp, err := client.Get("http://" + p.addr + "/probe")
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// waitAll polls every gate until each answers want, and returns how long that took.
func waitAll(t *testing.T, want int, deadline time.Duration, gates ...*proc) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		all := true
		for _, g := range gates {
			if statusOf(g) != want {
				all = false
				break
			}
		}
		if all {
			return time.Since(start)
		}
		if time.Since(start) > deadline {
			t.Fatalf("not every gate answered %d within %v", want, deadline)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestGatesOnOneRedisFlipTogether runs two real gate processes on one real Redis and switches them
// with the real CLI.
func TestGatesOnOneRedisFlipTogether(t *testing.T) {
	t.Parallel()
	addr, _, _ := statetest.StartRedis(t)
	store := "redis://" + addr + "/0"
	app := appUpstream(t)
	env := []string{"MAINTPAGE_UPSTREAM=" + app.URL, "MAINTPAGE_STATE=" + store}
	a, b := start(t, env, "serve"), start(t, env, "serve")
	waitAll(t, 200, 10*time.Second, a, b)

	for _, step := range []struct {
		args []string
		want int
	}{
		{[]string{"on", "--state", store, "--message", "Both gates", "--until", "1h"}, 503},
		{[]string{"off", "--state", store}, 200},
		{[]string{"on", "--state", store}, 503},
	} {
		began := time.Now()
		cli(t, nil, step.args...)
		ran := time.Since(began)
		took := waitAll(t, step.want, 5*time.Second, a, b)
		t.Logf("maintpage %s: the command took %v; both gates answered %d %v after it returned",
			step.args[0], ran.Round(time.Millisecond), step.want, took.Round(time.Millisecond))
	}
	_, body := get(t, a, "GET", "/", map[string]string{"Accept": "text/plain"})
	if strings.Contains(body, "Both gates") {
		t.Errorf("the last 'on' had no message, but the page still shows the previous one:\n%s", body)
	}
}

// TestGateSurvivesRedisRestartUnderTraffic kills Redis while requests flow: no request may fail,
// the gate keeps its last known state, and after the restart it follows the store again.
func TestGateSurvivesRedisRestartUnderTraffic(t *testing.T) {
	t.Parallel()
	addr, stop, restart := statetest.StartRedis(t)
	store := "redis://" + addr + "/0"
	app := appUpstream(t)
	const token = "e2e-admin-token-0123456789"
	g := start(t, []string{"MAINTPAGE_UPSTREAM=" + app.URL, "MAINTPAGE_STATE=" + store, "MAINTPAGE_ADMIN_TOKEN=" + token}, "serve")
	waitAll(t, 200, 10*time.Second, g)
	cli(t, nil, "on", "--state", store, "--message", "Before the restart")
	waitAll(t, 503, 5*time.Second, g)

	// Traffic: until Redis is back, every answer must be the maintenance page (the last known state
	// holds while the store is down); after it, the app may answer too (a fresh Redis is empty, which
	// reads as "off", until the state is written again).
	var restarted atomic.Bool
	traffic := startTraffic(4, []*proc{g}, func(status int, body string) string {
		switch {
		case status == 503 && strings.Contains(body, "maintenance"):
			return "maintenance"
		case status == 200 && body == "app" && restarted.Load():
			return "app"
		}
		return ""
	})
	time.Sleep(300 * time.Millisecond)
	stop()
	// The gate notices at its next periodic read (every 5s) and keeps serving the last known state.
	deadline := time.Now().Add(15 * time.Second)
	for adminStore(t, g, token) {
		if time.Now().After(deadline) {
			t.Fatalf("with Redis down the admin API still reports the store as up; logs:\n%s", g.logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code := statusOf(g); code != 503 {
		t.Errorf("with Redis down: got %d, want 503 (the last known state)", code)
	}
	restarted.Store(true)
	restart()
	// A fresh Redis has no state: write it again, as an operator would after a store loss.
	waitStore(t, store)
	cli(t, nil, "on", "--state", store, "--message", "After the restart")
	deadline = time.Now().Add(15 * time.Second)
	for {
		_, body := get(t, g, "GET", "/", map[string]string{"Accept": "text/plain"})
		if strings.Contains(body, "After the restart") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gate did not pick up the state written after the restart; body:\n%s\nlogs:\n%s", body, g.logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !adminStore(t, g, token) {
		t.Errorf("after the restart the admin API reports the store as down")
	}
	cli(t, nil, "off", "--state", store)
	waitAll(t, 200, 5*time.Second, g)
	counts := traffic.stop(t)
	if counts["maintenance"] == 0 || counts["app"] == 0 {
		t.Errorf("got %v, want both maintenance and app answers", counts)
	}
}

// traffic is requests sent to gates without a pause, from several goroutines, each answer counted
// under the name classify gives it ("" counts it as failed).
type traffic struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	counts map[string]int
}

func startTraffic(n int, gates []*proc, classify func(status int, body string) string) *traffic {
	ctx, cancel := context.WithCancel(context.Background())
	tr := &traffic{cancel: cancel, counts: map[string]int{}}
	for i := range n {
		g := gates[i%len(gates)]
		tr.wg.Go(func() {
			for ctx.Err() == nil {
				resp, err := client.Get("http://" + g.addr + "/x")
				outcome := "failed: "
				if err != nil {
					outcome += err.Error()
				} else {
					b, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if c := classify(resp.StatusCode, string(b)); c != "" {
						outcome = c
					} else {
						outcome += resp.Status + " " + string(b)
					}
				}
				tr.mu.Lock()
				tr.counts[outcome]++
				tr.mu.Unlock()
			}
		})
	}
	return tr
}

// stop ends the traffic, reports every failed request, and returns the counts.
func (tr *traffic) stop(t *testing.T) map[string]int {
	t.Helper()
	tr.cancel()
	tr.wg.Wait()
	t.Logf("outcomes: %v", tr.counts)
	for k, n := range tr.counts {
		if strings.HasPrefix(k, "failed") {
			t.Errorf("%d requests %s", n, k)
		}
	}
	return tr.counts
}

func adminStore(t *testing.T, g *proc, token string) bool {
	t.Helper()
	_, body := get(t, g, "GET", "/_maintenance/admin/state", map[string]string{"Authorization": "Bearer " + token})
	var st struct {
		Store struct {
			OK bool `json:"ok"`
		} `json:"store"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("admin API: %v: %s", err, body)
	}
	return st.Store.OK
}

// waitStore waits until the CLI can read the store.
func waitStore(t *testing.T, store string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for exec.Command(binary, "status", "--state", store).Run() != nil {
		if time.Now().After(deadline) {
			t.Fatal("the store did not come back")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestGateWebSocketThroughTheBinary checks the whole chain, request log included: the upgrade
// reaches the application and the socket outlives the server's write timeout.
func TestGateWebSocketThroughTheBinary(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(websocket.Handler(func(c *websocket.Conn) {
		for {
			var msg string
			if websocket.Message.Receive(c, &msg) != nil || websocket.Message.Send(c, "echo: "+msg) != nil {
				return
			}
		}
	}))
	t.Cleanup(up.Close)
	g := start(t, []string{"MAINTPAGE_UPSTREAM=" + up.URL, "MAINTPAGE_WRITE_TIMEOUT=1s"}, "serve")
	c, err := websocket.Dial("ws://"+g.addr+"/socket", "", "http://"+g.addr)
	if err != nil {
		t.Fatalf("dial through the gate: %v\n%s", err, g.logs())
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	for i, m := range []string{"first", "after the write timeout"} {
		if i == 1 {
			time.Sleep(1500 * time.Millisecond)
		}
		if err := websocket.Message.Send(c, m); err != nil {
			t.Fatal(err)
		}
		var got string
		if err := websocket.Message.Receive(c, &got); err != nil {
			t.Fatalf("%q: %v", m, err)
		}
		if got != "echo: "+m {
			t.Errorf("got %q, want %q", got, "echo: "+m)
		}
	}
}
