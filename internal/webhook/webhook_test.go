package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	goruntime "runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/maintpage/maintpage/internal/metrics"
	"github.com/maintpage/maintpage/internal/state"
	"github.com/maintpage/maintpage/internal/state/statetest"
	"github.com/maintpage/maintpage/internal/webhook"
)

const secret = "0123456789abcdef-webhook-secret"

// deadline bounds every wait for something asynchronous: generous, since CI is two busy cores.
const deadline = 20 * time.Second

func logger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// receiver is a real HTTP server on 127.0.0.1 that checks every delivery's signature the way
// the documentation tells receivers to, and keeps what it accepted.
type receiver struct {
	t      *testing.T
	secret string
	delay  time.Duration

	mu        sync.Mutex
	got       []webhook.Payload
	ids       []string
	bad       []string
	arrived   chan struct{}
	listener  net.Listener
	server    *http.Server
	addr      string
	serveDone chan struct{}
}

func newReceiver(t *testing.T, secret string) *receiver {
	r := &receiver{t: t, secret: secret, arrived: make(chan struct{}, 1000)}
	r.server = &http.Server{Handler: r, ReadHeaderTimeout: 5 * time.Second}
	t.Cleanup(r.stop)
	return r
}

// start listens on addr ("127.0.0.1:0" for any port) and serves.
func (r *receiver) start(addr string) {
	r.t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		r.t.Fatalf("receiver listen: %v", err)
	}
	r.listener, r.addr = l, l.Addr().String()
	r.serveDone = make(chan struct{})
	go func() { defer close(r.serveDone); _ = r.server.Serve(l) }()
}

func (r *receiver) stop() {
	if r.serveDone != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.server.Shutdown(ctx)
		<-r.serveDone
		r.serveDone = nil
	}
}

func (r *receiver) url() string { return "http://" + r.addr + "/hook" }

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	if r.delay > 0 {
		time.Sleep(r.delay)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := webhook.Verify(r.secret, req.Header.Get(webhook.SignatureHeader), body, time.Now(), 5*time.Minute); err != nil {
		r.bad = append(r.bad, err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var p webhook.Payload
	if err := json.Unmarshal(body, &p); err != nil {
		r.bad = append(r.bad, "body: "+err.Error())
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if req.Header.Get(webhook.DeliveryHeader) != p.Entry.ID || req.Header.Get(webhook.EventHeader) != p.Entry.Event {
		r.bad = append(r.bad, "headers do not match the body")
	}
	r.got = append(r.got, p)
	r.ids = append(r.ids, p.Entry.ID)
	r.arrived <- struct{}{}
}

func (r *receiver) deliveries() ([]webhook.Payload, []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]webhook.Payload(nil), r.got...), append([]string(nil), r.bad...)
}

func (r *receiver) waitFor(t *testing.T, n int) {
	t.Helper()
	timeout := time.After(deadline)
	for {
		if got, _ := r.deliveries(); len(got) >= n {
			return
		}
		select {
		case <-r.arrived:
		case <-timeout:
			got, bad := r.deliveries()
			t.Fatalf("receiver got %d deliveries within %v, want %d (refused: %v)", len(got), deadline, n, bad)
		}
	}
}

// instance is one gate's share of the machinery: its store, tracker and dispatcher.
type instance struct {
	tr *state.Tracker
	d  *webhook.Dispatcher
	m  *metrics.Metrics
}

func startInstance(t *testing.T, store state.Store, o webhook.Options) *instance {
	t.Helper()
	reg := prometheus.NewRegistry()
	m := metrics.New(reg)
	tr := state.NewTracker(store, state.State{}, time.Hour, logger(t))
	o.Store, o.Metrics, o.Log = store, m, logger(t)
	if o.Poll == 0 {
		o.Poll = 100 * time.Millisecond
	}
	d, err := webhook.New(o)
	if err != nil {
		t.Fatal(err)
	}
	tr.OnChange(func(_, _ state.State) { d.Nudge() })
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { tr.Run(ctx) })
	wg.Go(func() { d.Run(ctx) })
	t.Cleanup(func() {
		cancel()
		wg.Wait()
		store.Close()
	})
	<-tr.Ready()
	// The dispatcher starts after the newest entry it finds; let it find it before changes.
	time.Sleep(3 * o.Poll)
	return &instance{tr: tr, d: d, m: m}
}

