package respond

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/maintpage/maintpage/internal/config"
	"github.com/maintpage/maintpage/internal/metrics"
	"github.com/maintpage/maintpage/internal/negotiate"
	"github.com/maintpage/maintpage/internal/page"
	"github.com/maintpage/maintpage/internal/reqlog"
	"github.com/maintpage/maintpage/internal/rules"
	"github.com/maintpage/maintpage/internal/server"
)

// Status is what the status endpoint reports, and what the maintenance response says.
type Status struct {
	Maintenance bool      `json:"maintenance"`
	Message     string    `json:"message,omitempty"`
	Until       time.Time `json:"until,omitzero"`
	Start       time.Time `json:"start,omitzero"`
	Reason      string    `json:"reason,omitempty"`
	ChangedBy   string    `json:"changed_by,omitempty"`
	ChangedAt   time.Time `json:"changed_at,omitzero"`
	// Scopes are the configured scopes and whether each is in maintenance, for the status endpoint.
	Scopes map[string]ScopeStatus `json:"scopes,omitempty"`
	// Next is the next recurring window, shown on the status endpoint and, while no window is
	// open, on the page ("Next maintenance: …").
	Next *NextWindow `json:"next_window,omitempty"`
}

// NextWindow is the next opening of a recurring window.
type NextWindow struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	Scope string    `json:"scope,omitempty"` // "" for the whole site
	// OnPage shows it on the page; the gate leaves it off while a window is open.
	OnPage bool `json:"-"`
}

// ScopeStatus is one scope on the status endpoint.
type ScopeStatus struct {
	Maintenance bool      `json:"maintenance"`
	Message     string    `json:"message,omitempty"`
	Until       time.Time `json:"until,omitzero"`
	Start       time.Time `json:"start,omitzero"`
}

