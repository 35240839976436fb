package gate

import (
	"errors"
	"fmt"
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
	"github.com/maintpage/maintpage/internal/rules"
	"github.com/maintpage/maintpage/internal/schedule"
	"github.com/maintpage/maintpage/internal/server"
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
	// Pool holds the fast proxy path's upstream connections; nil makes one for this gate.
	Pool *UpstreamPool
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

	prefix          string
	adminPath       string
	bypassPath      string
	previewPath     string
	forwardAuthPath string
	forwardAuthDir  string         // forwardAuthPath + "/", under which Envoy's path_prefix puts the original path
	admin           *admin.Handler // nil: closed
	fa              *forwardAuth   // nil unless forward_auth is on
	errorPages      bool           // error_pages: every path outside the prefix is an error page
	besideProxy     bool           // the state decides, but there is no upstream to pass to

	cur atomic.Pointer[entry]
	mu  sync.Mutex // serialises rebuilds

	upstream *url.URL
	proxy    *proxy
	fast     *fastProxy // nil: every request to the upstream goes through ReverseProxy
	bypass   *bypass
	rs       *routeService

	out outcomes

	// The rule table, and each rule's scope and action, for Decide.
	rules     *rules.Table
	ruleScope []string
	rulePass  []bool
	hasPass   bool
	scopes    []string // the configured scopes
	windows   []*schedule.Window
}

// entry is what the gate answers with for one state: the view of it and a Responder for the whole
// site and for each scope in maintenance, built once when the state changes or a scheduled moment
// passes, never per request.
type entry struct {
	src *state.State // the tracker's snapshot it was built from
	// at is the moment it was built for, and changes when the view next changes without the state
	// changing (zero: never); it holds between the two. A clock set back (or a test's) rebuilds.
	at, changes time.Time
	view        state.View
	active      bool // the whole site is in maintenance
	resp        *respond.Responder
	// scoped answers the requests of each scope in maintenance, with that scope's message and end.
	scoped map[string]*respond.Responder
	// unplanned answers when the upstream fails: resp, except for a window that is scheduled but
	// not running, whose announced end must not become the Retry-After of an unrelated outage.
	unplanned *respond.Responder
}

// clockSlack is how far the clock may go back before an entry is built again.
const clockSlack = time.Second

// valid reports whether e still describes the state s at now.
func (e *entry) valid(s *state.State, now time.Time) bool {
	// The slack keeps requests that read the clock just before a rebuild from rebuilding again.
	return e.src == s && !now.Before(e.at.Add(-clockSlack)) && (e.changes.IsZero() || now.Before(e.changes))
}

// outcomes are the gate's request counters, resolved once so that counting does not allocate.
type outcomes struct {
	proxied, maintenance, bypassed, passed, fallback prometheus.Counter
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
		cfg:             cfg,
		tr:              o.Tracker,
		log:             o.Log,
		now:             o.Now,
		standalone:      !cfg.StateDecides(),
		besideProxy:     !cfg.Gate(),
		errorPages:      cfg.ErrorPages,
		endAtUntil:      cfg.EndAtUntil,
		prefix:          cfg.ReservedPrefix,
		adminPath:       cfg.ReservedPrefix + "admin/",
		bypassPath:      cfg.ReservedPrefix + "bypass",
		previewPath:     cfg.ReservedPrefix + "preview",
		forwardAuthPath: cfg.ReservedPrefix + "forward-auth",
		forwardAuthDir:  cfg.ReservedPrefix + "forward-auth/",
		upstream:        cfg.Upstream,
		ropts:           respond.Options{Config: cfg, Metrics: o.Metrics, Gatherer: o.Gatherer, Now: o.Now},
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
	g.rules = rules.New(cfg.Rules)
	for _, r := range cfg.Rules {
		g.ruleScope = append(g.ruleScope, r.Scope)
		g.rulePass = append(g.rulePass, r.Action == config.ActionPass)
		g.hasPass = g.hasPass || r.Action == config.ActionPass
	}
	g.scopes = cfg.Scopes()
	for _, spec := range cfg.Windows {
		w, err := schedule.New(spec, g.now())
		if err != nil {
			return nil, fmt.Errorf("window %q: %w", spec.Name, err)
		}
		g.windows = append(g.windows, w)
	}
	e, err := g.build(g.tr.Snapshot(), g.now())
	if err != nil {
		return nil, err
	}
	g.cur.Store(e)
	if toks := cfg.AllAdminTokens(); len(toks) > 0 {
		ao := admin.Options{
			Tracker: g.tr, EndAtUntil: cfg.EndAtUntil, Scopes: cfg.Scopes(), Windows: g.windows, Log: g.log, Now: o.Now, Prefix: cfg.ReservedPrefix,
			Languages:  languageTags(cfg),
			SessionTTL: cfg.AdminSessionTTL, Accent: cfg.Accent,
			ClientAddr: func(r *http.Request) string {
				if a := clientAddr(r, cfg.TrustedProxies); a.IsValid() {
					return a.String()
				}
				return ""
			},
		}
		for _, t := range toks {
			ao.Tokens = append(ao.Tokens, admin.Token{Name: t.Name, Token: t.Token})
		}
		if g.admin, err = admin.NewHandler(ao); err != nil {
			return nil, err
		}
	}
	if !g.standalone {
		g.bypass = newBypass(cfg)
	}
	if cfg.Gate() {
		if cfg.RouteService {
			g.rs = newRouteService(cfg.RouteServiceHosts)
		}
		g.proxy = newProxy(g, o.Transport, o.Metrics)
		g.fast = newFastProxy(g, o.Pool)
	}
	if cfg.ForwardAuth {
		g.fa = newForwardAuth(cfg, o.Metrics)
	}
	if m := o.Metrics; m != nil {
		g.out = outcomes{
			proxied:     m.GateRequests.WithLabelValues("proxied"),
			maintenance: m.GateRequests.WithLabelValues("maintenance"),
			bypassed:    m.GateRequests.WithLabelValues("bypassed"),
			passed:      m.GateRequests.WithLabelValues("passed"),
			fallback:    m.GateRequests.WithLabelValues("fallback"),
		}
		m.SetGateSource(func() metrics.GateState {
			h := g.tr.Health()
			v := g.view(g.tr.Snapshot(), g.now())
			scopes := make(map[string]bool, len(v.Scopes))
			for name, a := range v.Scopes {
				scopes[name] = a.Active
			}
			return metrics.GateState{Maintenance: g.standalone || v.Site.Active, Scopes: scopes, StoreUp: h.OK, StoreLastOK: h.LastOK}
		})
	}
	return g, nil
}