// closedAddr is a free port left closed: connections to it are refused until someone listens.
func closedAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// waitUntil polls cond until it holds, failing the test after deadline.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("%s: not within %v", what, deadline)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestTwoInstancesOnRedisDeliverOnce(t *testing.T) {
	t.Parallel()
	addr, _, _ := statetest.StartRedis(t)
	rcv := newReceiver(t, secret)
	rcv.start("127.0.0.1:0")
	url := "redis://" + addr + "/0?key=once"
	hooks := []webhook.Hook{{URL: rcv.url(), Secret: secret, Format: "json"}}
	var insts []*instance
	for range 2 {
		s, err := state.Open(url, logger(t))
		if err != nil {
			t.Fatal(err)
		}
		insts = append(insts, startInstance(t, s, webhook.Options{Hooks: hooks}))
	}
	e, err := insts[0].tr.Change(t.Context(), state.State{On: true, Message: "upgrade"}, state.Origin{Who: "alice", Via: state.ViaCLI})
	if err != nil {
		t.Fatal(err)
	}
	rcv.waitFor(t, 1)
	// Both instances read the history ten times a second; give a duplicate ample time to come.
	time.Sleep(2 * time.Second)
	got, bad := rcv.deliveries()
	if len(got) != 1 || len(bad) != 0 {
		t.Fatalf("deliveries: got %d (refused %v), want exactly 1", len(got), bad)
	}
	if got[0].Entry.ID != e.ID || got[0].Entry.Event != state.EventOn || got[0].Entry.Message != "upgrade" || got[0].Entry.Who != "alice" || got[0].Type != "maintpage.change" {
		t.Errorf("delivery: got %+v, want the entry %+v", got[0], e)
	}
	var delivered float64
	for _, in := range insts {
		delivered += testutil.ToFloat64(in.m.WebhookDeliveries.WithLabelValues("delivered"))
	}
	// (Counted long before: the two seconds above passed after the receiver answered.)
	if delivered != 1 {
		t.Errorf("delivered counted by the two instances: %v, want 1", delivered)
	}
}

func TestReceiverDownThenUp(t *testing.T) {
	t.Parallel()
	addr := closedAddr(t)
	rcv := newReceiver(t, secret)
	rcv.addr = addr
	in := startInstance(t, state.NewMemory(), webhook.Options{
		Hooks:      []webhook.Hook{{URL: rcv.url(), Secret: secret, Format: "json"}},
		BackoffMin: 50 * time.Millisecond, BackoffMax: 400 * time.Millisecond, RetryFor: time.Minute,
	})
	if _, err := in.tr.Change(t.Context(), state.State{On: true}, state.Origin{Who: "bob", Via: state.ViaAPI}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "three failed attempts", func() bool { return testutil.ToFloat64(in.m.WebhookRetries) >= 3 })
	if got, _ := rcv.deliveries(); len(got) != 0 {
		t.Fatalf("delivered while the receiver was down: %d", len(got))
	}
	rcv.start(addr)
	rcv.waitFor(t, 1)
	// The receiver has answered; the dispatcher counts once it has read the answer.
	waitUntil(t, "delivered counted", func() bool { return testutil.ToFloat64(in.m.WebhookDeliveries.WithLabelValues("delivered")) == 1 })
	if n := testutil.ToFloat64(in.m.WebhookDeliveries.WithLabelValues("failed")); n != 0 {
		t.Errorf("failed: got %v, want 0", n)
	}
}

