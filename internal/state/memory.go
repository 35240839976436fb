package state

import (
	"context"
	"sync"
	"time"
)

// Memory is a Store that lives in one process: the default when a single
// instance needs nothing but the binary.
type Memory struct {
	mu    sync.Mutex
	s     State
	saved bool // anything was ever saved: SaveIfEmpty's "empty"
	closing
	watchers map[chan struct{}]struct{}

	// The history is a ring of HistoryCap entries: hist[next] is the oldest once it is full.
	hist   []Entry
	next   int
	lastID entryID
	claims claims
}

// NewMemory returns an empty in-process store.
func NewMemory() *Memory {
	return &Memory{closing: closing{done: make(chan struct{})}, watchers: make(map[chan struct{}]struct{})}
}

// Load implements Store.
func (m *Memory) Load(ctx context.Context) (State, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.isClosed() {
		return State{}, ErrClosed
	}
	return m.s, ctx.Err()
}

// Save implements Store.
func (m *Memory) Save(ctx context.Context, s State) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.isClosed() {
		return ErrClosed
	}
	m.saveLocked(s)
	return nil
}

// SaveIfEmpty implements Store.
func (m *Memory) SaveIfEmpty(ctx context.Context, s State) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.isClosed() {
		return false, ErrClosed
	}
	if m.saved {
		return false, nil
	}
	m.saveLocked(s)
	return true, nil
}

// Update implements Store.
func (m *Memory) Update(ctx context.Context, fn func(State) (State, error)) (State, error) {
	if err := ctx.Err(); err != nil {
		return State{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.isClosed() {
		return State{}, ErrClosed
	}
	s, err := fn(m.s)
	if err != nil {
		return State{}, err
	}
	m.saveLocked(s)
	return s, nil
}

func (m *Memory) saveLocked(s State) {
	m.s, m.saved = s, true
	for w := range m.watchers {
		// A pending wake-up already makes the watcher read the newest state,
		// so a full buffer loses nothing and Save never blocks on a slow fn.
		select {
		case w <- struct{}{}:
		default:
		}
	}
}

// Watch implements Store.
func (m *Memory) Watch(ctx context.Context, fn func(State)) error {
	wake := make(chan struct{}, 1)
	wake <- struct{}{} // the first call reports the current state
	m.mu.Lock()
	if m.isClosed() {
		m.mu.Unlock()
		return ErrClosed
	}
	m.watchers[wake] = struct{}{}
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.watchers, wake)
		m.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-m.done:
			return ErrClosed
		case <-wake:
			m.mu.Lock()
			s := m.s
			m.mu.Unlock()
			fn(s)
		}
	}
}

// Close implements Store.
func (m *Memory) Close() error { return m.close() }

// Append implements Store.
func (m *Memory) Append(ctx context.Context, e Entry) (Entry, error) {
	if err := ctx.Err(); err != nil {
		return Entry{}, err
	}
	if _, err := encodeEntry(e); err != nil { // the same limit as the other stores
		return Entry{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.isClosed() {
		return Entry{}, ErrClosed
	}
	m.lastID = nextID(m.lastID, time.Now())
	e.ID = m.lastID.String()
	if len(m.hist) < HistoryCap {
		m.hist = append(m.hist, e)
	} else {
		m.hist[m.next] = e
		m.next = (m.next + 1) % HistoryCap
	}
	return e, nil
}

// History implements Store.
func (m *Memory) History(ctx context.Context, q HistoryQuery) ([]Entry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := q.check(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.isClosed() {
		return nil, ErrClosed
	}
	ordered := make([]Entry, 0, len(m.hist))
	ordered = append(ordered, m.hist[m.next:]...)
	ordered = append(ordered, m.hist[:m.next]...)
	return q.apply(ordered), nil
}

// Claim implements Store.
func (m *Memory) Claim(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if m.isClosed() {
		return false, ErrClosed
	}
	return m.claims.claim(key, ttl, time.Now()), nil
}
