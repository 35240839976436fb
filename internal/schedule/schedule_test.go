package schedule

import (
	"strings"
	"testing"
	"time"
)

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

var base = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func TestNewRefusesBadSpecs(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		spec Spec
		want string
	}{
		"six fields":      {Spec{Cron: "0 0 2 * * 0", Duration: "2h"}, "expected exactly 5 fields"},
		"descriptor":      {Spec{Cron: "@weekly", Duration: "2h"}, "write five fields"},
		"zone in cron":    {Spec{Cron: "CRON_TZ=Europe/Berlin 0 2 * * 0", Duration: "2h"}, "zone in time_zone"},
		"bad minute":      {Spec{Cron: "61 2 * * 0", Duration: "2h"}, "cron \"61 2 * * 0\""},
		"no duration":     {Spec{Cron: "0 2 * * 0"}, "duration is required"},
		"bad duration":    {Spec{Cron: "0 2 * * 0", Duration: "two hours"}, "duration \"two hours\""},
		"negative":        {Spec{Cron: "0 2 * * 0", Duration: "-1h"}, "positive duration"},
		"bad zone":        {Spec{Cron: "0 2 * * 0", Duration: "2h", TimeZone: "Mars/Olympus"}, "IANA zone name"},
		"local zone":      {Spec{Cron: "0 2 * * 0", Duration: "2h", TimeZone: "Local"}, "IANA zone name"},
		"never fires":     {Spec{Cron: "0 0 30 2 *", Duration: "2h"}, "never fires"},
		"every problem":   {Spec{Cron: "x", Duration: "y", TimeZone: "z"}, "cron \"x\""},
		"all three named": {Spec{Cron: "x", Duration: "y", TimeZone: "z"}, "time_zone \"z\""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := New(tc.spec, base)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New(%+v): got %v, want an error containing %q", tc.spec, err, tc.want)
			}
		})
	}
}

func TestWeeklyWindow(t *testing.T) {
	t.Parallel()
	berlin := mustLoad(t, "Europe/Berlin")
	w, err := New(Spec{Cron: "0 2 * * 0", Duration: "2h", TimeZone: "Europe/Berlin"}, base)
	if err != nil {
		t.Fatal(err)
	}
	sunday2 := time.Date(2026, 6, 7, 2, 0, 0, 0, berlin) // a Sunday in summer time
	tests := map[string]struct {
		at        time.Time
		wantOpen  bool
		wantStart time.Time
		wantEnd   time.Time
		wantNext  time.Time
	}{
		"saturday evening":  {at: time.Date(2026, 6, 6, 23, 0, 0, 0, berlin), wantNext: sunday2},
		"one second before": {at: sunday2.Add(-time.Second), wantNext: sunday2},
		"at the start":      {at: sunday2, wantOpen: true, wantStart: sunday2, wantEnd: sunday2.Add(2 * time.Hour), wantNext: sunday2.AddDate(0, 0, 7)},
		"inside":            {at: sunday2.Add(90 * time.Minute), wantOpen: true, wantStart: sunday2, wantEnd: sunday2.Add(2 * time.Hour), wantNext: sunday2.AddDate(0, 0, 7)},
		"at the end":        {at: sunday2.Add(2 * time.Hour), wantNext: sunday2.AddDate(0, 0, 7)},
		// The same instant seen from another zone changes nothing.
		"inside, in UTC": {at: sunday2.Add(time.Hour).UTC(), wantOpen: true, wantStart: sunday2, wantEnd: sunday2.Add(2 * time.Hour), wantNext: sunday2.AddDate(0, 0, 7)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			start, end, open := w.At(tc.at)
			if open != tc.wantOpen || !start.Equal(tc.wantStart) || !end.Equal(tc.wantEnd) {
				t.Errorf("At(%v) = %v, %v, %v; want %v, %v, %v", tc.at, start, end, open, tc.wantStart, tc.wantEnd, tc.wantOpen)
			}
			if got := w.Next(tc.at); !got.Equal(tc.wantNext) {
				t.Errorf("Next(%v) = %v, want %v", tc.at, got, tc.wantNext)
			}
		})
	}
}

