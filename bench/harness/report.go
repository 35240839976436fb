package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// cell is one measured wrk run: one system, one run, one round, one connection count.
type cell struct {
	System      string     `json:"system"`
	Run         int        `json:"run"`
	Round       int        `json:"round"`
	Conns       int        `json:"conns"`
	Result      *wrkResult `json:"result,omitempty"`
	WrongStatus int64      `json:"wrong_status"`
	PeakRSSKiB  int64      `json:"peak_rss_kib"`
	Procs       int        `json:"processes"`
	Error       string     `json:"error,omitempty"`
	Unavailable bool       `json:"unavailable,omitempty"`
	// The 1-minute load average just before the system started and just after the load.
	LoadBefore string `json:"loadavg_before,omitempty"`
	LoadAfter  string `json:"loadavg_after,omitempty"`
	Raw        string `json:"wrk_output,omitempty"`
	// The request log's rows: bytes and lines written during the load, and the size of the
	// summary line written at shutdown.
	LogBytes         int64 `json:"log_bytes,omitempty"`
	LogLines         int64 `json:"log_lines,omitempty"`
	SummaryLineBytes int64 `json:"summary_line_bytes,omitempty"`
}

// spread is a figure over runs: the median of the per-run figures and their range.
type spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	Runs   int     `json:"runs"` // how many runs measured it
}

func spreadOf(perRun []float64) spread {
	if len(perRun) == 0 {
		return spread{}
	}
	return spread{Median: median(perRun), Min: slices.Min(perRun), Max: slices.Max(perRun), Runs: len(perRun)}
}

// format writes the median, and the range over runs in brackets when there is one: "0.91× (0.88–0.95×)".
func (s spread) format(f func(float64) string) string {
	switch {
	case s.Runs == 0:
		return "–"
	case s.Runs == 1 || f(s.Min) == f(s.Max):
		return f(s.Median)
	}
	lo, hi := f(s.Min), f(s.Max)
	// The unit once: "22.0–30.0 MiB", not "22.0 MiB–30.0 MiB".
	unit := hi[strings.LastIndexAny(hi, "0123456789")+1:]
	if u, ok := strings.CutSuffix(lo, unit); ok {
		lo = strings.TrimSpace(u)
	}
	return fmt.Sprintf("%s (%s–%s)", f(s.Median), lo, hi)
}

// spreadPtr is spreadOf, nil when no run measured it (the JSON then leaves it out).
func spreadPtr(perRun []float64) *spread {
	if len(perRun) == 0 {
		return nil
	}
	s := spreadOf(perRun)
	return &s
}

// row is one system at one connection count: each figure is the median over runs of the run's
// median over its rounds (peak RSS: of the run's largest), with the range over runs.
type row struct {
	System       string  `json:"system"`
	Conns        int     `json:"conns"`
	Rounds       int     `json:"rounds"` // measured, over all runs
	RPS          spread  `json:"rps"`
	P50ms        spread  `json:"p50_ms"`
	P99ms        spread  `json:"p99_ms"`
	SocketErrors int64   `json:"socket_errors_total"`
	WrongStatus  int64   `json:"wrong_status_total"`
	PeakRSSMiB   spread  `json:"peak_rss_mib"`
	RPSRatio     *spread `json:"rps_ratio,omitempty"` // per run, the median over rounds of this÷reference
	P99Ratio     *spread `json:"p99_ratio,omitempty"`
	Error        string  `json:"error,omitempty"`
}

type goal struct {
	Goal     string    `json:"goal"`
	Source   string    `json:"source"` // the issue it comes from, or why an older goal is kept
	Target   string    `json:"target"`
	Measured string    `json:"measured"`
	PerRun   []float64 `json:"per_run,omitempty"`
	Met      string    `json:"met"` // yes, NO (with how many runs met it), or not measured
	// Load is the range of the 1-minute load average before and after the loads it was measured on.
	Load string `json:"loadavg,omitempty"`
}

type machine struct {
	Cores     int    `json:"cores"`
	CPU       string `json:"cpu"`
	Kernel    string `json:"kernel"`
	Go        string `json:"go"`
	Nginx     string `json:"nginx,omitempty"`
	Python    string `json:"python,omitempty"`
	Wrk       string `json:"wrk"`
	H2load    string `json:"h2load,omitempty"`
	LoadStart string `json:"loadavg_start"`
	LoadEnd   string `json:"loadavg_end"`
}

