// Command harness benchmarks maintpage against nginx, HAProxy, Caddy and the original Flask app on
// this machine, in one command: it starts every system on a free loopback port, loads them in turn
// with wrk (HTTP/1.1) and h2load (HTTP/2), round after round, keeps one maintpage and one gate
// process running through rounds at 1000 connections to watch their memory, repeats all of it
// --runs times, and writes Markdown tables (each figure with its range over runs), the goals and
// the raw numbers under bench/results/.
//
//	go run ./bench/harness                  # the full run: 3 runs (about 22 minutes on 2 cores)
//	go run ./bench/harness --smoke          # every section, a few seconds each: every system answers
//
// bench/run.sh installs nginx, HAProxy, Caddy, wrk, h2load, Flask and gunicorn when missing and runs this.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// harness holds what every system needs: the programs, the reference page, a temporary directory.
type harness struct {
	root      string // the module's root
	tmp       string
	maintpage string
	upstream  string
	nginx     string
	haproxy   string
	caddy     string
	python    string
	wrk       string
	h2load    string
	perf      string
	flaskDir  string
	ref       reference
}

type options struct {
	runs       int
	rounds     int
	duration   time.Duration
	warmup     time.Duration
	conns      []int
	systems    []string
	out        string
	smoke      bool
	allowNoisy bool
	noisy      bool
	starts     int
	benchtime  string
	command    string
	maintpage  string
	noGoBench  bool
	outChanged bool
	profile    bool
	// The HTTP/2 section: requests per h2load run.
	h2Requests int
	// The long-lived section: rounds, connections and length of each round.
	memRounds   int
	memConns    int
	memDuration time.Duration
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("harness", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.runs, "runs", 3, "runs: the whole measurement (every section) repeated, one run after the other; figures are medians over runs with their range")
	fs.IntVar(&o.rounds, "rounds", 2, "rounds per run; each round loads every system once per connection count, in rotated order")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "length of each wrk run")
	fs.DurationVar(&o.warmup, "warmup", -1, "unrecorded wrk run before each measured one (default: 1s when --duration is 3s or more, else none)")
	conns := fs.String("conns", "10,100,1000", "comma-separated wrk connection counts")
	systems := fs.String("systems", "", "comma-separated systems, or all (default: those the goals need, "+strings.Join(defaultSystems, ",")+"; with --smoke, all): "+strings.Join(systemIDs(), ","))
	fs.StringVar(&o.out, "out", "", "directory for the results (default bench/results; with --smoke, a temporary directory)")
	fs.BoolVar(&o.smoke, "smoke", false, "a run of a few seconds: every system starts and answers as expected, the table is written; exit 1 otherwise")
	fs.IntVar(&o.starts, "starts", 3, "starts per maintenance system and run, for the start-up time (median)")
	fs.IntVar(&o.h2Requests, "h2-requests", 200000, "requests per h2load run (h2load -n) in the HTTP/2 section")
	fs.IntVar(&o.memRounds, "memory-rounds", 10, "rounds of the long-lived-process section (0: skip it)")
	fs.IntVar(&o.memConns, "memory-conns", 1000, "wrk connections in each round of the long-lived-process section")
	fs.DurationVar(&o.memDuration, "memory-duration", 3*time.Second, "length of each round of the long-lived-process section")
	fs.StringVar(&o.benchtime, "benchtime", "", "go test -benchtime for the responder's benchmark (default go's)")
	fs.BoolVar(&o.noGoBench, "no-go-bench", false, "skip go test -bench ./internal/respond/")
	fs.BoolVar(&o.profile, "profile", false, "after the runs, record CPU profiles (perf record -g) of maintpage and the gate at c=100 and c=1000 and of --h2c under h2load, beside the results (needs perf: Debian's linux-perf, as root)")
	fs.BoolVar(&o.allowNoisy, "allow-noisy", false, "run at once even when the machine is busy (the results then say NOISY); see quietEnough")
	fs.StringVar(&o.maintpage, "maintpage", "", "maintpage binary (default: built from this module)")
	fs.StringVar(&o.command, "command", "", "the command to print in the results (bench/run.sh sets it)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "out" {
			o.outChanged = true
		}
	})
	explicit := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { explicit[f.Name] = true })
	if o.smoke {
		// Every section, a few seconds each: one run of one round, one short run per system, one start
		// each, a short h2load run, two short rounds of the long-lived section.
		if !explicit["runs"] {
			o.runs = 1
		}
		if !explicit["rounds"] {
			o.rounds = 1
		}
		if !explicit["h2-requests"] {
			o.h2Requests = 2000
		}
		if !explicit["memory-rounds"] {
			o.memRounds = 2
		}
		if !explicit["memory-duration"] {
			o.memDuration = time.Second
		}
		if !explicit["duration"] {
			o.duration = time.Second
		}
		if !explicit["conns"] {
			*conns = "10"
		}
		if !explicit["starts"] {
			o.starts = 1
		}
		if !explicit["benchtime"] {
			o.benchtime = "100x"
		}
	}
	if o.warmup < 0 {
		o.warmup = 0
		if o.duration >= 3*time.Second {
			o.warmup = time.Second
		}
	}
	for _, c := range strings.Split(*conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(c))
		if err != nil || n < 1 {
			return o, fmt.Errorf("--conns: %q is not a positive number", c)
		}
		o.conns = append(o.conns, n)
	}
	switch *systems {
	case "":
		if !o.smoke {
			o.systems = defaultSystems
		}
	case "all":
	default:
		known := map[string]bool{}
		for _, id := range systemIDs() {
			known[id] = true
		}
		for _, s := range strings.Split(*systems, ",") {
			s = strings.TrimSpace(s)
			if !known[s] {
				return o, fmt.Errorf("--systems: unknown system %q; choose from %s", s, strings.Join(systemIDs(), ","))
			}
			o.systems = append(o.systems, s)
		}
	}
	if o.runs < 1 || o.rounds < 1 || o.duration < time.Second || o.starts < 1 {
		return o, errors.New("--runs, --rounds and --starts must be at least 1, --duration at least 1s")
	}
	if o.h2Requests < h2Clients {
		return o, fmt.Errorf("--h2-requests must be at least %d (one per h2load client)", h2Clients)
	}
	if o.memRounds < 0 || o.memConns < 1 || o.memDuration < time.Second {
		return o, errors.New("--memory-rounds must be 0 or more, --memory-conns at least 1, --memory-duration at least 1s")
	}
	if o.command == "" {
		o.command = "go run ./bench/harness " + strings.Join(args, " ")
	}
	return o, nil
}