// view is the state as it applies at now, for this gate's configuration.
func (g *Gate) view(s *state.State, now time.Time) state.View {
	return s.ViewAt(now, state.ViewOptions{EndAtUntil: g.endAtUntil, Scopes: g.scopes, Windows: g.windows})
}

// current returns the entry for the tracker's state at now, building it if the state changed or a
// scheduled moment passed since. The state is compared by pointer: the tracker replaces it on every
// change, so this costs two atomic loads and a time comparison, not a copy of the state.
func (g *Gate) current(now time.Time) *entry {
	s := g.tr.Snapshot()
	if e := g.cur.Load(); e.valid(s, now) {
		return e
	}
	return g.rebuild(s, now)
}

// rebuild runs once per change: the first request after it waits the few milliseconds rendering
// takes, and the requests that arrive meanwhile wait for the same result rather than render too.
func (g *Gate) rebuild(s *state.State, now time.Time) *entry {
	g.mu.Lock()
	defer g.mu.Unlock()
	if e := g.cur.Load(); e.valid(s, now) {
		return e
	}
	e, err := g.build(s, now)
	if err != nil {
		// The configuration's own responses rendered in New; only the state's text can fail here.
		// Keep the configured text and do not retry on every request.
		g.log.Error("rendering the maintenance response for the new state failed; showing the configured message", "error", err)
		old := g.cur.Load()
		v := g.view(s, now)
		e = &entry{src: s, at: now, changes: v.Changes, view: v, active: g.standalone || v.Site.Active, resp: old.resp, scoped: old.scoped, unplanned: old.unplanned}
	}
	g.cur.Store(e)
	return e
}

