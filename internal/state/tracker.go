package state

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Health is what a Tracker knows about its store, for metrics and the
// status endpoint.
type Health struct {
	// OK is true while the last read of the store succeeded.
	OK bool
	// LastError is the error of the last failed read, kept after recovery
	// so that an operator can still see what went wrong.
	LastError string
	// LastOK is when the store last answered a read or delivered a change;
	// zero if it never has.
	LastOK time.Time
}

const (
	// DefaultRepairInterval is used when NewTracker is given no interval.
	DefaultRepairInterval = 5 * time.Second
	// readTimeout bounds one read of the store, so a hanging store delays
	// the next attempt instead of stopping them.
	readTimeout = 3 * time.Second
	// outageRetry caps the wait between reads while the store is down, so
	// recovery does not wait for a long repair interval.
	outageRetry = time.Second
	// Watch restarts back off between these bounds when it keeps failing.
	watchRetryMin = 500 * time.Millisecond
	watchRetryMax = 10 * time.Second
)

// Tracker keeps the last known state of a Store in memory. The request path
// reads it with Current, which never waits on the store; Run keeps it up to
// date from the store's notifications and a periodic read, and keeps the last
// known state while the store is unreachable.
type Tracker struct {
	store  Store
	repair time.Duration
	log    *slog.Logger

	cur       atomic.Pointer[State]
	ready     chan struct{}
	readyOnce sync.Once

	mu sync.Mutex // guards gen and hooks, and orders changes and hook calls
	// gen counts states applied from Set and Watch. A read started before
	// such a state arrived may return something older, so it is dropped.
	gen   uint64
	hooks []func(old, new State)
	// stored is set once a state saved in the store has been read or set here.
	stored bool

	// hmu is separate from mu so that a hook may read Health.
	hmu    sync.Mutex
	health Health
}

// NewTracker returns a tracker over store that reports startup until the
// store has been read, and keeps reporting it if the store cannot be read at
// start. repair is the interval of the read that catches changes whose
// notification was lost; zero or less means DefaultRepairInterval. A nil log
// discards.
func NewTracker(store Store, startup State, repair time.Duration, log *slog.Logger) *Tracker {
	if repair <= 0 {
		repair = DefaultRepairInterval
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	t := &Tracker{store: store, repair: repair, log: log, ready: make(chan struct{})}
	t.cur.Store(&startup)
	return t
}

// Current returns the last known state. It is safe to call from any number
// of goroutines and costs one atomic load: it is meant for every request.
func (t *Tracker) Current() State {
	return *t.cur.Load()
}

// Snapshot returns the current state without copying it. The pointer changes whenever the state
// does and what it points to is never modified, so comparing pointers tells whether the state
// changed — the gate's per-request check. Callers must not modify it.
func (t *Tracker) Snapshot() *State {
	return t.cur.Load()
}

// Ready is closed once Run has made its first read of the store, successful
// or not, so a server can wait for it before taking traffic and not serve the
// startup state for the few milliseconds the first read takes.
func (t *Tracker) Ready() <-chan struct{} {
	return t.ready
}

// Health returns what the tracker knows about its store.
func (t *Tracker) Health() Health {
	t.hmu.Lock()
	defer t.hmu.Unlock()
	return t.health
}

// OnChange registers fn to be called with the previous and the new state
// each time the current state changes. Calls happen one at a time, in order,
// with the tracker's lock held: fn must be quick and must not call Set or
// OnChange (Current and Health are fine).
func (t *Tracker) OnChange(fn func(old, new State)) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.hooks = append(t.hooks, fn)
}

// Set replaces the whole state with s, as Change does, recording the change as made through the
// admin API by s.ChangedBy. To change one scope, or anything that must keep what others wrote, use
// ChangeScope or Update.
func (t *Tracker) Set(ctx context.Context, s State) error {
	_, err := t.Change(ctx, s, Origin{Via: ViaAPI})
	return err
}

// Change saves s through the store, replacing the whole state, makes it current here at once
// without waiting for the store's notification, and records the change of the whole site's switch,
// made by o, in the store's history. A zero ChangedAt is set to now. If the save fails, nothing
// changes and the error says why. A history that cannot be written does not undo a change that is
// already live: it is logged, and the returned entry has no ID.
func (t *Tracker) Change(ctx context.Context, s State, o Origin) (Entry, error) {
	if s.ChangedAt.IsZero() {
		s.ChangedAt = time.Now().UTC().Round(0)
	}
	old := t.Current()
	if _, err := t.write(ctx, func() (State, error) { return s, t.store.Save(ctx, s) }); err != nil {
		return Entry{}, err
	}
	o.Scope = ""
	return t.record(ctx, old.Global(), s.Global(), o), nil
}