type goBenchResult struct {
	Available bool   `json:"available"`
	Output    string `json:"output"`
	Reason    string `json:"reason,omitempty"`
}

type results struct {
	Date           string  `json:"date"`
	Command        string  `json:"command"`
	Smoke          bool    `json:"smoke"`
	Noisy          bool    `json:"noisy,omitempty"` // run with --allow-noisy on a busy machine
	Runs           int     `json:"runs"`
	Rounds         int     `json:"rounds"` // per run
	Duration       string  `json:"duration"`
	Warmup         string  `json:"warmup"`
	Conns          []int   `json:"conns"`
	H2Requests     int     `json:"h2_requests"`
	MemoryRounds   int     `json:"memory_rounds"`
	MemoryConns    int     `json:"memory_conns"`
	MemoryDuration string  `json:"memory_duration"`
	Estimate       string  `json:"estimate"`
	Took           string  `json:"took"`
	Machine        machine `json:"machine"`
	// RunLoad is the 1-minute load average when each run started.
	RunLoad        []string             `json:"loadavg_run_start"`
	ReferenceBytes int                  `json:"reference_body_bytes"`
	Startup        map[string][]float64 `json:"startup_ms"` // every start, over all runs
	// StartupRuns is, per system, each run's median start-up.
	StartupRuns map[string][]float64 `json:"startup_ms_run_medians"`
	Cells       []cell               `json:"cells"`
	H2Cells     []h2cell             `json:"h2_cells,omitempty"`
	Memory      []memRound           `json:"memory,omitempty"`
	Rows        []row                `json:"rows"`
	H2Rows      []row                `json:"h2_rows,omitempty"`
	Goals       []goal               `json:"goals"`
	Profiles    []profile            `json:"profiles,omitempty"`
	GoBench     *goBenchResult       `json:"go_bench,omitempty"`
	Failures    []string             `json:"failures,omitempty"`

	systems []*system
}

func newResults(o options, systems []*system) *results {
	return &results{
		Date: time.Now().Format("2006-01-02"), Command: o.command, Smoke: o.smoke,
		Runs: o.runs, Rounds: o.rounds, Duration: o.duration.String(), Warmup: o.warmup.String(), Conns: o.conns,
		H2Requests: o.h2Requests, MemoryRounds: o.memRounds, MemoryConns: o.memConns, MemoryDuration: o.memDuration.String(),
		Startup: map[string][]float64{}, StartupRuns: map[string][]float64{}, systems: systems,
	}
}

func (r *results) fail(format string, a ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, a...))
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// measured is what a ratio is taken between: one wrk or h2load run's figures. Latency is wrk's
// p99, or h2load's mean time for a request (it gives no percentiles).
type measured struct {
	RPS, Latency float64
}

// at finds one system's measured run in one round of one run: a wrk cell, or for the HTTP/2
// systems an h2load one (conns is then ignored).
func (r *results) at(id string, run, round, conns int) *measured {
	for i := range r.Cells {
		c := &r.Cells[i]
		if c.System == id && c.Run == run && c.Round == round && c.Conns == conns && c.Result != nil && c.Error == "" {
			return &measured{RPS: c.Result.RPS, Latency: c.Result.P99ms}
		}
	}
	for i := range r.H2Cells {
		c := &r.H2Cells[i]
		if c.System == id && c.Run == run && c.Round == round && c.Result != nil && c.Error == "" {
			return &measured{RPS: c.Result.RPS, Latency: c.Result.MeanMs}
		}
	}
	return nil
}

// loadRange is the range of the 1-minute load average before and after id's runs at conns, as
// "min before–max before → min after–max after".
func (r *results) loadRange(id string, conns int) string {
	var before, after []string
	for _, c := range r.Cells {
		if c.System == id && c.Conns == conns {
			before, after = append(before, c.LoadBefore), append(after, c.LoadAfter)
		}
	}
	for _, c := range r.H2Cells {
		if c.System == id {
			before, after = append(before, c.LoadBefore), append(after, c.LoadAfter)
		}
	}
	return loadSpan(before) + " → " + loadSpan(after)
}

