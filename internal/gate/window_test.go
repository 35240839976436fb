package gate

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/maintpage/maintpage/internal/state"
)

// TestWindowOpensAndClosesWithTheClock moves a test clock through a nightly window and checks the
// gate's answers, Retry-After (to the window's end), the status endpoint's next window and the
// page's "Next maintenance".
func TestWindowOpensAndClosesWithTheClock(t *testing.T) {
	t.Parallel()
	up := newEcho(t)
	f := newFixtureYAML(t, `windows:
  - name: nightly
    cron: "0 3 * * *"
    duration: 30m
    message: Nightly backup
`, map[string]string{"upstream": up.URL}, nil)
	day := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }

	f.clock.Set(at(2, 59))
	if w := f.do("GET", "/", "", nil); w.Code != 200 {
		t.Fatalf("before the window: got %d, want 200 from the upstream", w.Code)
	}
	var st struct {
		Maintenance bool
		NextWindow  struct{ Start, End time.Time } `json:"next_window"`
	}
	if err := json.Unmarshal(f.do("GET", "/_maintenance/status", "", nil).Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if st.Maintenance || !st.NextWindow.Start.Equal(at(3, 0)) || !st.NextWindow.End.Equal(at(3, 30)) {
		t.Errorf("status before the window: %+v; want off, next window 03:00–03:30", st)
	}

	f.clock.Set(at(3, 0))
	w := f.do("GET", "/", "", problem)
	if w.Code != 503 || w.Header().Get("Retry-After") != "1800" || !strings.Contains(w.Body.String(), "Nightly backup") {
		t.Errorf("at the window's start: got %d, Retry-After %q, %s; want 503, 1800, the window's message", w.Code, w.Header().Get("Retry-After"), w.Body.String())
	}
	if strings.Contains(w.Body.String(), "next_maintenance") {
		t.Errorf("inside the window the page shows the next one: %s", w.Body.String())
	}
	f.clock.Set(at(3, 20))
	if w := f.do("GET", "/", "", problem); w.Code != 503 || w.Header().Get("Retry-After") != "600" {
		t.Errorf("20 minutes in: got %d, Retry-After %q; want 503, 600 (to the window's end)", w.Code, w.Header().Get("Retry-After"))
	}
	f.clock.Set(at(3, 30))
	if w := f.do("GET", "/", "", nil); w.Code != 200 {
		t.Errorf("at the window's end: got %d, want 200", w.Code)
	}

	// Maintenance turned on by hand during tomorrow's window outlives it, and the page shows
	// nothing about the next window while one is open.
	f.clock.Set(at(27, 10))
	f.set(t, state.State{On: true, Message: "By hand"})
	f.clock.Set(at(27, 40))
	w = f.do("GET", "/", "", problem)
	if w.Code != 503 || !strings.Contains(w.Body.String(), "By hand") {
		t.Errorf("after the window, with maintenance on by hand: got %d %s; want 503 with the hand's message", w.Code, w.Body.String())
	}
	if !strings.Contains(w.Body.String(), `"next_maintenance":"2030-01-03T03:00:00Z"`) {
		t.Errorf("outside a window the page names the next one: %s", w.Body.String())
	}
}

// TestWindowOnADSTDay runs the gate through the night Berlin's clocks spring forward, with a window
// whose start (02:30) does not exist that night: it opens at the change, 03:00 CEST, for its hour.
func TestWindowOnADSTDay(t *testing.T) {
	t.Parallel()
	up := newEcho(t)
	f := newFixtureYAML(t, `windows:
  - {cron: "30 2 * * *", duration: 1h, time_zone: Europe/Berlin}
`, map[string]string{"upstream": up.URL}, nil)
	for _, tc := range []struct {
		utc  string
		want int
	}{
		{"2026-03-28T01:29:59Z", 200}, // Saturday 02:29:59 CET
		{"2026-03-28T01:30:00Z", 503}, // Saturday 02:30 CET
		{"2026-03-28T02:30:00Z", 200}, // Saturday 03:30 CET: closed
		{"2026-03-29T00:59:59Z", 200}, // Sunday 01:59:59 CET, the last second before the change
		{"2026-03-29T01:00:00Z", 503}, // Sunday 03:00 CEST: 02:30 never shows, the window opens now
		{"2026-03-29T01:59:59Z", 503},
		{"2026-03-29T02:00:00Z", 200}, // an hour later
		{"2026-03-30T00:30:00Z", 503}, // Monday 02:30 CEST
	} {
		now, _ := time.Parse(time.RFC3339, tc.utc)
		f.clock.Set(now)
		if w := f.do("GET", "/", "", nil); w.Code != tc.want {
			t.Errorf("at %s: got %d, want %d", tc.utc, w.Code, tc.want)
		}
	}
}

func TestScopedWindow(t *testing.T) {
	t.Parallel()
	up := newEcho(t)
	f := newFixtureYAML(t, scopesYAML+`windows:
  - {cron: "0 3 * * *", duration: 30m, scope: checkout}
`, map[string]string{"upstream": up.URL}, nil)
	f.clock.Set(time.Date(2030, 1, 1, 3, 5, 0, 0, time.UTC))
	if got := f.do("GET", "/checkout", "", nil).Code; got != 503 {
		t.Errorf("checkout in its window: got %d, want 503", got)
	}
	if got := f.do("GET", "/", "", nil).Code; got != 200 {
		t.Errorf("the rest during the checkout window: got %d, want 200", got)
	}
}
