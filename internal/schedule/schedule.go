package schedule

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// Spec is a window as written in the configuration, and as the gates publish it in the state.
type Spec struct {
	Name     string `json:"name,omitempty"`
	Cron     string `json:"cron"`
	Duration string `json:"duration"`
	TimeZone string `json:"time_zone,omitempty"`
	Scope    string `json:"scope,omitempty"`
	Message  string `json:"message,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// Window is a parsed Spec.
type Window struct {
	Spec
	dur   time.Duration
	loc   *time.Location
	sched cron.Schedule
}

// parser reads the standard five fields: minute, hour, day of month, month, day of week. No
// seconds and no descriptors such as @every, whose meaning depends on when the process started and
// would differ between instances.
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// maxDuration keeps a window shorter than a year, which also bounds the work of merging overlaps.
const maxDuration = 366 * 24 * time.Hour

// New parses s. now is used to check that the expression ever fires.
func New(s Spec, now time.Time) (*Window, error) {
	var problems []string
	w := &Window{Spec: s}
	if strings.HasPrefix(strings.TrimSpace(s.Cron), "@") || strings.Contains(s.Cron, "TZ=") {
		problems = append(problems, fmt.Sprintf("cron %q: write five fields (minute hour day-of-month month day-of-week), such as \"0 2 * * 0\" for Sundays at 02:00, and the zone in time_zone", s.Cron))
	} else if sched, err := parser.Parse(s.Cron); err != nil {
		problems = append(problems, fmt.Sprintf("cron %q: %v; write five fields (minute hour day-of-month month day-of-week), such as \"0 2 * * 0\" for Sundays at 02:00", s.Cron, err))
	} else {
		w.sched = sched
	}
	d, err := time.ParseDuration(s.Duration)
	switch {
	case s.Duration == "":
		problems = append(problems, "duration is required: how long each window lasts, such as 2h")
	case err != nil || d <= 0 || d > maxDuration:
		problems = append(problems, fmt.Sprintf("duration %q: write a positive duration up to a year, such as 90m or 2h", s.Duration))
	default:
		w.dur = d
	}
	w.loc = time.UTC
	if s.TimeZone != "" {
		if w.loc, err = time.LoadLocation(s.TimeZone); err != nil || s.TimeZone == "Local" {
			problems = append(problems, fmt.Sprintf("time_zone %q: use an IANA zone name such as Europe/Berlin or America/New_York (or UTC)", s.TimeZone))
			w.loc = time.UTC
		}
	}
	if len(problems) == 0 && w.Next(now).IsZero() {
		problems = append(problems, fmt.Sprintf("cron %q never fires (a date such as 30 February?)", s.Cron))
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return w, nil
}

// Duration is how long each window lasts.
func (w *Window) Duration() time.Duration { return w.dur }

// Location is the window's time zone.
func (w *Window) Location() *time.Location { return w.loc }

// Next returns the first start strictly after t; zero if the expression never fires again.
func (w *Window) Next(t time.Time) time.Time {
	wall := wallOf(t, w.loc)
	// robfig/cron gives up after five years; an instant of the fall-back hour can map to a wall
	// time before one we already passed, so a few rounds may be needed, never many.
	for range 8 {
		n := w.sched.Next(wall)
		if n.IsZero() {
			return time.Time{}
		}
		if start := resolve(n, w.loc); start.After(t) {
			return start
		}
		wall = n
		// t is in the second pass of a fall-back: every wall time up to the last one shown before
		// the change resolves to the first pass, so skip them at once ("* * * * *" would otherwise
		// use up the rounds and report that it never fires).
		if zs, _ := t.In(w.loc).ZoneBounds(); !zs.IsZero() {
			if j := wallOf(zs.Add(-time.Nanosecond), w.loc); j.After(wall) {
				wall = j
			}
		}
	}
	return time.Time{}
}

// At reports whether a window is open at t, and if so when the open window started and when it
// closes. Occurrences that overlap or touch make one window, which closes when the last one ends.
func (w *Window) At(t time.Time) (start, end time.Time, open bool) {
	start = w.Next(t.Add(-w.dur))
	if start.IsZero() || start.After(t) {
		return time.Time{}, time.Time{}, false
	}
	end = start.Add(w.dur)
	// A window that is always open ("* * * * *" for 2m) would extend forever: stop after a bound,
	// and the end reported is then the end as far as it was followed.
	n := w.Next(start)
	for i := 0; i < 1000 && !n.IsZero() && !n.After(end); i++ {
		end = n.Add(w.dur)
		n = w.Next(n)
	}
	return start, end, true
}

// wallOf is t's wall-clock time in loc, written as a UTC time, so that robfig/cron counts fields
// and not elapsed time.
func wallOf(t time.Time, loc *time.Location) time.Time {
	l := t.In(loc)
	return time.Date(l.Year(), l.Month(), l.Day(), l.Hour(), l.Minute(), l.Second(), l.Nanosecond(), time.UTC)
}

// resolve returns the first instant whose wall-clock time in loc is wall or later. time.Date leaves
// the choice open for a wall time that occurs twice or never, and picks differently per zone.
func resolve(wall time.Time, loc *time.Location) time.Time {
	_, offBefore := wall.Add(-48 * time.Hour).In(loc).Zone()
	_, offAfter := wall.Add(48 * time.Hour).In(loc).Zone()
	var best time.Time
	for _, off := range []int{offBefore, offAfter} {
		c := wall.Add(-time.Duration(off) * time.Second)
		if wallOf(c, loc).Equal(wall) && (best.IsZero() || c.Before(best)) {
			best = c
		}
	}
	if !best.IsZero() {
		return best
	}
	// A gap: the clocks jump over wall. The first instant showing a later time is the jump itself,
	// the end of the zone period that shows the earlier times.
	c := wall.Add(-time.Duration(max(offBefore, offAfter)) * time.Second)
	_, end := c.In(loc).ZoneBounds()
	if end.IsZero() {
		return c
	}
	return end
}
