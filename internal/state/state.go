package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
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
}

// ActiveAt reports whether maintenance applies at now. endAtUntil makes the
// announced end binding; it is off by default because an announced end is a
// promise to users, and quietly reopening a half-migrated application when the
// promise runs out is worse than a late reopening.
func (s State) ActiveAt(now time.Time, endAtUntil bool) bool {
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
	return s.On == o.On &&
		s.Message == o.Message &&
		s.Until.Equal(o.Until) &&
		s.Start.Equal(o.Start) &&
		s.Reason == o.Reason &&
		s.ChangedBy == o.ChangedBy &&
		s.ChangedAt.Equal(o.ChangedAt)
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
