package statetest

import (
	"context"
	"testing"
	"time"

	"github.com/maintpage/maintpage/internal/state"
)

// MemoryTracker runs a tracker over a fresh memory store until the test ends, and returns it once
// it has read the store: what a test of the admin API or page, or of serve's wiring, stands on.
func MemoryTracker(t *testing.T) *state.Tracker {
	t.Helper()
	tr := state.NewTracker(state.NewMemory(), state.State{}, time.Hour, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	<-tr.Ready()
	return tr
}
