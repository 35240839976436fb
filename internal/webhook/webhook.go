package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maintpage/maintpage/internal/metrics"
	"github.com/maintpage/maintpage/internal/state"
)

// Hook is one receiver.
type Hook struct {
	URL    string
	Secret string   // signs each delivery; empty sends no signature (allowed for slack only)
	Format string   // json or slack
	Events []string // empty: every event
}

// wants reports whether h receives event.
func (h Hook) wants(event string) bool { return len(h.Events) == 0 || slices.Contains(h.Events, event) }

// id names a hook in claims. It is derived from the URL and format, not the hook's position, so
// instances agree on it even when their configurations list the hooks in another order.
func (h Hook) id() string {
	sum := sha256.Sum256([]byte(h.Format + " " + h.URL))
	return hex.EncodeToString(sum[:8])
}

// logName names a hook in logs without its path or query, which may be the secret (Slack's are).
func (h Hook) logName() string {
	u, err := url.Parse(h.URL)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Scheme + "://" + u.Host
}

// Options configure a Dispatcher.
type Options struct {
	// Store holds the history the dispatcher follows and the claims it makes.
	Store   state.Store
	Hooks   []Hook
	Log     *slog.Logger
	Metrics *metrics.Metrics // nil: not counted
	// Client sends the deliveries; nil builds one with timeouts that never follows redirects.
	Client *http.Client
	// Queue bounds the deliveries waiting or being retried; more are dropped (default 100).
	Queue int
	// RetryFor bounds how long one delivery is retried (default 10m).
	RetryFor time.Duration
	// BackoffMin and BackoffMax bound the wait between attempts (defaults 1s and 1m); each wait
	// is drawn at random up to twice the one before ("full jitter"), so instances and receivers
	// that failed together do not retry together.
	BackoffMin, BackoffMax time.Duration
	// Poll is how often the history is read when nothing nudges (default 1s).
	Poll time.Duration
	// ClaimTTL is how long a claim is kept in the store (default 24h): longer than any delivery.
	ClaimTTL time.Duration
	// UserAgent is sent with every delivery.
	UserAgent string
}

// Dispatcher follows the history and delivers its entries.
type Dispatcher struct {
	o       Options
	log     *slog.Logger
	client  *http.Client
	hooks   atomic.Pointer[[]Hook]
	nudge   chan struct{}
	pending chan struct{} // a slot per delivery waiting or being retried
	wg      sync.WaitGroup
	queued  atomic.Int64
}