// ChangeScope switches scope ("" the whole site) to sc as one step (Store.Update, so a change of
// another scope made meanwhile is kept), makes the result current here at once, and records the
// change, made by o, in the history. A zero ChangedAt is set to now. check, when not nil, sees the
// stored state first and may refuse the change (an unknown scope); its error is returned wrapped,
// with nothing changed.
func (t *Tracker) ChangeScope(ctx context.Context, scope string, sc Scope, o Origin, check func(State) error) (Entry, error) {
	if sc.ChangedAt.IsZero() {
		sc.ChangedAt = time.Now().UTC().Round(0)
	}
	var old Scope
	_, err := t.Update(ctx, func(cur State) (State, error) {
		if check != nil {
			if err := check(cur); err != nil {
				return State{}, err
			}
		}
		old = cur.Switch(scope)
		return cur.WithScope(scope, sc), nil
	})
	if err != nil {
		return Entry{}, err
	}
	o.Scope = scope
	return t.record(ctx, old, sc, o), nil
}

// record appends the change from old to new to the history, logging a failure.
func (t *Tracker) record(ctx context.Context, old, new Scope, o Origin) Entry {
	e, err := Record(ctx, t.store, old, new, o)
	if err != nil {
		t.log.Error("the change is live but could not be recorded in the history", "error", err, "scope", o.Scope, "on", new.On)
		return NewEntry(old, new, o, new.ChangedAt)
	}
	return e
}

// Update changes the stored state with fn as one step (Store.Update) and makes the result current
// here at once. fn may run more than once and must only compute the new state from the one it is
// given. An error from fn is returned wrapped (errors.Is and errors.As find it), with nothing changed.
// Update records nothing in the history: it is for what is not a change of a switch (Publish).
func (t *Tracker) Update(ctx context.Context, fn func(State) (State, error)) (State, error) {
	return t.write(ctx, func() (State, error) { return t.store.Update(ctx, fn) })
}

// Publish stores what this instance's configuration knows (its scopes and windows) in the state,
// unless the state already holds exactly that, so that the CLI can check a scope and show the next
// window with nothing but the store's URL.
func (t *Tracker) Publish(ctx context.Context, k Known) error {
	cur := t.Current()
	if cur.Known.equal(&k) || (cur.Known == nil && len(k.Scopes) == 0 && len(k.Windows) == 0) {
		return nil // nothing new; and a store that never saw scopes or windows is left as it was
	}
	_, err := t.Update(ctx, func(s State) (State, error) {
		s.Known = &k
		return s, nil
	})
	return err
}

// write runs save and, if it succeeds, applies the saved state.
func (t *Tracker) write(ctx context.Context, save func() (State, error)) (State, error) {
	t.mu.Lock()
	g := t.gen
	t.mu.Unlock()
	s, err := save()
	if err != nil {
		return State{}, fmt.Errorf("save maintenance state: %w", err)
	}
	t.mu.Lock()
	if t.gen == g {
		t.gen++
		t.applyLocked(s, "set")
		t.mu.Unlock()
		return s, nil
	}
	t.mu.Unlock()
	// A notification arrived while we were saving. It may be our own save
	// or one that came after it, so neither ours nor theirs is known to be
	// the newest: ask the store, which is.
	t.read(ctx, "set")
	return s, nil
}

// History reads the store's history.
func (t *Tracker) History(ctx context.Context, q HistoryQuery) ([]Entry, error) {
	return t.store.History(ctx, q)
}

// Store is the store the tracker follows, for the parts that share it (webhooks claim in it).
func (t *Tracker) Store() Store { return t.store }

// Run keeps the current state up to date until ctx ends: it watches the
// store, reads it once at start and then every repair interval (more often
// while the store is down), and restarts the watch when it fails. It returns
// when ctx ends, after the goroutines it started have finished. Call it once.
func (t *Tracker) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	// Watching before the first read means no change can slip between them.
	wg.Go(func() { t.watch(ctx) })

	t.read(ctx, "start")
	t.readyOnce.Do(func() { close(t.ready) })
	if h := t.Health(); !h.OK && ctx.Err() == nil {
		t.log.Warn("state store unreachable at start; serving the startup state until it answers",
			"error", h.LastError, "on", t.Current().On)
	}

	timer := time.NewTimer(t.nextRead())
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
			t.read(ctx, "repair")
			timer.Reset(t.nextRead())
		}
	}
}

