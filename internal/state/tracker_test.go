package state_test

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/maintpage/maintpage/internal/state"
	"github.com/maintpage/maintpage/internal/state/statetest"
)

// runTracker runs a tracker until the test ends and checks that Run then
// returns, which is what "no goroutine left behind" means for its caller.
func runTracker(t *testing.T, store state.Store, startup state.State, repair time.Duration) *state.Tracker {
	t.Helper()
	tr := state.NewTracker(store, startup, repair, testLogger(t))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		tr.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(deadline):
			t.Errorf("Run did not return within %v of its context ending", deadline)
		}
	})
	return tr
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("%s: not within %v", what, deadline)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func on(msg string) state.State {
	return state.State{On: true, Message: msg, ChangedAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func TestTrackerSetAppliesAtOnce(t *testing.T) {
	t.Parallel()
	store := openT(t, "memory")
	tr := runTracker(t, store, state.State{}, time.Hour)
	<-tr.Ready()

	var mu sync.Mutex
	var changes []string
	tr.OnChange(func(old, new state.State) {
		_, _ = tr.Current(), tr.Health() // documented as safe inside a hook
		mu.Lock()
		defer mu.Unlock()
		changes = append(changes, fmt.Sprintf("%v→%v", old.On, new.On))
	})
	want := on("now")
	if err := tr.Set(t.Context(), want); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if got := tr.Current(); !got.Equal(want) {
		t.Errorf("Current right after Set: got %+v, want %+v", got, want)
	}
	stored, err := store.Load(t.Context())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if !stored.Equal(want) {
		t.Errorf("stored after Set: got %+v, want %+v", stored, want)
	}
	if err := tr.Set(t.Context(), want); err != nil { // no change: no hook call
		t.Fatalf("second Set: %v", err)
	}
	if err := tr.Set(t.Context(), state.State{}); err != nil {
		t.Fatalf("third Set: %v", err)
	}
	mu.Lock()
	got := strings.Join(changes, " ")
	mu.Unlock()
	if want := "false→true true→false"; got != want {
		t.Errorf("OnChange calls: got %q, want %q", got, want)
	}
}

func TestTrackerSetFillsChangedAt(t *testing.T) {
	t.Parallel()
	tr := state.NewTracker(openT(t, "memory"), state.State{}, time.Hour, testLogger(t))
	before := time.Now()
	if err := tr.Set(t.Context(), state.State{On: true}); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if got := tr.Current().ChangedAt; got.Before(before.Add(-time.Second)) || got.After(time.Now().Add(time.Second)) {
		t.Errorf("ChangedAt after Set with none: got %v, want about %v", got, before)
	}
}

func TestTrackerSetFailureChangesNothing(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "missing", "state.json")
	startup := on("startup")
	tr := state.NewTracker(openT(t, "file:"+path), startup, time.Hour, testLogger(t))
	err := tr.Set(t.Context(), state.State{})
	if err == nil || !strings.Contains(err.Error(), "save maintenance state") {
		t.Fatalf("Set into a missing directory: got %v, want a save error", err)
	}
	if got := tr.Current(); !got.Equal(startup) {
		t.Errorf("Current after a failed Set: got %+v, want %+v", got, startup)
	}
}

func TestTrackerCurrentDoesNotAllocate(t *testing.T) {
	tr := state.NewTracker(state.NewMemory(), on("x"), time.Hour, testLogger(t))
	var sink bool
	if n := testing.AllocsPerRun(1000, func() { sink = tr.Current().On }); n != 0 {
		t.Errorf("Current: got %v allocations, want 0", n)
	}
	_ = sink
}

func TestTrackerFileCorruptKeepsLastState(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.json")
	store := openT(t, "file:"+path)
	want := on("before the corruption")
	if err := store.Save(t.Context(), want); err != nil {
		t.Fatalf("Save: %v", err)
	}
	tr := runTracker(t, store, state.State{}, 50*time.Millisecond)
	eventually(t, "tracker reads the file", func() bool { return tr.Current().Equal(want) })

	write(t, path, "{not json")
	eventually(t, "health goes not OK", func() bool { return !tr.Health().OK })
	h := tr.Health()
	if !strings.Contains(h.LastError, path) || !strings.Contains(h.LastError, "decode state") {
		t.Errorf("Health.LastError: got %q, want it to name the file and the decode problem", h.LastError)
	}
	if got := tr.Current(); !got.Equal(want) {
		t.Errorf("Current with a corrupt file: got %+v, want the last state %+v", got, want)
	}

	fixed := on("after the fix")
	write(t, path, mustEncode(t, fixed))
	eventually(t, "tracker recovers", func() bool { return tr.Health().OK && tr.Current().Equal(fixed) })
}

func TestTrackerFileSeesOtherProcess(t *testing.T) {
	t.Parallel()
	url := "file:" + filepath.Join(t.TempDir(), "state.json")
	// A long repair interval, so only the watch can explain the change.
	tr := runTracker(t, openT(t, url), state.State{}, time.Hour)
	<-tr.Ready()
	other := openT(t, url)
	want := on("from another process")
	if err := other.Save(t.Context(), want); err != nil {
		t.Fatalf("Save: %v", err)
	}
	eventually(t, "tracker sees the other writer", func() bool { return tr.Current().Equal(want) })
}

func mustEncode(t *testing.T, s state.State) string {
	t.Helper()
	b, err := state.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func redisURL(addr, key string) string {
	return fmt.Sprintf("redis://%s/0?key=%s", addr, key)
}

func TestTrackerRedisOutage(t *testing.T) {
	t.Parallel()
	addr, stop, restart := statetest.StartRedis(t)
	url := redisURL(addr, "outage")
	tr := runTracker(t, openT(t, url), state.State{}, 200*time.Millisecond)
	<-tr.Ready()
	if h := tr.Health(); !h.OK {
		t.Fatalf("Health with Redis up: got %+v, want OK", h)
	}
	want := on("during the outage")
	if err := tr.Set(t.Context(), want); err != nil {
		t.Fatalf("Set: %v", err)
	}

	stop()
	eventually(t, "health goes not OK", func() bool { return !tr.Health().OK })
	h := tr.Health()
	if h.LastError == "" || h.LastOK.IsZero() {
		t.Errorf("Health during the outage: got %+v, want an error and the time of the last good read", h)
	}
	// Several failed reads later, the last known state must still be served.
	time.Sleep(500 * time.Millisecond)
	if got := tr.Current(); !got.Equal(want) {
		t.Errorf("Current during the outage: got %+v, want the last known %+v", got, want)
	}
	if err := tr.Set(t.Context(), state.State{}); err == nil {
		t.Errorf("Set during the outage: got no error, want one")
	}
	if got := tr.Current(); !got.Equal(want) {
		t.Errorf("Current after a failed Set: got %+v, want %+v", got, want)
	}

	// The restarted server is empty (no persistence); a state saved while
	// the tracker is still away must reach it without help.
	restart()
	saved := on("saved while the tracker was away")
	other := openT(t, url)
	if err := other.Save(t.Context(), saved); err != nil {
		t.Fatalf("Save after restart: %v", err)
	}
	eventually(t, "tracker recovers and picks up the new state", func() bool {
		return tr.Health().OK && tr.Current().Equal(saved)
	})
}

func TestTrackerRedisResubscribes(t *testing.T) {
	t.Parallel()
	addr, stop, restart := statetest.StartRedis(t)
	url := redisURL(addr, "resubscribe")
	// An hour between repair reads: after the restart only the watch,
	// resubscribed by go-redis, can bring the change.
	tr := runTracker(t, openT(t, url), state.State{}, time.Hour)
	<-tr.Ready()
	stop()
	restart()
	other := openT(t, url)
	want := on("published after the restart")
	eventually(t, "a published change reaches the tracker after a restart", func() bool {
		// Save again on each poll: a message published before go-redis has
		// resubscribed is lost, which is what this test is not about.
		if err := other.Save(t.Context(), want); err != nil {
			return false
		}
		time.Sleep(100 * time.Millisecond)
		return tr.Current().Equal(want)
	})
}

func TestTrackerRedisDownAtStart(t *testing.T) {
	t.Parallel()
	addr, stop, restart := statetest.StartRedis(t)
	stop()
	url := redisURL(addr, "down-at-start")
	startup := on("startup state: store unreachable")
	tr := runTracker(t, openT(t, url), startup, 200*time.Millisecond)
	select {
	case <-tr.Ready():
	case <-time.After(deadline):
		t.Fatalf("Ready not closed within %v with Redis down", deadline)
	}
	if got := tr.Current(); !got.Equal(startup) {
		t.Errorf("Current with Redis down at start: got %+v, want the startup state %+v", got, startup)
	}
	if h := tr.Health(); h.OK || h.LastError == "" || !h.LastOK.IsZero() {
		t.Errorf("Health with Redis down at start: got %+v, want not OK, an error, no LastOK", h)
	}

	restart()
	// An empty store means maintenance off: once Redis answers, that wins
	// over the startup state, which only stands in for an unknown state.
	eventually(t, "tracker reads Redis once it is up", func() bool {
		return tr.Health().OK && tr.Current().Equal(state.State{})
	})
}

// A notification can be lost (a publish during a reconnect, a writer that
// sets the key without publishing); the periodic read must repair it.
func TestTrackerRedisRepairsMissedMessage(t *testing.T) {
	t.Parallel()
	addr, _, _ := statetest.StartRedis(t)
	const key = "missed"
	tr := runTracker(t, openT(t, redisURL(addr, key)), state.State{}, 200*time.Millisecond)
	<-tr.Ready()
	raw := redis.NewClient(&redis.Options{Addr: addr})
	defer raw.Close()
	want := on("set without a publish")
	if err := raw.Set(t.Context(), key, mustEncode(t, want), 0).Err(); err != nil {
		t.Fatalf("raw SET: %v", err)
	}
	eventually(t, "repair read picks up the unpublished change", func() bool { return tr.Current().Equal(want) })
}

func TestTrackerRedisCorruptKeepsLastState(t *testing.T) {
	t.Parallel()
	addr, _, _ := statetest.StartRedis(t)
	const key = "corrupt"
	store := openT(t, redisURL(addr, key))
	tr := runTracker(t, store, state.State{}, 100*time.Millisecond)
	want := on("good")
	if err := tr.Set(t.Context(), want); err != nil {
		t.Fatalf("Set: %v", err)
	}
	raw := redis.NewClient(&redis.Options{Addr: addr})
	defer raw.Close()
	if err := raw.Set(t.Context(), key, "garbage", 0).Err(); err != nil {
		t.Fatalf("raw SET: %v", err)
	}
	if err := raw.Publish(t.Context(), key, "garbage").Err(); err != nil {
		t.Fatalf("raw PUBLISH: %v", err)
	}
	eventually(t, "health goes not OK", func() bool { return !tr.Health().OK })
	if h := tr.Health(); !strings.Contains(h.LastError, "redis key corrupt") {
		t.Errorf("Health.LastError: got %q, want it to name the key", h.LastError)
	}
	if got := tr.Current(); !got.Equal(want) {
		t.Errorf("Current with a corrupt key: got %+v, want %+v", got, want)
	}
}

// Two instances on one Redis must see each other's changes within a second
// through pub/sub. The repair interval is an hour so that only pub/sub can
// explain the propagation; the assertion allows a few seconds so that a busy
// machine does not fail the test, and the measured latency is logged.
func TestTrackerRedisPropagation(t *testing.T) {
	t.Parallel()
	addr, _, _ := statetest.StartRedis(t)
	url := redisURL(addr, "propagation")
	a := runTracker(t, openT(t, url), state.State{}, time.Hour)
	b := runTracker(t, openT(t, url), state.State{}, time.Hour)
	<-a.Ready()
	<-b.Ready()
	// Ready means read, not subscribed; wait until both watches deliver.
	warm := on("warm-up")
	eventually(t, "both trackers subscribed", func() bool {
		if err := a.Set(t.Context(), warm); err != nil {
			return false
		}
		time.Sleep(20 * time.Millisecond)
		return b.Current().Equal(warm)
	})

	const rounds = 40
	var lat []time.Duration
	for i := range rounds {
		from, to := a, b
		if i%2 == 1 {
			from, to = b, a
		}
		want := on(fmt.Sprintf("round %d", i))
		start := time.Now()
		if err := from.Set(t.Context(), want); err != nil {
			t.Fatalf("Set round %d: %v", i, err)
		}
		for !to.Current().Equal(want) {
			if time.Since(start) > 3*time.Second {
				t.Fatalf("round %d: change not seen by the other tracker within 3s", i)
			}
			time.Sleep(50 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("propagation between two trackers over %d rounds (Set to seen): median %v, p90 %v, max %v",
		rounds, lat[rounds/2], lat[rounds*9/10], slices.Max(lat))
}

func TestTrackerRunReturnsWithStoreDown(t *testing.T) {
	t.Parallel()
	addr, stop, _ := statetest.StartRedis(t)
	stop()
	tr := state.NewTracker(openT(t, redisURL(addr, "x")), state.State{}, 50*time.Millisecond, testLogger(t))
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	done := make(chan struct{})
	go func() { tr.Run(ctx); close(done) }()
	select {
	case <-done:
	case <-time.After(deadline):
		t.Fatalf("Run did not return within %v of its context ending", deadline)
	}
}

// Not parallel: it counts the process's goroutines, which only means
// something while no other test runs.
func TestTrackerLeavesNoGoroutine(t *testing.T) {
	addr, _, _ := statetest.StartRedis(t)
	for name, url := range map[string]string{
		"memory": "memory",
		"file":   "file:" + filepath.Join(t.TempDir(), "state.json"),
		"redis":  redisURL(addr, "goroutines"),
	} {
		t.Run(name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			store, err := state.Open(url, testLogger(t))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			tr := state.NewTracker(store, state.State{}, 20*time.Millisecond, testLogger(t))
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { tr.Run(ctx); close(done) }()
			<-tr.Ready()
			if err := tr.Set(t.Context(), on("x")); err != nil {
				t.Fatalf("Set: %v", err)
			}
			time.Sleep(100 * time.Millisecond) // a few repair reads
			cancel()
			<-done
			if err := store.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			// Libraries end their goroutines shortly after Close, not during.
			var n int
			end := time.Now().Add(deadline)
			for n = runtime.NumGoroutine(); n > before && time.Now().Before(end); n = runtime.NumGoroutine() {
				time.Sleep(20 * time.Millisecond)
			}
			if n > before {
				buf := make([]byte, 1<<16)
				t.Errorf("goroutines after Run returned and the store closed: got %d, want at most %d\n%s",
					n, before, buf[:runtime.Stack(buf, true)])
			}
		})
	}
}

// A Redis restarted without persistence comes back empty. The trackers must neither follow that
// to "off" nor leave it: the last known state is written back, for every instance to see.
func TestTrackerRestoresAStoreThatLostItsState(t *testing.T) {
	t.Parallel()
	addr, stop, restart := statetest.StartRedis(t)
	url := redisURL(addr, "lost")
	tr := runTracker(t, openT(t, url), state.State{}, 200*time.Millisecond)
	<-tr.Ready()
	want := on("through a Redis restart")
	if err := tr.Set(t.Context(), want); err != nil {
		t.Fatalf("Set: %v", err)
	}
	stop()
	eventually(t, "health goes not OK", func() bool { return !tr.Health().OK })
	restart()
	other := openT(t, url)
	eventually(t, "the state is back in the store", func() bool {
		got, err := other.Load(t.Context())
		return err == nil && got.Equal(want)
	})
	if got := tr.Current(); !got.Equal(want) {
		t.Errorf("Current after the store came back empty: got %+v, want %+v", got, want)
	}
	// The restarted Redis lost the history too; what it holds now is the repair, once.
	eventually(t, "the repair is in the history", func() bool {
		h, err := other.History(t.Context(), state.HistoryQuery{})
		return err == nil && len(h) == 1 && h[0].Event == state.EventRepaired && h[0].Via == state.ViaRepair && h[0].On && h[0].Message == want.Message
	})
}

// A state saved by someone else while the store was empty wins over the one the tracker restores.
func TestTrackerRestoreDoesNotOverwriteANewerState(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	url := "file:" + filepath.Join(dir, "state.json")
	store := openT(t, url)
	tr := runTracker(t, store, state.State{}, time.Hour)
	<-tr.Ready()
	if err := tr.Set(t.Context(), on("old")); err != nil {
		t.Fatal(err)
	}
	newer := on("newer, saved by another instance")
	if saved, err := store.SaveIfEmpty(t.Context(), newer); err != nil || saved {
		t.Fatalf("SaveIfEmpty over a stored state: %v, %v; want false, nil", saved, err)
	}
	if err := openT(t, url).Save(t.Context(), newer); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the tracker follows the newer state", func() bool { return tr.Current().Equal(newer) })
}

func TestTrackerSnapshotChangesOnlyWithTheState(t *testing.T) {
	t.Parallel()
	tr := runTracker(t, state.NewMemory(), state.State{}, time.Hour)
	<-tr.Ready()
	before := tr.Snapshot()
	if tr.Snapshot() != before {
		t.Fatal("Snapshot changed without a change of state")
	}
	if err := tr.Set(t.Context(), on("snapshot")); err != nil {
		t.Fatal(err)
	}
	after := tr.Snapshot()
	if after == before || !after.Equal(on("snapshot")) {
		t.Errorf("after Set: Snapshot %p (%+v), before %p; want a new pointer to the new state", after, *after, before)
	}
}
