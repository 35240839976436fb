package state

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/maintpage/maintpage/internal/schedule"
)

// WindowLog records in the history each opening and closing of the configured recurring windows.
// Windows are worked out from the clock by every instance and never written to the store, so no
// state change marks them; instead each instance wakes at every boundary, and the one that claims
// the boundary in the store (window:<name>:<start>:<event>) appends the entry, so the history
// (and the webhooks that follow it) says it once.
type WindowLog struct {
	store   Store
	log     *slog.Logger
	now     func() time.Time
	windows atomic.Pointer[[]*schedule.Window]
	changed chan struct{}
}

// windowCheck caps the sleep between boundaries, so a clock that jumps is noticed.
const windowCheck = time.Minute

// NewWindowLog returns a log over store; Run starts it. now nil means time.Now.
func NewWindowLog(store Store, log *slog.Logger, now func() time.Time) *WindowLog {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	l := &WindowLog{store: store, log: log, now: now, changed: make(chan struct{}, 1)}
	l.windows.Store(&[]*schedule.Window{})
	return l
}

// SetWindows replaces the windows, as a reload does.
func (l *WindowLog) SetWindows(ws []*schedule.Window) {
	l.windows.Store(&ws)
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

// boundary is one opening or closing.
type boundary struct {
	at    time.Time
	event string
	w     *schedule.Window
	name  string
	start time.Time // the opening of the window the boundary belongs to
}

// next returns the boundaries after t that come first (several windows may share a moment).
func (l *WindowLog) next(t time.Time) []boundary {
	var out []boundary
	add := func(b boundary) {
		switch {
		case len(out) == 0 || b.at.Before(out[0].at):
			out = []boundary{b}
		case b.at.Equal(out[0].at):
			out = append(out, b)
		}
	}
	for i, w := range *l.windows.Load() {
		name := w.Name
		if name == "" {
			name = fmt.Sprintf("window %d", i+1)
		}
		if start, end, open := w.At(t); open {
			add(boundary{at: end, event: EventWindowEnd, w: w, name: name, start: start})
		}
		if n := w.Next(t); !n.IsZero() {
			add(boundary{at: n, event: EventWindowStart, w: w, name: name, start: n})
		}
	}
	return out
}

// Run records boundaries until ctx ends.
func (l *WindowLog) Run(ctx context.Context) {
	for {
		now := l.now()
		bs := l.next(now)
		wait := windowCheck
		if len(bs) > 0 {
			wait = min(wait, bs[0].at.Sub(now))
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-l.changed:
			timer.Stop()
			continue
		case <-timer.C:
		}
		if len(bs) > 0 && !l.now().Before(bs[0].at) {
			for _, b := range bs {
				l.record(ctx, b)
			}
		}
	}
}

func (l *WindowLog) record(ctx context.Context, b boundary) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	key := fmt.Sprintf("window:%s:%d:%s", b.name, b.start.Unix(), b.event)
	won, err := l.store.Claim(ctx, key, 24*time.Hour)
	if err != nil || !won {
		if err != nil {
			l.log.Warn("recording a window in the history failed", "window", b.name, "event", b.event, "error", err)
		}
		return
	}
	e := Entry{Time: b.at.UTC(), Event: b.event, Scope: b.w.Scope, Who: "window " + b.name, Via: ViaWindow, Reason: b.w.Reason}
	if b.event == EventWindowStart {
		e.On, e.Message, e.Start, e.Until = true, b.w.Message, b.start.UTC(), b.start.Add(b.w.Duration()).UTC()
	}
	if _, err := l.store.Append(ctx, e); err != nil {
		l.log.Warn("recording a window in the history failed", "window", b.name, "event", b.event, "error", err)
	}
}
