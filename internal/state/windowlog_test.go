package state_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/maintpage/maintpage/internal/schedule"
	"github.com/maintpage/maintpage/internal/state"
)

// Two instances on one store see a window open and close; the history says each once. The clock
// is moved so that a minute boundary (the window's cron fires every minute) is a second away.
func TestWindowLogRecordsOnceAcrossInstances(t *testing.T) {
	t.Parallel()
	real := time.Now()
	off := real.Truncate(time.Minute).Add(time.Minute).Add(-time.Second).Sub(real)
	now := func() time.Time { return time.Now().Add(off) }
	w, err := schedule.New(schedule.Spec{Name: "nightly", Cron: "* * * * *", Duration: "2s", Scope: "api", Message: "Nightly", Reason: "backups"}, now())
	if err != nil {
		t.Fatal(err)
	}
	store := state.NewMemory()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		l := state.NewWindowLog(store, testLogger(t), now)
		l.SetWindows([]*schedule.Window{w})
		wg.Go(func() { l.Run(ctx) })
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	var h []state.Entry
	eventually(t, "the window's start and end in the history", func() bool {
		h, _ = store.History(t.Context(), state.HistoryQuery{})
		return len(h) >= 2
	})
	time.Sleep(500 * time.Millisecond) // room for a duplicate to show
	h, _ = store.History(t.Context(), state.HistoryQuery{})
	if len(h) != 2 {
		t.Fatalf("history: %d entries, want 2 (start and end, once each): %+v", len(h), h)
	}
	start, end := h[0], h[1]
	if start.Event != state.EventWindowStart || start.Who != "window nightly" || start.Via != state.ViaWindow || start.Scope != "api" ||
		!start.On || start.Message != "Nightly" || start.Reason != "backups" || start.Until.Sub(start.Start) != 2*time.Second {
		t.Errorf("start: %+v", start)
	}
	if end.Event != state.EventWindowEnd || end.Who != "window nightly" || end.On || !end.Time.Equal(start.Until) {
		t.Errorf("end: %+v", end)
	}
}