// TestDSTDays pins what a window does on the days the clocks change, in a zone east of UTC and one
// west of it (Go's time.Date resolves the missing and the doubled hour differently in the two).
func TestDSTDays(t *testing.T) {
	t.Parallel()
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := map[string]struct {
		spec      Spec
		from      time.Time
		wantStart time.Time // the first start after from, in UTC
		wantEnd   time.Time
	}{
		// Berlin springs forward on 2026-03-29 at 02:00 CET (01:00 UTC) to 03:00 CEST.
		"berlin, the start falls in the missing hour: opens at the change": {
			Spec{Cron: "30 2 * * *", Duration: "2h", TimeZone: "Europe/Berlin"}, utc("2026-03-28T12:00:00Z"),
			utc("2026-03-29T01:00:00Z"), utc("2026-03-29T03:00:00Z")},
		"berlin, a start after the missing hour keeps its wall time": {
			Spec{Cron: "0 4 * * 0", Duration: "1h", TimeZone: "Europe/Berlin"}, utc("2026-03-28T12:00:00Z"),
			utc("2026-03-29T02:00:00Z"), utc("2026-03-29T03:00:00Z")},
		"berlin, the night before the change is on winter time": {
			Spec{Cron: "0 2 * * *", Duration: "2h", TimeZone: "Europe/Berlin"}, utc("2026-03-27T12:00:00Z"),
			utc("2026-03-28T01:00:00Z"), utc("2026-03-28T03:00:00Z")},
		// Berlin falls back on 2026-10-25 at 03:00 CEST (01:00 UTC) to 02:00 CET: 02:30 happens twice.
		"berlin, the doubled hour: opens at the first 02:30, once": {
			Spec{Cron: "30 2 * * *", Duration: "2h", TimeZone: "Europe/Berlin"}, utc("2026-10-24T12:00:00Z"),
			utc("2026-10-25T00:30:00Z"), utc("2026-10-25T02:30:00Z")},
		"berlin, after the first 02:30 the next is the following day": {
			Spec{Cron: "30 2 * * *", Duration: "30m", TimeZone: "Europe/Berlin"}, utc("2026-10-25T01:10:00Z"),
			utc("2026-10-26T01:30:00Z"), utc("2026-10-26T02:00:00Z")},
		// New York springs forward on 2026-03-08 at 02:00 EST (07:00 UTC) to 03:00 EDT.
		"new york, the start falls in the missing hour: opens at the change": {
			Spec{Cron: "30 2 * * *", Duration: "1h", TimeZone: "America/New_York"}, utc("2026-03-07T12:00:00Z"),
			utc("2026-03-08T07:00:00Z"), utc("2026-03-08T08:00:00Z")},
		// New York falls back on 2026-11-01 at 02:00 EDT (06:00 UTC) to 01:00 EST: 01:30 happens twice.
		"new york, the doubled hour: opens at the first 01:30": {
			Spec{Cron: "30 1 * * *", Duration: "1h", TimeZone: "America/New_York"}, utc("2026-10-31T12:00:00Z"),
			utc("2026-11-01T05:30:00Z"), utc("2026-11-01T06:30:00Z")},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w, err := New(tc.spec, tc.from)
			if err != nil {
				t.Fatal(err)
			}
			start := w.Next(tc.from)
			if !start.Equal(tc.wantStart) {
				t.Fatalf("Next(%v) = %v, want %v", tc.from, start.UTC(), tc.wantStart)
			}
			s, e, open := w.At(start.Add(time.Minute))
			if !open || !s.Equal(tc.wantStart) || !e.Equal(tc.wantEnd) {
				t.Errorf("At a minute after the start = %v, %v, %v; want open from %v to %v", s.UTC(), e.UTC(), open, tc.wantStart, tc.wantEnd)
			}
			if _, _, open := w.At(tc.wantEnd); open {
				t.Errorf("At the end %v: still open", tc.wantEnd)
			}
		})
	}
}

func TestOverlappingOccurrencesMakeOneWindow(t *testing.T) {
	t.Parallel()
	w, err := New(Spec{Cron: "0 * * * *", Duration: "90m"}, base)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 5, 5, 10, 10, 0, 0, time.UTC)
	start, end, open := w.At(at)
	// Every hour for 90 minutes never closes; the end is as far as At followed it, well ahead.
	if !open || start.After(at) || !end.After(at.Add(24*time.Hour)) {
		t.Errorf("At = %v, %v, %v; want open, started by %v, ending more than a day later", start, end, open, at)
	}
}

func FuzzNew(f *testing.F) {
	f.Add("0 2 * * 0", "2h", "Europe/Berlin")
	f.Add("*/5 * * * *", "1m", "")
	f.Add("0 0 29 2 *", "24h", "America/New_York")
	f.Fuzz(func(t *testing.T, cron, dur, zone string) {
		w, err := New(Spec{Cron: cron, Duration: dur, TimeZone: zone}, base)
		if err != nil {
			return
		}
		at := base.Add(37 * time.Hour)
		n := w.Next(at)
		if !n.After(at) {
			t.Fatalf("Next(%v) = %v, not after it", at, n)
		}
		if s, e, open := w.At(n); !open || s.After(n) || !e.After(n) {
			t.Fatalf("At(Next) = %v, %v, %v; want open from %v", s, e, open, n)
		}
	})
}

// In the repeated hour of a fall-back, a frequent expression still has a next start, after t.
func TestNextDuringSecondPassOfFallBack(t *testing.T) {
	// 06:30 UTC on 2026-11-01 is the second 01:30 in New York (EST).
	now := time.Date(2026, 11, 1, 6, 30, 0, 0, time.UTC)
	w, err := New(Spec{Cron: "* * * * *", Duration: "30s", TimeZone: "America/New_York"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := w.Next(now), time.Date(2026, 11, 1, 7, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("Next(%v) = %v, want %v (02:00 EST)", now, got, want)
	}
}
