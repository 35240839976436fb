package state_test

import (
	"errors"
	"testing"
	"time"

	"github.com/maintpage/maintpage/internal/state"
)

func TestNewEntryEvent(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	onState := state.Scope{On: true, Message: "m", Until: now.Add(time.Hour), Reason: "r"}
	for _, c := range []struct {
		name     string
		old, new state.Scope
		origin   state.Origin
		want     string
	}{
		{"off to on", state.Scope{}, onState, state.Origin{}, state.EventOn},
		{"on to off", onState, state.Scope{Reason: "done"}, state.Origin{}, state.EventOff},
		{"on with another message", onState, state.Scope{On: true, Message: "other"}, state.Origin{}, state.EventChanged},
		{"off to off", state.Scope{}, state.Scope{}, state.Origin{}, state.EventChanged},
		{"a start to come", state.Scope{}, state.Scope{On: true, Start: now.Add(time.Hour)}, state.Origin{}, state.EventScheduled},
		{"a start that has passed", state.Scope{}, state.Scope{On: true, Start: now.Add(-time.Hour)}, state.Origin{}, state.EventOn},
		{"named by the origin", state.Scope{}, onState, state.Origin{Event: state.EventWindowStart}, state.EventWindowStart},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if got := state.NewEntry(c.old, c.new, c.origin, now).Event; got != c.want {
				t.Errorf("event: got %q, want %q", got, c.want)
			}
		})
	}
}

func TestNewEntryFields(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	s := state.Scope{On: true, Message: "m", Until: now.Add(time.Hour), Reason: "migration", ChangedBy: "claimed"}
	e := state.NewEntry(state.Scope{}, s, state.Origin{Via: state.ViaAPI, Token: "ops", Addr: "192.0.2.1", Scope: "api"}, now)
	if e.Who != "claimed" || e.Token != "ops" || e.Via != state.ViaAPI || e.Addr != "192.0.2.1" || e.Scope != "api" ||
		e.Message != "m" || !e.Until.Equal(s.Until) || e.Reason != "migration" || !e.Time.Equal(now) || !e.On {
		t.Errorf("entry: got %+v", e)
	}
	// Turning off keeps no message or end: they described the window that ended.
	off := state.NewEntry(s, state.Scope{Message: "left over", Until: now}, state.Origin{Who: "bob"}, now)
	if off.Message != "" || !off.Until.IsZero() || off.Who != "bob" {
		t.Errorf("off entry: got %+v", off)
	}
}

func TestTrackerChangeRecordsHistory(t *testing.T) {
	t.Parallel()
	store := state.NewMemory()
	tr := runTracker(t, store, state.State{}, time.Hour)
	<-tr.Ready()
	first, err := tr.Change(t.Context(), state.State{On: true, Message: "up"}, state.Origin{Who: "alice", Via: state.ViaCLI, Addr: "laptop"})
	if err != nil {
		t.Fatalf("Change: %v", err)
	}
	if _, err := tr.Change(t.Context(), state.State{On: false}, state.Origin{Who: "bob", Via: state.ViaPage}); err != nil {
		t.Fatalf("Change: %v", err)
	}
	h, err := tr.History(t.Context(), state.HistoryQuery{})
	if err != nil || len(h) != 2 {
		t.Fatalf("History: got %d entries, %v; want 2", len(h), err)
	}
	if h[0].ID != first.ID || h[0].Event != state.EventOn || h[0].Who != "alice" || h[0].Via != state.ViaCLI || h[0].Addr != "laptop" || h[0].Message != "up" {
		t.Errorf("first entry: got %+v", h[0])
	}
	if h[1].Event != state.EventOff || h[1].Who != "bob" || h[1].Via != state.ViaPage {
		t.Errorf("second entry: got %+v", h[1])
	}
}

func TestTrackerChangeScopeRecordsTheScope(t *testing.T) {
	t.Parallel()
	tr := runTracker(t, state.NewMemory(), state.State{}, time.Hour)
	<-tr.Ready()
	if _, err := tr.ChangeScope(t.Context(), "api", state.Scope{On: true, Message: "api down"}, state.Origin{Who: "alice", Via: state.ViaCLI}, nil); err != nil {
		t.Fatal(err)
	}
	// Another scope's switch, then the whole site off: each is one entry, about its own switch.
	if _, err := tr.ChangeScope(t.Context(), "web", state.Scope{On: true}, state.Origin{Who: "bob", Via: state.ViaPage}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := tr.ChangeScope(t.Context(), "api", state.Scope{On: false}, state.Origin{Who: "alice", Via: state.ViaCLI}, nil); err != nil {
		t.Fatal(err)
	}
	if cur := tr.Current(); cur.Scopes["api"].On || !cur.Scopes["web"].On || cur.On {
		t.Errorf("state: %+v", cur)
	}
	h, err := tr.History(t.Context(), state.HistoryQuery{Scope: "api"})
	if err != nil || len(h) != 2 {
		t.Fatalf("api's history: %d entries, %v; want 2", len(h), err)
	}
	if h[0].Event != state.EventOn || h[0].Message != "api down" || h[1].Event != state.EventOff || h[0].Scope != "api" {
		t.Errorf("api's history: %+v", h)
	}
	refused := errors.New("no")
	if _, err := tr.ChangeScope(t.Context(), "x", state.Scope{On: true}, state.Origin{}, func(state.State) error { return refused }); !errors.Is(err, refused) {
		t.Errorf("a refused change: got %v, want the check's error", err)
	}
	if all, _ := tr.History(t.Context(), state.HistoryQuery{}); len(all) != 3 {
		t.Errorf("history after a refused change: %d entries, want 3", len(all))
	}
}
