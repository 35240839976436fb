package state

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Entry is one change of the state as the history records it: what the state became, who made
// the change, how, from where and why. Entries live in the same store as the state, so every
// instance that shares the state shares its history.
type Entry struct {
	// ID is assigned by the store when the entry is appended. IDs of one store grow with every
	// append ("<unix ms>-<seq>", the form of a Redis stream ID), so "after ID" is well defined.
	ID    string    `json:"id"`
	Time  time.Time `json:"time"`
	Event string    `json:"event"` // one of Events
	// Scope is the part of the site the change is about; empty means all of it.
	Scope   string    `json:"scope,omitempty"`
	On      bool      `json:"on"`
	Message string    `json:"message,omitempty"`
	Until   time.Time `json:"until,omitzero"`
	Start   time.Time `json:"start,omitzero"`
	// Who made the change: the CLI's user, an admin token's name, "window NAME".
	Who string `json:"who"`
	// Token is the name of the admin token that authorised the change, when one did; Who may
	// then be what the caller said about itself (changed_by), which the token vouches for.
	Token  string `json:"token,omitempty"`
	Via    string `json:"via"`            // one of the Via constants
	Addr   string `json:"addr,omitempty"` // the client's address, or the host the CLI ran on
	Reason string `json:"reason,omitempty"`
}

// The events a history entry records; webhooks subscribe to them by these names.
const (
	EventOn          = "on"           // maintenance turned on (now)
	EventScheduled   = "scheduled"    // maintenance turned on with a start still to come
	EventOff         = "off"          // maintenance turned off
	EventChanged     = "changed"      // still on or off, but the message, end, start or reason changed
	EventWindowStart = "window_start" // a recurring window began
	EventWindowEnd   = "window_end"   // a recurring window ended
	EventRepaired    = "repaired"     // the last known state was written back into a store that lost it
)

// Events lists every event, in the order the documentation gives them.
var Events = []string{EventOn, EventScheduled, EventOff, EventChanged, EventWindowStart, EventWindowEnd, EventRepaired}

// How a change was made.
const (
	ViaCLI    = "cli"
	ViaAPI    = "api"
	ViaPage   = "page"
	ViaWindow = "window"
	ViaRepair = "repair"
)

// Origin says who made a change, how and from where; the state says the rest.
type Origin struct {
	Who   string
	Token string
	Via   string
	Addr  string
	Scope string
	// Event, when set, names the event instead of the one derived from the old and new state
	// (window_start, window_end, repaired).
	Event string
}

// NewEntry describes the change of one switch from old to s made by o (o.Scope names the switch).
// The ID is left to the store.
func NewEntry(old, s Scope, o Origin, now time.Time) Entry {
	e := Entry{
		Time: now.UTC().Round(0), Event: o.Event, Scope: o.Scope, On: s.On, Who: o.Who, Token: o.Token,
		Via: o.Via, Addr: o.Addr, Reason: s.Reason,
	}
	if s.On {
		e.Message, e.Until, e.Start = s.Message, s.Until.UTC(), s.Start.UTC()
	}
	if e.Who == "" {
		e.Who = s.ChangedBy
	}
	if e.Event == "" {
		switch {
		case s.On && !s.Start.IsZero() && now.Before(s.Start):
			e.Event = EventScheduled
		case s.On && !old.On:
			e.Event = EventOn
		case !s.On && old.On:
			e.Event = EventOff
		default:
			e.Event = EventChanged
		}
	}
	return e
}

// Switch returns the switch of scope name; "" is the whole site's.
func (s State) Switch(name string) Scope {
	if name == "" {
		return s.Global()
	}
	return s.Scopes[name]
}

// HistoryQuery selects entries from a history.
type HistoryQuery struct {
	// After, when set, selects only entries appended after the entry with this ID.
	After string
	// Scope, when set, selects only entries about that scope.
	Scope string
	// Limit, when more than zero, keeps only the newest Limit of the selected entries.
	Limit int
}

