package gate

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/maintpage/maintpage/internal/admin"
	"github.com/maintpage/maintpage/internal/config"
	"github.com/maintpage/maintpage/internal/metrics"
	"github.com/maintpage/maintpage/internal/respond"
	"github.com/maintpage/maintpage/internal/state"
)

// Options configure a Gate.
type Options struct {
	Config  *config.Config
	Tracker *state.Tracker // required; it and its store outlive reloads
	Metrics *metrics.Metrics
	// Gatherer serves <prefix>metrics when a metrics token is configured.
	Gatherer prometheus.Gatherer
	Log      *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Transport carries requests to the upstream; nil builds one from the configuration.
	Transport http.RoundTripper
}

// Gate is the handler of gate mode. Without an upstream or route-service mode in its configuration it
// is the standalone page that takes its message, end and reason from the state: always in
// maintenance, never proxying.
type Gate struct {
	cfg        *config.Config
	tr         *state.Tracker
	log        *slog.Logger
	now        func() time.Time
	ropts      respond.Options
	standalone bool
	endAtUntil bool

	prefix     string
	adminPath  string
	bypassPath string
	admin      *admin.Handler // nil: closed

	cur atomic.Pointer[entry]
	mu  sync.Mutex // serialises rebuilds

	upstream *url.URL
	proxy    *proxy
	bypass   *bypass
	rs       *routeService

	out outcomes
}

// entry is the Responder for one state, built once when the state (or whether it applies) changes.
type entry struct {
	src    *state.State // the tracker's snapshot it was built from
	active bool
	resp   *respond.Responder
	// unplanned answers when the upstream fails: resp, except for a window that is scheduled but
	// not running, whose announced end must not become the Retry-After of an unrelated outage.
	unplanned *respond.Responder
}

// outcomes are the gate's request counters, resolved once so that counting does not allocate.
type outcomes struct {
	proxied, maintenance, bypassed, fallback prometheus.Counter
}

func (o *outcomes) inc(c prometheus.Counter) {
	if c != nil {
		c.Inc()
	}
}