func systemIDs() []string {
	var ids []string
	for _, s := range allSystems() {
		ids = append(ids, s.ID)
	}
	return ids
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "harness:", err)
		return 2
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	defer stopAll()
	go func() {
		<-ctx.Done()
		stopAll() // Ctrl-C: servers go now, not after the current step
	}()
	res, err := bench(ctx, o, stdout, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "harness: FAIL:", err)
		return 1
	}
	if len(res.Failures) > 0 {
		fmt.Fprintf(stderr, "harness: FAIL: %d problem(s):\n", len(res.Failures))
		for _, f := range res.Failures {
			fmt.Fprintln(stderr, "  -", f)
		}
		return 1
	}
	return 0
}

func bench(ctx context.Context, o options, stdout, stderr io.Writer) (*results, error) {
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, format+"\n", a...) }
	raiseNoFile(logf)
	began := time.Now()

	h := &harness{}
	var err error
	if h.root, err = moduleRoot(); err != nil {
		return nil, err
	}
	if h.tmp, err = os.MkdirTemp("", "maintpage-bench-"); err != nil {
		return nil, err
	}
	defer os.RemoveAll(h.tmp)
	if err := os.Chmod(h.tmp, 0o755); err != nil {
		return nil, err
	}
	h.flaskDir = filepath.Join(h.root, "bench", "flask")

	systems := allSystems()
	if len(o.systems) > 0 {
		var sel []*system
		for _, s := range systems {
			if slices.Contains(o.systems, s.ID) {
				sel = append(sel, s)
			}
		}
		systems = sel
	}
	if err := h.findTools(o, systems, logf); err != nil {
		return nil, err
	}
	est := estimate(o, systems)
	logf("estimated duration: %s (%d run(s); a machine slower or busier than the project's 2 cores takes longer)", fmtDuration(est), o.runs)

	// The machine must be quiet when the command starts; between runs the load average is the
	// benchmark's own, so it is recorded (per run and per cell) but not waited for.
	if !o.smoke {
		if err := quietEnough(ctx, o.allowNoisy, logf); err != nil {
			if !o.allowNoisy {
				return nil, err
			}
			logf("%v; running anyway (--allow-noisy): the results are marked NOISY", err)
			o.noisy = true
		}
	}
	res := newResults(o, systems)
	res.Noisy = o.noisy
	res.Estimate = fmtDuration(est)
	res.Machine = machineInfo(h)
	res.Machine.LoadStart = loadAvg()

	// maintpage's own answer is the reference that nginx repeats.
	if err := h.fetchReference(); err != nil {
		return nil, err
	}
	res.ReferenceBytes = len(h.ref.body)

	for run := 1; run <= o.runs; run++ {
		res.RunLoad = append(res.RunLoad, loadAvg1())
		if err := h.benchRun(ctx, run, systems, o, res, logf); err != nil {
			return nil, err
		}
	}

	dir := o.out
	if dir == "" {
		if o.smoke {
			dir = filepath.Join(os.TempDir(), "maintpage-bench-smoke")
		} else {
			dir = filepath.Join(h.root, "bench", "results")
		}
	}
	if o.profile {
		res.Profiles = h.profileAll(ctx, systems, o, dir, res.Date, logf)
	}
	if !o.noGoBench {
		logf("go test -bench ./internal/respond/")
		res.GoBench = goBench(ctx, h.root, o.benchtime)
	}
	res.Machine.LoadEnd = loadAvg()
	res.Took = fmtDuration(time.Since(began))
	res.finish()

	md, err := res.write(dir)
	if err != nil {
		return nil, err
	}
	fmt.Fprint(stdout, md)
	logf("results written to %s (took %s, estimated %s)", dir, res.Took, res.Estimate)
	return res, nil
}

