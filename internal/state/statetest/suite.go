package statetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/maintpage/maintpage/internal/schedule"
	"github.com/maintpage/maintpage/internal/state"
)

// waitFor bounds every wait in the suite. It is generous on purpose: the
// suite checks behaviour, not speed, and must not flake on a loaded CI box.
const waitFor = 5 * time.Second

// Backing creates one fresh, empty backing (a file path, a Redis key) for
// the test t, and returns a function that opens a Store on it. Each call of
// that function opens another instance on the same backing, the way another
// process would; a store that has no such notion (memory) returns the same
// instance every time. Run closes what it opens.
type Backing func(t *testing.T) (open func() state.Store)

// Run runs the conformance suite against the stores that newBacking opens.
func Run(t *testing.T, newBacking Backing) {
	open := func(t *testing.T) func() state.Store {
		t.Helper()
		o := newBacking(t)
		return func() state.Store {
			s := o()
			t.Cleanup(func() { _ = s.Close() }) // may be closed already
			return s
		}
	}

	runHistory(t, open)

	t.Run("EmptyIsZero", func(t *testing.T) {
		t.Parallel()
		s := open(t)()
		got, err := s.Load(t.Context())
		if err != nil {
			t.Fatalf("Load on an empty store: got error %v, want nil", err)
		}
		if !got.Equal(state.State{}) {
			t.Errorf("Load on an empty store: got %+v, want the zero State", got)
		}
	})

	t.Run("SaveIfEmpty", func(t *testing.T) {
		t.Parallel()
		o := open(t)
		a, b := o(), o()
		first := full()
		saved, err := a.SaveIfEmpty(t.Context(), first)
		if err != nil || !saved {
			t.Fatalf("SaveIfEmpty on an empty store: got %v, %v; want true, nil", saved, err)
		}
		second := full()
		second.Message = "a later state"
		saved, err = b.SaveIfEmpty(t.Context(), second)
		if err != nil || saved {
			t.Fatalf("SaveIfEmpty on a store that holds a state: got %v, %v; want false, nil", saved, err)
		}
		got, err := b.Load(t.Context())
		if err != nil || !got.Equal(first) {
			t.Errorf("Load after a refused SaveIfEmpty: got %+v, %v; want the first state %+v", got, err, first)
		}
	})

	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		s := open(t)()
		want := full()
		if err := s.Save(t.Context(), want); err != nil {
			t.Fatalf("Save: %v", err)
		}
		got, err := s.Load(t.Context())
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		diff(t, got, want)
	})

	t.Run("Overwrite", func(t *testing.T) {
		t.Parallel()
		s := open(t)()
		if err := s.Save(t.Context(), full()); err != nil {
			t.Fatalf("first Save: %v", err)
		}
		// Cleared fields must come back cleared, not merged with the old ones.
		want := state.State{On: false, ChangedBy: "second", ChangedAt: time.Date(2031, 1, 2, 3, 4, 5, 0, time.UTC)}
		if err := s.Save(t.Context(), want); err != nil {
			t.Fatalf("second Save: %v", err)
		}
		got, err := s.Load(t.Context())
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		diff(t, got, want)
	})

	t.Run("SecondInstance", func(t *testing.T) {
		t.Parallel()
		o := open(t)
		a, b := o(), o()
		want := full()
		if err := a.Save(t.Context(), want); err != nil {
			t.Fatalf("Save through the first instance: %v", err)
		}
		got, err := b.Load(t.Context())
		if err != nil {
			t.Fatalf("Load through the second instance: %v", err)
		}
		diff(t, got, want)
	})

	t.Run("ConcurrentSaves", func(t *testing.T) {
		t.Parallel()
		o := open(t)
		a, b := o(), o()
		const n = 20
		var wg sync.WaitGroup
		for i := range n {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				st := full()
				st.Message = fmt.Sprintf("writer %d", i)
				if err := s.Save(t.Context(), st); err != nil {
					t.Errorf("Save %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		// Whichever save won, the stored state must be one whole state.
		got, err := a.Load(t.Context())
		if err != nil {
			t.Fatalf("Load after concurrent saves: %v", err)
		}
		want := full()
		want.Message = got.Message
		diff(t, got, want)
	})

	t.Run("WatchSeesChange", func(t *testing.T) {
		t.Parallel()
		o := open(t)
		watched, writer := o(), o()
		seen := startWatch(t, watched)
		if first := seen.next(t); !first.Equal(state.State{}) {
			t.Fatalf("first call of fn: got %+v, want the stored (zero) State", first)
		}
		want := full()
		if err := writer.Save(t.Context(), want); err != nil {
			t.Fatalf("Save through the second instance: %v", err)
		}
		seen.until(t, want)
		// And a second change, to show the watch did not stop after one.
		want.On = false
		want.Message = "back"
		if err := writer.Save(t.Context(), want); err != nil {
			t.Fatalf("second Save: %v", err)
		}
		seen.until(t, want)
	})

	t.Run("UpdateKeepsConcurrentScopes", func(t *testing.T) {
		t.Parallel()
		o := open(t)
		a, b := o(), o()
		if err := a.Save(t.Context(), full()); err != nil {
			t.Fatalf("Save: %v", err)
		}
		// Two instances each switch their own scopes at the same time: an update that read the
		// state before another's write must not lose that write.
		const n = 10
		var wg sync.WaitGroup
		for i := range n {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Go(func() {
				name := fmt.Sprintf("scope-%d", i)
				_, err := s.Update(t.Context(), func(cur state.State) (state.State, error) {
					return cur.WithScope(name, state.Scope{On: true, Message: name}), nil
				})
				if err != nil {
					t.Errorf("Update %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		got, err := b.Load(t.Context())
		if err != nil {
			t.Fatalf("Load after concurrent updates: %v", err)
		}
		if len(got.Scopes) != n+len(full().Scopes) {
			t.Errorf("after %d concurrent updates of different scopes: got scopes %v, want all %d of them and the ones saved before", n, got.Scopes, n)
		}
		for i := range n {
			name := fmt.Sprintf("scope-%d", i)
			if sc := got.Scopes[name]; !sc.On || sc.Message != name {
				t.Errorf("scope %s: got %+v, want on with message %q", name, sc, name)
			}
		}
		if !got.Global().Equal(full().Global()) {
			t.Errorf("the whole site's switch changed under scope updates: got %+v, want %+v", got.Global(), full().Global())
		}
	})

	t.Run("UpdateErrorChangesNothing", func(t *testing.T) {
		t.Parallel()
		s := open(t)()
		want := full()
		if err := s.Save(t.Context(), want); err != nil {
			t.Fatalf("Save: %v", err)
		}
		refuse := errors.New("refused")
		_, err := s.Update(t.Context(), func(cur state.State) (state.State, error) {
			return cur.WithScope("api", state.Scope{On: true}), refuse
		})
		if !errors.Is(err, refuse) {
			t.Errorf("Update whose fn fails: got %v, want fn's error", err)
		}
		got, err := s.Load(t.Context())
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		diff(t, got, want)
	})

	t.Run("WatchSeesUpdate", func(t *testing.T) {
		t.Parallel()
		o := open(t)
		watched, writer := o(), o()
		seen := startWatch(t, watched)
		seen.next(t)
		want, err := writer.Update(t.Context(), func(cur state.State) (state.State, error) {
			return cur.WithScope("api", state.Scope{On: true, Message: "API only", Until: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}), nil
		})
		if err != nil {
			t.Fatalf("Update: %v", err)
		}
		seen.until(t, want)
	})

	t.Run("WatchReportsCurrentFirst", func(t *testing.T) {
		t.Parallel()
		s := open(t)()
		want := full()
		if err := s.Save(t.Context(), want); err != nil {
			t.Fatalf("Save: %v", err)
		}
		seen := startWatch(t, s)
		diff(t, seen.next(t), want)
	})

	t.Run("WatchReturnsOnCancel", func(t *testing.T) {
		t.Parallel()
		s := open(t)()
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.Watch(ctx, func(state.State) {}) }()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch after cancel: got %v, want nil", err)
			}
		case <-time.After(waitFor):
			t.Fatalf("Watch did not return within %v of its context ending", waitFor)
		}
	})

	t.Run("Close", func(t *testing.T) {
		t.Parallel()
		s := open(t)()
		done := make(chan error, 1)
		go func() { done <- s.Watch(context.Background(), func(state.State) {}) }()
		if err := s.Close(); err != nil {
			t.Fatalf("Close: got %v, want nil", err)
		}
		select {
		case err := <-done:
			if !errors.Is(err, state.ErrClosed) {
				t.Errorf("Watch ended by Close: got %v, want ErrClosed", err)
			}
		case <-time.After(waitFor):
			t.Fatalf("Watch did not return within %v of Close", waitFor)
		}
		if _, err := s.Load(t.Context()); !errors.Is(err, state.ErrClosed) {
			t.Errorf("Load after Close: got %v, want ErrClosed", err)
		}
		if err := s.Save(t.Context(), full()); !errors.Is(err, state.ErrClosed) {
			t.Errorf("Save after Close: got %v, want ErrClosed", err)
		}
		if err := s.Watch(t.Context(), func(state.State) {}); !errors.Is(err, state.ErrClosed) {
			t.Errorf("Watch after Close: got %v, want ErrClosed", err)
		}
		if err := s.Close(); !errors.Is(err, state.ErrClosed) {
			t.Errorf("second Close: got %v, want ErrClosed", err)
		}
	})
}

// full returns a state with every field set, with times in a zone other
// than UTC and with nanoseconds, so that a store that loses either fails.
func full() state.State {
	zone := time.FixedZone("UTC+2", 2*60*60)
	return state.State{
		On:        true,
		Message:   "Back soon: \"upgrade\" <b>&</b> ünïcode\nsecond line",
		Until:     time.Date(2030, 5, 6, 7, 8, 9, 123456789, zone),
		Start:     time.Date(2030, 5, 6, 5, 0, 0, 1, zone),
		Reason:    "database migration",
		ChangedBy: "alice@example.com",
		ChangedAt: time.Date(2030, 5, 1, 12, 0, 0, 999, time.UTC),
		Scopes: map[string]state.Scope{
			"api": {On: true, Message: "API <only>", Until: time.Date(2030, 5, 6, 9, 0, 0, 5, zone), Start: time.Date(2030, 5, 6, 8, 0, 0, 0, zone),
				Reason: "schema change", ChangedBy: "bob", ChangedAt: time.Date(2030, 5, 1, 13, 0, 0, 7, zone)},
			"checkout": {On: false, ChangedBy: "carol"},
		},
		Known: &state.Known{
			Scopes:  []string{"api", "checkout"},
			Windows: []schedule.Spec{{Name: "sunday", Cron: "0 2 * * 0", Duration: "2h", TimeZone: "Europe/Berlin", Scope: "api", Message: "weekly", Reason: "backups"}},
		},
	}
}

func diff(t *testing.T, got, want state.State) {
	t.Helper()
	if !got.Equal(want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

// watchLog collects what a Watch reports, and waits for it.
type watchLog struct {
	ch chan state.State
}

// startWatch runs s.Watch until the test ends and checks that it then
// returns, so a watch that ignores its context fails the test.
func startWatch(t *testing.T, s state.Store) *watchLog {
	t.Helper()
	w := &watchLog{ch: make(chan state.State, 100)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Watch(ctx, func(st state.State) {
			select {
			case w.ch <- st:
			case <-ctx.Done():
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Watch: got %v, want nil after its context ended", err)
			}
		case <-time.After(waitFor):
			t.Errorf("Watch did not return within %v of its context ending", waitFor)
		}
	})
	return w
}

func (w *watchLog) next(t *testing.T) state.State {
	t.Helper()
	select {
	case s := <-w.ch:
		return s
	case <-time.After(waitFor):
		t.Fatalf("Watch reported nothing within %v", waitFor)
		return state.State{}
	}
}

func (w *watchLog) until(t *testing.T, want state.State) {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case s := <-w.ch:
			if s.Equal(want) {
				return
			}
		case <-deadline:
			t.Fatalf("Watch did not report %+v within %v", want, waitFor)
		}
	}
}
