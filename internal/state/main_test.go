package state_test

import (
	"log/slog"
	"os"
	"testing"

	"github.com/maintpage/maintpage/internal/state"
)

func TestMain(m *testing.M) {
	// go-redis logs every failed dial during the outage tests; the
	// trackers' own logs (per test, shown on failure) say what matters.
	state.RouteRedisLogs(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}
