package state

import (
	"slices"
	"time"
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
	// an announced end that ends maintenance); zero when nothing is due.
	Changes time.Time
}

// Applied is one switch as it applies at a moment.
type Applied struct {
	Scope
	// Active reports whether maintenance applies now.
	Active bool `json:"active"`
}

// ViewOptions say how a state applies.
type ViewOptions struct {
	// EndAtUntil makes announced ends binding, as the gate's end_at_until setting does.
	EndAtUntil bool
	// Scopes are the scopes the configuration names; they show in the view even when off.
	Scopes []string
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
