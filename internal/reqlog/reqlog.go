package reqlog

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is what the log keeps of the plain maintenance answers; every other request is always
// written in full.
type Mode uint8

const (
	// Summary counts the plain maintenance answers and writes one line per interval about them.
	Summary Mode = iota
	// Sample writes one in N of the 503 maintenance answers of each path class.
	Sample
	// All writes every request.
	All
)

var modeNames = [...]string{Summary: "summary", Sample: "sample", All: "all"}

func (m Mode) String() string { return modeNames[m] }

// ParseMode reads a mode's name: all, sample or summary.
func ParseMode(s string) (Mode, error) {
	for m, name := range modeNames {
		if s == name {
			return Mode(m), nil
		}
	}
	return 0, fmt.Errorf("unknown request log mode %q: use all, sample or summary", s)
}

// Options configure a Logger.
type Options struct {
	Out  io.Writer
	Text bool // slog's text format instead of JSON lines
	Mode Mode
	// SampleEvery is N for Sample: one in N is written (default 100).
	SampleEvery int
	// SummaryEvery is the interval of Summary's lines (default 10s).
	SummaryEvery time.Duration
	// FlushEvery bounds how long a line waits in memory (default 200ms).
	FlushEvery time.Duration
	// BufferSize is the size of each of the two buffers (default 64 KiB).
	BufferSize int
	// Now is the clock of the lines (default time.Now).
	Now func() time.Time
	// TrustedProxies are the proxies whose X-Forwarded-For names the client, for the summary's
	// client networks (the gate's trusted_proxies: the same rule as its network bypass).
	TrustedProxies []netip.Prefix
}

// Entry is one answered request. Its strings are only read during Log, so they may point into a
// connection's buffer.
type Entry struct {
	Method, Path string
	Status       int
	Bytes        int64
	Duration     time.Duration
	Remote       string   // the peer, host:port
	Forwarded    []string // the X-Forwarded-For header's lines, in order
	// Maintenance marks a plain maintenance answer (planned or unplanned, default or a rule's), and
	// Format is its format's name (html, json, problem+json, text).
	Maintenance bool
	Format      string
}

// Logger is the request log. Log may be called from any goroutine; Close writes out everything.
type Logger struct {
	mode     Mode
	text     bool
	sampleN  int
	w        *writer
	clock    clock
	samples  sampler
	sum      *summary
	sumLog   *slog.Logger
	sumStart time.Time
	plain    *Conn // every connection's Conn in the modes that write lines

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closed    atomic.Bool
}

