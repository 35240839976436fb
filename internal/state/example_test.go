package state_test

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/maintpage/maintpage/internal/state"
)

// A gate opens the store named by --state, tracks it for the life of the
// server, and asks the tracker on every request.
func Example() {
	log := slog.New(slog.DiscardHandler)
	store, err := state.Open("memory", log) // or "file:/var/lib/maintpage/state.json", "redis://…"
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()

	// If the store cannot be read at start, serve maintenance: safer than
	// letting traffic through to an application in an unknown state.
	startup := state.State{On: true, Message: "Maintenance status unknown"}
	tr := state.NewTracker(store, startup, 5*time.Second, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	<-tr.Ready()

	until := time.Date(2030, 1, 1, 14, 0, 0, 0, time.UTC)
	if err := tr.Set(ctx, state.State{On: true, Message: "Upgrading", Until: until, ChangedBy: "ops"}); err != nil {
		fmt.Println(err)
		return
	}
	now := time.Date(2030, 1, 1, 13, 0, 0, 0, time.UTC)
	fmt.Println(tr.Current().ActiveAt(now, false), tr.Health().OK)
	// Output: true true
}
