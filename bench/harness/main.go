// Command harness benchmarks maintpage against nginx and the original Flask app on this machine,
// in one run: it starts every system on a free loopback port, loads them in turn with wrk, round
// after round, and writes a Markdown table and the raw numbers under bench/results/.
//
//	go run ./bench/harness --rounds 3 --duration 5s
//	go run ./bench/harness --smoke          # a few seconds: every system starts and answers
//
// bench/run.sh installs nginx, wrk, Flask and gunicorn when missing and runs this.
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
	flaskDir  string
	ref       reference
}

type options struct {
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
}

func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("harness", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.rounds, "rounds", 3, "rounds; each round loads every system once per connection count, in rotated order")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "length of each wrk run")
	fs.DurationVar(&o.warmup, "warmup", -1, "unrecorded wrk run before each measured one (default: 1s when --duration is 3s or more, else none)")
	conns := fs.String("conns", "10,100,1000", "comma-separated wrk connection counts")
	systems := fs.String("systems", "", "comma-separated systems (default all): "+strings.Join(systemIDs(), ","))
	fs.StringVar(&o.out, "out", "", "directory for the results (default bench/results; with --smoke, a temporary directory)")
	fs.BoolVar(&o.smoke, "smoke", false, "a run of a few seconds: every system starts and answers as expected, the table is written; exit 1 otherwise")
	fs.IntVar(&o.starts, "starts", 7, "starts per system for the start-up time (median)")
	fs.StringVar(&o.benchtime, "benchtime", "", "go test -benchtime for the responder's benchmark (default go's)")
	fs.BoolVar(&o.noGoBench, "no-go-bench", false, "skip go test -bench ./internal/respond/")
	fs.BoolVar(&o.allowNoisy, "allow-noisy", false, "run even when the machine is busy (the results then say NOISY); see quietEnough")
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
		// A few seconds in all: one round, one short run per system, one start each.
		if !explicit["rounds"] {
			o.rounds = 1
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
	if *systems != "" {
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
	if o.rounds < 1 || o.duration < time.Second || o.starts < 1 {
		return o, errors.New("--rounds and --starts must be at least 1, --duration at least 1s")
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
		keep := map[string]bool{}
		for _, id := range o.systems {
			keep[id] = true
		}
		var sel []*system
		for _, s := range systems {
			if keep[s.ID] {
				sel = append(sel, s)
			}
		}
		systems = sel
	}
	if err := h.findTools(o, systems, logf); err != nil {
		return nil, err
	}

	if !o.smoke {
		if err := quietEnough(ctx, logf); err != nil {
			if !o.allowNoisy {
				return nil, err
			}
			logf("%v; running anyway (--allow-noisy): the results are marked NOISY", err)
			o.noisy = true
		}
	}
	res := newResults(o, systems)
	res.Noisy = o.noisy
	res.Machine = machineInfo(h)
	res.Machine.LoadStart = loadAvg()

	// maintpage's own answer is the reference that nginx repeats.
	if err := h.fetchReference(); err != nil {
		return nil, err
	}
	res.ReferenceBytes = len(h.ref.body)

	logf("start-up: %d start(s) per system", o.starts)
	for i := 0; i < o.starts; i++ {
		for _, s := range systems {
			if s.Group != "maintenance" || ctx.Err() != nil {
				continue
			}
			in, err := s.start(h)
			if err != nil {
				res.fail("start-up of %s: %v", s.ID, err)
				continue
			}
			in.stop()
			res.Startup[s.ID] = append(res.Startup[s.ID], ms(in.startup))
		}
	}

	total := o.rounds * len(o.conns) * len(systems)
	n := 0
	for r := 0; r < o.rounds; r++ {
		// Rotate the order every round, so that no system always runs first or after the same one.
		order := append(append([]*system{}, systems[r%len(systems):]...), systems[:r%len(systems)]...)
		for _, c := range o.conns {
			for _, s := range order {
				if ctx.Err() != nil {
					return nil, fmt.Errorf("interrupted: %w", ctx.Err())
				}
				n++
				cell := h.measure(ctx, s, r+1, c, o)
				if cell.Error != "" {
					logf("[%d/%d] round %d, %d conns, %s: %s", n, total, r+1, c, s.ID, cell.Error)
				} else {
					logf("[%d/%d] round %d, %d conns, %s: %.0f req/s, p50 %.3f ms, p99 %.3f ms, RSS %.1f MiB",
						n, total, r+1, c, s.ID, cell.Result.RPS, cell.Result.P50ms, cell.Result.P99ms, float64(cell.PeakRSSKiB)/1024)
				}
				if cell.Error != "" && !cell.Unavailable {
					res.fail("round %d, %d connections, %s: %s", r+1, c, s.ID, cell.Error)
				}
				res.Cells = append(res.Cells, cell)
			}
		}
	}

	if !o.noGoBench {
		logf("go test -bench ./internal/respond/")
		res.GoBench = goBench(ctx, h.root, o.benchtime)
	}
	res.Machine.LoadEnd = loadAvg()
	res.finish()

	dir := o.out
	if dir == "" {
		if o.smoke {
			dir = filepath.Join(os.TempDir(), "maintpage-bench-smoke")
		} else {
			dir = filepath.Join(h.root, "bench", "results")
		}
	}
	md, err := res.write(dir)
	if err != nil {
		return nil, err
	}
	fmt.Fprint(stdout, md)
	logf("results written to %s", dir)
	return res, nil
}

// measure starts s afresh (so that its peak RSS belongs to this connection count), checks its
// answer, loads it, reads its peak RSS, checks its answer again and stops it.
func (h *harness) measure(ctx context.Context, s *system, round, conns int, o options) (c cell) {
	c = cell{System: s.ID, Round: round, Conns: conns, LoadBefore: loadAvg1()}
	defer func() { c.LoadAfter = loadAvg1() }()
	if s.unavailable != nil {
		c.Error, c.Unavailable = s.unavailable.Error(), true
		return c
	}
	in, err := s.start(h)
	if err != nil {
		c.Error = err.Error()
		if errors.Is(err, errUnavailable) {
			s.unavailable, c.Unavailable = err, true
		}
		return c
	}
	defer in.stop()
	if err := h.check(s, in); err != nil {
		c.Error = "before load: " + err.Error()
		return c
	}
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
	// wrk counts responses with a status of 400 or more; every other response is wrong for a 503
	// system, and every such one is wrong for a 200 system.
	if s.Want >= 400 {
		c.WrongStatus = r.Requests - r.Non2xx3xx
	} else {
		c.WrongStatus = r.Non2xx3xx
	}
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
		return fmt.Errorf("missing %s: run bench/run.sh, which installs them from Debian's packages", strings.Join(missing, ", "))
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
// other work per core) and refuses the run otherwise. Each cell also records the 1-minute load
// before and after it, printed beside the results.
func quietEnough(ctx context.Context, logf func(string, ...any)) error {
	limit := quietLoad * float64(runtime.NumCPU())
	deadline := time.Now().Add(quietWait)
	for {
		l := loadAvg1Float()
		if l <= limit {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("the machine is busy: 1-minute load average %.2f, above %.2f (%.1f × %d cores) after waiting %v; a benchmark now would measure the other work — wait for a quiet machine, or pass --allow-noisy",
				l, limit, quietLoad, runtime.NumCPU(), quietWait)
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
