package gate

import (
	"strings"
	"testing"

	"github.com/maintpage/maintpage/internal/state"
)

// Without an upstream the gate is the standalone page: always in maintenance, with the state's
// message and end while the state is on, and the configured ones otherwise.
func TestStandalonePageFollowsTheStatesText(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{"message": "Configured message"}, nil)
	text := map[string]string{"Accept": "text/plain"}
	if w := f.do("GET", "/", "", text); w.Code != 503 || !strings.Contains(w.Body.String(), "Configured message") {
		t.Errorf("state off: got %d %q, want 503 with the configured message", w.Code, w.Body.String())
	}
	until := f.clock.Now().Add(30 * 60e9)
	f.set(t, state.State{On: true, Message: "From maintpage on", Until: until})
	w := f.do("GET", "/", "", text)
	if w.Code != 503 || !strings.Contains(w.Body.String(), "From maintpage on") || w.Header().Get("Retry-After") != "1800" {
		t.Errorf("state on: got %d %q Retry-After %q, want 503 with the state's message and 1800", w.Code, w.Body.String(), w.Header().Get("Retry-After"))
	}
	f.set(t, state.State{On: false})
	if w := f.do("GET", "/", "", text); w.Code != 503 || !strings.Contains(w.Body.String(), "Configured message") {
		t.Errorf("state off again: got %d %q, want 503 with the configured message", w.Code, w.Body.String())
	}
}
