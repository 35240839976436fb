package main

import (
	"fmt"
	"math"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

const wrkOut = `Running 5s test @ http://127.0.0.1:41201/bench
  2 threads and 100 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.21ms    2.03ms  45.54ms   93.40%
    Req/Sec    11.21k     1.02k   13.50k    70.00%
  Latency Distribution
     50%  512.00us
     75%    1.02ms
     90%    2.50ms
     99%    1.20s
  111534 requests in 5.00s, 700.12MB read
  Socket errors: connect 0, read 3, write 1, timeout 7
  Non-2xx or 3xx responses: 111530
Requests/sec:  22302.55
Transfer/sec:    140.01MB
`

func TestParseWrk(t *testing.T) {
	t.Parallel()
	got, err := parseWrk(wrkOut)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{Requests: 111534, Seconds: 5, RPS: 22302.55, P50ms: 0.512, P75ms: 1.02, P90ms: 2.5, P99ms: 1200,
		SocketErrors: 11, Read: 3, Write: 1, Timeout: 7, Non2xx3xx: 111530}
	if got != want {
		t.Errorf("parseWrk:\ngot  %+v\nwant %+v", got, want)
	}
}

func TestParseWrkRejectsIncomplete(t *testing.T) {
	t.Parallel()
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused\n"); err == nil {
		t.Error("parseWrk accepted output without results")
	}
}