// loadSpan writes the range of load averages read from /proc/loadavg.
func loadSpan(loads []string) string {
	var xs []float64
	for _, l := range loads {
		if v, err := strconv.ParseFloat(l, 64); err == nil {
			xs = append(xs, v)
		}
	}
	if len(xs) == 0 {
		return "?"
	}
	lo, hi := slices.Min(xs), slices.Max(xs)
	if lo == hi {
		return fmt.Sprintf("%.2f", lo)
	}
	return fmt.Sprintf("%.2f–%.2f", lo, hi)
}

// references are the systems a reference ID stands for: nginx is measured with sendfile on and
// off, and whichever of the two was faster in a round is the reference for that round, so that no
// ratio is taken against nginx configured the slower way. (nginx proxy_pass has one
// configuration: sendfile does not apply to a proxied answer held in memory.)
var references = map[string][]string{
	"nginx":    {"nginx", "nginx-nosendfile"},
	"nginx-h2": {"nginx-h2", "nginx-h2-nosendfile"},
}

// referenceAt is what a ratio to id is taken against in a round: the fastest of id's systems.
func (r *results) referenceAt(id string, run, round, conns int) *measured {
	ids, ok := references[id]
	if !ok {
		return r.at(id, run, round, conns)
	}
	var best *measured
	for _, x := range ids {
		if c := r.at(x, run, round, conns); c != nil && (best == nil || c.RPS > best.RPS) {
			best = c
		}
	}
	return best
}

// paired is, for one run, the median over its rounds of f(system's figures, other's), using only
// rounds where both were measured, so that drift between rounds cancels.
func (r *results) paired(run int, id, other string, conns int, f func(a, b *measured) float64) (float64, bool) {
	var xs []float64
	for round := 1; round <= r.Rounds; round++ {
		a, b := r.at(id, run, round, conns), r.referenceAt(other, run, round, conns)
		if a != nil && b != nil {
			xs = append(xs, f(a, b))
		}
	}
	return median(xs), len(xs) > 0
}

// pairedRuns is paired for every run that measured both.
func (r *results) pairedRuns(id, other string, conns int, f func(a, b *measured) float64) []float64 {
	var xs []float64
	for run := 1; run <= r.Runs; run++ {
		if v, ok := r.paired(run, id, other, conns, f); ok {
			xs = append(xs, v)
		}
	}
	return xs
}

func rpsRatio(a, b *measured) float64 { return a.RPS / b.RPS }
func p99Ratio(a, b *measured) float64 { return a.Latency / b.Latency }

func (r *results) row(id string, conns int) *row {
	for i := range r.Rows {
		if r.Rows[i].System == id && r.Rows[i].Conns == conns {
			return &r.Rows[i]
		}
	}
	return nil
}

func (r *results) finish() {
	for _, s := range r.systems {
		if s.Group == "h2" {
			r.H2Rows = append(r.H2Rows, r.h2Row(s))
			continue
		}
		for _, c := range r.Conns {
			rw := row{System: s.ID, Conns: c}
			var rps, p50, p99, rss []float64
			for run := 1; run <= r.Runs; run++ {
				var xr, x50, x99 []float64
				var peak int64
				for _, cl := range r.Cells {
					if cl.System != s.ID || cl.Conns != c || cl.Run != run {
						continue
					}
					if cl.Result == nil {
						if rw.Error == "" {
							rw.Error = cl.Error
						}
						continue
					}
					rw.Rounds++
					xr, x50, x99 = append(xr, cl.Result.RPS), append(x50, cl.Result.P50ms), append(x99, cl.Result.P99ms)
					rw.SocketErrors += cl.Result.SocketErrors
					rw.WrongStatus += cl.WrongStatus
					peak = max(peak, cl.PeakRSSKiB)
					if cl.Error != "" && rw.Error == "" {
						rw.Error = cl.Error
					}
				}
				if len(xr) > 0 {
					rps, p50, p99 = append(rps, median(xr)), append(p50, median(x50)), append(p99, median(x99))
					rss = append(rss, kibMiB(peak))
				}
			}
			rw.RPS, rw.P50ms, rw.P99ms, rw.PeakRSSMiB = spreadOf(rps), spreadOf(p50), spreadOf(p99), spreadOf(rss)
			rw.RPSRatio = spreadPtr(r.pairedRuns(s.ID, s.Baseline, c, rpsRatio))
			rw.P99Ratio = spreadPtr(r.pairedRuns(s.ID, s.Baseline, c, p99Ratio))
			r.Rows = append(r.Rows, rw)
		}
	}
	r.Goals = r.goals()
}