func (g *Gate) build(s *state.State, now time.Time) (*entry, error) {
	v := g.view(s, now)
	active := g.standalone || v.Site.Active
	st := g.status(v.Site, active, v.Next, v.InWindow)
	if len(v.Scopes) > 0 {
		st.Scopes = make(map[string]respond.ScopeStatus, len(v.Scopes))
		for name, a := range v.Scopes {
			ss := respond.ScopeStatus{Maintenance: active || a.Active}
			if a.On {
				ss.Message, ss.Until, ss.Start = a.Message, a.Until, a.Start
			}
			st.Scopes[name] = ss
		}
	}
	opts := g.ropts
	opts.Status = &st
	resp, err := respond.New(opts)
	if err != nil {
		return nil, err
	}
	e := &entry{src: s, at: now, changes: v.Changes, view: v, active: active, resp: resp, unplanned: resp}
	for _, name := range v.ActiveScopes() {
		sst := g.status(v.Scopes[name], true, v.Next, v.InWindow)
		opts.Status = &sst
		r, err := respond.New(opts)
		if err != nil {
			return nil, fmt.Errorf("scope %s: %w", name, err)
		}
		if e.scoped == nil {
			e.scoped = map[string]*respond.Responder{}
		}
		e.scoped[name] = r
	}
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

// status is what the maintenance response says for one switch.
func (g *Gate) status(a state.Applied, active bool, next *state.Next, inWindow bool) respond.Status {
	st := respond.Status{Maintenance: active, Reason: a.Reason, ChangedBy: a.ChangedBy, ChangedAt: a.ChangedAt}
	if a.On {
		st.Message, st.Until, st.Start = a.Message, a.Until, a.Start
	}
	if st.Message == "" {
		st.Message = g.cfg.Message
	}
	if st.Until.IsZero() && active {
		st.Until = g.cfg.Until
	}
	if n := next; n != nil {
		st.Next = &respond.NextWindow{Start: n.Start, End: n.End, Scope: n.Scope, OnPage: !inWindow}
	}
	return st
}

// Decision is what the gate does with one request. ServeHTTP acts on it, and so does the
// forward-auth endpoint for the request a proxy describes, so that every way in honours the same
// state, schedule, rules, scopes and bypasses.
type Decision struct {
	// Rule is the index of the first configured rule the request matches; -1 for none.
	Rule int
	// Scope is that rule's scope; "" when it has none or no rule matched.
	Scope string
	// Maintenance reports whether maintenance applies to the request: the whole site is in
	// maintenance, or the request's scope is.
	Maintenance bool
	// Pass reports that the request goes to the upstream although Maintenance is true, because
	// its rule says action: pass.
	Pass bool
	// Bypass names the bypass that lets the request through although Maintenance is true (cidr,
	// cookie, header, path); "" for none. It is only worked out when neither Pass nor the
	// standalone page makes it moot.
	Bypass string

	resp *respond.Responder // answers the request when Respond() is true
	e    *entry
}

// Respond reports whether the request gets the maintenance response rather than the upstream.
func (d *Decision) Respond() bool { return d.Maintenance && !d.Pass && d.Bypass == "" }

// Serve writes the maintenance response for the request d was made for.
func (d *Decision) Serve(w http.ResponseWriter, r *http.Request) {
	d.resp.MaintenanceRule(w, r, d.Rule)
}

// ServeFor writes the maintenance response for orig, the request d was made for, as the answer to
// req, the request of the proxy that asked about it.
func (d *Decision) ServeFor(w http.ResponseWriter, req, orig *http.Request) {
	d.resp.MaintenanceRuleFor(w, req, orig, d.Rule)
}

// Decide works out what the gate does with r at now: the first matching rule, its scope, whether
// maintenance applies to it, and whether a pass rule or a bypass lets it through anyway.
func (g *Gate) Decide(r *http.Request, now time.Time) Decision {
	e := g.current(now)
	d := Decision{e: e}
	d.Rule, d.Scope, d.Maintenance, d.Pass, d.resp = g.match(e, r.Method, r.URL.Path, r.Host)
	if d.Maintenance && !d.Pass && !g.standalone {
		d.Bypass = g.bypass.reason(r, now)
	}
	return d
}

// match is the part of Decide that needs only the method, path and host, shared with ServeFast: the
// first matching rule, its scope, whether maintenance applies, whether the rule passes the request
// anyway, and the responder for it.
func (g *Gate) match(e *entry, method, path, host string) (rule int, scope string, maint, pass bool, resp *respond.Responder) {
	rule, maint, resp = -1, e.active, e.resp
	if g.rules.Len() == 0 || (!e.active && e.scoped == nil) {
		return rule, scope, maint, pass, resp
	}
	if rule = g.rules.Match(method, path, host); rule >= 0 {
		scope, pass = g.ruleScope[rule], g.rulePass[rule]
	}
	if !e.active && scope != "" {
		if sr := e.scoped[scope]; sr != nil {
			maint, resp = true, sr
		}
	}
	return rule, scope, maint, pass && maint, resp
}

// routed is r as the user sent it, for deciding: in route-service mode the Cloud Foundry router
// sends the request to the route service's own URL and host, and the user's URL only in
// X-CF-Forwarded-Url (gorouter, proxy/round_tripper/proxy_round_tripper.go: request.Host =
// reqInfo.RouteServiceURL.Host; *request.URL = *reqInfo.RouteServiceURL). Matching rules and path
// bypasses on the route service's URL would put every request in the same scope. A forwarded URL
// that does not parse leaves r as it is: it is refused later if the request is passed on.
func (g *Gate) routed(r *http.Request) *http.Request {
	if g.rs == nil {
		return r
	}
	fu := r.Header.Get(cfForwardedURL)
	if fu == "" {
		return r
	}
	u, err := url.Parse(fu)
	if err != nil || u.Host == "" {
		return r
	}
	r2 := r.WithContext(r.Context()) // a shallow copy; its URL is replaced, not changed
	ru := *r.URL
	ru.Path, ru.RawPath, ru.RawQuery = u.Path, u.RawPath, u.RawQuery
	r2.URL, r2.Host = &ru, u.Host
	return r2
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
	if c := server.Carried(r.Context()); c != nil {
		// The fast proxy path sent this request upstream and left the answer to ReverseProxy.
		if pe, ok := c.(*pending); ok && g.proxy != nil {
			if g.proxy.servePending(w, r, g.current(g.now()), pe) {
				g.out.inc(g.out.fallback)
			} else {
				g.out.inc(g.out.proxied)
			}
			return
		}
		c.Close()
	}
	if strings.HasPrefix(r.URL.Path, g.prefix) {
		g.serveReserved(w, r)
		return
	}
	if g.errorPages {
		g.current(g.now()).resp.ErrorPages(w, r)
		return
	}
	d := g.Decide(g.routed(r), g.now())
	counter := g.out.proxied
	switch {
	case d.Respond() || g.besideProxy:
		// Beside a proxy (forward_auth without an upstream) there is nowhere to pass to: the proxy
		// sends requests here only for the page, such as nginx's error_page after a deny.
		d.Serve(w, r)
		g.out.inc(g.out.maintenance)
		return
	case d.Maintenance && d.Pass:
		counter = g.out.passed
	case d.Maintenance:
		w.Header()[bypassHeader] = bypassValues[d.Bypass]
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
	if g.proxy.serve(w, r, d.e, target) {
		g.out.inc(g.out.fallback)
		return
	}
	g.out.inc(counter)
}

func (g *Gate) serveReserved(w http.ResponseWriter, r *http.Request) {
	if g.admin != nil && strings.HasPrefix(r.URL.Path, g.adminPath) {
		g.admin.ServeHTTP(w, r)
		return
	}
	switch r.URL.Path {
	case g.bypassPath:
		if g.bypass != nil && g.bypass.enabled() {
			g.bypass.serveLink(w, r, g.now())
			return
		}
	case g.previewPath:
		if g.admin != nil || (g.bypass != nil && g.bypass.enabled()) {
			g.preview(w, r)
			return
		}
	case g.forwardAuthPath:
		if g.fa != nil {
			g.serveForwardAuth(w, r)
			return
		}
	}
	if g.fa != nil && strings.HasPrefix(r.URL.Path, g.forwardAuthDir) {
		g.serveForwardAuth(w, r)
		return
	}
	g.current(g.now()).resp.ServeReserved(w, r)
}

// preview shows the team what users would get (see respond.ServePreview): for callers with the admin
// token or a bypass, in any state, whether maintenance is on or not. The optional scope parameter
// shows that scope's message and end.
func (g *Gate) preview(w http.ResponseWriter, r *http.Request) {
	now := g.now()
	team := g.admin != nil && g.admin.Authorized(r)
	if !team && !g.standalone && g.bypass != nil {
		team = g.bypass.team(r, now) != ""
	}
	if !team {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("WWW-Authenticate", `Bearer realm="maintpage admin"`)
		http.Error(w, "preview: send Authorization: Bearer <admin_token>, or come through a bypass", http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "preview: use GET", http.StatusMethodNotAllowed)
		return
	}
	v := g.current(now).view
	a := v.Site
	if sc := r.URL.Query().Get("scope"); sc != "" {
		if err := state.CheckScope(sc, g.scopes); err != nil {
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, "preview: "+err.Error(), http.StatusBadRequest)
			return
		}
		a = v.Scopes[sc]
	}
	if !a.Active {
		a = state.Applied{} // not on now: preview with the configured message
	}
	st := g.status(a, true, v.Next, v.InWindow)
	opts := g.ropts
	opts.Status = &st
	opts.Now = func() time.Time { return now }
	respond.ServePreview(w, r, opts)
}

func (g *Gate) refuse(w http.ResponseWriter, err error) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusBadRequest)
	w.Write([]byte(err.Error() + "\n")) //nolint:errcheck
}

// languageTags are the configured languages' tags, the default first; none means the built-in ones.
func languageTags(cfg *config.Config) []string {
	var tags []string
	for _, l := range cfg.Languages {
		tags = append(tags, l.Tag)
	}
	return tags
}