// New builds a gate and its first Responder, which also checks the configuration's templates.
func New(o Options) (*Gate, error) {
	cfg := o.Config
	if o.Tracker == nil {
		return nil, errors.New("gate: no state tracker")
	}
	g := &Gate{
		cfg:        cfg,
		tr:         o.Tracker,
		log:        o.Log,
		now:        o.Now,
		standalone: !cfg.Gate(),
		endAtUntil: cfg.EndAtUntil,
		prefix:     cfg.ReservedPrefix,
		adminPath:  cfg.ReservedPrefix + "admin/state",
		bypassPath: cfg.ReservedPrefix + "bypass",
		upstream:   cfg.Upstream,
		ropts:      respond.Options{Config: cfg, Metrics: o.Metrics, Gatherer: o.Gatherer, Now: o.Now},
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	// Templates and assets are read once per configuration; a state change only renders.
	shared, err := respond.NewShared(cfg)
	if err != nil {
		return nil, err
	}
	g.ropts.Shared = shared
	cur := g.tr.Snapshot()
	e, err := g.build(cur, g.active(cur, g.now()))
	if err != nil {
		return nil, err
	}
	g.cur.Store(e)
	if cfg.AdminToken != "" {
		if g.admin, err = admin.NewHandler(admin.Options{Tracker: g.tr, Token: cfg.AdminToken, EndAtUntil: cfg.EndAtUntil, Log: g.log, Now: o.Now}); err != nil {
			return nil, err
		}
	}
	if !g.standalone {
		g.bypass = newBypass(cfg)
		if cfg.RouteService {
			g.rs = newRouteService(cfg.RouteServiceHosts)
		}
		g.proxy = newProxy(g, o.Transport, o.Metrics)
	}
	if m := o.Metrics; m != nil {
		g.out = outcomes{
			proxied:     m.GateRequests.WithLabelValues("proxied"),
			maintenance: m.GateRequests.WithLabelValues("maintenance"),
			bypassed:    m.GateRequests.WithLabelValues("bypassed"),
			fallback:    m.GateRequests.WithLabelValues("fallback"),
		}
		m.SetGateSource(func() metrics.GateState {
			h := g.tr.Health()
			return metrics.GateState{Maintenance: g.active(g.tr.Snapshot(), g.now()), StoreUp: h.OK, StoreLastOK: h.LastOK}
		})
	}
	return g, nil
}

func (g *Gate) active(s *state.State, now time.Time) bool {
	return g.standalone || s.ActiveAt(now, g.endAtUntil)
}

// current returns the Responder for the tracker's state, building it if the state changed since.
// The state is compared by pointer: the tracker replaces it on every change, so this costs two atomic
// loads and the schedule check, not a copy and a field-by-field comparison.
func (g *Gate) current(now time.Time) *entry {
	s := g.tr.Snapshot()
	active := g.active(s, now)
	e := g.cur.Load()
	if e.src == s && e.active == active {
		return e
	}
	return g.rebuild(s, active)
}

// rebuild runs once per change: the first request after it waits the few milliseconds rendering
// takes, and the requests that arrive meanwhile wait for the same result rather than render too.
func (g *Gate) rebuild(s *state.State, active bool) *entry {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e := g.cur.Load(); e.src == s && e.active == active {
		return e
	}
	e, err := g.build(s, active)
	if err != nil {
		// The configuration's own responses rendered in New; only the state's text can fail here.
		// Keep the configured text and do not retry on every request.
		g.log.Error("rendering the maintenance response for the new state failed; showing the configured message", "error", err)
		old := g.cur.Load()
		e = &entry{src: s, active: active, resp: old.resp, unplanned: old.unplanned}
	}
	g.cur.Store(e)
	return e
}

func (g *Gate) build(s *state.State, active bool) (*entry, error) {
	st := respond.Status{Maintenance: active, Reason: s.Reason, ChangedBy: s.ChangedBy, ChangedAt: s.ChangedAt}
	if s.On {
		st.Message, st.Until, st.Start = s.Message, s.Until, s.Start
	}
	if st.Message == "" {
		st.Message = g.cfg.Message
	}
	if st.Until.IsZero() && active {
		st.Until = g.cfg.Until
	}
	opts := g.ropts
	opts.Status = &st
	resp, err := respond.New(opts)
	if err != nil {
		return nil, err
	}
	e := &entry{src: s, active: active, resp: resp, unplanned: resp}
	if !active && !st.Until.IsZero() && !g.standalone {
		u := st
		u.Until = time.Time{}
		opts.Status = &u
		if e.unplanned, err = respond.New(opts); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// bypassHeader is set on every response that passed through because of a bypass.
const bypassHeader = "Maintpage-Bypass"

var bypassValues = map[string][]string{}

func init() {
	for _, r := range []string{"cidr", "cookie", "header", "path"} {
		bypassValues[r] = []string{r}
	}
}

func (g *Gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, g.prefix) {
		g.serveReserved(w, r)
		return
	}
	now := g.now()
	e := g.current(now)
	counter := g.out.proxied
	if e.active {
		reason := ""
		if !g.standalone {
			reason = g.bypass.reason(r, now)
		}
		if reason == "" {
			e.resp.Maintenance(w, r)
			g.out.inc(g.out.maintenance)
			return
		}
		w.Header()[bypassHeader] = bypassValues[reason]
		counter = g.out.bypassed
	}
	// The forwarded URL is read only for requests that are passed on: the maintenance response
	// answers the others whatever they name.
	var target *url.URL
	if g.rs != nil {
		if fu := r.Header.Get(cfForwardedURL); fu != "" {
			var err error
			if target, err = g.rs.target(fu); err != nil {
				g.refuse(w, err)
				return
			}
		}
	}
	if target == nil && g.upstream == nil {
		// Route-service mode without a static upstream, and a request that did not come through
		// the router: there is nowhere to send it.
		g.refuse(w, errNotRouteService)
		return
	}
	if g.proxy.serve(w, r, e, target) {
		g.out.inc(g.out.fallback)
		return
	}
	g.out.inc(counter)
}

func (g *Gate) serveReserved(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case g.adminPath:
		if g.admin != nil {
			g.admin.ServeHTTP(w, r)
			return
		}
	case g.bypassPath:
		if g.bypass != nil && g.bypass.enabled() {
			g.bypass.serveLink(w, r, g.now())
			return
		}
	}
	g.current(g.now()).resp.ServeReserved(w, r)
}

func (g *Gate) refuse(w http.ResponseWriter, err error) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusBadRequest)
	w.Write([]byte(err.Error() + "\n")) //nolint:errcheck
}
