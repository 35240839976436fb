package reqlog

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"
)

// sums adds up the lines a summary-mode log wrote: the summaries' counts by key, and the request
// lines; each summary's statuses and formats must add up to its own requests.
type sums struct {
	requests, maintenance, lines float64
	status, format, paths, nets  map[string]float64
}

// group is a summary's group of counts; slog leaves an empty one out.
func group(v map[string]any, key string) map[string]any {
	m, _ := v[key].(map[string]any)
	return m
}

func summed(t *testing.T, b []byte) sums {
	t.Helper()
	s := sums{status: map[string]float64{}, format: map[string]float64{}, paths: map[string]float64{}, nets: map[string]float64{}}
	for _, v := range lines(t, b) {
		switch v["msg"] {
		case "request":
			s.lines++
		case "requests":
			s.requests += v["requests"].(float64)
			s.maintenance += v["maintenance"].(float64)
			var st, f float64
			for k, n := range group(v, "status") {
				s.status[k] += n.(float64)
				st += n.(float64)
			}
			for k, n := range group(v, "format") {
				s.format[k] += n.(float64)
				f += n.(float64)
			}
			if st != v["requests"].(float64) || f != v["maintenance"].(float64) {
				t.Errorf("a summary's statuses add up to %v and formats to %v; want %v and %v: %v", st, f, v["requests"], v["maintenance"], v)
			}
			for k, n := range group(v, "top_paths") {
				s.paths[k] += n.(float64)
			}
			for k, n := range group(v, "top_networks") {
				s.nets[k] += n.(float64)
			}
		default:
			t.Errorf("unexpected line %v", v)
		}
	}
	return s
}

// TestConnSummaryAddsUp: connections count their answers themselves, in runs of alike answers,
// while summaries are taken every few milliseconds; some connections close on the way, others are
// still open at Close. Every answer is counted once, by status, format, path and network, and the
// other requests have their lines.
func TestConnSummaryAddsUp(t *testing.T) {
	t.Parallel()
	out := &writes{}
	l := newLogger(t, Options{Out: out, Mode: Summary, SummaryEvery: 2 * time.Millisecond})
	// Four paths and four networks: few enough that every summary names them all, so that their
	// counts add up exactly too.
	answers := []Entry{
		{Method: "GET", Path: "/", Status: 503, Maintenance: true, Format: "html"},
		{Method: "GET", Path: "/api/x", Status: 503, Maintenance: true, Format: "problem+json"},
		{Method: "HEAD", Path: "/", Status: 503, Maintenance: true, Format: "html"},
		{Method: "GET", Path: "/robots.txt", Status: 200, Maintenance: true, Format: "text"},
		{Method: "GET", Path: "/" + strings.Repeat("long", 30), Status: 503, Maintenance: true, Format: "html"},
	}
	other := Entry{Method: "GET", Path: "/_maintenance/health", Status: 200}
	const conns, each = 16, 3000
	var wg sync.WaitGroup
	for i := range conns {
		wg.Go(func() {
			remote := fmt.Sprintf("192.0.%d.%d:%d", i%4, i, 40000+i)
			c := l.Conn(remote)
			for j := range each {
				// Runs of 1 to 50 alike answers, so that both the counting in the connection and
				// the change of run are exercised.
				e := answers[(j/(1+i*3%50))%len(answers)]
				if j%100 == 99 {
					e = other
				}
				e.Remote = remote
				if !c.Again(e.Path, e.Status, e.Format, "") || !e.Maintenance {
					c.Log(&e)
				}
				if j%500 == 0 {
					time.Sleep(time.Millisecond)
				}
			}
			if i%2 == 0 {
				c.Close() // the others are still open when the log closes
			}
		})
	}
	wg.Wait()
	l.Close()
	s := summed(t, out.all())
	const total, others = conns * each, conns * each / 100
	if s.requests != total || s.maintenance != total-others || s.lines != others {
		t.Errorf("summaries count %v requests, %v maintenance answers, and %v request lines; want %v, %v, %v",
			s.requests, s.maintenance, s.lines, total, total-others, others)
	}
	if s.status["503"]+s.status["200"] != total || s.format["html"]+s.format["problem+json"]+s.format["text"] != total-others {
		t.Errorf("status %v, format %v: want them to add up to %v and %v", s.status, s.format, total, total-others)
	}
	var paths, nets float64
	for k, n := range s.paths {
		paths += n
		if strings.HasPrefix(k, "/long") && (len(k) != topKey+len("…") || !strings.HasSuffix(k, "…")) {
			t.Errorf("long path named %q, want it cut to %d bytes and …", k, topKey)
		}
	}
	for _, n := range s.nets {
		nets += n
	}
	if paths != total || nets != total || len(s.nets) != 4 {
		t.Errorf("top paths %v (%v in all), networks %v (%v); want %v each, in 4 networks", s.paths, paths, s.nets, nets, total)
	}
}

