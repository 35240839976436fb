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

// cell is one measured wrk run: one system, one round, one connection count.
type cell struct {
	System      string     `json:"system"`
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

// row is the median over rounds of one system at one connection count.
type row struct {
	System       string   `json:"system"`
	Conns        int      `json:"conns"`
	Rounds       int      `json:"rounds"`
	RPS          float64  `json:"rps_median"`
	P50ms        float64  `json:"p50_ms_median"`
	P99ms        float64  `json:"p99_ms_median"`
	SocketErrors int64    `json:"socket_errors_total"`
	WrongStatus  int64    `json:"wrong_status_total"`
	PeakRSSKiB   int64    `json:"peak_rss_kib_max"`
	RPSRatio     *float64 `json:"rps_ratio_to_nginx,omitempty"` // median over rounds of this÷nginx
	P99Ratio     *float64 `json:"p99_ratio_to_nginx,omitempty"`
	Error        string   `json:"error,omitempty"`
}

type goal struct {
	Goal     string `json:"goal"`
	Target   string `json:"target"`
	Measured string `json:"measured"`
	Met      string `json:"met"` // yes, NO, or not measured
}

type machine struct {
	Cores     int    `json:"cores"`
	CPU       string `json:"cpu"`
	Kernel    string `json:"kernel"`
	Go        string `json:"go"`
	Nginx     string `json:"nginx,omitempty"`
	Python    string `json:"python,omitempty"`
	Wrk       string `json:"wrk"`
	LoadStart string `json:"loadavg_start"`
	LoadEnd   string `json:"loadavg_end"`
}

type goBenchResult struct {
	Available bool   `json:"available"`
	Output    string `json:"output"`
	Reason    string `json:"reason,omitempty"`
}

type results struct {
	Date           string               `json:"date"`
	Command        string               `json:"command"`
	Smoke          bool                 `json:"smoke"`
	Noisy          bool                 `json:"noisy,omitempty"` // run with --allow-noisy on a busy machine
	Rounds         int                  `json:"rounds"`
	Duration       string               `json:"duration"`
	Warmup         string               `json:"warmup"`
	Conns          []int                `json:"conns"`
	Machine        machine              `json:"machine"`
	ReferenceBytes int                  `json:"reference_body_bytes"`
	Startup        map[string][]float64 `json:"startup_ms"`
	Cells          []cell               `json:"cells"`
	Rows           []row                `json:"rows"`
	Goals          []goal               `json:"goals"`
	GoBench        *goBenchResult       `json:"go_bench,omitempty"`
	Failures       []string             `json:"failures,omitempty"`

	systems []*system
}

func newResults(o options, systems []*system) *results {
	return &results{
		Date: time.Now().Format("2006-01-02"), Command: o.command, Smoke: o.smoke,
		Rounds: o.rounds, Duration: o.duration.String(), Warmup: o.warmup.String(), Conns: o.conns,
		Startup: map[string][]float64{}, systems: systems,
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

// cellAt finds one system's measured cell in one round.
func (r *results) cellAt(id string, round, conns int) *cell {
	for i := range r.Cells {
		c := &r.Cells[i]
		if c.System == id && c.Round == round && c.Conns == conns && c.Result != nil && c.Error == "" {
			return c
		}
	}
	return nil
}

// loadRange is the range of the 1-minute load average before and after id's runs at conns, as
// "min before–max before → min after–max after".
func (r *results) loadRange(id string, conns int) string {
	var before, after []float64
	for _, c := range r.Cells {
		if c.System != id || c.Conns != conns {
			continue
		}
		if v, err := strconv.ParseFloat(c.LoadBefore, 64); err == nil {
			before = append(before, v)
		}
		if v, err := strconv.ParseFloat(c.LoadAfter, 64); err == nil {
			after = append(after, v)
		}
	}
	span := func(xs []float64) string {
		if len(xs) == 0 {
			return "?"
		}
		lo, hi := slices.Min(xs), slices.Max(xs)
		if lo == hi {
			return fmt.Sprintf("%.2f", lo)
		}
		return fmt.Sprintf("%.2f–%.2f", lo, hi)
	}
	return span(before) + " → " + span(after)
}

// references are the systems a reference ID stands for: nginx is measured with sendfile on and
// off, and whichever of the two was faster in a round is the reference for that round, so that no
// ratio is taken against nginx configured the slower way.
var references = map[string][]string{"nginx": {"nginx", "nginx-nosendfile"}}

// referenceAt is the cell a ratio to id is taken against in a round: the fastest of id's systems.
func (r *results) referenceAt(id string, round, conns int) *cell {
	ids, ok := references[id]
	if !ok {
		return r.cellAt(id, round, conns)
	}
	var best *cell
	for _, x := range ids {
		if c := r.cellAt(x, round, conns); c != nil && (best == nil || c.Result.RPS > best.Result.RPS) {
			best = c
		}
	}
	return best
}

// paired is the median over rounds of f(system's cell, other's cell), using only rounds where both
// were measured, so that drift between rounds cancels.
func (r *results) paired(id, other string, conns int, f func(a, b *wrkResult) float64) (float64, bool) {
	var xs []float64
	for round := 1; round <= r.Rounds; round++ {
		a, b := r.cellAt(id, round, conns), r.referenceAt(other, round, conns)
		if a != nil && b != nil {
			xs = append(xs, f(a.Result, b.Result))
		}
	}
	return median(xs), len(xs) > 0
}

func rpsRatio(a, b *wrkResult) float64 { return a.RPS / b.RPS }
func p99Ratio(a, b *wrkResult) float64 { return a.P99ms / b.P99ms }
func p50Added(a, b *wrkResult) float64 { return a.P50ms - b.P50ms }

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
		for _, c := range r.Conns {
			rw := row{System: s.ID, Conns: c}
			var rps, p50, p99 []float64
			for _, cl := range r.Cells {
				if cl.System != s.ID || cl.Conns != c {
					continue
				}
				if cl.Result == nil {
					if rw.Error == "" {
						rw.Error = cl.Error
					}
					continue
				}
				rw.Rounds++
				rps = append(rps, cl.Result.RPS)
				p50 = append(p50, cl.Result.P50ms)
				p99 = append(p99, cl.Result.P99ms)
				rw.SocketErrors += cl.Result.SocketErrors
				rw.WrongStatus += cl.WrongStatus
				rw.PeakRSSKiB = max(rw.PeakRSSKiB, cl.PeakRSSKiB)
				if cl.Error != "" && rw.Error == "" {
					rw.Error = cl.Error
				}
			}
			rw.RPS, rw.P50ms, rw.P99ms = median(rps), median(p50), median(p99)
			if v, ok := r.paired(s.ID, s.Baseline, c, rpsRatio); ok {
				rw.RPSRatio = &v
			}
			if v, ok := r.paired(s.ID, s.Baseline, c, p99Ratio); ok {
				rw.P99Ratio = &v
			}
			r.Rows = append(r.Rows, rw)
		}
	}
	r.Goals = r.goals()
}

func (r *results) has(id string) bool {
	for _, s := range r.systems {
		if s.ID == id {
			return true
		}
	}
	return false
}

func (r *results) measuredConns(n int) bool {
	for _, c := range r.Conns {
		if c == n {
			return true
		}
	}
	return false
}

// goals compares the run with the goals. A goal missed is a finding, not a failure.
func (r *results) goals() []goal {
	var gs []goal
	verdict := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "NO"
	}
	ratioGoal := func(name, target string, id, other string, conns int, f func(a, b *wrkResult) float64, ok func(float64) bool, format string) {
		g := goal{Goal: name, Target: target, Met: "not measured"}
		switch {
		case !r.has(id) || !r.has(other):
			g.Measured = "systems not selected"
		case !r.measuredConns(conns):
			g.Measured = fmt.Sprintf("no %d-connection run", conns)
		default:
			v, have := r.paired(id, other, conns, f)
			if !have {
				g.Measured = "no round with both measured"
				if rw := r.row(id, conns); rw != nil && rw.Error != "" {
					g.Measured = truncate(rw.Error, 100)
				}
			} else {
				g.Measured, g.Met = fmt.Sprintf(format, v), verdict(ok(v))
			}
		}
		gs = append(gs, g)
	}
	ratioGoal("maintenance req/s vs nginx, 100 conns", "≥ 1.0×", "maintpage", "nginx", 100, rpsRatio,
		func(v float64) bool { return v >= 1.0 }, "%.2f×")
	ratioGoal("maintenance p99 vs nginx, 100 conns", "≤ 2×", "maintpage", "nginx", 100, p99Ratio,
		func(v float64) bool { return v <= 2.0 }, "%.2f×")
	ratioGoal("maintenance req/s vs original app (Procfile), 100 conns", "≥ 20×", "maintpage", "flask", 100, rpsRatio,
		func(v float64) bool { return v >= 20 }, "%.1f×")
	ratioGoal("gate pass-through req/s vs nginx proxy_pass, 100 conns", "≥ 0.9×", "gate", "nginx-proxy", 100, rpsRatio,
		func(v float64) bool { return v >= 0.9 }, "%.2f×")
	for _, c := range r.Conns {
		ratioGoal(fmt.Sprintf("gate p50 added over upstream direct, %d conns", c), "≤ 0.2 ms", "gate", "upstream", c, p50Added,
			func(v float64) bool { return v <= 0.2 }, "%+.3f ms")
	}
	for _, id := range []string{"maintpage", "gate"} {
		g := goal{Goal: id + " peak RSS, 1000 conns", Target: "≤ 32 MiB", Met: "not measured"}
		switch rw := r.row(id, 1000); {
		case !r.has(id):
			g.Measured = "not selected"
		case rw == nil:
			g.Measured = "no 1000-connection run"
		case rw.Rounds == 0:
			g.Measured = truncate(rw.Error, 100)
		default:
			mib := float64(rw.PeakRSSKiB) / 1024
			g.Measured, g.Met = fmt.Sprintf("%.1f MiB", mib), verdict(mib <= 32)
		}
		gs = append(gs, g)
	}
	gs = append(gs, r.logGoals(verdict)...)
	g := goal{Goal: "maintpage start-up to the first 503", Target: "≤ 50 ms", Met: "not measured", Measured: "not measured"}
	if xs := r.Startup["maintpage"]; len(xs) > 0 {
		v := median(xs)
		g.Measured, g.Met = fmt.Sprintf("%.1f ms (median of %d)", v, len(xs)), verdict(v <= 50)
	}
	gs = append(gs, g)
	return gs
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
	fmt.Fprintf(&b, "Command: `%s`\n\n", r.Command)
	if r.Noisy {
		b.WriteString("**NOISY**: the machine was busy when this run started (see quietEnough in bench/harness/main.go); the figures measure the other work too and are not results.\n\n")
	}
	m := r.Machine
	fmt.Fprintf(&b, "Machine: %d cores, %s; Linux %s. %s; %s; %s; %s. Load average at start %s, at end %s.\n\n",
		m.Cores, m.CPU, m.Kernel, m.Go, orNone(m.Nginx, "nginx not used"), orNone(m.Python, "Python not used"), m.Wrk, m.LoadStart, m.LoadEnd)
	fmt.Fprintf(&b, "Method: wrk -t2 with keep-alive, `Accept: text/html`, GET %s; %d round(s) of %s per system and connection count "+
		"(after a %s unrecorded warm-up), systems in rotated order each round, each started afresh for each run. "+
		"Figures are medians over rounds; ratios are medians of per-round ratios to nginx from the same round "+
		"(for the maintenance page, to the faster of nginx with sendfile on and off in that round). "+
		"The load column is the range of the 1-minute load average just before each run started and just after its load. "+
		"Peak RSS is VmHWM summed over the server's processes (nginx master + workers, gunicorn arbiter + workers), "+
		"the largest over rounds. wrk runs on the same %d cores as the server and takes a share of them.\n\n",
		benchPath, r.Rounds, r.Duration, r.Warmup, m.Cores)

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
		b.WriteString("| system | conns | req/s | p50 | p99 | socket errors | wrong status | peak RSS | req/s ÷ nginx | p99 ÷ nginx | load before → after |\n")
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
				fmt.Fprintf(&b, "| %s%s | %d | %.0f | %s | %s | %d | %d | %.1f MiB | %s | %s | %s |\n",
					names[id], note, c, rw.RPS, fmtMs(rw.P50ms), fmtMs(rw.P99ms), rw.SocketErrors, rw.WrongStatus,
					float64(rw.PeakRSSKiB)/1024, fmtRatio(rw.RPSRatio), fmtRatio(rw.P99Ratio), r.loadRange(id, c))
			}
		}
		b.WriteString("\n")
	}
	section("maintenance", "Maintenance response",
		fmt.Sprintf("maintpage and nginx answer 503 with maintpage's default HTML page (%d bytes, the same bytes and Retry-After, Cache-Control, "+
			"Content-Type); the Flask app answers its catch-all route, 200 `FALLBACK trying to reach %s: …`. Ratios are to nginx.", r.ReferenceBytes, benchPath))
	section("gate", "Gate pass-through",
		"A small Go upstream answers 200 `upstream OK`; it is measured directly, and through maintpage gate with maintenance off, nginx proxy_pass with a keep-alive pool, HAProxy and Caddy. The upstream shares the cores too. Ratios are to nginx proxy_pass.")
	b.WriteString(r.logMarkdown())

	if len(r.Startup) > 0 {
		fmt.Fprintf(&b, "## Start-up: exec to the first expected answer\n\nA tight loop of TCP connects and one request each, from the moment before exec.\n\n")
		b.WriteString("| system | median | min | max | starts |\n|---|--:|--:|--:|--:|\n")
		for _, s := range r.systems {
			xs := r.Startup[s.ID]
			if len(xs) == 0 {
				continue
			}
			s2 := append([]float64(nil), xs...)
			sort.Float64s(s2)
			fmt.Fprintf(&b, "| %s | %.1f ms | %.1f ms | %.1f ms | %d |\n", names[s.ID], median(xs), s2[0], s2[len(s2)-1], len(xs))
		}
		b.WriteString("\n")
	}

	b.WriteString("## Goals\n\n| goal | target | measured | met |\n|---|---|---|---|\n")
	for _, g := range r.Goals {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", g.Goal, g.Target, mdEscape(g.Measured), g.Met)
	}
	b.WriteString("\n")

	if r.GoBench != nil {
		b.WriteString("## Responder hot path: `go test -run '^$' -bench . -benchmem ./internal/respond/`\n\n")
		if r.GoBench.Available {
			fmt.Fprintf(&b, "```text\n%s\n```\n\n", strings.TrimSpace(r.GoBench.Output))
		} else {
			fmt.Fprintf(&b, "Not available: %s\n\n", r.GoBench.Reason)
		}
	}
	var problems []string
	for _, c := range r.Cells {
		if c.Error != "" && !c.Unavailable {
			problems = append(problems, fmt.Sprintf("round %d, %d conns, %s: %s", c.Round, c.Conns, c.System, truncate(c.Error, 300)))
		}
	}
	if len(problems) > 0 {
		b.WriteString("## Problems in this run\n\n")
		for _, p := range problems {
			fmt.Fprintf(&b, "- %s\n", p)
		}
		b.WriteString("\n")
	}
	return b.String()
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

func fmtRatio(p *float64) string {
	if p == nil {
		return "–"
	}
	if *p >= 10 {
		return fmt.Sprintf("%.0f×", *p)
	}
	return fmt.Sprintf("%.2f×", *p)
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