// New returns a dispatcher; Run starts it.
func New(o Options) (*Dispatcher, error) {
	if o.Store == nil {
		return nil, errors.New("webhook: no store")
	}
	if o.Queue <= 0 {
		o.Queue = 100
	}
	if o.RetryFor <= 0 {
		o.RetryFor = 10 * time.Minute
	}
	if o.BackoffMin <= 0 {
		o.BackoffMin = time.Second
	}
	if o.BackoffMax < o.BackoffMin {
		o.BackoffMax = max(time.Minute, o.BackoffMin)
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.ClaimTTL <= 0 {
		o.ClaimTTL = 24 * time.Hour
	}
	if o.UserAgent == "" {
		o.UserAgent = "maintpage-webhook"
	}
	d := &Dispatcher{o: o, log: o.Log, client: o.Client, nudge: make(chan struct{}, 1), pending: make(chan struct{}, o.Queue)}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.client == nil {
		d.client = &http.Client{
			Timeout: 10 * time.Second,
			Transport: &http.Transport{
				Proxy:                 http.ProxyFromEnvironment,
				DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
				TLSHandshakeTimeout:   5 * time.Second,
				ResponseHeaderTimeout: 10 * time.Second,
				MaxIdleConnsPerHost:   4,
				IdleConnTimeout:       60 * time.Second,
			},
			// A redirect would re-send the delivery somewhere the configuration does not name.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	d.SetHooks(o.Hooks)
	return d, nil
}

// SetHooks replaces the receivers, as a reload does. Deliveries already queued go to the hooks
// they were queued for.
func (d *Dispatcher) SetHooks(hooks []Hook) {
	hs := slices.Clone(hooks)
	d.hooks.Store(&hs)
	d.Nudge()
}

// Nudge makes the dispatcher read the history soon instead of at the next poll; the tracker calls
// it on every change it sees. It never blocks.
func (d *Dispatcher) Nudge() {
	select {
	case d.nudge <- struct{}{}:
	default:
	}
}

// Queued is the number of deliveries waiting or being retried.
func (d *Dispatcher) Queued() int { return int(d.queued.Load()) }

// nudgeDelay leaves time for the entry of a change to be written: the state is saved, and the
// watchers nudged, a moment before the history is appended to.
const nudgeDelay = 200 * time.Millisecond

// readTimeout bounds one read of the history or one claim.
const readTimeout = 5 * time.Second

// Run follows the history until ctx ends, then waits for the deliveries in flight to stop (their
// attempts are cancelled). Entries appended before Run first reads the history are not delivered:
// a restarted instance does not announce old changes again.
func (d *Dispatcher) Run(ctx context.Context) {
	defer d.wg.Wait()
	var last string
	started := false
	timer := time.NewTimer(0)
	defer timer.Stop()
	due := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.nudge:
			// Sooner, never later: a stream of nudges must not keep postponing the read.
			if next := time.Now().Add(nudgeDelay); next.Before(due) {
				timer.Reset(nudgeDelay)
				due = next
			}
			continue
		case <-timer.C:
		}
		timer.Reset(d.o.Poll)
		due = time.Now().Add(d.o.Poll)
		if len(*d.hooks.Load()) == 0 {
			started = false // when hooks come back, start from what is new then
			continue
		}
		if !started {
			id, err := d.newest(ctx)
			if err != nil {
				d.log.Debug("webhooks: cannot read the history yet", "error", err)
				continue
			}
			last, started = id, true
			continue
		}
		last = d.step(ctx, last)
	}
}

// newest returns the ID of the newest entry, or "" for an empty history.
func (d *Dispatcher) newest(ctx context.Context) (string, error) {
	rctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	es, err := d.o.Store.History(rctx, state.HistoryQuery{Limit: 1})
	if err != nil || len(es) == 0 {
		return "", err
	}
	return es[0].ID, nil
}

// step reads the entries after last, claims and queues their deliveries, and returns the ID of the
// last entry it dealt with. A failing claim stops the step there, to be tried again next time.
func (d *Dispatcher) step(ctx context.Context, last string) string {
	rctx, cancel := context.WithTimeout(ctx, readTimeout)
	q := state.HistoryQuery{After: last}
	if last == "" {
		q = state.HistoryQuery{}
	}
	entries, err := d.o.Store.History(rctx, q)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			d.log.Debug("webhooks: reading the history failed; trying again", "error", err)
		}
		return last
	}
	hooks := *d.hooks.Load()
	for _, e := range entries {
		for _, h := range hooks {
			if !h.wants(e.Event) {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, readTimeout)
			won, err := d.o.Store.Claim(cctx, "webhook:"+h.id()+":"+e.ID, d.o.ClaimTTL)
			cancel()
			if err != nil {
				if ctx.Err() == nil {
					d.log.Warn("webhooks: claiming a delivery failed; trying again", "entry", e.ID, "error", err)
				}
				// The hooks of this entry claimed before the failure are queued already; a
				// second claim of theirs fails, so going over the entry again is safe.
				return last
			}
			if won {
				d.enqueue(ctx, h, e)
			}
		}
		last = e.ID
	}
	return last
}

func (d *Dispatcher) count(result string) {
	if d.o.Metrics != nil {
		d.o.Metrics.WebhookDeliveries.WithLabelValues(result).Inc()
	}
}