func (t *Tracker) nextRead() time.Duration {
	if !t.Health().OK {
		return min(t.repair, outageRetry)
	}
	return t.repair
}

// read loads the state and applies it unless a newer one arrived meanwhile.
func (t *Tracker) read(ctx context.Context, why string) {
	t.mu.Lock()
	g := t.gen
	t.mu.Unlock()

	rctx, cancel := context.WithTimeout(ctx, readTimeout)
	s, err := t.store.Load(rctx)
	cancel()
	if ctx.Err() != nil {
		return // shutting down: the failure says nothing about the store
	}

	t.mu.Lock()
	if err != nil {
		t.fail(err)
		t.mu.Unlock()
		return
	}
	t.ok()
	if t.gen != g {
		t.mu.Unlock()
		return
	}
	lost := t.lostLocked(s)
	if !lost {
		t.applyLocked(s, why)
	}
	t.mu.Unlock()
	if lost {
		t.restore(ctx)
	}
}

// lostLocked reports whether s is the empty state of a store that lost what it held — a Redis
// restarted without persistence, a deleted file — while this tracker has seen a state saved in it.
// Every save sets ChangedAt, so a saved state is never all zero; the startup state does not count.
func (t *Tracker) lostLocked(s State) bool {
	return s.Equal(State{}) && t.stored
}

// restore writes the last known state back to a store that lost it, instead of letting the loss
// silently end (or start) maintenance on every instance.
func (t *Tracker) restore(ctx context.Context) {
	cur := t.Current()
	t.log.Warn("the state store came back empty (it lost its data); writing the last known state back",
		"on", cur.On, "changed_by", cur.ChangedBy, "changed_at", cur.ChangedAt)
	sctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	// Only into an empty store: a state someone saved since the read must win over ours.
	saved, err := t.store.SaveIfEmpty(sctx, cur)
	if err != nil && ctx.Err() == nil {
		t.log.Warn("writing the last known state back failed; keeping it here and trying again at the next read", "error", err)
	}
	if !saved {
		return
	}
	// Only the instance whose write went in records it, so the history says it once.
	host, _ := os.Hostname()
	if _, err := Record(sctx, t.store, Scope{}, cur.Global(), Origin{Who: "instance " + host, Via: ViaRepair, Addr: host, Event: EventRepaired}); err != nil {
		t.log.Warn("the state was written back but could not be recorded in the history", "error", err)
	}
}

func (t *Tracker) watch(ctx context.Context) {
	wait := watchRetryMin
	for {
		started := time.Now()
		err := t.store.Watch(ctx, t.watched)
		if ctx.Err() != nil {
			return
		}
		if time.Since(started) > watchRetryMax {
			wait = watchRetryMin // it worked for a while; this is a new problem
		}
		t.log.Warn("watching the state store failed; the periodic read still runs",
			"error", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, watchRetryMax)
	}
}

func (t *Tracker) watched(s State) {
	t.mu.Lock()
	t.gen++
	t.ok()
	lost := t.lostLocked(s)
	if !lost {
		t.applyLocked(s, "watch")
	}
	t.mu.Unlock()
	if lost {
		t.restore(context.Background())
	}
}

func (t *Tracker) fail(err error) {
	t.hmu.Lock()
	defer t.hmu.Unlock()
	wasOK := t.health.OK
	t.health.OK = false
	t.health.LastError = err.Error()
	if wasOK {
		t.log.Warn("state store unreachable; keeping the last known state",
			"error", err, "on", t.Current().On, "last_ok", t.health.LastOK)
	} else {
		t.log.Debug("state store still unreachable", "error", err)
	}
}

func (t *Tracker) ok() {
	t.hmu.Lock()
	defer t.hmu.Unlock()
	now := time.Now()
	if !t.health.OK && !t.health.LastOK.IsZero() {
		t.log.Info("state store reachable again", "since_last_ok", now.Sub(t.health.LastOK).Round(time.Millisecond))
	}
	t.health.OK = true
	t.health.LastOK = now
}

func (t *Tracker) applyLocked(s State, source string) {
	t.stored = t.stored || !s.Equal(State{})
	old := *t.cur.Load()
	if old.Equal(s) {
		return
	}
	t.cur.Store(&s)
	attrs := []any{"source", source, "on", s.On, "changed_by", s.ChangedBy, "reason", s.Reason}
	if !s.Start.IsZero() {
		attrs = append(attrs, "start", s.Start)
	}
	if !s.Until.IsZero() {
		attrs = append(attrs, "until", s.Until)
	}
	t.log.Info("maintenance state changed", attrs...)
	for _, fn := range t.hooks {
		fn(old, s)
	}
}
