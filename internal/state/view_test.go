package state_test

import (
	"testing"
	"time"

	"github.com/maintpage/maintpage/internal/schedule"
	"github.com/maintpage/maintpage/internal/state"
)

func mustWindow(t *testing.T, s schedule.Spec) *schedule.Window {
	t.Helper()
	w, err := schedule.New(s, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestViewWindows(t *testing.T) {
	t.Parallel()
	// Daily 02:00–04:00 UTC for the api scope, Sundays 03:00–03:30 UTC for the whole site.
	api := mustWindow(t, schedule.Spec{Name: "nightly", Cron: "0 2 * * *", Duration: "2h", Scope: "api", Message: "Nightly API pause"})
	site := mustWindow(t, schedule.Spec{Cron: "0 3 * * 0", Duration: "30m", Reason: "backups"})
	opts := state.ViewOptions{Scopes: []string{"api"}, Windows: []*schedule.Window{api, site}}
	day := time.Date(2026, 6, 7, 0, 0, 0, 0, time.UTC) // a Sunday
	at := func(h, m int) time.Time { return day.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute) }

	t.Run("before", func(t *testing.T) {
		t.Parallel()
		v := state.State{}.ViewAt(at(1, 0), opts)
		if v.Site.Active || v.Scopes["api"].Active || v.InWindow {
			t.Errorf("at 01:00: got %+v, want nothing active", v)
		}
		if v.Next == nil || !v.Next.Start.Equal(at(2, 0)) || v.Next.Scope != "api" || v.Next.Window != "nightly" || !v.Changes.Equal(at(2, 0)) {
			t.Errorf("at 01:00: next %+v, changes %v; want the nightly api window at 02:00", v.Next, v.Changes)
		}
	})
	t.Run("scope window open", func(t *testing.T) {
		t.Parallel()
		v := state.State{}.ViewAt(at(2, 30), opts)
		a := v.Scopes["api"]
		if v.Site.Active || !a.Active || a.Window != "nightly" || a.Message != "Nightly API pause" || !a.Until.Equal(at(4, 0)) {
			t.Errorf("at 02:30: got site %v, api %+v; want api on by the window until 04:00", v.Site.Active, a)
		}
		if !v.Changes.Equal(at(3, 0)) || v.Next == nil || v.Next.Window != "window 2" {
			t.Errorf("at 02:30: changes %v, next %+v; want the site window at 03:00", v.Changes, v.Next)
		}
	})
	t.Run("site window open", func(t *testing.T) {
		t.Parallel()
		v := state.State{}.ViewAt(at(3, 10), opts)
		if !v.Site.Active || v.Site.Reason != "backups" || !v.Site.Until.Equal(at(3, 30)) || !v.InMaintenance("") {
			t.Errorf("at 03:10: site %+v; want on by the window until 03:30", v.Site)
		}
	})
	t.Run("on by hand wins and outlives the window", func(t *testing.T) {
		t.Parallel()
		s := state.State{}.WithScope("api", state.Scope{On: true, Message: "by hand"})
		for _, tm := range []time.Time{at(2, 30), at(5, 0)} {
			a := s.ViewAt(tm, opts).Scopes["api"]
			if !a.Active || a.Window != "" || a.Message != "by hand" {
				t.Errorf("at %v with api on by hand: got %+v, want the hand's switch", tm, a)
			}
		}
	})
	t.Run("off by hand does not end an open window", func(t *testing.T) {
		t.Parallel()
		s := state.State{}.WithScope("api", state.Scope{On: false, ChangedBy: "ops"})
		if a := s.ViewAt(at(2, 30), opts).Scopes["api"]; !a.Active || a.Window != "nightly" {
			t.Errorf("at 02:30 with api off by hand: got %+v, want the window's", a)
		}
	})
	t.Run("after", func(t *testing.T) {
		t.Parallel()
		v := state.State{}.ViewAt(at(4, 0), opts)
		if v.Scopes["api"].Active || v.InWindow || v.Next == nil || !v.Next.Start.Equal(day.AddDate(0, 0, 1).Add(2*time.Hour)) {
			t.Errorf("at 04:00: got %+v, want nothing active and the next nightly window tomorrow", v)
		}
	})
}