// HistoryCap is how many entries the memory ring and the Redis stream keep (the file keeps its
// current file and one rotated file of historyFileMax bytes each): enough for years of windows,
// small enough that reading all of it is cheap.
const HistoryCap = 1000

// maxEntrySize bounds one stored entry, as MaxEncodedSize bounds a state.
const maxEntrySize = 64 << 10

// check refuses a malformed After, which would otherwise select nothing and look like "no news".
func (q HistoryQuery) check() error {
	if q.After != "" {
		if _, ok := parseID(q.After); !ok {
			return fmt.Errorf("history: %q is not an entry ID such as 1764547200000-0", q.After)
		}
	}
	if q.Limit < 0 {
		return fmt.Errorf("history: limit %d is negative; use 0 for all, or a positive number", q.Limit)
	}
	return nil
}

// apply applies q to entries, which are in the order they were appended.
func (q HistoryQuery) apply(entries []Entry) []Entry {
	var out []Entry
	after, hasAfter := parseID(q.After)
	for _, e := range entries {
		if q.After != "" {
			id, ok := parseID(e.ID)
			if !ok || !hasAfter || !id.after(after) {
				continue
			}
		}
		if q.Scope != "" && e.Scope != q.Scope {
			continue
		}
		out = append(out, e)
	}
	if q.Limit > 0 && len(out) > q.Limit {
		out = out[len(out)-q.Limit:]
	}
	return out
}

// entryID is the parsed form of an Entry's ID.
type entryID struct{ ms, seq uint64 }

func parseID(s string) (entryID, bool) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return entryID{}, false
	}
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	return entryID{ms, seq}, err1 == nil && err2 == nil
}

func (a entryID) after(b entryID) bool { return a.ms > b.ms || a.ms == b.ms && a.seq > b.seq }

func (a entryID) String() string {
	return strconv.FormatUint(a.ms, 10) + "-" + strconv.FormatUint(a.seq, 10)
}

// nextID returns the ID that follows last at now: now's millisecond, or last's with the next
// sequence number when the clock has not moved past it (the rule of Redis's XADD *).
func nextID(last entryID, now time.Time) entryID {
	ms := uint64(max(now.UnixMilli(), 0))
	if ms > last.ms {
		return entryID{ms: ms}
	}
	return entryID{ms: last.ms, seq: last.seq + 1}
}

func encodeEntry(e Entry) ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode history entry: %w", err)
	}
	if len(b) > maxEntrySize {
		return nil, fmt.Errorf("encode history entry: %d bytes is more than the limit of %d; shorten the message or reason", len(b), maxEntrySize)
	}
	return b, nil
}

func decodeEntry(b []byte) (Entry, error) {
	var e Entry
	if err := json.Unmarshal(b, &e); err != nil {
		return Entry{}, fmt.Errorf("decode history entry: %w", err)
	}
	return e, nil
}

// Record appends the change of one switch from old to s, made by o, to store's history, and
// returns the entry with its ID.
func Record(ctx context.Context, store Store, old, s Scope, o Origin) (Entry, error) {
	e, err := store.Append(ctx, NewEntry(old, s, o, time.Now()))
	if err != nil {
		return Entry{}, fmt.Errorf("record the change in the history: %w", err)
	}
	return e, nil
}

// claims is the memory and file stores' record of claims in this process: key → expiry.
type claims struct {
	mu sync.Mutex
	m  map[string]time.Time
}

func (c *claims) claim(key string, ttl time.Duration, now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]time.Time{}
	}
	if exp, ok := c.m[key]; ok && now.Before(exp) {
		return false
	}
	// Drop expired claims now and then, so the map stays as small as the live claims.
	if len(c.m) >= 1024 {
		for k, exp := range c.m {
			if !now.Before(exp) {
				delete(c.m, k)
			}
		}
	}
	c.m[key] = now.Add(ttl)
	return true
}