// benchRun is one run: start-up times, the wrk sections, the HTTP/2 section and the long-lived
// section, each loading one system at a time.
func (h *harness) benchRun(ctx context.Context, run int, systems []*system, o options, res *results, logf func(string, ...any)) error {
	logf("run %d of %d: start-up, %d start(s) per maintenance system", run, o.runs, o.starts)
	for i := 0; i < o.starts; i++ {
		for _, s := range systems {
			if s.Group != "maintenance" || ctx.Err() != nil {
				continue
			}
			in, err := s.start(h)
			if err != nil {
				res.fail("run %d, start-up of %s: %v", run, s.ID, err)
				continue
			}
			in.stop()
			res.Startup[s.ID] = append(res.Startup[s.ID], ms(in.startup))
		}
	}
	for _, s := range systems {
		if xs := res.Startup[s.ID]; len(xs) >= o.starts && s.Group == "maintenance" {
			res.StartupRuns[s.ID] = append(res.StartupRuns[s.ID], median(xs[len(xs)-o.starts:]))
		}
	}

	var wrkSystems, h2 []*system
	for _, s := range systems {
		if s.Group == "h2" {
			h2 = append(h2, s)
		} else {
			wrkSystems = append(wrkSystems, s)
		}
	}
	total := o.rounds * len(o.conns) * len(wrkSystems)
	n := 0
	for r := 0; r < o.rounds && len(wrkSystems) > 0; r++ {
		// Rotate the order every round, so that no system always runs first or after the same one.
		order := rotate(wrkSystems, r)
		for _, c := range o.conns {
			for _, s := range order {
				if ctx.Err() != nil {
					return fmt.Errorf("interrupted: %w", ctx.Err())
				}
				n++
				cell := h.measure(ctx, s, run, r+1, c, o)
				if cell.Error != "" {
					logf("run %d [%d/%d] round %d, %d conns, %s: %s", run, n, total, r+1, c, s.ID, cell.Error)
				} else {
					logf("run %d [%d/%d] round %d, %d conns, %s: %.0f req/s, p50 %.3f ms, p99 %.3f ms, RSS %.1f MiB",
						run, n, total, r+1, c, s.ID, cell.Result.RPS, cell.Result.P50ms, cell.Result.P99ms, kibMiB(cell.PeakRSSKiB))
				}
				if cell.Error != "" && !cell.Unavailable {
					res.fail("run %d, round %d, %d connections, %s: %s", run, r+1, c, s.ID, cell.Error)
				}
				res.Cells = append(res.Cells, cell)
			}
		}
	}
	for r := 0; r < o.rounds && len(h2) > 0; r++ {
		for _, s := range rotate(h2, r) {
			if ctx.Err() != nil {
				return fmt.Errorf("interrupted: %w", ctx.Err())
			}
			c := h.measureH2(ctx, s, run, r+1, o)
			if c.Error != "" {
				logf("run %d, HTTP/2 round %d, %s: %s", run, r+1, s.ID, c.Error)
				res.fail("run %d, HTTP/2 round %d, %s: %s", run, r+1, s.ID, c.Error)
			} else {
				logf("run %d, HTTP/2 round %d, %s: %.0f req/s, mean %.3f ms, RSS %.1f MiB", run, r+1, s.ID, c.Result.RPS, c.Result.MeanMs, kibMiB(c.PeakRSSKiB))
			}
			res.H2Cells = append(res.H2Cells, c)
		}
	}
	if o.memRounds > 0 {
		h.memorySection(ctx, run, systems, o, res, logf)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("interrupted: %w", ctx.Err())
	}
	return nil
}