func TestGivesUpAfterRetryFor(t *testing.T) {
	t.Parallel()
	in := startInstance(t, state.NewMemory(), webhook.Options{
		Hooks:      []webhook.Hook{{URL: "http://" + closedAddr(t) + "/", Secret: secret, Format: "json"}},
		BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond, RetryFor: 500 * time.Millisecond,
	})
	start := time.Now()
	if _, err := in.tr.Change(t.Context(), state.State{On: true}, state.Origin{Via: state.ViaAPI}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the delivery given up", func() bool { return testutil.ToFloat64(in.m.WebhookDeliveries.WithLabelValues("failed")) == 1 })
	if took := time.Since(start); took < 400*time.Millisecond {
		t.Errorf("given up after %v, before retrying for 500ms", took)
	}
	if n := testutil.ToFloat64(in.m.WebhookRetries); n < 2 {
		t.Errorf("retries before giving up: %v, want several", n)
	}
	if q := in.d.Queued(); q != 0 {
		t.Errorf("queued after giving up: %d, want 0", q)
	}
}

func TestRefusedIsNotRetried(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, "another secret, so every signature is refused")
	rcv.start("127.0.0.1:0")
	in := startInstance(t, state.NewMemory(), webhook.Options{
		Hooks:      []webhook.Hook{{URL: rcv.url(), Secret: secret, Format: "json"}},
		BackoffMin: 20 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
	})
	if _, err := in.tr.Change(t.Context(), state.State{On: true}, state.Origin{Via: state.ViaAPI}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the refusal counted", func() bool { return testutil.ToFloat64(in.m.WebhookDeliveries.WithLabelValues("failed")) == 1 })
	if _, bad := rcv.deliveries(); len(bad) != 1 {
		t.Errorf("attempts refused by the receiver: %d (%v), want 1: a 400 is final", len(bad), bad)
	}
}

func TestEventsFilter(t *testing.T) {
	t.Parallel()
	rcv := newReceiver(t, secret)
	rcv.start("127.0.0.1:0")
	in := startInstance(t, state.NewMemory(), webhook.Options{
		Hooks: []webhook.Hook{{URL: rcv.url(), Secret: secret, Format: "json", Events: []string{state.EventOff}}},
	})
	for _, on := range []bool{true, false} {
		if _, err := in.tr.Change(t.Context(), state.State{On: on}, state.Origin{Via: state.ViaAPI}); err != nil {
			t.Fatal(err)
		}
	}
	rcv.waitFor(t, 1)
	time.Sleep(500 * time.Millisecond)
	got, _ := rcv.deliveries()
	if len(got) != 1 || got[0].Entry.Event != state.EventOff {
		t.Errorf("deliveries: got %+v, want only the off", got)
	}
}

// A dead receiver (connections hang, as behind a firewall that drops packets) fills the queue
// and no more: changes keep their speed, the rest are dropped and counted. The numbers are logged
// for the documentation (go test -run TestDeadReceiverQueue -v ./internal/webhook/).
func TestDeadReceiverQueue(t *testing.T) {
	t.Parallel()
	// A listener that never accepts: the kernel completes a few handshakes into the backlog,
	// then the client's requests wait for an answer that never comes.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	const queue, changes = 100, 1000
	hc := &http.Client{Timeout: 5 * time.Second}
	in := startInstance(t, state.NewMemory(), webhook.Options{
		Hooks: []webhook.Hook{{URL: "http://" + l.Addr().String() + "/", Secret: secret, Format: "json"}},
		Queue: queue, RetryFor: time.Hour, Client: hc, Poll: 50 * time.Millisecond,
	})
	var before goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&before)
	goroutines := goruntime.NumGoroutine()
	var worst, total time.Duration
	for i := range changes {
		start := time.Now()
		if _, err := in.tr.Change(t.Context(), state.State{On: i%2 == 0, Message: strconv.Itoa(i)}, state.Origin{Via: state.ViaAPI}); err != nil {
			t.Fatal(err)
		}
		d := time.Since(start)
		total += d
		worst = max(worst, d)
		if i%100 == 99 {
			time.Sleep(60 * time.Millisecond) // let the dispatcher read between bursts
		}
	}
	dropped := func() float64 { return testutil.ToFloat64(in.m.WebhookDeliveries.WithLabelValues("dropped")) }
	waitUntil(t, "every change queued or dropped", func() bool { return in.d.Queued()+int(dropped()) >= changes })
	if q := in.d.Queued(); q != queue {
		t.Errorf("queued: got %d, want the queue's size %d", q, queue)
	}
	if g := testutil.ToFloat64(in.m.WebhookQueue); g != queue {
		t.Errorf("queue gauge: got %v, want %d", g, queue)
	}
	if d := dropped(); d != changes-queue {
		t.Errorf("dropped: got %v, want %d", d, changes-queue)
	}
	// A change that waited for the receiver would take the client's 5s timeout; anything well
	// below shows it did not (generous, for -race on two busy cores).
	if worst > 3*time.Second {
		t.Errorf("the slowest change took %v with a dead receiver, want well under the 5s an attempt takes", worst)
	}
	var after goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&after)
	t.Logf("dead receiver, %d changes, queue %d: queued %d, dropped %v, change mean %v, worst %v; %d more goroutines, heap %+d KiB",
		changes, queue, in.d.Queued(), dropped(), (total / changes).Round(time.Microsecond), worst.Round(time.Microsecond),
		goruntime.NumGoroutine()-goroutines, (int64(after.HeapAlloc)-int64(before.HeapAlloc))/1024)
}

