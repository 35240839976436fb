package state

import (
	"fmt"
	"slices"
	"time"

	"github.com/maintpage/maintpage/internal/schedule"
)

// View is the maintenance that applies at one moment: the stored switches, with their scheduled
// starts and announced ends worked out. The gate, the admin API, the status endpoint and the CLI
// all read the state through a View, so they agree on what "on" means.
type View struct {
	// Site is the whole site's switch: while active, every request is in maintenance.
	Site Applied
	// Scopes holds every scope the configuration names, and any other the state holds.
	Scopes map[string]Applied
	// Changes is the next moment the view changes without the state changing (a scheduled start,
	// an announced end that ends maintenance, a window opening or closing); zero when nothing is due.
	Changes time.Time
	// Next is the configured window that opens next, if any.
	Next *Next
	// InWindow reports whether a window holds the whole site or a scope in maintenance now.
	InWindow bool
}

// Next is the next opening of a recurring window.
type Next struct {
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Scope  string    `json:"scope,omitempty"`
	Window string    `json:"window,omitempty"`
}

// Applied is one switch as it applies at a moment.
type Applied struct {
	Scope
	// Active reports whether maintenance applies now.
	Active bool `json:"active"`
	// Window names the recurring window that holds this switch on now, when it is the window and
	// not a switch turned on by hand ("" for an unnamed window is written "window N").
	Window string `json:"window,omitempty"`
}

// ViewOptions say how a state applies.
type ViewOptions struct {
	// EndAtUntil makes announced ends binding, as the gate's end_at_until setting does.
	EndAtUntil bool
	// Scopes are the scopes the configuration names; they show in the view even when off.
	Scopes []string
	// Windows are the configured recurring windows. A window turns its scope (or the whole site)
	// on while it is open, unless a switch turned on by hand already applies, which then wins with
	// its own message and end; a window never turns anything off, so maintenance someone turned
	// on by hand outlives the window's end.
	Windows []*schedule.Window
}

// ViewAt returns the view of s at now.
func (s State) ViewAt(now time.Time, o ViewOptions) View {
	v := View{Scopes: make(map[string]Applied, len(o.Scopes)+len(s.Scopes))}
	v.Site = v.apply(s.Global(), now, o.EndAtUntil)
	for _, name := range o.Scopes {
		v.Scopes[name] = v.apply(s.Scopes[name], now, o.EndAtUntil)
	}
	for name, sc := range s.Scopes {
		if _, ok := v.Scopes[name]; !ok {
			v.Scopes[name] = v.apply(sc, now, o.EndAtUntil)
		}
	}
	for i, w := range o.Windows {
		name := w.Name
		if name == "" {
			name = fmt.Sprintf("window %d", i+1)
		}
		start, end, open := w.At(now)
		if !open {
			if n := w.Next(now); !n.IsZero() {
				v.due(n)
				if v.Next == nil || n.Before(v.Next.Start) {
					v.Next = &Next{Start: n, End: n.Add(w.Duration()), Scope: w.Scope, Window: name}
				}
			}
			continue
		}
		v.due(end)
		v.InWindow = true
		cur := v.Site
		if w.Scope != "" {
			cur = v.Scopes[w.Scope]
		}
		if cur.Active && (cur.Window == "" || !cur.Until.Before(end)) {
			continue // on by hand, or by a window that lasts at least as long
		}
		a := Applied{Active: true, Window: name, Scope: Scope{On: true, Message: w.Message, Reason: w.Reason,
			Start: start, Until: end, ChangedBy: "window " + name, ChangedAt: start}}
		if w.Scope == "" {
			v.Site = a
		} else {
			v.Scopes[w.Scope] = a
		}
	}
	return v
}

func (v *View) apply(sc Scope, now time.Time, endAtUntil bool) Applied {
	a := Applied{Scope: sc, Active: sc.ActiveAt(now, endAtUntil)}
	if sc.On {
		if sc.Start.After(now) {
			v.due(sc.Start)
		}
		if endAtUntil && sc.Until.After(now) {
			v.due(sc.Until)
		}
	}
	return a
}

// due records t as a moment the view changes.
func (v *View) due(t time.Time) {
	if v.Changes.IsZero() || t.Before(v.Changes) {
		v.Changes = t
	}
}

// InMaintenance reports whether a request whose first matching rule has scope (or none: "") is
// in maintenance: while the whole site is, or its scope is.
func (v View) InMaintenance(scope string) bool {
	return v.Site.Active || (scope != "" && v.Scopes[scope].Active)
}

// ActiveScopes returns the names of the scopes in maintenance, sorted.
func (v View) ActiveScopes() []string {
	var names []string
	for name, a := range v.Scopes {
		if a.Active {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}
