package cli_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maintpage/maintpage/internal/admin"
	"github.com/maintpage/maintpage/internal/state/statetest"
	"github.com/maintpage/maintpage/internal/webhook"
)

const hookSecret = "e2e-webhook-secret-0123456789"

// hookReceiver is a real local receiver that accepts only deliveries whose signature verifies.
type hookReceiver struct {
	*httptest.Server
	delay time.Duration

	mu  sync.Mutex
	got []webhook.Payload
	bad []string
}

func newHookReceiver(t *testing.T, delay time.Duration) *hookReceiver {
	t.Helper()
	r := &hookReceiver{delay: delay}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		time.Sleep(r.delay)
		r.mu.Lock()
		defer r.mu.Unlock()
		if err := webhook.Verify(hookSecret, req.Header.Get(webhook.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
			r.bad = append(r.bad, err.Error())
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var p webhook.Payload
		if err := json.Unmarshal(body, &p); err != nil {
			r.bad = append(r.bad, err.Error())
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.got = append(r.got, p)
	}))
	t.Cleanup(r.Server.Close)
	return r
}

func (r *hookReceiver) deliveries() ([]webhook.Payload, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]webhook.Payload(nil), r.got...), append([]string(nil), r.bad...)
}

func (r *hookReceiver) waitFor(t *testing.T, n int, within time.Duration) []webhook.Payload {
	t.Helper()
	end := time.Now().Add(within)
	for {
		got, bad := r.deliveries()
		if len(got) >= n {
			return got
		}
		if time.Now().After(end) {
			t.Fatalf("the receiver got %d deliveries within %v, want %d (refused: %v)", len(got), within, n, bad)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func opsConfig(t *testing.T, hookURL string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "maintpage.yaml")
	cfg := `admin_tokens:
  - name: oncall
    token: e2e-oncall-token-0123456789
webhooks:
  - url: ` + hookURL + `
    secret: ` + hookSecret + `
`
	if err := os.WriteFile(p, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestBinaryWebhookOnceAndHistory runs two real gates on one real Redis with a webhook: one change
// made with the CLI reaches the receiver once, signed, and "maintpage history" tells who made it,
// from the store and through a gate's admin API.
func TestBinaryWebhookOnceAndHistory(t *testing.T) {
	t.Parallel()
	addr, _, _ := statetest.StartRedis(t)
	store := "redis://" + addr + "/0"
	app := appUpstream(t)
	rcv := newHookReceiver(t, 0)
	env := []string{"MAINTPAGE_UPSTREAM=" + app.URL, "MAINTPAGE_STATE=" + store, "MAINTPAGE_CONFIG=" + opsConfig(t, rcv.URL+"/hook")}
	a, b := start(t, env, "serve"), start(t, env, "serve")
	waitAll(t, 200, 10*time.Second, a, b)
	time.Sleep(1500 * time.Millisecond) // the gates' webhook dispatchers start after the newest entry

	cli(t, nil, "on", "--state", store, "--message", "Database upgrade", "--reason", "migration 42")
	waitAll(t, 503, 5*time.Second, a, b)
	got := rcv.waitFor(t, 1, 20*time.Second)
	// Each gate reads the history every second; leave time for a second delivery to show up.
	time.Sleep(3 * time.Second)
	got, bad := rcv.deliveries()
	if len(got) != 1 || len(bad) != 0 {
		t.Fatalf("deliveries of one change by two gates: got %d (refused %v), want exactly 1", len(got), bad)
	}
	e := got[0].Entry
	host, _ := os.Hostname()
	if e.Event != "on" || e.Message != "Database upgrade" || e.Reason != "migration 42" || !strings.HasPrefix(e.Who, "e2e@") || e.Via != "cli" || e.Addr != host {
		t.Errorf("delivered entry: got %+v", e)
	}

	// A change through the admin API with the named token.
	req, _ := http.NewRequest("PUT", "http://"+b.addr+admin.DefaultPath, strings.NewReader(`{"on":false,"reason":"done"}`))
	req.Header.Set("Authorization", "Bearer e2e-oncall-token-0123456789")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT admin/state: %d", resp.StatusCode)
	}
	rcv.waitFor(t, 2, 20*time.Second)

	out := cli(t, nil, "history", "--state", store)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "TIME") {
		t.Fatalf("history: got\n%s\nwant a header and two changes", out)
	}
	if !strings.Contains(lines[1], "off") || !strings.Contains(lines[1], "oncall  api from 127.0.0.1") || !strings.Contains(lines[1], `reason "done"`) {
		t.Errorf("newest change: got %q", lines[1])
	}
	if !strings.Contains(lines[2], " on ") || !strings.Contains(lines[2], "e2e@") || !strings.Contains(lines[2], `"Database upgrade"`) {
		t.Errorf("first change: got %q", lines[2])
	}
	js := cli(t, []string{"MAINTPAGE_ADMIN_TOKEN=e2e-oncall-token-0123456789"}, "history", "--admin", "http://"+a.addr, "--json", "--limit", "1")
	var h admin.History
	if err := json.Unmarshal([]byte(js), &h); err != nil {
		t.Fatalf("history --json: %v\n%s", err, js)
	}
	if len(h.Entries) != 1 || h.Entries[0].Event != "off" || h.Entries[0].Token != "oncall" {
		t.Errorf("history --admin --limit 1: got %+v", h.Entries)
	}
}

// TestBinarySlowReceiverDoesNotSlowRequests: a receiver that takes five seconds to answer holds
// up neither the change that triggers the delivery nor the requests answered meanwhile.
func TestBinarySlowReceiverDoesNotSlowRequests(t *testing.T) {
	t.Parallel()
	const slow = 5 * time.Second
	rcv := newHookReceiver(t, slow)
	app := appUpstream(t)
	g := start(t, []string{"MAINTPAGE_UPSTREAM=" + app.URL, "MAINTPAGE_CONFIG=" + opsConfig(t, rcv.URL+"/hook")}, "serve")
	waitAll(t, 200, 10*time.Second, g)
	time.Sleep(1500 * time.Millisecond)

	for i, on := range []string{"true", "false", "true"} {
		req, _ := http.NewRequest("PUT", "http://"+g.addr+admin.DefaultPath, strings.NewReader(`{"on":`+on+`}`))
		req.Header.Set("Authorization", "Bearer e2e-oncall-token-0123456789")
		began := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		// Generous for a loaded machine, and still far below the receiver's five seconds.
		if took := time.Since(began); resp.StatusCode != 200 || took > 2*time.Second {
			t.Errorf("change %d: %d after %v, want 200 well before the receiver's %v", i, resp.StatusCode, took, slow)
		}
	}
	// While the three deliveries wait on the receiver, requests are answered at once.
	for range 20 {
		began := time.Now()
		if code := statusOf(g); code != 503 {
			t.Fatalf("status: got %d, want 503", code)
		}
		if took := time.Since(began); took > 2*time.Second {
			t.Errorf("a request took %v while deliveries waited on a slow receiver", took)
		}
	}
	got := rcv.waitFor(t, 3, 30*time.Second)
	if got[0].Entry.Token != "oncall" {
		t.Errorf("delivered entry: got %+v, want the change by the oncall token", got[0].Entry)
	}
}