// New starts a Logger; Close stops it.
func New(o Options) (*Logger, error) {
	if o.Out == nil {
		return nil, fmt.Errorf("reqlog: no output")
	}
	if o.SampleEvery == 0 {
		o.SampleEvery = 100
	}
	if o.SampleEvery < 1 {
		return nil, fmt.Errorf("reqlog: sample rate %d: use 1 or more", o.SampleEvery)
	}
	if o.SummaryEvery == 0 {
		o.SummaryEvery = 10 * time.Second
	}
	if o.FlushEvery == 0 {
		o.FlushEvery = 200 * time.Millisecond
	}
	if o.BufferSize == 0 {
		o.BufferSize = 64 << 10
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	l := &Logger{
		mode: o.Mode, text: o.Text, sampleN: o.SampleEvery,
		w:    newWriter(o.Out, o.BufferSize),
		stop: make(chan struct{}), done: make(chan struct{}),
	}
	l.clock.now = o.Now
	l.plain = &Conn{l: l}
	if o.Mode == Summary {
		l.sum = newSummary(o.TrustedProxies)
		l.sumStart = o.Now()
		var h slog.Handler
		out := lineWriter{l.w}
		if o.Text {
			h = slog.NewTextHandler(out, nil)
		} else {
			h = slog.NewJSONHandler(out, nil)
		}
		l.sumLog = slog.New(h)
	}
	go l.run(o.FlushEvery, o.SummaryEvery)
	return l, nil
}

// lineWriter lets slog's handlers write the summary line: they write each record in one Write.
type lineWriter struct{ w *writer }

func (lw lineWriter) Write(p []byte) (int, error) {
	lw.w.write(p)
	return len(p), nil
}

func (l *Logger) run(flushEvery, summaryEvery time.Duration) {
	defer close(l.done)
	flush := time.NewTicker(flushEvery)
	defer flush.Stop()
	var summaries <-chan time.Time
	if l.sum != nil {
		t := time.NewTicker(summaryEvery)
		defer t.Stop()
		summaries = t.C
	}
	for {
		select {
		case <-l.stop:
			return
		case <-flush.C:
			l.w.flush()
		case <-summaries:
			l.writeSummary(false)
		}
	}
}

// Close writes the last summary and everything buffered. Lines logged after Close are written at
// once, unbuffered, so that a request that outlives the server's shutdown still gets its line.
func (l *Logger) Close() error {
	l.closeOnce.Do(func() {
		l.closed.Store(true)
		close(l.stop)
		<-l.done
		if l.sum != nil {
			l.writeSummary(true)
		}
		l.w.close()
	})
	return nil
}

var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Log records one answered request, as the mode says: written, sampled, or counted.
func (l *Logger) Log(e *Entry) {
	switch l.mode {
	case All:
		l.line(e, 0)
	case Sample:
		if e.Maintenance && e.Status == 503 {
			if l.samples.keep(e.Path, l.sampleN) {
				l.line(e, l.sampleN)
			}
			return
		}
		l.line(e, 0)
	case Summary:
		if l.closed.Load() {
			// The last summary is written: write the line rather than count it unseen.
			l.line(e, 0)
			return
		}
		if !e.Maintenance {
			l.line(e, 0)
		}
		if !l.sum.add(e) && e.Maintenance {
			// Close took the last summary after the check above.
			l.line(e, 0)
		}
	}
}

func (l *Logger) line(e *Entry, sampled int) {
	bp := lineBufs.Get().(*[]byte)
	b := appendLine((*bp)[:0], l.text, &l.clock, e, sampled)
	l.w.write(b)
	if cap(b) <= 64<<10 { // an overlong path must not keep a large buffer alive
		*bp = b
		lineBufs.Put(bp)
	}
}

func (l *Logger) writeSummary(final bool) {
	now := l.clock.now()
	s := l.sum.take(final)
	interval := now.Sub(l.sumStart)
	l.sumStart = now
	if s.requests == 0 {
		return
	}
	l.writeTotals(slog.String("interval", interval.Round(time.Millisecond).String()), s)
}

// writeLate writes a summary line of its own for n answers a connection counted after Close took
// the last summary (it has no interval).
func (l *Logger) writeLate(r *run, n uint64) {
	name := strconv.Itoa(int(r.statusIndex))
	if r.statusIndex == 0 {
		name = "other"
	}
	path := string(r.path[:r.pathLen])
	if r.pathCut {
		path += "…"
	}
	t := totals{requests: n, maintenance: n,
		status:  []slog.Attr{slog.Uint64(name, n)},
		formats: []slog.Attr{slog.Uint64(formatNames[r.formatIndex], n)},
		paths:   []slog.Attr{slog.Uint64(path, n)},
	}
	if r.hasNet {
		t.networks = []slog.Attr{slog.Uint64(networkString(string(r.net[:])), n)}
	}
	l.writeTotals(slog.Attr{}, t)
}

// writeTotals writes one summary line; interval is left out when empty.
func (l *Logger) writeTotals(interval slog.Attr, s totals) {
	attrs := []slog.Attr{
		interval,
		slog.Uint64("requests", s.requests),
		slog.Uint64("maintenance", s.maintenance),
		slog.Uint64("logged", s.requests-s.maintenance),
		slog.Attr{Key: "status", Value: slog.GroupValue(s.status...)},
		slog.Attr{Key: "format", Value: slog.GroupValue(s.formats...)},
		slog.Attr{Key: "top_paths", Value: slog.GroupValue(s.paths...)},
		slog.Attr{Key: "top_networks", Value: slog.GroupValue(s.networks...)},
	}
	l.sumLog.LogAttrs(context.Background(), slog.LevelInfo, "requests", attrs...)
}