// rotate is systems starting at the r-th (mod their number).
func rotate(systems []*system, r int) []*system {
	k := r % len(systems)
	return append(append([]*system{}, systems[k:]...), systems[:k]...)
}

// Per-step costs on the project's 2-core machine, for the estimate printed at the start: starting,
// checking and stopping a server around a wrk run; an h2load run of the page (the slower server's
// rate); a start-up measurement; go test -bench with its build.
const (
	estCellOverhead = 300 * time.Millisecond
	estH2Rate       = 40000 // req/s
	estStart        = 150 * time.Millisecond
	estGoBench      = 30 * time.Second
)

// estimate is how long the command will take, from the counts and the per-step costs above.
func estimate(o options, systems []*system) time.Duration {
	var nWrk, nH2, nMaint, nMem int
	for _, s := range systems {
		switch s.Group {
		case "h2":
			nH2++
		case "maintenance":
			nMaint++
			nWrk++
		default:
			nWrk++
		}
		if slices.Contains(memorySystems, s.ID) {
			nMem++
		}
	}
	perRun := time.Duration(o.rounds*len(o.conns)*nWrk) * (o.warmup + o.duration + estCellOverhead)
	h2Requests := o.h2Requests
	if o.warmup > 0 {
		h2Requests += max(o.h2Requests/10, h2Clients)
	}
	perRun += time.Duration(o.rounds*nH2) * (time.Duration(h2Requests)*time.Second/estH2Rate + estCellOverhead)
	perRun += time.Duration(o.memRounds*nMem) * (o.memDuration + 300*time.Millisecond)
	perRun += time.Duration(o.starts*nMaint) * estStart
	d := time.Duration(o.runs) * perRun
	if o.profile {
		d += time.Duration(len(profileTargets)) * (max(o.duration, 3*time.Second) + 2*time.Second)
	}
	switch {
	case o.noGoBench:
	case o.benchtime != "":
		d += estGoBench / 3 // --smoke's 100x: the build, and little else
	default:
		d += estGoBench
	}
	return d
}

func fmtDuration(d time.Duration) string {
	if d < time.Minute {
		return d.Round(time.Second).String()
	}
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}