// TestConnCloseRace logs from connections while the log closes, and goes on after it: every answer
// is in a summary or in a line of its own, none twice.
func TestConnCloseRace(t *testing.T) {
	t.Parallel()
	for round := range 8 {
		out := &writes{}
		l := newLogger(t, Options{Out: out, Mode: Summary, SummaryEvery: time.Millisecond})
		var sent atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range 4 {
			wg.Go(func() {
				c := l.Conn(fmt.Sprintf("198.51.100.%d:1", i))
				defer c.Close()
				<-start
				for j := range 1000 {
					e := Entry{Method: "GET", Path: fmt.Sprintf("/%d", j/7%3), Status: 503, Maintenance: true, Format: "html"}
					if !c.Again(e.Path, e.Status, e.Format, "") {
						c.Log(&e)
					}
					sent.Add(1)
				}
			})
		}
		close(start)
		time.Sleep(time.Duration(round) * 50 * time.Microsecond) // Close early, then later
		l.Close()
		wg.Wait()
		s := summed(t, out.all())
		if got := s.requests + s.lines; got != float64(sent.Load()) {
			t.Fatalf("%v in summaries + %v lines = %v; %v sent", s.requests, s.lines, got, sent.Load())
		}
	}
}

// TestConnBehindTrustedProxy: from a trusted proxy the network comes from X-Forwarded-For, which
// changes from request to request on the same connection.
func TestConnBehindTrustedProxy(t *testing.T) {
	t.Parallel()
	out := &writes{}
	l := newLogger(t, Options{Out: out, Mode: Summary, SummaryEvery: time.Hour,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	router, direct := l.Conn("10.0.0.1:4000"), l.Conn("192.0.2.9:1")
	for _, r := range []struct {
		c   *Conn
		xff []string
		n   int
	}{
		{router, []string{"203.0.113.7, 10.9.9.9"}, 3},
		{router, []string{"198.51.100.1"}, 2},
		{router, nil, 1},                                  // the router itself
		{router, []string{"203.0.113.8"}, 2},              // the first network again
		{router, []string{"203.0.113.7", "192.0.2.1"}, 2}, // two lines: the client is the last one's
		{router, []string{strings.Repeat(" ", 70) + "198.51.100.2"}, 2},
		{direct, []string{"203.0.113.7"}, 4}, // not from a trusted proxy: ignored
	} {
		for range r.n {
			e := Entry{Method: "GET", Path: "/", Status: 503, Maintenance: true, Format: "html", Forwarded: r.xff}
			var xff string
			if len(r.xff) == 1 {
				xff = r.xff[0]
			}
			if len(r.xff) > 1 || !r.c.Again(e.Path, e.Status, e.Format, xff) {
				r.c.Log(&e)
			}
		}
	}
	l.Close()
	got := summed(t, out.all())
	want := map[string]float64{"203.0.113.0/24": 5, "198.51.100.0/24": 4, "10.0.0.0/24": 1, "192.0.2.0/24": 6}
	if fmt.Sprint(got.nets) != fmt.Sprint(want) || got.requests != 16 {
		t.Errorf("top networks %v of %v requests, want %v of 16", got.nets, got.requests, want)
	}
}

// TestConnOtherModes: in the modes that write lines, a Conn is Logger.Log, with durations, and
// Again never counts.
func TestConnOtherModes(t *testing.T) { // not parallel: AllocsPerRun
	for _, mode := range []Mode{All, Sample} {
		out := &writes{}
		l := newLogger(t, Options{Out: out, Mode: mode, SampleEvery: 2})
		c := l.Conn("192.0.2.1:1")
		if n := testing.AllocsPerRun(10, func() { l.Conn("192.0.2.2:1").Close() }); n != 0 {
			t.Errorf("%v: %v allocations per Conn, want none: it has nothing of its own to keep", mode, n)
		}
		if !c.Timed() {
			t.Errorf("%v: Timed() false, want the durations the lines carry", mode)
		}
		for range 4 {
			e := Entry{Method: "GET", Path: "/", Status: 503, Maintenance: true, Format: "html", Remote: "192.0.2.1:1"}
			if c.Again(e.Path, e.Status, e.Format, "") {
				t.Fatalf("%v: Again counted an answer", mode)
			}
			c.Log(&e)
		}
		c.Close()
		l.Close()
		if n, want := len(lines(t, out.all())), map[Mode]int{All: 4, Sample: 2}[mode]; n != want {
			t.Errorf("%v: %d lines, want %d", mode, n, want)
		}
	}
	var none *Logger
	if c := none.Conn("192.0.2.1:1"); c != nil || c.Timed() || c.Again("/", 503, "html", "") {
		t.Errorf("a nil Logger's Conn %v: want nil, untimed, counting nothing", c)
	}
	none.Conn("x").Log(&Entry{}) // nothing, and no panic
	none.Conn("x").Close()
}

// TestConnSmall: a server keeps one Conn per open connection.
func TestConnSmall(t *testing.T) {
	if n := unsafe.Sizeof(Conn{}); n > 192 {
		t.Errorf("a Conn takes %d bytes, want at most 192 (a size class of the allocator)", n)
	}
}

func TestConnAllocatesNothing(t *testing.T) {
	l := newLogger(t, Options{Out: &discard{}, Mode: Summary, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	for _, remote := range []string{"203.0.113.9:45678", "10.0.0.1:4000"} {
		c := l.Conn(remote)
		paths, xff := []string{"/a", "/b"}, []string{"203.0.113.7"}
		i := 0
		if n := testing.AllocsPerRun(1000, func() {
			i++
			e := Entry{Method: "GET", Path: paths[i/10%2], Status: 503, Maintenance: true, Format: "html", Remote: remote,
				Forwarded: xff}
			if !c.Again(e.Path, e.Status, e.Format, e.Forwarded[0]) {
				c.Log(&e)
			}
		}); n != 0 {
			t.Errorf("%s: %v allocations per answer, want 0", remote, n)
		}
		c.Close()
	}
}

// BenchmarkConnAgain is the summary mode's cost of an answer like the one before on the connection.
func BenchmarkConnAgain(b *testing.B) {
	l, err := New(Options{Out: discard{}, Mode: Summary})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	var conns atomic.Int32
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		remote := fmt.Sprintf("203.0.113.%d:40000", conns.Add(1))
		c := l.Conn(remote)
		defer c.Close()
		c.Log(&Entry{Method: "GET", Path: "/some/page", Status: 503, Remote: remote, Maintenance: true, Format: "html"})
		for pb.Next() {
			if !c.Again("/some/page", 503, "html", "") {
				b.Fatal("not counted as the one before")
			}
		}
	})
}

// TestCountsAfterLastSummary plays, one step at a time, the interleavings TestConnCloseRace can
// only hope to hit: a count that lands after Close took the last summary gets a line of its own.
func TestCountsAfterLastSummary(t *testing.T) {
	t.Parallel()
	out := &writes{}
	l := newLogger(t, Options{Out: out, Mode: Summary, SummaryEvery: time.Hour})
	a, b := l.Conn("192.0.2.1:1"), l.Conn("[2001:db8::1]:1")
	e := Entry{Method: "GET", Path: "/x", Status: 503, Maintenance: true, Format: "json"}
	a.Log(&e)
	b.Log(&e)
	l.Close() // the last summary: the two answers
	// a: Again had seen the log open, and counts now; then checks again.
	a.n.Add(1)
	a.checkClosed()
	// b: counted two more before Close, which Close's take missed; they reach the shard only now.
	b.n.Add(2)
	b.Close()
	if l.sum.add(&e) {
		t.Error("summary.add counted an answer after the last summary")
	}
	a.Again("/x", 503, "json", "") // after Close: not counted, for Log to write
	a.Log(&e)
	a.Close()
	for i := range l.sum.shards {
		if c := l.sum.shards[i].conns; c != nil {
			t.Errorf("shard %d still lists a closed connection", i)
		}
	}
	got := lines(t, out.all())
	want := []string{
		`{"msg":"requests","requests":2,"maintenance":2,"logged":0,"status":{"503":2},"format":{"json":2},"top_paths":{"/x":2},"top_networks":{"192.0.2.0/24":1,"2001:db8::/48":1}}`,
		`{"msg":"requests","requests":1,"maintenance":1,"logged":0,"status":{"503":1},"format":{"json":1},"top_paths":{"/x":1},"top_networks":{"192.0.2.0/24":1}}`,
		`{"msg":"requests","requests":2,"maintenance":2,"logged":0,"status":{"503":2},"format":{"json":2},"top_paths":{"/x":2},"top_networks":{"2001:db8::/48":2}}`,
		`{"msg":"request","path":"/x","status":503}`,
	}
	var have []string
	for _, v := range got {
		for _, k := range []string{"time", "level", "interval", "method", "bytes", "duration", "remote"} {
			delete(v, k)
		}
		have = append(have, fmt.Sprint(v))
	}
	var wantV []string
	for _, w := range want {
		wantV = append(wantV, fmt.Sprint(lines(t, []byte(w+"\n"))[0]))
	}
	if fmt.Sprint(have) != fmt.Sprint(wantV) {
		t.Errorf("lines\n%v\nwant\n%v", strings.Join(have, "\n"), strings.Join(wantV, "\n"))
	}
}