// h2Row is an HTTP/2 system's row; P50ms holds no figure (h2load gives none) and P99ms holds the
// mean time for a request.
func (r *results) h2Row(s *system) row {
	rw := row{System: s.ID, Conns: h2Clients}
	var rps, mean, rss []float64
	for run := 1; run <= r.Runs; run++ {
		var xr, xm []float64
		var peak int64
		for _, c := range r.H2Cells {
			if c.System != s.ID || c.Run != run {
				continue
			}
			if c.Result == nil || c.Error != "" {
				if rw.Error == "" {
					rw.Error = c.Error
				}
				continue
			}
			rw.Rounds++
			xr, xm = append(xr, c.Result.RPS), append(xm, c.Result.MeanMs)
			peak = max(peak, c.PeakRSSKiB)
		}
		if len(xr) > 0 {
			rps, mean, rss = append(rps, median(xr)), append(mean, median(xm)), append(rss, kibMiB(peak))
		}
	}
	rw.RPS, rw.P99ms, rw.PeakRSSMiB = spreadOf(rps), spreadOf(mean), spreadOf(rss)
	rw.RPSRatio = spreadPtr(r.pairedRuns(s.ID, s.Baseline, 0, rpsRatio))
	rw.P99Ratio = spreadPtr(r.pairedRuns(s.ID, s.Baseline, 0, p99Ratio))
	return rw
}

func (r *results) has(id string) bool { return findSystem(r.systems, id) != nil }

func (r *results) measuredConns(n int) bool { return slices.Contains(r.Conns, n) }

// verdict says whether a goal was met in every run that measured it: "yes"; "NO", with how many
// runs met it when some did; "not measured".
func verdict(perRun []float64, ok func(float64) bool) string {
	if len(perRun) == 0 {
		return "not measured"
	}
	met := 0
	for _, v := range perRun {
		if ok(v) {
			met++
		}
	}
	switch {
	case met == len(perRun):
		return "yes"
	case met == 0:
		return "NO"
	}
	return fmt.Sprintf("NO (met in %d of %d runs)", met, len(perRun))
}

