package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/maintpage/maintpage/internal/config"
	"github.com/maintpage/maintpage/internal/gate"
	"github.com/maintpage/maintpage/internal/metrics"
	"github.com/maintpage/maintpage/internal/reqlog"
	"github.com/maintpage/maintpage/internal/respond"
	"github.com/maintpage/maintpage/internal/schedule"
	"github.com/maintpage/maintpage/internal/server"
	"github.com/maintpage/maintpage/internal/state"
	"github.com/maintpage/maintpage/internal/webhook"
)

// configFlags adds --config and one flag per setting, and returns a function that loads the
// configuration from the file, the environment and the flags the user set.
func configFlags(e *env, fs *pflag.FlagSet) func() (*config.Config, error) {
	file := fs.StringP("config", "c", "", "YAML configuration file (env MAINTPAGE_CONFIG)")
	for _, o := range config.Options() {
		help := o.Help + " (env " + o.Env
		if o.Default != "" {
			help += ", default " + o.Default
		}
		help += ")"
		fs.String(o.Flag, "", help)
		if o.Default == "false" {
			fs.Lookup(o.Flag).NoOptDefVal = "true"
		}
	}
	return func() (*config.Config, error) {
		set := map[string]string{}
		for _, o := range config.Options() {
			if f := fs.Lookup(o.Flag); f != nil && f.Changed {
				set[o.Key] = f.Value.String()
			}
		}
		path := *file
		if path == "" {
			path = e.getenv("MAINTPAGE_CONFIG")
		}
		return config.Load(path, e.getenv, set)
	}
}

func newServeCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Answer every request with the maintenance response",
		Long: `serve answers every request, any path and any method, with the maintenance response: 503 with
Retry-After and Cache-Control: no-store, HTML, problem JSON or text as the client's Accept asks. The
reserved prefix (default /_maintenance/) answers health, status and assets. Send SIGHUP or change the
configuration file to reload it; an invalid one is logged and the old one keeps serving.

Settings come from flags, then environment variables, then the --config file, then defaults.`,
		Args: cobra.NoArgs,
	}
	load := configFlags(e, cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		// Until the server listens for SIGHUP, one must not end the process (the default action):
		// a reload sent while the store is still being read at start would otherwise kill it.
		signal.Ignore(syscall.SIGHUP)
		cfg, err := load()
		if err != nil {
			return usageErr(err)
		}
		ctx := cmd.Context()
		appLog, reqLog, err := loggers(cfg, e.stdout, e.stderr)
		if err != nil {
			return usageErr(err)
		}
		if reqLog != nil {
			// Deferred first, so it runs last: after the server has answered its last request.
			defer reqLog.Close()
		}
		appLog.Info("memory limit", memoryLimitAttrs(e.getenv)...)
		reg := prometheus.NewRegistry()
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		m := metrics.New(reg)
		tracker, stopState, err := startState(ctx, cfg, appLog)
		if err != nil {
			return err
		}
		defer stopState()
		hooks, windows, stopHooks, err := startWebhooks(cfg, tracker, m, appLog)
		if err != nil {
			return err
		}
		defer stopHooks()
		b := &builder{start: cfg, tracker: tracker, hooks: hooks, windows: windows, metrics: m, reg: reg, log: appLog}
		defer b.close()
		build := b.build
		h, err := build(cfg)
		if err != nil {
			return usageErr(fmt.Errorf("invalid configuration: %w", err))
		}
		err = runServer(ctx, cfg, h, serverParts{
			load: load, build: build, log: appLog, reqLog: reqLog,
			metrics: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}),
		})
		if err != nil {
			return withCode(ExitFailure, err)
		}
		appLog.Info("stopped")
		return nil
	}
	return cmd
}

// serverParts is what runServer wires besides the configuration and its first handler.
type serverParts struct {
	load    func() (*config.Config, error) // loads the configuration again, for a reload
	build   func(*config.Config) (http.Handler, error)
	log     *slog.Logger
	reqLog  *reqlog.Logger // nil: no request log
	metrics http.Handler   // served at /metrics on metrics_listen when that is set
}

// serverOptions translates the configuration into the server's options.
func serverOptions(c *config.Config, h http.Handler, log *slog.Logger, reqLog *reqlog.Logger) server.Options {
	return server.Options{
		Addr: c.Addr(), Handler: h,
		ReadHeaderTimeout: c.ReadHeaderTimeout, ReadTimeout: c.ReadTimeout,
		WriteTimeout: c.WriteTimeout, IdleTimeout: c.IdleTimeout, MaxHeaderBytes: c.MaxHeaderBytes,
		H2C: c.H2C, FastPath: c.FastPath, Log: log, RequestLog: reqLog,
	}
}