func TestParseLatency(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]float64{"250.00us": 0.25, "1.50ms": 1.5, "2.00s": 2000, "1.00m": 60000} {
		if got, err := parseLatency(in); err != nil || got != want {
			t.Errorf("parseLatency(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseLatency("3.0xs"); err == nil {
		t.Error("parseLatency accepted an unknown unit")
	}
}

func TestNginxMaintConfRepeatsHeaders(t *testing.T) {
	t.Parallel()
	hdr := http.Header{
		"Content-Type":            {"text/html; charset=utf-8"},
		"Retry-After":             {"3600"},
		"Cache-Control":           {"no-store"},
		"Content-Security-Policy": {`default-src 'none'; style-src "x"`},
		"Date":                    {"Thu, 26 Nov 2026 00:36:56 GMT"},
		"Content-Length":          {"875"},
	}
	conf, err := nginxMaintConf("/tmp/x", 8080, hdr, false, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`sendfile off;`,
		`default_type "text/html; charset=utf-8";`,
		`add_header Retry-After "3600" always;`,
		`add_header Cache-Control "no-store" always;`,
		`add_header Content-Security-Policy "default-src 'none'; style-src \"x\"" always;`,
		"listen 127.0.0.1:8080;", "access_log off;", "error_page 503 /maint.html;",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("configuration lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "http2") {
		t.Errorf("the HTTP/1 configuration listens for HTTP/2:\n%s", conf)
	}
	h2, err := nginxMaintConf("/tmp/x", 8080, hdr, true, true)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(h2, "listen 127.0.0.1:8080 http2;") || !strings.Contains(h2, "sendfile on;") {
		t.Errorf("the HTTP/2 configuration lacks \"listen 127.0.0.1:8080 http2;\" or \"sendfile on;\":\n%s", h2)
	}
	for _, not := range []string{"add_header Date", "add_header Content-Length", "add_header Content-Type"} {
		if strings.Contains(conf, not) {
			t.Errorf("configuration has %q; nginx writes that header itself", not)
		}
	}
	hdr.Set("X-Bad", "$host")
	if _, err := nginxMaintConf("/tmp/x", 8080, hdr, true, false); err == nil {
		t.Error("a header with $ was accepted; nginx would expand it")
	}
}

func TestMedian(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		in   []float64
		want float64
	}{"empty": {nil, 0}, "odd": {[]float64{3, 1, 2}, 2}, "even": {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("%s: median(%v) = %v, want %v", name, tc.in, got, tc.want)
		}
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	o, err := parseFlags([]string{"--smoke"}, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if o.runs != 1 || o.rounds != 1 || o.duration.Seconds() != 1 || len(o.conns) != 1 || o.starts != 1 ||
		o.h2Requests != 2000 || o.memRounds != 2 || o.memDuration.Seconds() != 1 || o.systems != nil {
		t.Errorf("--smoke: got %+v; want one one-second round of every system, 2000 h2load requests, two one-second memory rounds", o)
	}
	full, err := parseFlags(nil, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if full.runs != 3 || full.memRounds != 10 || full.memConns != 1000 || full.h2Requests != 200000 ||
		strings.Join(strings.Fields(strings.Trim(fmt.Sprint(full.conns), "[]")), ",") != "10,100,1000" {
		t.Errorf("defaults: got %+v; want 3 runs, conns 10,100,1000, 10 memory rounds at 1000 conns, h2load -n 200000", full)
	}
	if len(full.systems) != len(defaultSystems) {
		t.Errorf("default systems: got %v, want %v", full.systems, defaultSystems)
	}
	all, err := parseFlags([]string{"--systems", "all"}, &strings.Builder{})
	if err != nil || all.systems != nil {
		t.Errorf("--systems all: got %v, %v; want every system", all.systems, err)
	}
	for _, bad := range [][]string{{"--systems", "apache"}, {"--runs", "0"}, {"--h2-requests", "10"}, {"--memory-duration", "10ms"}} {
		if _, err := parseFlags(bad, &strings.Builder{}); err == nil {
			t.Errorf("%v was accepted", bad)
		}
	}
}

// TestDefaultsFitTheBudget: the full run with its defaults (3 runs) is estimated at 25 minutes or
// less on the project's machine, as docs/benchmark.md says.
func TestDefaultsFitTheBudget(t *testing.T) {
	t.Parallel()
	o, err := parseFlags(nil, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	var systems []*system
	for _, s := range allSystems() {
		if slices.Contains(defaultSystems, s.ID) {
			systems = append(systems, s)
		}
	}
	if len(systems) != len(defaultSystems) {
		t.Fatalf("defaultSystems names %d systems, %d exist", len(defaultSystems), len(systems))
	}
	d := estimate(o, systems)
	if d > 25*time.Minute || d < 10*time.Minute {
		t.Errorf("the full run is estimated at %v; want 10–25 minutes", d)
	}
	o.runs = 2
	t.Logf("estimated: 3 runs %v, 2 runs %v", d, estimate(o, systems))
}

// TestParseH2load reads real h2load output (testdata/README.md says where it comes from).
func TestParseH2load(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file string
		want h2loadResult
	}{
		{"testdata/h2load-maintpage-h2c.txt", h2loadResult{Requests: 20000, Started: 20000, Done: 20000, Failed: 20000, Status5xx: 20000,
			Seconds: 0.53675, RPS: 37261.29, DataBytes: 134060000, MinMs: 0.587, MaxMs: 105.52, MeanMs: 24.25, SDMs: 12.79}},
		{"testdata/h2load-nginx-http2.txt", h2loadResult{Requests: 20000, Started: 20000, Done: 20000, Failed: 20000, Status5xx: 20000,
			Seconds: 0.20608, RPS: 97050.16, DataBytes: 134060000, MinMs: 0.092, MaxMs: 21.10, MeanMs: 8.33, SDMs: 4.86}},
	} {
		b, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := parseH2load(string(b))
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if !closeH2(got, tc.want) {
			t.Errorf("%s:\ngot  %+v\nwant %+v", tc.file, got, tc.want)
		}
		// 20000 answers of the 6703-byte page, all 503: nothing wrong.
		if p := h2Problem(got, 20000, 6703); p != "" {
			t.Errorf("%s: h2Problem = %q, want none", tc.file, p)
		}
	}
}

// closeH2 compares two results, the float fields to a rounding error (0.53675 s comes from "536.75ms").
func closeH2(a, b h2loadResult) bool {
	near := func(x, y float64) bool { return math.Abs(x-y) <= 1e-9*math.Max(1, math.Abs(y)) }
	fa := []*float64{&a.Seconds, &a.RPS, &a.MinMs, &a.MaxMs, &a.MeanMs, &a.SDMs}
	fb := []*float64{&b.Seconds, &b.RPS, &b.MinMs, &b.MaxMs, &b.MeanMs, &b.SDMs}
	for i := range fa {
		if !near(*fa[i], *fb[i]) {
			return false
		}
		*fa[i], *fb[i] = 0, 0
	}
	return a == b
}

func TestH2loadRejects(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/h2load-maintpage-h2c.txt")
	if err != nil {
		t.Fatal(err)
	}
	good := string(b)
	for name, out := range map[string]string{
		"refused":        "starting benchmark...\nclient could not connect to host\nfinished in 1.23ms, 0.00 req/s, 0B/s\n",
		"no status line": strings.Replace(good, "status codes:", "statuses:", 1),
		"unknown count":  strings.Replace(good, "0 timeout", "0 lost", 1),
		"bad latency":    strings.Replace(good, "24.25ms", "24.25xs", 1),
	} {
		if _, err := parseH2load(out); err == nil {
			t.Errorf("%s: parseH2load accepted it", name)
		}
	}
	base, err := parseH2load(good)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		edit func(*h2loadResult)
		want string
	}{
		"unfinished": {func(r *h2loadResult) { r.Done = 19000 }, "finished 19000 of 20000"},
		"errored":    {func(r *h2loadResult) { r.Errored = 3 }, "3 request(s) errored"},
		"a 200":      {func(r *h2loadResult) { r.Status5xx, r.Status2xx = 19999, 1 }, "19999 of 20000 answers were 5xx"},
		"short body": {func(r *h2loadResult) { r.DataBytes-- }, "body bytes"},
		"all 503":    {func(r *h2loadResult) {}, ""},
	} {
		r := base
		tc.edit(&r)
		if got := h2Problem(r, 20000, 6703); (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: h2Problem = %q, want %q", name, got, tc.want)
		}
	}
}

// synthetic is a two-run, two-round result: maintpage against both nginx rows at c=100, the gate
// against nginx proxy_pass, the HTTP/2 systems, and the long-lived rounds.
func synthetic() *results {
	var systems []*system
	for _, s := range allSystems() {
		if slices.Contains([]string{"maintpage", "nginx", "nginx-nosendfile", "gate", "nginx-proxy", "maintpage-h2c", "nginx-h2", "nginx-h2-nosendfile"}, s.ID) {
			systems = append(systems, s)
		}
	}
	r := newResults(options{runs: 2, rounds: 2, conns: []int{100}, memRounds: 3, memConns: 1000}, systems)
	wrk := func(id string, run, round int, rps, p99 float64, rssKiB int64) {
		r.Cells = append(r.Cells, cell{System: id, Run: run, Round: round, Conns: 100, PeakRSSKiB: rssKiB,
			Result: &wrkResult{RPS: rps, P99ms: p99}, LoadBefore: "0.50", LoadAfter: "1.50"})
	}
	// Run 1: nginx with sendfile off is the faster one in round 1, with sendfile on in round 2.
	wrk("maintpage", 1, 1, 120, 3, 20<<10)
	wrk("nginx", 1, 1, 90, 2, 21<<10)
	wrk("nginx-nosendfile", 1, 1, 100, 2, 21<<10)
	wrk("maintpage", 1, 2, 110, 3, 22<<10)
	wrk("nginx", 1, 2, 100, 2, 21<<10)
	wrk("nginx-nosendfile", 1, 2, 80, 2, 21<<10)
	// Run 2: maintpage is slower than nginx.
	wrk("maintpage", 2, 1, 90, 4, 30<<10)
	wrk("nginx", 2, 1, 100, 2, 21<<10)
	wrk("nginx-nosendfile", 2, 1, 100, 2, 21<<10)
	wrk("maintpage", 2, 2, 100, 4, 25<<10)
	wrk("nginx", 2, 2, 100, 2, 21<<10)
	wrk("nginx-nosendfile", 2, 2, 50, 2, 21<<10)
	for run := 1; run <= 2; run++ {
		for round := 1; round <= 2; round++ {
			wrk("gate", run, round, 95, 2, 30<<10)
			wrk("nginx-proxy", run, round, 100, 2, 20<<10)
			h2 := func(id string, rps float64) {
				r.H2Cells = append(r.H2Cells, h2cell{System: id, Run: run, Round: round, PeakRSSKiB: 20 << 10,
					Result: &h2loadResult{RPS: rps, MeanMs: 5}, LoadBefore: "1.00", LoadAfter: "2.00"})
			}
			h2("maintpage-h2c", 85)
			h2("nginx-h2", 100)
			h2("nginx-h2-nosendfile", 90)
		}
		for round := 1; round <= 3; round++ {
			r.Memory = append(r.Memory, memRound{System: "maintpage", Run: run, Round: round, Conns: 1000, RPS: 50,
				VmHWMKiB: int64(20+round+run) << 10, VmRSSKiB: 20 << 10})
		}
	}
	r.finish()
	return r
}

func TestRowsAndGoalsOverRuns(t *testing.T) {
	t.Parallel()
	r := synthetic()
	rw := r.row("maintpage", 100)
	if rw == nil || rw.Rounds != 4 {
		t.Fatalf("maintpage row: %+v", rw)
	}
	// Per run: medians 115 and 95 req/s; ratios to the faster nginx 1.2, 1.1 (median 1.15) and 0.9,
	// 1.0 (median 0.95); peak RSS 22 and 30 MiB.
	want := map[string]string{
		"req/s":      "105 (95–115)",
		"ratio":      "1.05× (0.95–1.15×)",
		"peak RSS":   "26.0 MiB (22.0–30.0 MiB)",
		"p99 ratio":  "1.75× (1.50–2.00×)",
		"gate ratio": "0.95×",
	}
	got := map[string]string{
		"req/s":      rw.RPS.format(fmtRPS),
		"ratio":      fmtSpreadPtr(rw.RPSRatio),
		"peak RSS":   rw.PeakRSSMiB.format(fmtMiB),
		"p99 ratio":  fmtSpreadPtr(rw.P99Ratio),
		"gate ratio": fmtSpreadPtr(r.row("gate", 100).RPSRatio),
	}
	for k := range want {
		if got[k] != want[k] {
			t.Errorf("%s: got %q, want %q", k, got[k], want[k])
		}
	}
	goals := map[string]goal{}
	for _, g := range r.Goals {
		goals[g.Goal] = g
	}
	for name, w := range map[string]struct{ measured, met string }{
		"maintenance page req/s ÷ the faster nginx, c=100":                            {"1.05× (0.95–1.15×)", "NO (met in 1 of 2 runs)"},
		"maintenance page p99 ÷ the faster nginx's p99, c=100":                        {"1.75× (1.50–2.00×)", "NO (met in 1 of 2 runs)"},
		"maintenance page req/s ÷ the faster nginx, c=1000":                           {"no 1000-connection run", "not measured"},
		"gate pass-through req/s ÷ nginx proxy_pass, c=100":                           {"0.95×", "yes"},
		"gate pass-through req/s ÷ HAProxy, c=100":                                    {"systems not selected", "not measured"},
		"h2c maintenance page req/s ÷ the faster nginx http2 (h2load -c 100 -m 10)":   {"0.85×", "yes"},
		"maintenance page peak RSS, c=1000, long-lived process (VmHWM after round 3)": {"24.5 MiB (24.0–25.0 MiB)", "NO (met in 1 of 2 runs)"},
		"gate peak RSS, c=1000, long-lived process (VmHWM after round 3)":             {"not measured (--memory-rounds 0, or gate not selected)", "not measured"},
		"default request log (summary) req/s ÷ log off, c=100":                        {"systems not selected", "not measured"},
		"gate pass-through req/s ÷ nginx proxy_pass, c=10":                            {"no 10-connection run", "not measured"},
		"gate peak RSS, c=1000 (fresh process)":                                       {"no 1000-connection run", "not measured"},
	} {
		g, ok := goals[name]
		if !ok {
			t.Errorf("no goal %q", name)
			continue
		}
		if g.Measured != w.measured || g.Met != w.met {
			t.Errorf("%s: measured %q, met %q; want %q, %q", name, g.Measured, g.Met, w.measured, w.met)
		}
	}
	md := r.markdown()
	for _, want := range []string{
		"| maintpage serve | 100 | 105 (95–115) |",
		"## HTTP/2 cleartext (h2load)",
		"| maintpage serve --h2c | 85 | 5.000 ms | 20.0 MiB | 0.85× | 1.00× | 1.00 → 2.00 |",
		"## Memory of a long-lived process",
		"| 3 | 50 | 24.5 MiB (24.0–25.0 MiB) | 20.0 MiB |",
		"| maintenance page req/s ÷ the faster nginx, c=100 | issue 11 | ≥ 1.1× | 1.05× (0.95–1.15×) | NO (met in 1 of 2 runs) | 0.50–1.50 |",
		"| h2c maintenance page req/s ÷ the faster nginx http2 (h2load -c 100 -m 10) | issue 11 | ≥ 0.8× | 0.85× | yes | 1.00–2.00 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("the Markdown lacks %q:\n%s", want, md)
		}
	}
}

func TestVerdict(t *testing.T) {
	t.Parallel()
	atLeast1 := func(v float64) bool { return v >= 1 }
	for _, tc := range []struct {
		in   []float64
		want string
	}{
		{nil, "not measured"}, {[]float64{1, 2}, "yes"}, {[]float64{0.5, 0.9}, "NO"}, {[]float64{0.5, 1, 2}, "NO (met in 2 of 3 runs)"},
	} {
		if got := verdict(tc.in, atLeast1); got != tc.want {
			t.Errorf("verdict(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestPerfTop reads the top of a real perf report (testdata/README.md says where it comes from).
func TestPerfTop(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("testdata/perf-report-maintpage.txt")
	if err != nil {
		t.Fatal(err)
	}
	got := perfTop(string(b), 3)
	want := []string{
		"17.32% [kernel.kallsyms] [k] finish_task_switch.isra.0",
		"5.49% [vdso] [.] __vdso_clock_gettime",
		"4.29% [kernel.kallsyms] [k] _raw_spin_unlock_irqrestore",
	}
	if !slices.Equal(got, want) {
		t.Errorf("perfTop:\ngot  %q\nwant %q", got, want)
	}
	if all := perfTop(string(b), 1000); !slices.Contains(all, "1.72% maintpage [.] github.com/maintpage/maintpage/internal/server.(*fastConn).serve") {
		t.Errorf("perfTop lost a Go symbol: %q", all)
	}
}