func (d *Dispatcher) setQueued(delta int64) {
	n := d.queued.Add(delta)
	if d.o.Metrics != nil {
		d.o.Metrics.WebhookQueue.Set(float64(n))
	}
}

// enqueue starts the delivery if the queue has room, and drops it otherwise: waiting for room
// would hold up the deliveries behind it, and the request path never waits here at all.
func (d *Dispatcher) enqueue(ctx context.Context, h Hook, e state.Entry) {
	select {
	case d.pending <- struct{}{}:
	default:
		d.count("dropped")
		d.log.Error("webhook delivery dropped: the queue is full (raise webhook_queue, or fix the receivers that fail)",
			"webhook", h.logName(), "entry", e.ID, "event", e.Event, "queue", d.o.Queue)
		return
	}
	d.setQueued(1)
	d.wg.Go(func() {
		defer func() {
			<-d.pending
			d.setQueued(-1)
		}()
		d.deliver(ctx, h, e)
	})
}

// deliver sends one entry to one hook, retrying until it succeeds, the receiver refuses it for
// good, RetryFor has passed, or ctx ends.
func (d *Dispatcher) deliver(ctx context.Context, h Hook, e state.Entry) {
	body, err := Body(h.Format, e)
	if err != nil {
		d.count("failed")
		d.log.Error("webhook delivery failed: the body could not be built", "webhook", h.logName(), "entry", e.ID, "error", err)
		return
	}
	deadline := time.Now().Add(d.o.RetryFor)
	wait := d.o.BackoffMin
	for attempt := 1; ; attempt++ {
		retry, err := d.attempt(ctx, h, e, body)
		if err == nil {
			d.count("delivered")
			d.log.Info("webhook delivered", "webhook", h.logName(), "entry", e.ID, "event", e.Event, "attempts", attempt)
			return
		}
		if ctx.Err() != nil {
			d.log.Warn("webhook delivery abandoned: shutting down", "webhook", h.logName(), "entry", e.ID, "attempts", attempt)
			return
		}
		// Full jitter: anywhere from nothing up to the current step, which doubles each time.
		sleep := time.Duration(rand.Int64N(int64(wait))) + time.Millisecond
		if !retry || time.Now().Add(sleep).After(deadline) {
			d.count("failed")
			why := "gave up after retrying for " + d.o.RetryFor.String()
			if !retry {
				why = "the receiver refused it"
			}
			d.log.Error("webhook delivery failed: "+why, "webhook", h.logName(), "entry", e.ID, "event", e.Event, "attempts", attempt, "error", err)
			return
		}
		if d.o.Metrics != nil {
			d.o.Metrics.WebhookRetries.Inc()
		}
		d.log.Warn("webhook attempt failed; retrying", "webhook", h.logName(), "entry", e.ID, "attempt", attempt, "retry_in", sleep.Round(time.Millisecond), "error", err)
		select {
		case <-ctx.Done():
			d.log.Warn("webhook delivery abandoned: shutting down", "webhook", h.logName(), "entry", e.ID, "attempts", attempt)
			return
		case <-time.After(sleep):
		}
		wait = min(2*wait, d.o.BackoffMax)
	}
}

// attempt posts once; retry says whether a failure may pass (a network error, 5xx, 408, 429) or
// is the receiver's final word (any other status).
func (d *Dispatcher) attempt(ctx context.Context, h Hook, e state.Entry, body []byte) (retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.URL, bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", d.o.UserAgent)
	req.Header.Set(EventHeader, e.Event)
	req.Header.Set(DeliveryHeader, e.ID)
	if h.Secret != "" {
		req.Header.Set(SignatureHeader, Sign(h.Secret, time.Now(), body))
	}
	resp, err := d.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, which may be the secret
		}
		return true, err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) //nolint:errcheck // drained for reuse only
	resp.Body.Close()
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return false, nil
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests:
		return true, fmt.Errorf("the receiver answered %d", resp.StatusCode)
	default:
		return false, fmt.Errorf("the receiver answered %d", resp.StatusCode)
	}
}