// Options configure a Responder.
type Options struct {
	Config  *config.Config
	Metrics *metrics.Metrics // nil: no metrics
	// Gatherer serves <prefix>metrics when a metrics token is configured.
	Gatherer prometheus.Gatherer
	// Status overrides what the configuration says about the window (the gate passes its state).
	// When nil, maintenance is on with the configured message and end.
	Status *Status
	// Shared holds the parsed templates and assets; nil parses them from Config.
	Shared *Shared
	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Responder answers with the maintenance response.
type Responder struct {
	cfg       *config.Config
	now       func() time.Time
	prefix    string
	formats   *negotiate.Formats
	langs     *negotiate.Languages
	rules     *rules.Table
	byRule    []*response // parallel to the rule table
	def       *response   // the default response, when no rule matches
	unplanned *response   // the gate's fallback when the upstream is down
	retry     retryAfter
	cors      cors
	reserved  http.Handler
	maxBody   int64
	errors    *errorPages
}

// variant is one ready response: its headers and body.
type variant struct {
	header http.Header // values are shared, never modified
	wire   []byte      // the same headers as they go on the wire, for the fast path
	body   []byte
}

// response holds the variants of one kind of response (a rule, the default, or unplanned).
type response struct {
	status     int
	statusLine []byte           // "HTTP/1.1 503 Service Unavailable\r\n"
	format     negotiate.Format // Unknown: negotiated
	// fixed[lang][format][overdue] are the ready variants; nil when the body depends on the request.
	fixed [][][2]*variant
	// dynamic renders a rule body that shows parts of the request.
	dynamic     func(d page.Data) ([]byte, error)
	makeVariant func(body []byte, lang int) *variant
	data        func(lang, status int, overdue, unplanned bool) page.Data
	retry       bool // send Retry-After (503 and 429 only)
	counters    [negotiate.HTML + 1]prometheus.Counter
}

// Shared is what every Responder for one configuration has in common: the parsed templates and
// the assets directory. The gate builds one per configuration and a Responder per state, so a
// state change renders but does not read the disk.
type Shared struct {
	page   *page.Page
	assets *assets // nil without assets_dir
}

// NewShared parses the templates and opens the assets directory of cfg.
func NewShared(cfg *config.Config) (*Shared, error) {
	p, err := page.New(cfg)
	if err != nil {
		return nil, err
	}
	sh := &Shared{page: p}
	if cfg.AssetsDir != "" {
		if sh.assets, err = newAssets(cfg.AssetsDir); err != nil {
			return nil, fmt.Errorf("assets_dir: %w (check that the directory exists and can be read)", err)
		}
	}
	return sh, nil
}

// New renders everything that does not depend on the request.
func New(o Options) (*Responder, error) {
	cfg := o.Config
	sh := o.Shared
	if sh == nil {
		var err error
		if sh, err = NewShared(cfg); err != nil {
			return nil, err
		}
	}
	p := sh.page
	var err error
	st := Status{Maintenance: true, Message: cfg.Message, Until: cfg.Until}
	if o.Status != nil {
		st = *o.Status
	}
	r := &Responder{
		cfg:     cfg,
		now:     o.Now,
		prefix:  cfg.ReservedPrefix,
		rules:   rules.New(cfg.Rules),
		maxBody: cfg.MaxBodyBytes,
		cors:    newCORS(cfg.CORSOrigins),
	}
	if r.now == nil {
		r.now = time.Now
	}
	defFormat, _ := negotiate.ParseFormat(cfg.DefaultFormat)
	r.formats = negotiate.NewFormats(defFormat)
	if r.langs, err = negotiate.NewLanguages(p.Languages()); err != nil {
		return nil, err
	}
	if st.Message == "" {
		st.Message = p.Data(0).Message
	}
	r.retry = newRetryAfter(cfg.RetryAfter, cfg.RetryAfterOverdue, st.Until)
	b := &builder{r: r, page: p, status: st, metrics: o.Metrics}
	r.errors = &errorPages{b: b, planned: o.Status != nil && st.Maintenance}
	if o.Status != nil && o.Status.Message != cfg.Message {
		// A message set at run time replaces every language's; the configured ones are already
		// in the page's data, per language.
		b.message = o.Status.Message
	}
	for _, rule := range cfg.Rules {
		if rule.Action == config.ActionPass {
			// The gate sends these requests to the upstream; Maintenance answers them with the
			// default response should a caller that does not pass ask for one.
			r.byRule = append(r.byRule, nil)
			continue
		}
		resp, err := b.rule(rule)
		if err != nil {
			return nil, fmt.Errorf("%s: rule %q: %w", rule.Source, rule.Name, err)
		}
		resp.counters = b.counters(resp, rule.Name)
		r.byRule = append(r.byRule, resp)
	}
	if r.def, err = b.page503(false); err != nil {
		return nil, err
	}
	r.def.counters = b.counters(r.def, "default")
	if r.unplanned, err = b.page503(true); err != nil {
		return nil, err
	}
	r.unplanned.counters = b.counters(r.unplanned, "unplanned")
	if r.reserved, err = newReserved(cfg, st, sh.assets, o.Gatherer); err != nil {
		return nil, err
	}
	return r, nil
}

// ServeHTTP answers the reserved prefix, CORS preflights, and the maintenance response for
// everything else.
func (r *Responder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if strings.HasPrefix(req.URL.Path, r.prefix) {
		r.ServeReserved(w, req)
		return
	}
	r.Maintenance(w, req)
}

// IsReserved reports whether a path belongs to the reserved prefix.
func (r *Responder) IsReserved(path string) bool { return strings.HasPrefix(path, r.prefix) }

// ServeReserved answers a request under the reserved prefix.
func (r *Responder) ServeReserved(w http.ResponseWriter, req *http.Request) {
	if code, ok := strings.CutPrefix(req.URL.Path, r.prefix+"error/"); ok {
		if status, ok := errorStatus(code); ok {
			r.ErrorPage(w, req, status, req.Header.Get("Accept"))
			return
		}
	}
	r.reserved.ServeHTTP(w, req)
}

// Maintenance answers with the planned maintenance response, following the rules.
func (r *Responder) Maintenance(w http.ResponseWriter, req *http.Request) {
	i := -1
	if r.rules.Len() > 0 {
		i = r.rules.Match(req.Method, req.URL.Path, req.Host)
	}
	r.serve(w, req, req, r.byIndex(i), req.Header.Get("Accept"))
}

// MaintenanceRule answers as Maintenance does for a request whose first matching rule the caller
// already knows: i indexes the configured rules, -1 for none. The gate matches once per request.
func (r *Responder) MaintenanceRule(w http.ResponseWriter, req *http.Request, i int) {
	r.serve(w, req, req, r.byIndex(i), req.Header.Get("Accept"))
}

// MaintenanceRuleFor answers req with the maintenance response of rule i for orig, the request a
// proxy asked about: the negotiation and a rule body that shows the request see orig; the exchange
// itself (HEAD, the request body) is req's.
func (r *Responder) MaintenanceRuleFor(w http.ResponseWriter, req, orig *http.Request, i int) {
	r.serve(w, req, orig, r.byIndex(i), orig.Header.Get("Accept"))
}

// byIndex is the response of rule i, or the default one for no rule and for pass rules.
func (r *Responder) byIndex(i int) *response {
	if i >= 0 && i < len(r.byRule) && r.byRule[i] != nil {
		return r.byRule[i]
	}
	return r.def
}

// Unplanned answers with the maintenance response marked as unplanned: the gate's answer when the
// application is down outside a window.
func (r *Responder) Unplanned(w http.ResponseWriter, req *http.Request) {
	r.serve(w, req, req, r.unplanned, req.Header.Get("Accept"))
}

// serve writes resp for req; orig is the request it is about (req itself, or the one a proxy
// described), accept the media types to choose the format from.
func (r *Responder) serve(w http.ResponseWriter, req, orig *http.Request, resp *response, accept string) {
	h := w.Header()
	if r.cors.enabled() {
		if r.cors.preflight(w, orig) {
			return
		}
		r.cors.annotate(h, orig)
	}
	c := r.choose(resp, accept, orig.Header.Get("Accept-Language"))
	reqlog.MarkMaintenance(w, c.format.String())
	if c.retry != nil {
		h["Retry-After"] = c.retry
	}
	v := c.fixed
	if v == nil {
		var err error
		if v, err = resp.render(orig, c.lang, c.overdue == 1); err != nil {
			// Rules were test-rendered in New; reaching here means a template failed on real data.
			h["Cache-Control"] = noStore
			h["X-Content-Type-Options"] = nosniff
			http.Error(w, "maintenance", resp.status)
			return
		}
	}
	for k, vals := range v.header {
		h[k] = vals
	}
	if req.ProtoMajor == 1 && (req.ContentLength > r.maxBody || (req.ContentLength < 0 && req.Body != nil && req.Body != http.NoBody)) {
		// Do not let the server drain a large or unbounded body after we answer: close instead.
		// HTTP/1 only: HTTP/2 ends the stream, and Go's HTTP/2 server would close the whole
		// connection on this header.
		h["Connection"] = closeValue
	}
	w.WriteHeader(resp.status)
	if req.Method != http.MethodHead {
		w.Write(v.body) //nolint:errcheck // a client that went away is not our error
	}
	resp.count(c.format)
}

// choice is what a request chose of a response: format, language, whether the announced end has
// passed, the Retry-After value, and the ready variant (nil for a body that shows the request).
type choice struct {
	format  negotiate.Format
	lang    int
	overdue int
	retry   []string
	fixed   *variant
}

func (r *Responder) choose(resp *response, accept, acceptLanguage string) choice {
	c := choice{format: resp.format}
	if c.format == negotiate.Unknown {
		c.format = r.formats.Choose(accept)
	}
	c.lang = r.langs.Match(acceptLanguage)
	now := r.now()
	if resp.retry {
		ra, late := r.retry.value(now)
		c.retry = ra
		if late {
			c.overdue = 1
		}
	} else if r.retry.late(now) {
		c.overdue = 1
	}
	if resp.fixed != nil {
		c.fixed = resp.fixed[c.lang][c.format][c.overdue]
	}
	return c
}

func (resp *response) count(f negotiate.Format) {
	if c := resp.counters[f]; c != nil {
		c.Inc()
	}
}

// ServeFast answers from ready bytes for the server's fast path: everything but the reserved
// prefix, CORS requests and rule bodies that show the request, which ServeHTTP answers instead.
func (r *Responder) ServeFast(dst []byte, q *server.FastRequest) (server.FastResponse, bool) {
	if strings.HasPrefix(q.Path, r.prefix) || (q.Origin != "" && r.cors.enabled()) {
		return server.FastResponse{}, false
	}
	i := -1
	if r.rules.Len() > 0 {
		i = r.rules.Match(q.Method, q.Path, q.Host)
	}
	return r.ServeFastRule(dst, q, i)
}

// ServeFastRule is ServeFast for a request whose first matching rule the caller already knows.
func (r *Responder) ServeFastRule(dst []byte, q *server.FastRequest, i int) (server.FastResponse, bool) {
	if strings.HasPrefix(q.Path, r.prefix) || (q.Origin != "" && r.cors.enabled()) {
		return server.FastResponse{}, false
	}
	resp := r.byIndex(i)
	if resp.fixed == nil {
		return server.FastResponse{}, false
	}
	c := r.choose(resp, q.Accept, q.AcceptLanguage)
	dst = append(dst, resp.statusLine...)
	dst = append(dst, c.fixed.wire...)
	if c.retry != nil {
		dst = append(dst, "Retry-After: "...)
		dst = append(dst, c.retry[0]...)
		dst = append(dst, "\r\n"...)
	}
	resp.count(c.format)
	return server.FastResponse{Head: dst, Body: c.fixed.body, Status: resp.status, Format: c.format.String()}, true
}

var closeValue = []string{"close"}

// wireHeader writes h as net/http would, sorted by name.
func wireHeader(h http.Header) []byte {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b []byte
	for _, k := range keys {
		for _, v := range h[k] {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	return b
}

func statusLine(code int) []byte {
	text := http.StatusText(code)
	if text == "" {
		text = "status code " + strconv.Itoa(code)
	}
	return []byte("HTTP/1.1 " + strconv.Itoa(code) + " " + text + "\r\n")
}

// builder renders the variants of responses.
type builder struct {
	r       *Responder
	page    *page.Page
	status  Status
	message string // the state's message for every language; "" keeps the page's own
	metrics *metrics.Metrics
}

// formats are the formats a negotiated response can take.
var formats = []negotiate.Format{negotiate.ProblemJSON, negotiate.JSON, negotiate.Text, negotiate.HTML}

func (b *builder) data(lang int, status int, overdue, unplanned bool) page.Data {
	d := b.page.Data(lang)
	d.Status = status
	d.Until = b.status.Until
	d.Overdue = overdue
	d.Unplanned = unplanned
	if n := b.status.Next; n != nil && n.OnPage {
		d.Next = n.Start
	}
	if b.message != "" {
		d.Message = b.message
	}
	return d
}

// page503 builds the default (or unplanned) response from the page templates.
func (b *builder) page503(unplanned bool) (*response, error) {
	resp := &response{status: http.StatusServiceUnavailable, statusLine: statusLine(http.StatusServiceUnavailable), retry: true}
	return resp, b.renderPage(resp, unplanned, nil)
}

// renderPage renders the page templates for every language, format the response may take, and
// whether the announced end has passed.
func (b *builder) renderPage(resp *response, unplanned bool, headers map[string]string) error {
	resp.fixed = make([][][2]*variant, len(b.page.Languages()))
	for lang := range resp.fixed {
		resp.fixed[lang] = make([][2]*variant, negotiate.HTML+1)
		for _, f := range formats {
			if resp.format != negotiate.Unknown && f != resp.format {
				continue
			}
			for overdue := 0; overdue < 2; overdue++ {
				body, csp, err := b.page.Render(f, b.data(lang, resp.status, overdue == 1, unplanned))
				if err != nil {
					return err
				}
				resp.fixed[lang][f][overdue] = b.variant(f, body, csp, b.page.Languages()[lang], headers)
			}
		}
	}
	return nil
}

// variant assembles the fixed headers of one response.
func (b *builder) variant(f negotiate.Format, body []byte, csp, lang string, extra map[string]string) *variant {
	h := http.Header{
		"Content-Type":           {f.ContentType()},
		"Content-Length":         {strconv.Itoa(len(body))},
		"Cache-Control":          {"no-store"},
		"Vary":                   {"Accept, Accept-Language"},
		"X-Content-Type-Options": {"nosniff"},
		"Content-Language":       {lang},
	}
	if b.r.cors.enabled() {
		h["Vary"] = []string{"Accept, Accept-Language, Origin"}
	}
	if f == negotiate.HTML {
		h["Content-Security-Policy"] = []string{csp}
		h["Referrer-Policy"] = []string{"no-referrer"}
		h["X-Robots-Tag"] = []string{"noindex"}
	}
	for k, v := range extra {
		delete(h, http.CanonicalHeaderKey(k)) // a rule's header replaces ours, whatever its spelling
		h[k] = []string{v}
	}
	return &variant{header: h, wire: wireHeader(h), body: body}
}

func (b *builder) counters(resp *response, rule string) [negotiate.HTML + 1]prometheus.Counter {
	var cs [negotiate.HTML + 1]prometheus.Counter
	if b.metrics == nil {
		return cs
	}
	status := strconv.Itoa(resp.status)
	for _, f := range formats {
		if resp.format == negotiate.Unknown || resp.format == f {
			cs[f] = b.metrics.Responses.WithLabelValues(status, f.String(), rule)
		}
	}
	return cs
}
