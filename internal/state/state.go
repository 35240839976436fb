package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/maintpage/maintpage/internal/schedule"
)

// State is the maintenance state as stored and as shown on the status
// endpoint. Zero times are left out of the JSON so that "not scheduled" and
// "no announced end" read as absent rather than as year 1.
type State struct {
	On      bool   `json:"on"`
	Message string `json:"message"`
	// Until is the announced end: it drives Retry-After, and ends maintenance
	// only when the caller of ActiveAt asks for that.
	Until time.Time `json:"until,omitzero"`
	// Start, when set, keeps an On state dormant until that moment, so that
	// maintenance can be scheduled ahead of time.
	Start     time.Time `json:"start,omitzero"`
	Reason    string    `json:"reason"`
	ChangedBy string    `json:"changed_by"`
	ChangedAt time.Time `json:"changed_at,omitzero"`
	// Scopes holds the switches of the parts of the site that configured rules name (scope: api):
	// maintenance of one part while the rest runs. The fields above are the whole site's switch,
	// kept where the first version stored it, so that a state written without scopes still reads
	// and an older instance still reads the whole site's switch of a newer state.
	Scopes map[string]Scope `json:"scopes,omitempty"`
	// Known is what the gates on this store last published about their configuration, so that a
	// CLI with only the store's URL can refuse an unknown scope and show the next window.
	Known *Known `json:"known,omitempty"`
}

// Scope is one maintenance switch: the whole site's (State.Global) or one scope's.
type Scope struct {
	On        bool      `json:"on"`
	Message   string    `json:"message,omitempty"`
	Until     time.Time `json:"until,omitzero"`
	Start     time.Time `json:"start,omitzero"`
	Reason    string    `json:"reason,omitempty"`
	ChangedBy string    `json:"changed_by,omitempty"`
	ChangedAt time.Time `json:"changed_at,omitzero"`
}

// Known is what a gate publishes in the store about its configuration.
type Known struct {
	// Scopes are the scope names the configuration's rules and windows use, sorted.
	Scopes []string `json:"scopes"`
	// Windows are the configured recurring windows, as written in the configuration.
	Windows []schedule.Spec `json:"windows,omitempty"`
}

// Global returns the whole site's switch.
func (s State) Global() Scope {
	return Scope{On: s.On, Message: s.Message, Until: s.Until, Start: s.Start, Reason: s.Reason, ChangedBy: s.ChangedBy, ChangedAt: s.ChangedAt}
}

// WithScope returns a copy of s with the switch of scope name set to sc; name "" is the whole
// site. Turning the whole site off ends every scope too, because "maintpage off" has always meant
// "let all traffic through". s itself is not modified, so a state shared by pointer stays as it is.
func (s State) WithScope(name string, sc Scope) State {
	if name == "" {
		s.On, s.Message, s.Until, s.Start = sc.On, sc.Message, sc.Until, sc.Start
		s.Reason, s.ChangedBy, s.ChangedAt = sc.Reason, sc.ChangedBy, sc.ChangedAt
		if !sc.On && len(s.Scopes) > 0 {
			scopes := make(map[string]Scope, len(s.Scopes))
			for n := range s.Scopes {
				scopes[n] = Scope{On: false, Reason: sc.Reason, ChangedBy: sc.ChangedBy, ChangedAt: sc.ChangedAt}
			}
			s.Scopes = scopes
		}
		return s
	}
	scopes := maps.Clone(s.Scopes)
	if scopes == nil {
		scopes = map[string]Scope{}
	}
	scopes[name] = sc
	s.Scopes = scopes
	return s
}

// CheckScope returns nil if name is "" (the whole site) or one of known, and otherwise an error
// that lists the known scopes.
func CheckScope(name string, known []string) error {
	if name == "" || slices.Contains(known, name) {
		return nil
	}
	if len(known) == 0 {
		return fmt.Errorf("unknown scope %q: the configuration names no scopes; add scope: %s to the rules that match that part of the site", name, name)
	}
	return fmt.Errorf("unknown scope %q; known scopes are: %s", name, strings.Join(known, ", "))
}

// ActiveAt reports whether maintenance applies at now. endAtUntil makes the
// announced end binding; it is off by default because an announced end is a
// promise to users, and quietly reopening a half-migrated application when the
// promise runs out is worse than a late reopening.
func (s State) ActiveAt(now time.Time, endAtUntil bool) bool {
	return s.Global().ActiveAt(now, endAtUntil)
}

// ActiveAt reports whether the switch applies at now, as State.ActiveAt does for the whole site.
func (s Scope) ActiveAt(now time.Time, endAtUntil bool) bool {
	if !s.On {
		return false
	}
	if !s.Start.IsZero() && now.Before(s.Start) {
		return false
	}
	if endAtUntil && !s.Until.IsZero() && !now.Before(s.Until) {
		return false
	}
	return true
}

// Equal reports whether s and o describe the same state. Times are compared
// as instants, because a state that went through JSON comes back with a
// different location and no monotonic reading.
func (s State) Equal(o State) bool {
	return s.Global().Equal(o.Global()) &&
		maps.EqualFunc(s.Scopes, o.Scopes, Scope.Equal) &&
		s.Known.equal(o.Known)
}

// Equal reports whether s and o are the same switch, comparing times as instants.
func (s Scope) Equal(o Scope) bool {
	return s.On == o.On &&
		s.Message == o.Message &&
		s.Until.Equal(o.Until) &&
		s.Start.Equal(o.Start) &&
		s.Reason == o.Reason &&
		s.ChangedBy == o.ChangedBy &&
		s.ChangedAt.Equal(o.ChangedAt)
}

func (k *Known) equal(o *Known) bool {
	if k == nil || o == nil {
		return k == o
	}
	return slices.Equal(k.Scopes, o.Scopes) && slices.Equal(k.Windows, o.Windows)
}

// MaxEncodedSize bounds a stored state so that a wrong file or key cannot make
// every instance read megabytes on each repair.
const MaxEncodedSize = 1 << 20

// Encode returns the stored form of s.
func Encode(s State) ([]byte, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode state: %w", err)
	}
	if len(b) > MaxEncodedSize {
		return nil, fmt.Errorf("encode state: %d bytes is more than the limit of %d; shorten the message", len(b), MaxEncodedSize)
	}
	return b, nil
}

// Decode parses the stored form of a state. Unknown fields are accepted so
// that an older instance keeps working next to a newer one during a rolling
// upgrade; anything that is not a single JSON object is an error, because
// reading garbage as "maintenance off" would open the gate by accident.
func Decode(b []byte) (State, error) {
	if len(b) > MaxEncodedSize {
		return State{}, fmt.Errorf("decode state: %d bytes is more than the limit of %d", len(b), MaxEncodedSize)
	}
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) == 0 {
		return State{}, errors.New("decode state: empty; want a JSON object such as {\"on\":false}")
	}
	if trimmed[0] != '{' {
		return State{}, errors.New("decode state: not a JSON object; want a JSON object such as {\"on\":false}")
	}
	var s State
	if err := json.Unmarshal(trimmed, &s); err != nil {
		return State{}, fmt.Errorf("decode state: %w", err)
	}
	return s, nil
}