// measure starts s afresh (so that its peak RSS belongs to this connection count), checks its
// answer, loads it, reads its peak RSS, checks its answer again and stops it.
func (h *harness) measure(ctx context.Context, s *system, run, round, conns int, o options) (c cell) {
	c = cell{System: s.ID, Run: run, Round: round, Conns: conns, LoadBefore: loadAvg1()}
	defer func() { c.LoadAfter = loadAvg1() }()
	if s.unavailable != nil {
		c.Error, c.Unavailable = s.unavailable.Error(), true
		return c
	}
	in, err := h.startChecked(s)
	if err != nil {
		c.Error = err.Error()
		if errors.Is(err, errUnavailable) {
			s.unavailable, c.Unavailable = err, true
		}
		return c
	}
	defer in.stop()
	url := "http://" + in.addr + benchPath
	if o.warmup > 0 {
		if _, _, err := runWrk(ctx, h.wrk, url, conns, o.warmup); err != nil {
			c.Error = "warm-up: " + err.Error()
			return c
		}
	}
	logStart := in.logBefore()
	r, raw, err := runWrk(ctx, h.wrk, url, conns, o.duration)
	c.Raw = raw
	if err != nil {
		c.Error = err.Error()
		return c
	}
	c.Result = &r
	c.WrongStatus = wrongStatus(s, r)
	if c.PeakRSSKiB, c.Procs, err = in.main.peakRSS(); err != nil {
		c.Error = "peak RSS: " + err.Error()
		return c
	}
	if err := h.check(s, in); err != nil {
		c.Error = "after load: " + err.Error()
		return c
	}
	in.logAfter(&c, logStart)
	if c.WrongStatus > 0 {
		c.Error = fmt.Sprintf("%d response(s) with the wrong status class under load", c.WrongStatus)
	}
	return c
}

// startChecked starts s afresh and checks its answer before any load.
func (h *harness) startChecked(s *system) (*instance, error) {
	in, err := s.start(h)
	if err != nil {
		return nil, err
	}
	if err := h.check(s, in); err != nil {
		in.stop()
		return nil, fmt.Errorf("before load: %w", err)
	}
	return in, nil
}

// wrongStatus counts the answers of the wrong status class: wrk counts responses with a status of
// 400 or more; every other response is wrong for a 503 system, and every such one is wrong for a
// 200 system.
func wrongStatus(s *system, r wrkResult) int64 {
	if s.Want >= 400 {
		return r.Requests - r.Non2xx3xx
	}
	return r.Non2xx3xx
}

func (h *harness) fetchReference() error {
	in, err := startMaintpage(h)
	if err != nil {
		return fmt.Errorf("maintpage serve does not start: %w", err)
	}
	defer in.stop()
	resp, body, err := fetch(in.addr)
	if err != nil {
		return fmt.Errorf("reference page from maintpage: %w", err)
	}
	if resp.StatusCode != 503 || len(body) == 0 || resp.Header.Get("Retry-After") == "" {
		return fmt.Errorf("maintpage's default answer is %d with %d bytes and Retry-After %q; want 503, a page and Retry-After",
			resp.StatusCode, len(body), resp.Header.Get("Retry-After"))
	}
	h.ref = reference{status: resp.StatusCode, header: resp.Header, body: body}
	return nil
}