// goals compares the run with the goals of issues 11 and 15, and the older ones kept. A goal
// missed is a finding, not a failure. Every goal is judged per run (the run's median over its
// rounds, or its largest peak RSS) and met only when every run met it.
func (r *results) goals() []goal {
	const i11, i15 = "issue 11", "issue 15"
	var gs []goal
	add := func(name, source, target string, perRun []float64, ok func(float64) bool, f func(float64) string, why string) {
		g := goal{Goal: name, Source: source, Target: target, PerRun: perRun, Met: verdict(perRun, ok)}
		if len(perRun) > 0 {
			g.Measured = spreadOf(perRun).format(f)
		} else {
			g.Measured = why
		}
		gs = append(gs, g)
	}
	// whyNot says why a ratio between two systems at conns has no figure.
	whyNot := func(id, other string, conns int) string {
		switch {
		case !r.has(id) || !r.has(other):
			return "systems not selected"
		case conns > 0 && !r.measuredConns(conns):
			return fmt.Sprintf("no %d-connection run", conns)
		}
		if rw := r.row(id, conns); rw != nil && rw.Error != "" {
			return truncate(rw.Error, 100)
		}
		return "no round with both measured"
	}
	ratio := func(name, source, target, id, other string, conns int, f func(a, b *measured) float64, ok func(float64) bool) {
		add(name, source, target, r.pairedRuns(id, other, conns, f), ok, fmtX, whyNot(id, other, conns))
		gs[len(gs)-1].Load = r.loadOf(conns, id, other)
	}
	peak := func(name, source, target, id string, conns int, limit float64) {
		var xs []float64
		if rw := r.row(id, conns); rw != nil && rw.PeakRSSMiB.Runs > 0 {
			xs = r.peakRuns(id, conns)
		}
		add(name, source, target, xs, func(v float64) bool { return v <= limit }, fmtMiB, whyNot(id, id, conns))
		gs[len(gs)-1].Load = r.loadOf(conns, id)
	}
	atLeast := func(x float64) func(float64) bool { return func(v float64) bool { return v >= x } }
	atMost := func(x float64) func(float64) bool { return func(v float64) bool { return v <= x } }
	above := func(x float64) func(float64) bool { return func(v float64) bool { return v > x } }

	for _, c := range []int{10, 100, 1000} {
		ratio(fmt.Sprintf("gate pass-through req/s ÷ nginx proxy_pass, c=%d", c), i11, "≥ 0.9×", "gate", "nginx-proxy", c, rpsRatio, atLeast(0.9))
	}
	for _, c := range []int{10, 100, 1000} {
		ratio(fmt.Sprintf("gate pass-through req/s ÷ HAProxy, c=%d", c), i11, "> 1.0× (ahead)", "gate", "haproxy", c, rpsRatio, above(1))
		ratio(fmt.Sprintf("gate pass-through req/s ÷ Caddy, c=%d", c), i11, "> 1.0× (ahead)", "gate", "caddy", c, rpsRatio, above(1))
	}
	peak("gate peak RSS, c=1000 (fresh process)", i11, "≤ 40 MiB", "gate", 1000, 40)
	for _, c := range []int{100, 1000} {
		ratio(fmt.Sprintf("maintenance page req/s ÷ the faster nginx, c=%d", c), i11, "≥ 1.1×", "maintpage", "nginx", c, rpsRatio, atLeast(1.1))
		ratio(fmt.Sprintf("maintenance page p99 ÷ the faster nginx's p99, c=%d", c), i11, "≤ 1.5×", "maintpage", "nginx", c, p99Ratio, atMost(1.5))
	}
	why := "not measured (--memory-rounds 0, or maintpage not selected)"
	add(fmt.Sprintf("maintenance page peak RSS, c=%d, long-lived process (VmHWM after round %d)", r.MemoryConns, r.MemoryRounds),
		i11, "≤ 24 MiB", r.lastHWM("maintpage"), atMost(24), fmtMiB, why)
	gs[len(gs)-1].Load = r.memLoad("maintpage")
	ratio(fmt.Sprintf("h2c maintenance page req/s ÷ the faster nginx http2 (h2load -c %d -m %d)", h2Clients, h2Streams), i11, "≥ 0.8×",
		"maintpage-h2c", "nginx-h2", 0, rpsRatio, atLeast(0.8))
	for _, c := range r.Conns {
		ratio(fmt.Sprintf("default request log (summary) req/s ÷ log off, c=%d", c), i15, "≥ 0.95×", "maintpage-log-summary", "maintpage", c, rpsRatio, atLeast(0.95))
		add(fmt.Sprintf("default request log (summary) peak RSS ÷ log off, c=%d", c), i15, "≤ 1.05×",
			r.rssRatioRuns("maintpage-log-summary", "maintpage", c), atMost(1.05), fmtX, whyNot("maintpage-log-summary", "maintpage", c))
		gs[len(gs)-1].Load = r.loadOf(c, "maintpage-log-summary", "maintpage")
	}
	// Kept from the earlier goals, with the reason.
	add(fmt.Sprintf("gate peak RSS, c=%d, long-lived process (VmHWM after round %d)", r.MemoryConns, r.MemoryRounds),
		"kept: issue 11's 40 MiB on the process that has served every round", "≤ 40 MiB", r.lastHWM("gate"), atMost(40), fmtMiB,
		"not measured (--memory-rounds 0, or gate not selected)")
	gs[len(gs)-1].Load = r.memLoad("gate")
	add("maintpage start-up, exec to the first 503", "kept: a route switch waits for it (first benchmark)", "≤ 50 ms",
		r.StartupRuns["maintpage"], atMost(50), fmtMs, "not measured")
	return gs
}

// loadOf is the range of the 1-minute load average before and after every load of the systems
// (and the systems a reference stands for) at conns (0: the h2load runs), or "" when there was none.
func (r *results) loadOf(conns int, ids ...string) string {
	var all []string
	for _, id := range ids {
		for _, x := range append(references[id], id) {
			for _, c := range r.Cells {
				if c.System == x && c.Conns == conns && c.Result != nil {
					all = append(all, c.LoadBefore, c.LoadAfter)
				}
			}
			for _, c := range r.H2Cells {
				if c.System == x && conns == 0 && c.Result != nil {
					all = append(all, c.LoadBefore, c.LoadAfter)
				}
			}
		}
	}
	if len(all) == 0 {
		return ""
	}
	return loadSpan(all)
}

// memLoad is loadOf for id's rounds in the long-lived section.
func (r *results) memLoad(id string) string {
	var all []string
	for _, m := range r.Memory {
		if m.System == id && m.Error == "" {
			all = append(all, m.LoadBefore, m.LoadAfter)
		}
	}
	if len(all) == 0 {
		return ""
	}
	return loadSpan(all)
}

