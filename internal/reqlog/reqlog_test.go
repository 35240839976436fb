package reqlog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

// writes records every Write call separately, to check that no line is torn across writes.
type writes struct {
	mu    sync.Mutex
	calls [][]byte
}

func (w *writes) Write(p []byte) (int, error) {
	w.mu.Lock()
	w.calls = append(w.calls, bytes.Clone(p))
	w.mu.Unlock()
	return len(p), nil
}

func (w *writes) all() []byte {
	w.mu.Lock()
	defer w.mu.Unlock()
	return bytes.Join(w.calls, nil)
}

// lines parses every line as JSON (failing the test at the first that is not).
func lines(t *testing.T, b []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var v map[string]any
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("line %d is not JSON (%v): %q", len(out)+1, err, sc.Text())
		}
		out = append(out, v)
	}
	return out
}

func newLogger(t *testing.T, o Options) *Logger {
	t.Helper()
	l, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// TestConcurrentLinesWhole logs from many goroutines at once, through small buffers so that they
// are swapped and written out all the time, with the flush loop running too: every write holds
// only whole lines, no bigger than PIPE_BUF unless one line is, and every line arrives once.
func TestConcurrentLinesWhole(t *testing.T) {
	t.Parallel()
	for _, text := range []bool{false, true} {
		out := &writes{}
		l := newLogger(t, Options{Out: out, Text: text, Mode: All, BufferSize: 8 << 10, FlushEvery: time.Millisecond})
		const goroutines, each = 8, 1500
		var wg sync.WaitGroup
		for g := range goroutines {
			wg.Go(func() {
				for i := range each {
					path := fmt.Sprintf("/g%d/%d", g, i)
					if i%500 == 0 {
						path += strings.Repeat("x", 1500) + "\n\"\\" // escaped, and longer lines
					}
					l.Log(&Entry{Method: "GET", Path: path, Status: 503, Bytes: 6703, Remote: "10.0.0.1:1234", Maintenance: true})
				}
			})
		}
		wg.Wait()
		l.Close()
		seen := map[string]bool{}
		for i, c := range out.calls {
			if len(c) == 0 || c[len(c)-1] != '\n' {
				t.Fatalf("text=%v: write %d does not end a line: %q", text, i, c[max(0, len(c)-40):])
			}
			if len(c) > pipeBuf && bytes.Count(c, []byte("\n")) > 1 {
				t.Errorf("text=%v: write %d has %d bytes and several lines; want at most %d", text, i, len(c), pipeBuf)
			}
		}
		all := out.all()
		if text {
			for _, line := range strings.Split(strings.TrimSuffix(string(all), "\n"), "\n") {
				if !strings.HasPrefix(line, "time=") || !strings.HasSuffix(line, " remote=10.0.0.1:1234") {
					t.Fatalf("torn text line: %q", line)
				}
				_, p, _ := strings.Cut(line, " path=")
				p, _, _ = strings.Cut(p, " status=")
				if seen[p] {
					t.Fatalf("line for %s twice", p)
				}
				seen[p] = true
			}
		} else {
			for _, v := range lines(t, all) {
				p := v["path"].(string)
				if seen[p] {
					t.Fatalf("line for %s twice", p)
				}
				seen[p] = true
			}
		}
		if len(seen) != goroutines*each {
			t.Errorf("text=%v: %d lines, want %d", text, len(seen), goroutines*each)
		}
	}
}

func TestCloseWritesEverything(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	var mu sync.Mutex
	l := newLogger(t, Options{Out: lockedWriter{&mu, &out}, Mode: All, FlushEvery: time.Hour})
	for i := range 10 {
		l.Log(&Entry{Method: "GET", Path: fmt.Sprintf("/%d", i), Status: 503})
	}
	mu.Lock()
	if out.Len() != 0 {
		t.Errorf("lines written before a flush: %q (want them buffered)", out.String())
	}
	mu.Unlock()
	l.Close()
	l.Log(&Entry{Method: "GET", Path: "/after-close", Status: 503})
	mu.Lock()
	defer mu.Unlock()
	got := lines(t, out.Bytes())
	if len(got) != 11 || got[10]["path"] != "/after-close" {
		t.Errorf("after Close: %d lines (%q), want the 10 buffered and the one logged after Close", len(got), out.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestFlushInterval(t *testing.T) {
	t.Parallel()
	out := &writes{}
	l := newLogger(t, Options{Out: out, Mode: All, FlushEvery: 20 * time.Millisecond})
	start := time.Now()
	l.Log(&Entry{Method: "GET", Path: "/", Status: 503})
	for len(out.all()) == 0 {
		if time.Since(start) > 5*time.Second {
			t.Fatal("the line was not written within 5s of a 20ms flush interval")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSampleKeepsEveryNon503(t *testing.T) {
	t.Parallel()
	out := &writes{}
	l := newLogger(t, Options{Out: out, Mode: Sample, SampleEvery: 10})
	sent := map[string]int{}
	send := func(e Entry, n int) {
		for range n {
			l.Log(&e)
		}
		sent[fmt.Sprintf("%s %d %v", e.Path, e.Status, e.Maintenance)] += n
	}
	send(Entry{Method: "GET", Path: "/", Status: 503, Maintenance: true, Format: "html"}, 1000)
	send(Entry{Method: "GET", Path: "/api/orders", Status: 503, Maintenance: true, Format: "json"}, 35)
	send(Entry{Method: "GET", Path: "/rare", Status: 503, Maintenance: true, Format: "html"}, 1)
	send(Entry{Method: "GET", Path: "/gone", Status: 410, Maintenance: true, Format: "html"}, 50)                    // a rule's status
	send(Entry{Method: "GET", Path: "/_maintenance/health", Status: 200}, 40)                                        // reserved
	send(Entry{Method: "POST", Path: "/api/orders", Status: 502}, 20)                                                // proxied, failed
	send(Entry{Method: "GET", Path: "/", Status: 503}, 30)                                                           // the application's own 503, proxied
	send(Entry{Method: "GET", Path: "/bypassed", Status: 200}, 25)                                                   // bypassed
	send(Entry{Method: "GET", Path: "/", Status: 503, Maintenance: true, Format: "html", Remote: "[::1]:1"}, 1000-1) // same class as above
	l.Close()
	got := map[string]int{}
	for _, v := range lines(t, out.all()) {
		_, isMaint := v["sampled"]
		got[fmt.Sprintf("%s %v %v", v["path"], v["status"], isMaint)]++
		if isMaint && v["sampled"] != 10.0 {
			t.Errorf("sampled line says sampled=%v, want 10", v["sampled"])
		}
	}
	want := map[string]int{
		"/ 503 true":                     200, // 1999 in one class: the 1st, 11th, … 1991st
		"/api/orders 503 true":           4,   // 35: 1st, 11th, 21st, 31st
		"/rare 503 true":                 1,   // the first of a class is always kept
		"/gone 410 false":                50,
		"/_maintenance/health 200 false": 40,
		"/api/orders 502 false":          20,
		"/ 503 false":                    30,
		"/bypassed 200 false":            25,
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d lines, want %d", k, got[k], n)
		}
	}
	if len(got) != len(want) {
		t.Errorf("lines %v, want %v", got, want)
	}
}

// TestSampleKeepsFirstOfEachClass: forty path classes, each sent once after a busy one: each has
// its own count, so each one's first answer is kept (with one count per hashed slot, some of them
// would share the busy class's count and be sampled away).
func TestSampleKeepsFirstOfEachClass(t *testing.T) {
	t.Parallel()
	out := &writes{}
	l := newLogger(t, Options{Out: out, Mode: Sample, SampleEvery: 1000})
	for i := range 40 {
		for range 3 { // a busy class between them, its count never a multiple of 1000
			l.Log(&Entry{Method: "GET", Path: "/busy/x", Status: 503, Maintenance: true, Format: "html"})
		}
		l.Log(&Entry{Method: "GET", Path: fmt.Sprintf("/class%d/page", i), Status: 503, Maintenance: true, Format: "html"})
	}
	l.Close()
	kept := map[string]bool{}
	for _, v := range lines(t, out.all()) {
		kept[v["path"].(string)] = true
	}
	for i := range 40 {
		if p := fmt.Sprintf("/class%d/page", i); !kept[p] {
			t.Errorf("%s, the only answer of its class, was sampled away", p)
		}
	}
}

func TestSummaryAddsUp(t *testing.T) {
	t.Parallel()
	out := &writes{}
	l := newLogger(t, Options{Out: out, Mode: Summary, SummaryEvery: 5 * time.Millisecond})
	type kind struct {
		e Entry
		n int
	}
	kinds := []kind{
		{Entry{Method: "GET", Path: "/", Status: 503, Maintenance: true, Format: "html", Remote: "203.0.113.7:5000"}, 700},
		{Entry{Method: "GET", Path: "/api/x", Status: 503, Maintenance: true, Format: "problem+json", Remote: "203.0.113.200:1"}, 300},
		{Entry{Method: "GET", Path: "/robots.txt", Status: 200, Maintenance: true, Format: "text", Remote: "[2001:db8:1:2::5]:443"}, 120},
		{Entry{Method: "GET", Path: "/_maintenance/health", Status: 200, Remote: "10.1.2.3:9"}, 50},
		{Entry{Method: "POST", Path: "/login", Status: 502, Remote: "198.51.100.1:2"}, 17},
	}
	var wg sync.WaitGroup
	for _, k := range kinds {
		for g := range 4 { // four goroutines each, while summaries are being taken
			wg.Go(func() {
				for i := range k.n / 4 {
					e := k.e
					if g == 0 && i == 0 {
						e.Path += "-first" // one distinct path per kind, for the top list
					}
					l.Log(&e)
					if i%50 == 0 {
						time.Sleep(time.Millisecond)
					}
				}
			})
		}
	}
	wg.Wait()
	l.Close()
	var requests, maintenance, logged, lineCount float64
	status, format := map[string]float64{}, map[string]float64{}
	paths, nets := map[string]float64{}, map[string]float64{}
	for _, v := range lines(t, out.all()) {
		switch v["msg"] {
		case "request":
			lineCount++
		case "requests":
			requests += v["requests"].(float64)
			maintenance += v["maintenance"].(float64)
			logged += v["logged"].(float64)
			var sum float64
			for k, n := range group(v, "status") {
				status[k] += n.(float64)
				sum += n.(float64)
			}
			if sum != v["requests"].(float64) {
				t.Errorf("a summary's statuses add up to %v, its requests are %v: %v", sum, v["requests"], v)
			}
			sum = 0
			for k, n := range group(v, "format") {
				format[k] += n.(float64)
				sum += n.(float64)
			}
			if sum != v["maintenance"].(float64) {
				t.Errorf("a summary's formats add up to %v, its maintenance answers are %v: %v", sum, v["maintenance"], v)
			}
			for k, n := range group(v, "top_paths") {
				paths[k] += n.(float64)
			}
			for k, n := range group(v, "top_networks") {
				nets[k] += n.(float64)
			}
		default:
			t.Errorf("unexpected line %v", v)
		}
	}
	if requests != 1184 || maintenance != 1120 || logged != 64 || lineCount != 64 {
		t.Errorf("summaries count %v requests, %v maintenance, %v logged, with %v request lines; want 1184, 1120, 64, 64",
			requests, maintenance, logged, lineCount)
	}
	wantStatus := map[string]float64{"503": 1000, "200": 168, "502": 16}
	wantFormat := map[string]float64{"html": 700, "problem+json": 300, "text": 120}
	if fmt.Sprint(status) != fmt.Sprint(wantStatus) || fmt.Sprint(format) != fmt.Sprint(wantFormat) {
		t.Errorf("status %v, format %v; want %v, %v", status, format, wantStatus, wantFormat)
	}
	// Each summary names its own top five (TestSummaryTopLists checks them exactly); summed over
	// the summaries, no path or network is counted more often than it was sent.
	if paths["/"] == 0 || paths["/"] > 699 || paths["/api/x"] > 299 || nets["203.0.113.0/24"] == 0 || nets["203.0.113.0/24"] > 1000 {
		t.Errorf("top paths %v, networks %v: want / at most 699, /api/x at most 299, 203.0.113.0/24 at most 1000", paths, nets)
	}
}

// TestSummaryTopLists: one interval, more paths and networks than the lists hold: the five
// busiest of each, with their counts, busiest first.
func TestSummaryTopLists(t *testing.T) {
	t.Parallel()
	out := &writes{}
	l := newLogger(t, Options{Out: out, Mode: Summary, SummaryEvery: time.Hour})
	for i, n := range []int{50, 40, 30, 20, 10, 5, 1} {
		for range n {
			l.Log(&Entry{Method: "GET", Path: fmt.Sprintf("/p%d", i), Status: 503, Maintenance: true, Format: "html",
				Remote: fmt.Sprintf("[2001:db8:%d::1]:1", i)})
		}
	}
	l.Close()
	s := string(out.all())
	for _, want := range []string{
		`"top_paths":{"/p0":50,"/p1":40,"/p2":30,"/p3":20,"/p4":10}`,
		`"top_networks":{"2001:db8::/48":50,"2001:db8:1::/48":40,"2001:db8:2::/48":30,"2001:db8:3::/48":20,"2001:db8:4::/48":10}`,
		`"requests":156,"maintenance":156,"logged":0,"status":{"503":156},"format":{"html":156}`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("summary %s\nlacks %s", s, want)
		}
	}
}

func TestSummaryTextAndQuiet(t *testing.T) {
	t.Parallel()
	out := &writes{}
	l := newLogger(t, Options{Out: out, Text: true, Mode: Summary, SummaryEvery: time.Millisecond})
	time.Sleep(20 * time.Millisecond) // intervals without requests write nothing
	l.Log(&Entry{Method: "GET", Path: "/", Status: 503, Maintenance: true, Format: "html", Remote: "192.0.2.1:1"})
	l.Close()
	got := string(out.all())
	if strings.Count(got, "\n") != 1 || !strings.Contains(got, "msg=requests") ||
		!strings.Contains(got, " requests=1 maintenance=1 logged=0 status.503=1 format.html=1 top_paths./=1 top_networks.192.0.2.0/24=1\n") {
		t.Errorf("text summary = %q, want one line counting the one request", got)
	}
}

// TestSummaryClientsBehindTrustedProxies: behind a trusted proxy the client network comes from
// X-Forwarded-For, as the gate's network bypass reads it; from anyone else the header is ignored.
func TestSummaryClientsBehindTrustedProxies(t *testing.T) {
	t.Parallel()
	out := &writes{}
	l := newLogger(t, Options{Out: out, Mode: Summary, SummaryEvery: time.Hour,
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	for range 3 { // through the router, two clients
		l.Log(&Entry{Method: "GET", Path: "/", Status: 503, Maintenance: true, Remote: "10.0.0.1:4000", Forwarded: []string{"203.0.113.7, 10.9.9.9"}})
	}
	l.Log(&Entry{Method: "GET", Path: "/", Status: 503, Maintenance: true, Remote: "10.0.0.1:4000", Forwarded: []string{"198.51.100.1"}})
	l.Log(&Entry{Method: "GET", Path: "/", Status: 503, Maintenance: true, Remote: "10.0.0.1:4000"})                                   // the router itself
	l.Log(&Entry{Method: "GET", Path: "/", Status: 503, Maintenance: true, Remote: "192.0.2.9:1", Forwarded: []string{"203.0.113.7"}}) // spoofed
	l.Close()
	got := lines(t, out.all())
	if len(got) != 1 {
		t.Fatalf("lines %v, want one summary", got)
	}
	want := map[string]any{"203.0.113.0/24": 3.0, "198.51.100.0/24": 1.0, "10.0.0.0/24": 1.0, "192.0.2.0/24": 1.0}
	if n := got[0]["top_networks"]; fmt.Sprint(n) != fmt.Sprint(want) {
		t.Errorf("top networks %v, want %v", n, want)
	}
}

func TestTopTableKeepsHeavyHitters(t *testing.T) {
	t.Parallel()
	var tt topTable
	for i := range 20000 {
		tt.add(fmt.Sprintf("/random/%d", i)) // a client inventing paths
		if i%4 == 0 {
			tt.add("/")
		}
		if i%10 == 0 {
			tt.add("/api")
		}
	}
	m := map[string]uint64{}
	tt.drain(m)
	top := top(m, func(k string) string { return k })
	if len(top) < 2 || top[0].Key != "/" || top[1].Key != "/api" || top[0].Value.Uint64() < 5000 || top[1].Value.Uint64() < 2000 {
		t.Errorf("top = %v, want / (≥5000) and /api (≥2000) first", top)
	}
}

func TestWrapAndMark(t *testing.T) {
	t.Parallel()
	out := &writes{}
	l := newLogger(t, Options{Out: out, Mode: Summary, SummaryEvery: time.Hour})
	h := l.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/maintenance" {
			MarkMaintenance(wrapped{w}, "json") // through a wrapper of a handler in between
			w.WriteHeader(503)
			w.Write([]byte("down"))
			return
		}
		w.WriteHeader(http.StatusEarlyHints)
		w.Write([]byte("passed"))
	}))
	srv := httptest.NewServer(h) // a real server: httptest.ResponseRecorder mishandles 1xx
	defer srv.Close()
	for _, p := range []string{"/maintenance", "/passed?token=secret"} {
		resp, err := srv.Client().Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	srv.Close() // waits for the handlers, and so for their lines
	l.Close()
	got := lines(t, out.all())
	if len(got) != 2 {
		t.Fatalf("lines %v, want the passed request and a summary", got)
	}
	if got[0]["path"] != "/passed" || got[0]["status"] != 200.0 || got[0]["bytes"] != 6.0 {
		t.Errorf("line %v, want /passed (no query), status 200 (not the 103), 6 bytes", got[0])
	}
	if f := got[1]["format"].(map[string]any); got[1]["maintenance"] != 1.0 || f["json"] != 1.0 {
		t.Errorf("summary %v, want the marked request counted as one json maintenance answer", got[1])
	}
}

type wrapped struct{ http.ResponseWriter }

func (w wrapped) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func TestLogAllocatesNothing(t *testing.T) {
	e := Entry{Method: "GET", Path: "/some/page", Status: 503, Bytes: 6703, Duration: 12345, Remote: "203.0.113.9:45678", Maintenance: true, Format: "html"}
	other := e
	other.Maintenance, other.Status = false, 200
	proxied := e
	proxied.Remote, proxied.Forwarded = "10.0.0.1:4000", []string{"203.0.113.7, 10.9.9.9"}
	for _, mode := range []Mode{All, Sample, Summary} {
		for _, text := range []bool{false, true} {
			l := newLogger(t, Options{Out: &discard{}, Text: text, Mode: mode, SampleEvery: 3,
				TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
			for _, e := range []*Entry{&e, &other, &proxied} {
				if n := testing.AllocsPerRun(1000, func() { l.Log(e) }); n != 0 {
					t.Errorf("%v, text=%v, maintenance=%v: %v allocations per Log, want 0", mode, text, e.Maintenance, n)
				}
			}
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkLog is the cost of one Log call in each mode, from as many goroutines as cores.
func BenchmarkLog(b *testing.B) {
	for _, mode := range []Mode{All, Sample, Summary} {
		b.Run(mode.String(), func(b *testing.B) {
			l, err := New(Options{Out: discard{}, Mode: mode})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				e := Entry{Method: "GET", Path: "/some/page", Status: 503, Bytes: 6703, Duration: 12345,
					Remote: fmt.Sprintf("203.0.113.9:%d", time.Now().UnixNano()%60000), Maintenance: true, Format: "html"}
				for pb.Next() {
					l.Log(&e)
				}
			})
		})
	}
}

// gatedWriter blocks every Write until open is closed, as a stalled log collector does.
type gatedWriter struct {
	open chan struct{}
	writes
}

func (g *gatedWriter) Write(p []byte) (int, error) {
	<-g.open
	return g.writes.Write(p)
}

// TestStalledOutputHoldsLinesBack: with stdout stalled, logging goes on into the buffers, then
// waits; nothing is dropped, and everything arrives once stdout moves again.
func TestStalledOutputHoldsLinesBack(t *testing.T) {
	t.Parallel()
	out := &gatedWriter{open: make(chan struct{})}
	l := newLogger(t, Options{Out: out, Mode: All, BufferSize: 4 << 10, FlushEvery: time.Millisecond})
	logged := make(chan int, 1)
	go func() {
		for i := range 1000 { // about 40 buffers' worth
			l.Log(&Entry{Method: "GET", Path: fmt.Sprintf("/%d", i), Status: 503, Remote: "10.0.0.1:1"})
		}
		logged <- 1000
	}()
	select {
	case <-logged:
		t.Fatal("1000 lines logged into two 4 KiB buffers while stdout was stalled: some must have been dropped")
	case <-time.After(100 * time.Millisecond):
	}
	close(out.open)
	select {
	case <-logged:
	case <-time.After(10 * time.Second):
		t.Fatal("logging still blocked 10s after stdout moved again")
	}
	l.Close()
	if got := len(lines(t, out.all())); got != 1000 {
		t.Errorf("%d lines arrived, want 1000", got)
	}
}

func TestTopTableCutsLongKeys(t *testing.T) {
	t.Parallel()
	var tt topTable
	exact, long := "/"+strings.Repeat("e", topKey-1), "/"+strings.Repeat("l", 100)
	tt.add(exact)
	tt.add(long)
	tt.add(long[:topKey]) // the same first bytes as the long one, but whole
	m := map[string]uint64{}
	tt.drain(m)
	want := map[string]uint64{exact: 1, long[:topKey] + "…": 1, long[:topKey]: 1}
	if fmt.Sprint(m) != fmt.Sprint(want) {
		t.Errorf("drained %v, want %v", m, want)
	}
}