// runServer serves h (and the metrics, when metrics_listen is set) until ctx ends or a server
// fails, reloading the configuration on SIGHUP or a change to its file, then shuts down within
// shutdown_timeout.
func runServer(ctx context.Context, cfg *config.Config, h http.Handler, p serverParts) error {
	srv, err := server.Open(serverOptions(cfg, h, p.log, p.reqLog))
	if err != nil {
		return fmt.Errorf("%w (is another server on that port? set PORT or --port to a free one)", err)
	}
	servers := []*server.Server{srv}
	metricsFailed := make(<-chan struct{})
	if cfg.MetricsListen != "" && p.metrics != nil {
		mux := http.NewServeMux()
		mux.Handle("/metrics", p.metrics)
		o := serverOptions(cfg, mux, p.log, nil)
		o.Addr, o.FastPath = cfg.MetricsListen, false
		m, err := server.Open(o)
		if err != nil {
			srv.Close(context.Background()) //nolint:errcheck // nothing was served yet
			return fmt.Errorf("%w (choose a free address for metrics_listen)", err)
		}
		p.log.Info("metrics listening", "addr", m.Addr().String())
		servers, metricsFailed = append(servers, m), m.Failed()
	}
	p.log.Info("listening", "addr", srv.Addr().String(), "h2c", cfg.H2C)

	wctx, stopWatching := context.WithCancel(ctx)
	var watching sync.WaitGroup
	watching.Go(func() {
		server.WatchReload(wctx, cfg.File, p.log, func() { reload(cfg, p, srv) })
	})
	select {
	case <-ctx.Done():
	case <-srv.Failed():
	case <-metricsFailed:
	}
	stopWatching()
	watching.Wait()

	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	errs := make([]error, len(servers))
	var closing sync.WaitGroup
	for i, s := range servers {
		closing.Go(func() { errs[i] = s.Close(sctx) })
	}
	closing.Wait()
	return errors.Join(errs...)
}

// reload loads and builds the configuration again and swaps the new handler in; a configuration
// that fails to load or build leaves the running one serving.
func reload(running *config.Config, p serverParts, srv *server.Server) {
	next, err := p.load()
	if err == nil {
		var h http.Handler
		if h, err = p.build(next); err == nil {
			if keys := config.RestartNeeded(running, next); len(keys) > 0 {
				p.log.Warn("these settings change only on restart; the rest of the new configuration applies now", "settings", keys)
			}
			srv.SetHandler(h)
			p.log.Info("configuration reloaded", "file", next.File)
			return
		}
	}
	p.log.Error("reload failed; still serving the previous configuration", "error", err)
}

// builder makes serve's handler for a configuration, at start and on every reload. The upstream
// transport outlives reloads: a new one per reload would drop every pooled upstream connection and
// dial them all again under load. It is replaced only when its settings change.
type builder struct {
	start   *config.Config // the configuration serve started with: the store was opened for it
	tracker *state.Tracker
	hooks   *webhook.Dispatcher
	windows *state.WindowLog
	metrics *metrics.Metrics
	reg     *prometheus.Registry
	log     *slog.Logger

	mu        sync.Mutex // reloads come one at a time, but nothing here should depend on it
	transport *http.Transport
	pool      *gate.UpstreamPool // the fast proxy path's connections, replaced with the transport
	tkey      transportKey
}

// transportKey is what gate.NewTransport builds a transport from.
type transportKey struct {
	dial, header time.Duration
	caPEM        string
	insecure     bool
}

func keyOf(c *config.Config) transportKey {
	return transportKey{c.UpstreamDialTimeout, c.UpstreamHeaderTimeout, string(c.UpstreamCAPEM), c.UpstreamInsecureSkipVerify}
}

func (b *builder) build(c *config.Config) (http.Handler, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h, err := b.handler(c)
	if err == nil && b.hooks != nil {
		// Only a configuration that is taken changes the receivers and the windows recorded.
		b.hooks.SetHooks(webhookHooks(c))
		b.windows.SetWindows(parseWindows(c))
	}
	return h, err
}