// peakRuns is, per run, id's largest peak RSS at conns over the run's rounds, in MiB.
func (r *results) peakRuns(id string, conns int) []float64 {
	var xs []float64
	for run := 1; run <= r.Runs; run++ {
		var peak int64
		for _, c := range r.Cells {
			if c.System == id && c.Conns == conns && c.Run == run && c.Result != nil && c.Error == "" {
				peak = max(peak, c.PeakRSSKiB)
			}
		}
		if peak > 0 {
			xs = append(xs, kibMiB(peak))
		}
	}
	return xs
}

// rssRatioRuns is, per run, the ratio of id's largest peak RSS to other's.
func (r *results) rssRatioRuns(id, other string, conns int) []float64 {
	a, b := r.peakRuns(id, conns), r.peakRuns(other, conns)
	if len(a) != len(b) {
		return nil // a run measured one and not the other: no pairs to trust
	}
	var xs []float64
	for i := range a {
		xs = append(xs, a[i]/b[i])
	}
	return xs
}

func truncate(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func mdEscape(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func (r *results) markdown() string {
	var b strings.Builder
	title := "maintpage benchmark"
	if r.Smoke {
		title += " (smoke run: numbers too short to mean anything)"
	}
	fmt.Fprintf(&b, "# %s — %s\n\n", title, r.Date)
	fmt.Fprintf(&b, "Command: `%s` (took %s; estimated %s)\n\n", r.Command, r.Took, r.Estimate)
	if r.Noisy {
		b.WriteString("**NOISY**: the machine was busy when this run started (see quietEnough in bench/harness/main.go); the figures measure the other work too and are not results.\n\n")
	}
	m := r.Machine
	fmt.Fprintf(&b, "Machine: %d cores, %s; Linux %s. %s; %s; %s; %s; %s. Load average at start %s, at end %s; 1-minute load when each run started: %s.\n\n",
		m.Cores, m.CPU, m.Kernel, m.Go, orNone(m.Nginx, "nginx not used"), orNone(m.Python, "Python not used"), m.Wrk,
		orNone(m.H2load, "h2load not used"), m.LoadStart, m.LoadEnd, strings.Join(r.RunLoad, ", "))
	fmt.Fprintf(&b, "Method: %d run(s), one after the other in this command; in each run, wrk -t2 with keep-alive, `Accept: text/html`, GET %s; "+
		"%d round(s) of %s per system and connection count (after a %s unrecorded warm-up), systems in rotated order each round, "+
		"each started afresh for each run. Each figure is the median over runs of the run's median over its rounds, with the range "+
		"over runs (min–max of the per-run medians) in brackets; ratios are per-round ratios to the reference from the same round "+
		"(for the maintenance page, the faster of nginx with sendfile on and off in that round), their median per run, then over runs. "+
		"The load column is the range of the 1-minute load average just before each run started and just after its load. "+
		"Peak RSS is VmHWM summed over the server's processes (nginx master + workers, gunicorn arbiter + workers), the largest "+
		"over a run's rounds. wrk runs on the same %d cores as the server and takes a share of them.\n\n",
		r.Runs, benchPath, r.Rounds, r.Duration, r.Warmup, m.Cores)

	fmt.Fprintf(&b, "## Goals\n\nThe tables below give every figure. Each goal is judged in every run (the run's median over its rounds; peak RSS: the run's largest) and met only when every run met it. "+
		"Measured: the median over %d run(s), with the range over runs in brackets.\n\n", r.Runs)
	b.WriteString("| goal | from | target | measured | met | 1-minute load during |\n|---|---|---|---|---|--:|\n")
	for _, g := range r.Goals {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", g.Goal, g.Source, g.Target, mdEscape(g.Measured), g.Met, g.Load)
	}
	b.WriteString("\n")

	names := map[string]string{}
	for _, s := range allSystems() {
		names[s.ID] = s.Name
	}
	section := func(group, heading, note string) {
		var ids []string
		for _, s := range r.systems {
			if s.Group == group {
				ids = append(ids, s.ID)
			}
		}
		if len(ids) == 0 {
			return
		}
		fmt.Fprintf(&b, "## %s\n\n%s\n\n", heading, note)
		b.WriteString("| system | conns | req/s | p50 | p99 | socket errors | wrong status | peak RSS | req/s ÷ reference | p99 ÷ reference | load before → after |\n")
		b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		for _, c := range r.Conns {
			for _, id := range ids {
				rw := r.row(id, c)
				if rw == nil {
					continue
				}
				if rw.Rounds == 0 {
					fmt.Fprintf(&b, "| %s | %d | %s | | | | | | | | |\n", names[id], c, mdEscape(truncate(rw.Error, 160)))
					continue
				}
				note := ""
				if rw.Error != "" {
					note = " ⚠"
				}
				fmt.Fprintf(&b, "| %s%s | %d | %s | %s | %s | %d | %d | %s | %s | %s | %s |\n",
					names[id], note, c, rw.RPS.format(fmtRPS), fmtMs(rw.P50ms.Median), fmtMs(rw.P99ms.Median), rw.SocketErrors, rw.WrongStatus,
					rw.PeakRSSMiB.format(fmtMiB), fmtSpreadPtr(rw.RPSRatio), fmtSpreadPtr(rw.P99Ratio), r.loadRange(id, c))
			}
		}
		b.WriteString("\n")
	}
	section("maintenance", "Maintenance response",
		fmt.Sprintf("maintpage and nginx answer 503 with maintpage's default HTML page (%d bytes, the same bytes and Retry-After, Cache-Control, "+
			"Content-Type); the Flask app answers its catch-all route, 200 `FALLBACK trying to reach %s: …`. The reference is the faster nginx.", r.ReferenceBytes, benchPath))
	section("gate", "Gate pass-through",
		"A small Go upstream answers 200 `upstream OK`; it is measured through maintpage gate with maintenance off, nginx proxy_pass with a keep-alive pool, HAProxy and Caddy (and directly, when selected). The upstream shares the cores too. The reference is nginx proxy_pass.")
	b.WriteString(r.h2Markdown(names))
	b.WriteString(r.memoryMarkdown())
	b.WriteString(r.logMarkdown())

	if len(r.Startup) > 0 {
		fmt.Fprintf(&b, "## Start-up: exec to the first expected answer\n\nA tight loop of TCP connects and one request each, from the moment before exec; over all runs.\n\n")
		b.WriteString("| system | median | min | max | starts |\n|---|--:|--:|--:|--:|\n")
		for _, s := range r.systems {
			xs := r.Startup[s.ID]
			if len(xs) == 0 {
				continue
			}
			fmt.Fprintf(&b, "| %s | %.1f ms | %.1f ms | %.1f ms | %d |\n", names[s.ID], median(xs), slices.Min(xs), slices.Max(xs), len(xs))
		}
		b.WriteString("\n")
	}

	b.WriteString(r.profileMarkdown())
	if r.GoBench != nil {
		b.WriteString("## Responder hot path: `go test -run '^$' -bench . -benchmem ./internal/respond/`\n\n")
		if r.GoBench.Available {
			fmt.Fprintf(&b, "```text\n%s\n```\n\n", strings.TrimSpace(r.GoBench.Output))
		} else {
			fmt.Fprintf(&b, "Not available: %s\n\n", r.GoBench.Reason)
		}
	}
	if len(r.Failures) > 0 {
		b.WriteString("## Problems in this run\n\n")
		for _, p := range r.Failures {
			fmt.Fprintf(&b, "- %s\n", truncate(p, 300))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// h2Markdown is the HTTP/2 section's table.
func (r *results) h2Markdown(names map[string]string) string {
	if len(r.H2Rows) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## HTTP/2 cleartext (h2load)\n\n"+
		"`h2load -n %d -c %d -m %d -H 'Accept: text/html'` (HTTP/2 with prior knowledge, one client thread) against maintpage serve --h2c "+
		"and nginx with `listen … http2;` (sendfile on and off; the faster in each round is the reference), both answering the page above; "+
		"every answer must be a 503 with the page's %d bytes (h2load's status and byte counts), and the page is checked over HTTP/2 before "+
		"and after the load. %d round(s) per run, in alternating order, each server started afresh. "+
		"h2load gives no percentiles: the latency is its mean time for a request.\n\n",
		r.H2Requests, h2Clients, h2Streams, r.ReferenceBytes, r.Rounds)
	b.WriteString("| system | req/s | mean request time | peak RSS | req/s ÷ reference | mean time ÷ reference | load before → after |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|\n")
	for _, rw := range r.H2Rows {
		if rw.Rounds == 0 {
			fmt.Fprintf(&b, "| %s | %s | | | | | |\n", names[rw.System], mdEscape(truncate(rw.Error, 160)))
			continue
		}
		note := ""
		if rw.Error != "" {
			note = " ⚠"
		}
		fmt.Fprintf(&b, "| %s%s | %s | %s | %s | %s | %s | %s |\n", names[rw.System], note, rw.RPS.format(fmtRPS), rw.P99ms.format(fmtMs),
			rw.PeakRSSMiB.format(fmtMiB), fmtSpreadPtr(rw.RPSRatio), fmtSpreadPtr(rw.P99Ratio), r.loadRange(rw.System, 0))
	}
	b.WriteString("\n")
	return b.String()
}

func fmtRPS(v float64) string { return fmt.Sprintf("%.0f", v) }
func fmtMiB(v float64) string { return fmt.Sprintf("%.1f MiB", v) }

func fmtX(v float64) string {
	if v >= 10 {
		return fmt.Sprintf("%.0f×", v)
	}
	return fmt.Sprintf("%.2f×", v)
}

func fmtSpreadPtr(s *spread) string {
	if s == nil {
		return "–"
	}
	return s.format(fmtX)
}

func orNone(s, none string) string {
	if s == "" {
		return none
	}
	return s
}

func fmtMs(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.3f ms", v)
	}
	return fmt.Sprintf("%.1f ms", v)
}

// write saves DATE.md, DATE.json and latest.md (a copy of DATE.md) in dir and returns the Markdown.
func (r *results) write(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	md := r.markdown()
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return "", err
	}
	for name, data := range map[string][]byte{
		r.Date + ".md": []byte(md), r.Date + ".json": append(js, '\n'), "latest.md": []byte(md),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return "", err
		}
	}
	return md, nil
}

func machineInfo(h *harness) machine {
	m := machine{Cores: runtime.NumCPU(), CPU: cpuModel(), Kernel: firstOf(os.ReadFile("/proc/sys/kernel/osrelease"))}
	m.Go = firstOf(exec.Command("go", "version").Output())
	// wrk -v prints "wrk 4.1.0 [epoll] Copyright …" and exits 1.
	m.Wrk = "wrk unknown"
	if f := strings.Fields(firstOf(exec.Command(h.wrk, "-v").CombinedOutput())); len(f) >= 2 {
		m.Wrk = f[0] + " " + f[1]
	}
	if h.h2load != "" {
		// h2load --version prints "h2load nghttp2/1.52.0".
		m.H2load = firstOf(exec.Command(h.h2load, "--version").Output())
	}
	if h.nginx != "" {
		m.Nginx = strings.TrimPrefix(firstOf(exec.Command(h.nginx, "-v").CombinedOutput()), "nginx version: ")
	}
	if h.python != "" {
		m.Python = firstOf(exec.Command(h.python, "-c",
			`import sys, importlib.metadata as m; print("Python %s, Flask %s, gunicorn %s" % (sys.version.split()[0], m.version("flask"), m.version("gunicorn")))`).Output())
	}
	return m
}

// firstOf returns the first line of a command's output or a file, or "unknown".
func firstOf(b []byte, _ error) string {
	s := strings.TrimSpace(string(b))
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return "unknown"
	}
	return s
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func loadAvg() string {
	f := strings.Fields(firstOf(os.ReadFile("/proc/loadavg")))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// goBench runs the responder's benchmarks. Until BenchmarkResponder exists, or when the package
// does not build, the row says so instead of failing the run.
func goBench(ctx context.Context, root, benchtime string) *goBenchResult {
	args := []string{"test", "-run", "^$", "-bench", ".", "-benchmem"}
	if benchtime != "" {
		args = append(args, "-benchtime", benchtime)
	}
	args = append(args, "./internal/respond/")
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	res := &goBenchResult{Output: string(out)}
	hasBench := false
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "Benchmark") && strings.Contains(l, "ns/op") {
			hasBench = true
		}
	}
	switch {
	case err != nil:
		res.Reason = fmt.Sprintf("go %s failed (%v): %s", strings.Join(args, " "), err, truncate(string(out), 300))
	case !hasBench:
		res.Reason = "./internal/respond/ has no benchmark yet (BenchmarkResponder is being written)"
	default:
		res.Available = true
	}
	return res
}