// The headers of a delivery.
const (
	// SignatureHeader carries "t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with
	// the secret>", Stripe's scheme: the timestamp is signed with the body, so a receiver that
	// refuses old timestamps also refuses replays.
	SignatureHeader = "Maintpage-Signature"
	// EventHeader is the entry's event (on, off, …), to route without parsing the body.
	EventHeader = "Maintpage-Event"
	// DeliveryHeader is the history entry's ID: the same on every retry of one delivery, so a
	// receiver can drop a duplicate.
	DeliveryHeader = "Maintpage-Delivery"
)

// Sign returns the signature header's value for body sent at t.
func Sign(secret string, t time.Time, body []byte) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	return "t=" + ts + ",v1=" + mac(secret, ts, body)
}

func mac(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte("."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Verify checks a signature header the way a receiver should: the HMAC compared in constant time,
// and the timestamp no further than tolerance from now. It is what the documentation's examples
// do, and what the tests' receiver runs.
func Verify(secret, header string, body []byte, now time.Time, tolerance time.Duration) error {
	var ts string
	var sigs []string
	for _, part := range strings.Split(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			ts = v
		case "v1":
			sigs = append(sigs, v)
		}
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || len(sigs) == 0 {
		return errors.New("malformed signature header: want t=<unix seconds>,v1=<hex>")
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("timestamp %s is more than %v from now", ts, tolerance)
	}
	want := mac(secret, ts, body)
	for _, s := range sigs {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return errors.New("signature does not match")
}

// Payload is the body of a json delivery: the history entry, under a type that says what it is.
type Payload struct {
	Type  string      `json:"type"` // "maintpage.change"
	Entry state.Entry `json:"entry"`
}

// Body returns what a hook of format receives for e.
func Body(format string, e state.Entry) ([]byte, error) {
	if format == "slack" {
		return json.Marshal(struct {
			Text string `json:"text"`
		}{SlackText(e)})
	}
	return json.Marshal(Payload{Type: "maintpage.change", Entry: e})
}

// slackEscape escapes the three characters Slack's message formatting gives a meaning to
// (https://api.slack.com/reference/surfaces/formatting#escaping), so a message cannot mention
// @channel or make a link.
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

var slackTitles = map[string]string{
	state.EventOn:          ":construction: Maintenance is on",
	state.EventScheduled:   ":calendar: Maintenance is scheduled",
	state.EventOff:         ":white_check_mark: Maintenance is off",
	state.EventChanged:     ":pencil2: Maintenance changed",
	state.EventWindowStart: ":construction: A maintenance window started",
	state.EventWindowEnd:   ":white_check_mark: A maintenance window ended",
	state.EventRepaired:    ":wrench: The maintenance state was written back after a store outage",
}

// SlackText is the text of a Slack incoming-webhook message for e: the state, scope, message,
// until, who and why, one per line.
func SlackText(e state.Entry) string {
	title, ok := slackTitles[e.Event]
	if !ok {
		title = "Maintenance: " + e.Event
	}
	var b strings.Builder
	b.WriteString("*" + title + "*")
	if e.Scope != "" {
		b.WriteString(" (scope " + slackEscape.Replace(e.Scope) + ")")
	} else {
		b.WriteString(" (whole site)")
	}
	line := func(k, v string) {
		if v != "" {
			b.WriteString("\n" + k + ": " + slackEscape.Replace(v))
		}
	}
	if e.On {
		line("Message", e.Message)
		if !e.Start.IsZero() {
			line("Starts", e.Start.UTC().Format(time.RFC3339))
		}
		if !e.Until.IsZero() {
			line("Until", e.Until.UTC().Format(time.RFC3339))
		}
	}
	who := e.Who
	if e.Token != "" && e.Token != e.Who {
		who += " (token " + e.Token + ")"
	}
	line("By", who+" via "+e.Via)
	line("Why", e.Reason)
	return b.String()
}