func (b *builder) handler(c *config.Config) (http.Handler, error) {
	if !usesState(c) {
		h, err := respond.New(respond.Options{Config: c, Metrics: b.metrics, Gatherer: b.reg})
		if err != nil {
			return nil, err
		}
		// A gate before the reload would otherwise stay the metrics' source, and scrapes would
		// report its state (maintenance 0, a store) for a page that is always in maintenance.
		b.metrics.SetGateSource(nil)
		return h, nil
	}
	if c.State != b.start.State || c.StartupState != b.start.StartupState {
		b.log.Warn("state and startup_state change only on restart; still using the store opened at start",
			"state", state.RedactURL(b.start.State))
	}
	var tr http.RoundTripper
	var fresh *http.Transport
	var pool, freshPool *gate.UpstreamPool
	if c.Gate() {
		if c.UpstreamInsecureSkipVerify {
			// Every load says it again, so that nobody leaves a test setting in production unseen.
			b.log.Warn("upstream_insecure_skip_verify is on: the gate accepts ANY certificate from the upstream and the router, so anyone on the path can read and change the traffic; use upstream_ca_file instead outside test foundations")
		}
		key := keyOf(c)
		if b.transport == nil || key != b.tkey {
			fresh, freshPool = gate.NewTransport(c), gate.NewUpstreamPool(c.UpstreamDialTimeout)
			tr, pool = fresh, freshPool
		} else {
			tr, pool = b.transport, b.pool
		}
	}
	g, err := gate.New(gate.Options{Config: c, Tracker: b.tracker, Metrics: b.metrics, Gatherer: b.reg, Log: b.log, Transport: tr, Pool: pool})
	if err != nil {
		return nil, err // a fresh transport has no connections yet
	}
	if fresh != nil {
		if b.transport != nil {
			// Requests in flight on the old transport finish; its idle connections close now, and
			// the others when their requests end.
			b.transport.CloseIdleConnections()
			b.pool.CloseIdle()
		}
		b.transport, b.pool, b.tkey = fresh, freshPool, keyOf(c)
	}
	b.publish(c)
	return g, nil
}

// publishTimeout bounds the write of what the configuration knows: it must not hold up a start or
// a reload for long when the store is slow, and the next reload or start writes it again.
const publishTimeout = 2 * time.Second

// publish writes the configuration's scopes and windows into the state, for "maintpage on --scope"
// and "maintpage status" run with nothing but the store's URL. A failure only costs the CLI that
// knowledge, so it is logged, not fatal.
func (b *builder) publish(c *config.Config) {
	ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
	defer cancel()
	if err := b.tracker.Publish(ctx, knownOf(c)); err != nil {
		b.log.Warn("could not publish the configured scopes and windows in the state store; maintpage on --state needs --config to check a scope until this succeeds", "error", err)
	}
}

// knownOf is what a configuration publishes about itself.
func knownOf(c *config.Config) state.Known {
	return state.Known{Scopes: c.Scopes(), Windows: c.Windows}
}

// close lets go of the upstream's idle connections when serve ends.
func (b *builder) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.transport != nil {
		b.transport.CloseIdleConnections()
		b.pool.CloseIdle()
	}
}

// usesState reports whether serve answers through the gate, which follows the maintenance state:
// in gate mode, beside a proxy (forward_auth, error_pages), and for the standalone page when a shared
// store, the admin API or webhooks are configured (the page then takes its message, end and reason
// from the state). Otherwise the bare Responder answers.
func usesState(c *config.Config) bool {
	return c.StateDecides() || c.State != "memory" || len(c.AllAdminTokens()) > 0 || len(c.Webhooks) > 0 || len(c.Windows) > 0
}

// startState opens the state store and runs its tracker until stop is called; both outlive reloads.
// It waits for the first read of the store (bounded by the tracker's read timeout), so the first
// requests are not answered from the startup state.
func startState(ctx context.Context, cfg *config.Config, log *slog.Logger) (*state.Tracker, func(), error) {
	routeRedisLogs(log)
	store, err := state.Open(cfg.State, log)
	if err != nil {
		return nil, nil, usageErr(err)
	}
	startup := state.State{}
	if cfg.StartupState == "on" {
		startup = state.State{On: true, Reason: "the state store could not be read at start (startup_state: on)"}
	}
	tr := state.NewTracker(store, startup, 0, log)
	tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() { tr.Run(tctx) })
	select {
	case <-tr.Ready():
	case <-ctx.Done():
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			wg.Wait()
			store.Close() //nolint:errcheck // nothing left to do with the store
		})
	}
	return tr, stop, nil
}