func TestSignatureMatchesPython(t *testing.T) {
	t.Parallel()
	py, err := exec.LookPath("python3")
	if err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatalf("python3 not found, and CI=true forbids skipping: %v", err)
		}
		t.Skipf("python3 not found (%v)", err)
	}
	body, _ := webhook.Body("json", state.Entry{ID: "1-0", Event: state.EventOn, On: true, Message: "ünïcode & <b>", Who: "a", Via: "cli"})
	now := time.Now()
	header := webhook.Sign(secret, now, body)
	// The receiver in docs/operating.md, run by Python's own hmac: the outside reference.
	script, err := os.ReadFile("testdata/verify.py")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, secret, header string
		body                 []byte
		want                 string
	}{
		{"good", secret, header, body, "ok"},
		{"tampered body", secret, header, append([]byte(nil), append(body[:len(body)-1:len(body)-1], ' ', '}')...), "bad signature"},
		{"wrong secret", secret + "x", header, body, "bad signature"},
		{"old timestamp", secret, webhook.Sign(secret, now.Add(-10*time.Minute), body), body, "too old"},
	} {
		cmd := exec.Command(py, "-c", string(script), c.secret, c.header)
		cmd.Stdin = strings.NewReader(string(c.body))
		out, err := cmd.CombinedOutput()
		if err != nil && c.want == "ok" {
			t.Fatalf("%s: python: %v: %s", c.name, err, out)
		}
		if got := strings.TrimSpace(string(out)); got != c.want {
			t.Errorf("%s: python says %q, want %q", c.name, got, c.want)
		}
		goErr := webhook.Verify(c.secret, c.header, c.body, time.Now(), 5*time.Minute)
		if (goErr == nil) != (c.want == "ok") {
			t.Errorf("%s: Verify: %v, python: %s", c.name, goErr, c.want)
		}
	}
}

func TestSlackText(t *testing.T) {
	t.Parallel()
	until := time.Date(2030, 5, 6, 18, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name string
		e    state.Entry
		want string
	}{
		{"on", state.Entry{Event: state.EventOn, On: true, Scope: "api", Message: "DB upgrade", Until: until, Who: "alice@laptop", Token: "ops", Via: "api", Reason: "migration"},
			"*:construction: Maintenance is on* (scope api)\nMessage: DB upgrade\nUntil: 2030-05-06T18:00:00Z\nBy: alice@laptop (token ops) via api\nWhy: migration"},
		{"off", state.Entry{Event: state.EventOff, Who: "ops", Token: "ops", Via: "page"},
			"*:white_check_mark: Maintenance is off* (whole site)\nBy: ops via page"},
		{"escaped", state.Entry{Event: state.EventOn, On: true, Message: "<!channel> & <https://evil|click>", Who: "w", Via: "cli"},
			"*:construction: Maintenance is on* (whole site)\nMessage: &lt;!channel&gt; &amp; &lt;https://evil|click&gt;\nBy: w via cli"},
	} {
		if got := webhook.SlackText(c.e); got != c.want {
			t.Errorf("%s:\ngot  %q\nwant %q", c.name, got, c.want)
		}
	}
	b, err := webhook.Body("slack", state.Entry{Event: state.EventOff, Who: "x", Via: "cli"})
	if err != nil {
		t.Fatal(err)
	}
	var msg map[string]any
	if err := json.Unmarshal(b, &msg); err != nil || len(msg) != 1 || msg["text"] == nil {
		t.Errorf("slack body %s: want one field, text", b)
	}
}

func ExampleVerify() {
	body := []byte(`{"type":"maintpage.change"}`)
	header := webhook.Sign("0123456789abcdef", time.Now(), body)
	fmt.Println(webhook.Verify("0123456789abcdef", header, body, time.Now(), 5*time.Minute))
	// Output: <nil>
}