// findTools locates every program the chosen systems need and builds maintpage and the upstream.
func (h *harness) findTools(o options, systems []*system, logf func(string, ...any)) error {
	need := map[string]bool{}
	for _, s := range systems {
		switch s.ID {
		case "nginx", "nginx-nosendfile", "nginx-proxy":
			need["nginx"] = true
		case "haproxy", "caddy":
			need[s.ID] = true
		case "flask", "gunicorn":
			need["python"] = true
		case "nginx-h2", "nginx-h2-nosendfile":
			need["nginx"], need["h2load"] = true, true
		case "maintpage-h2c":
			need["h2load"] = true
		}
	}
	var missing []string
	look := func(name string, candidates ...string) string {
		for _, c := range candidates {
			if p, err := exec.LookPath(c); err == nil {
				return p
			}
		}
		missing = append(missing, name)
		return ""
	}
	h.wrk = look("wrk", "wrk")
	if need["nginx"] {
		h.nginx = look("nginx", "nginx", "/usr/sbin/nginx")
	}
	if need["h2load"] {
		h.h2load = look("h2load", "h2load")
	}
	if o.profile {
		h.perf = look("perf (Debian's linux-perf)", "perf")
	}
	if need["haproxy"] {
		h.haproxy = look("haproxy", "haproxy", "/usr/sbin/haproxy")
	}
	if need["caddy"] {
		h.caddy = look("caddy", "caddy")
	}
	if need["python"] {
		// Debian's python3 has Flask and gunicorn from apt; a pyenv python3 earlier on PATH may not.
		h.python = look("python3", "/usr/bin/python3", "python3")
		if h.python != "" {
			if out, err := exec.Command(h.python, "-c", "import flask, gunicorn").CombinedOutput(); err != nil {
				return fmt.Errorf("%s cannot import flask and gunicorn (%s): run bench/run.sh, which installs python3-flask and gunicorn", h.python, strings.TrimSpace(string(out)))
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing %s: run bench/run.sh, which installs them from Debian's packages (h2load is in nghttp2-client)", strings.Join(missing, ", "))
	}
	h.maintpage = o.maintpage
	if h.maintpage == "" {
		h.maintpage = filepath.Join(h.tmp, "maintpage")
		logf("building maintpage")
		if err := goBuild(h.root, h.maintpage, "./cmd/maintpage"); err != nil {
			return err
		}
	}
	h.upstream = filepath.Join(h.tmp, "upstream")
	return goBuild(h.root, h.upstream, "./bench/upstream")
}

func goBuild(root, out, pkg string) error {
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w: %s", pkg, err, strings.TrimSpace(string(b)))
	}
	return nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run the harness inside the maintpage module (go run ./bench/harness from its root)")
	}
	return filepath.Dir(mod), nil
}

// raiseNoFile lifts the soft limit on open files to the hard one for the harness and, because it
// is set explicitly, for every server and wrk it starts: 1000 connections need more than 1024.
func raiseNoFile(logf func(string, ...any)) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		logf("warning: RLIMIT_NOFILE: %v", err)
		return
	}
	l.Cur = l.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		logf("warning: RLIMIT_NOFILE: %v", err)
	}
	if l.Cur < 4096 {
		logf("warning: open files limited to %d; 1000 connections may fail (raise the hard limit, ulimit -Hn)", l.Cur)
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// quietEnough is the rule for refusing a noisy run: the benchmark loads every core itself, so any
// other work on the machine is measured with it. It waits up to quietWait for the 1-minute load
// average to fall to quietLoad × cores or below (a machine doing at most half a core's worth of
// other work per core) and refuses the run otherwise. With noWait (--allow-noisy) it looks once and
// does not wait. Each cell also records the 1-minute load before and after it, printed beside the
// results.
func quietEnough(ctx context.Context, noWait bool, logf func(string, ...any)) error {
	limit := quietLoad * float64(runtime.NumCPU())
	began := time.Now()
	deadline := began.Add(quietWait)
	if noWait {
		deadline = began
	}
	for {
		l := loadAvg1Float()
		if l <= limit {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("the machine is busy: 1-minute load average %.2f, above %.2f (%.1f × %d cores) after waiting %v; a benchmark now would measure the other work — wait for a quiet machine, or pass --allow-noisy",
				l, limit, quietLoad, runtime.NumCPU(), time.Since(began).Round(time.Second))
		}
		logf("waiting for a quiet machine: 1-minute load average %.2f, want ≤ %.2f", l, limit)
		time.Sleep(10 * time.Second)
	}
}

const (
	quietLoad = 0.5
	quietWait = 2 * time.Minute
)

func loadAvg1() string {
	f := strings.Fields(firstOf(os.ReadFile("/proc/loadavg")))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

func loadAvg1Float() float64 {
	v, err := strconv.ParseFloat(loadAvg1(), 64)
	if err != nil {
		return 0
	}
	return v
}