// startWebhooks runs, over the tracker's store and until stop is called, the webhook dispatcher
// and the log that records the windows' openings and closings in the history (which the webhooks
// then announce). Both outlive reloads, which only change their hooks and windows. Without hooks
// the dispatcher reads nothing; without windows the log only sleeps.
func startWebhooks(cfg *config.Config, tr *state.Tracker, m *metrics.Metrics, log *slog.Logger) (*webhook.Dispatcher, *state.WindowLog, func(), error) {
	d, err := webhook.New(webhook.Options{
		Store: tr.Store(), Hooks: webhookHooks(cfg), Log: log, Metrics: m,
		Queue: cfg.WebhookQueue, RetryFor: cfg.WebhookRetryFor, UserAgent: "maintpage/" + Version,
	})
	if err != nil {
		return nil, nil, nil, err
	}
	tr.OnChange(func(_, _ state.State) { d.Nudge() })
	wl := state.NewWindowLog(tr.Store(), log, nil)
	wl.SetWindows(parseWindows(cfg))
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { d.Run(ctx) })
	wg.Go(func() { wl.Run(ctx) })
	var once sync.Once
	return d, wl, func() { once.Do(func() { cancel(); wg.Wait() }) }, nil
}

// parseWindows parses the configured windows; configuration loading has checked each already.
func parseWindows(c *config.Config) []*schedule.Window {
	var ws []*schedule.Window
	for _, spec := range c.Windows {
		if w, err := schedule.New(spec, time.Now()); err == nil {
			ws = append(ws, w)
		}
	}
	return ws
}

func webhookHooks(c *config.Config) []webhook.Hook {
	var hs []webhook.Hook
	for _, w := range c.Webhooks {
		hs = append(hs, webhook.Hook{URL: w.URL.String(), Secret: w.Secret, Format: w.Format, Events: w.Events})
	}
	return hs
}

// loggers builds the process log (stderr) and the request log (stdout, buffered; nil when off).
// Closing the request log writes out its last lines: call it once the server has stopped.
func loggers(cfg *config.Config, stdout, stderr io.Writer) (app *slog.Logger, req *reqlog.Logger, err error) {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel)) //nolint:errcheck // validated by config
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		app = slog.New(slog.NewJSONHandler(stderr, opts))
	} else {
		app = slog.New(slog.NewTextHandler(stderr, opts))
	}
	if cfg.LogFormat == "off" {
		return app, nil, nil
	}
	mode, err := reqlog.ParseMode(cfg.LogRequests)
	if err != nil {
		return nil, nil, err
	}
	req, err = reqlog.New(reqlog.Options{
		Out: stdout, Text: cfg.LogFormat == "text", Mode: mode,
		SampleEvery: cfg.LogSample, SummaryEvery: cfg.LogSummaryInterval,
		TrustedProxies: cfg.TrustedProxies,
	})
	return app, req, err
}

func newCheckCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Validate the configuration and print every problem",
		Long: `check loads the configuration exactly as serve would (file, environment, flags), renders every
template once, and prints every problem with where it came from and how to fix it. It exits 0 when
the configuration is valid and 2 when it is not.`,
		Args: cobra.NoArgs,
	}
	load := configFlags(e, cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := load()
		if err != nil {
			return usageErr(err)
		}
		if _, err := respond.New(respond.Options{Config: cfg}); err != nil {
			return usageErr(fmt.Errorf("invalid configuration: %w", err))
		}
		src := cfg.File
		if src == "" {
			src = "defaults and environment"
		}
		fmt.Fprintf(e.stdout, "configuration OK (%s): listen %s, %d rule(s), reserved prefix %s\n",
			src, cfg.Addr(), len(cfg.Rules), strings.TrimSuffix(cfg.ReservedPrefix, "/")+"/")
		return nil
	}
	return cmd
}

func newHealthCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Check that a running maintpage answers its health path (for container probes)",
		Long: `health loads the configuration as serve would (file, environment, flags), asks the instance on
this machine for <reserved_prefix>health on its port, and exits 0 when it answers 200, 1 otherwise.
It needs no shell and no curl in the image: HEALTHCHECK CMD ["/maintpage", "health"].`,
		Args: cobra.NoArgs,
	}
	load := configFlags(e, cmd.Flags())
	timeout := cmd.Flags().Duration("timeout", 3*time.Second, "how long to wait for the answer")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := load()
		if err != nil {
			return usageErr(err)
		}
		url := "http://" + localAddr(cfg.Addr()) + cfg.ReservedPrefix + "health"
		ctx, cancel := context.WithTimeout(cmd.Context(), *timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return usageErr(err)
		}
		resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
		if err != nil {
			return withCode(ExitFailure, fmt.Errorf("health: %w (is maintpage serve running on this address?)", err))
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return withCode(ExitFailure, fmt.Errorf("health: %s answered %s, want 200", url, resp.Status))
		}
		fmt.Fprintf(e.stdout, "ok: %s\n", url)
		return nil
	}
	return cmd
}

// localAddr turns a listen address into one to dial on this machine: an unspecified host (":8080",
// "0.0.0.0:8080", "[::]:8080") becomes the loopback address.
func localAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
