package admin

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	mpage "github.com/maintpage/maintpage/internal/page"
	"github.com/maintpage/maintpage/internal/state"
)

//go:embed templates
var templatesFS embed.FS

// Sign-in attempts per client: a burst of 5, then one every 12 seconds.
const (
	signinBurst = 5
	signinEvery = 12 * time.Second
)

// maxForm bounds a form post; the change form is a few hundred bytes.
const maxForm = 16 << 10

// page is the admin page: sign-in, the state, the change form and the history. It works without
// JavaScript: forms post and redirect, so the CSP allows no script at all, and the one inline
// stylesheet is allowed by its hash.
type page struct {
	h      *Handler
	tmpl   *template.Template
	css    template.CSS
	csp    string
	ttl    time.Duration
	limit  *limiter
	origin *http.CrossOriginProtection
	// out holds the sessions signed out here until they would have expired: the cookie is
	// stateless, so without it a copy of a signed-out cookie would work on until its expiry.
	out signedOut
}

func newPage(h *Handler, o Options) (*page, error) {
	raw, err := templatesFS.ReadFile("templates/admin.css")
	if err != nil {
		return nil, err
	}
	accent := o.Accent
	if accent == "" {
		accent = mpage.DefaultAccent
	}
	ink, inkDark := mpage.AccentInks(accent)
	// The colours come from the validated configuration (#rgb or #rrggbb), so plain replacement
	// cannot close the rule they are in.
	css := strings.NewReplacer("ACCENT", accent, "INKDARK", inkDark, "INK", ink).Replace(string(raw))
	sum := sha256.Sum256([]byte(css))
	p := &page{
		h:   h,
		css: template.CSS(css), //nolint:gosec // our own stylesheet, colours validated
		// No script-src: default-src 'none' forbids every script. form-action keeps a form from
		// posting anywhere else even if markup were injected.
		csp: "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; img-src data:; " +
			"form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		ttl:    o.SessionTTL,
		limit:  newLimiter(signinBurst, signinEvery),
		origin: http.NewCrossOriginProtection(),
	}
	if p.ttl <= 0 {
		p.ttl = 8 * time.Hour
	}
	p.origin.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.plain(w, http.StatusForbidden, "Refused: this form was sent from another site. Open the admin page itself and try again.")
	}))
	p.tmpl, err = template.New("admin").Funcs(template.FuncMap{
		"rfc3339":   func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
		"when":      formatWhen,
		"eventText": eventText,
	}).ParseFS(templatesFS, "templates/admin.html")
	if err != nil {
		return nil, fmt.Errorf("admin page template: %w", err)
	}
	return p, nil
}

func formatWhen(t time.Time) string { return t.UTC().Format("Mon 2 Jan 2006, 15:04 UTC") }

var eventTexts = map[string]string{
	state.EventOn:          "Maintenance on",
	state.EventScheduled:   "Maintenance scheduled",
	state.EventOff:         "Maintenance off",
	state.EventChanged:     "Changed",
	state.EventWindowStart: "Window started",
	state.EventWindowEnd:   "Window ended",
	state.EventRepaired:    "State written back after a store outage",
}

func eventText(e string) string {
	if t, ok := eventTexts[e]; ok {
		return t
	}
	return e
}

func (p *page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", p.csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	switch strings.TrimPrefix(r.URL.Path, p.h.prefix+"admin/") {
	case "":
		p.serveIndex(w, r)
	case "signin":
		p.post(w, r, p.signin)
	case "signout":
		p.post(w, r, p.signout)
	case "change":
		p.post(w, r, p.change)
	default:
		p.plain(w, http.StatusNotFound, "Not found. The admin page is at "+p.h.prefix+"admin/")
	}
}

// post runs fn for a POST that passes the cross-origin check (Sec-Fetch-Site, else Origin against
// Host); the form token is checked by fn, which knows the session.
func (p *page) post(w http.ResponseWriter, r *http.Request, fn func(http.ResponseWriter, *http.Request)) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		p.plain(w, http.StatusMethodNotAllowed, "Use the forms of the admin page.")
		return
	}
	p.origin.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			p.plain(w, http.StatusBadRequest, "The form could not be read.")
			return
		}
		fn(w, r)
	})).ServeHTTP(w, r)
}

func (p *page) plain(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	w.Write([]byte(msg + "\n")) //nolint:errcheck
}

// view is what the templates show.
type view struct {
	Title     string
	CSS       template.CSS
	Prefix    string
	Insecure  bool
	Error     string
	Notice    string
	Name      string
	FormToken string

	Heading      string
	Scopes       []scopeView
	StoreOK      bool
	StoreError   string
	Windows      []string
	Previews     []link
	Form         formValues
	History      []state.Entry
	HistoryError string
}

type scopeView struct {
	Name, Label   string
	State         state.Scope
	Status, Class string
}

type link struct{ Label, URL string }

type formValues struct {
	Scope, On, Message, Until, Start, Reason string
}

// notices are the messages a redirect after a change may ask for; only these are ever shown, so
// nothing from the URL reaches the page.
var notices = map[string]string{
	"on":         "Maintenance is on.",
	"off":        "Maintenance is off.",
	"scheduled":  "Maintenance is scheduled.",
	"changed":    "The change is saved.",
	"signed-out": "You are signed out.",
}

func (p *page) serveIndex(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		p.plain(w, http.StatusMethodNotAllowed, "Use GET.")
		return
	}
	v := p.base(r)
	v.Notice = notices[r.URL.Query().Get("done")]
	s, ok := p.session(r)
	if !ok {
		p.render(w, http.StatusOK, "signin", v)
		return
	}
	p.renderMain(w, r, http.StatusOK, s, v)
}

func (p *page) base(r *http.Request) view {
	return view{Title: "Maintenance admin", CSS: p.css, Prefix: p.h.prefix, Insecure: insecure(r)}
}

// insecure reports whether the browser will refuse the Secure cookie: plain HTTP that is neither
// loopback nor behind a proxy that says it terminated TLS.
func insecure(r *http.Request) bool {
	if r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https") {
		return false
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

func (p *page) renderMain(w http.ResponseWriter, r *http.Request, code int, s session, v view) {
	v.Name, v.FormToken = s.name, s.formToken()
	st := p.h.Current()
	now := p.h.now()
	v.StoreOK, v.StoreError = st.Store.OK, st.Store.LastError
	view := st.State.ViewAt(now, state.ViewOptions{EndAtUntil: p.h.endAtUntil, Scopes: p.h.scopes})
	switch on := view.ActiveScopes(); {
	case view.Site.Active:
		v.Heading = "Maintenance is on"
	case len(on) > 0:
		v.Heading = "Maintenance is on for " + strings.Join(on, ", ")
	default:
		v.Heading = "Maintenance is off"
	}
	v.Scopes = []scopeView{scopeOf("", "Whole site", view.Site, now)}
	names := slices.Sorted(maps.Keys(view.Scopes))
	for _, name := range names {
		v.Scopes = append(v.Scopes, scopeOf(name, "Scope "+name, view.Scopes[name], now))
	}
	if v.Form == (formValues{}) {
		v.Form = formValues{On: "on"}
		if view.Site.On {
			v.Form.On = "off"
		}
	}
	v.Windows = p.windows(now)
	v.Previews = p.previews(names)
	entries, err := p.h.history(r.Context(), state.HistoryQuery{Limit: 50})
	if err != nil {
		v.HistoryError = err.Error()
	}
	v.History = entries
	p.render(w, code, "main", v)
}

// windows describes each configured window: open now until its end, or its next opening.
func (p *page) windows(now time.Time) []string {
	var out []string
	for i, w := range p.h.windows {
		name := w.Name
		if name == "" {
			name = fmt.Sprintf("window %d", i+1)
		}
		where := "whole site"
		if w.Scope != "" {
			where = "scope " + w.Scope
		}
		when := "never again"
		if _, end, open := w.At(now); open {
			when = "open now, until " + formatWhen(end)
		} else if n := w.Next(now); !n.IsZero() {
			when = formatWhen(n) + " – " + formatWhen(n.Add(w.Duration()))
		}
		out = append(out, fmt.Sprintf("%s (%s): %s", name, where, when))
	}
	return out
}

// previews are the links to <prefix>preview: each state in the default language, the planned
// state in every language and in the other formats, and each scope; the preview accepts the admin
// page's session, so they open in the browser as they are.
func (p *page) previews(scopes []string) []link {
	base := p.h.prefix + "preview?"
	q := func(kv ...string) string {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return base + v.Encode()
	}
	var out []link
	for _, st := range []struct{ state, label string }{
		{"planned", "Planned, no announced end"}, {"until", "Planned, with an end to come"},
		{"overdue", "Planned, past its announced end"}, {"unplanned", "The application is down (unplanned)"},
	} {
		out = append(out, link{st.label, q("state", st.state)})
	}
	for i, lang := range p.h.languages {
		if i > 0 {
			out = append(out, link{"Planned, in " + lang, q("state", "planned", "lang", lang)})
		}
	}
	out = append(out, link{"Planned, as problem JSON", q("state", "planned", "format", "json")},
		link{"Planned, as text", q("state", "planned", "format", "text")})
	for _, sc := range scopes {
		out = append(out, link{"Scope " + sc, q("state", "planned", "scope", sc)})
	}
	return out
}

func scopeOf(name, label string, a state.Applied, now time.Time) scopeView {
	sv := scopeView{Name: name, Label: label, State: a.Scope}
	switch {
	case a.On && !a.Start.IsZero() && now.Before(a.Start):
		sv.Status, sv.Class = "Scheduled", "scheduled"
	case a.On && !a.Active:
		sv.Status, sv.Class = "Ended at its announced end", "off"
	case a.On:
		sv.Status, sv.Class = "On", "on"
	default:
		sv.Status, sv.Class = "Off", "off"
	}
	return sv
}

func (p *page) render(w http.ResponseWriter, code int, name string, v view) {
	var buf bytes.Buffer
	if err := p.tmpl.ExecuteTemplate(&buf, name, v); err != nil {
		p.h.log.Error("admin page: rendering failed", "error", err)
		p.plain(w, http.StatusInternalServerError, "The admin page could not be rendered; see the log.")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(code)
	w.Write(buf.Bytes()) //nolint:errcheck
}

func (p *page) signin(w http.ResponseWriter, r *http.Request) {
	v := p.base(r)
	client := p.h.clientAddr(r)
	if ok, wait := p.limit.allow(client, p.h.now()); !ok {
		secs := int(wait/time.Second) + 1
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		p.h.log.Warn("admin page: sign-in refused, too many attempts", "remote", client)
		v.Error = fmt.Sprintf("Too many sign-in attempts from your address. Try again in %d seconds.", secs)
		p.render(w, http.StatusTooManyRequests, "signin", v)
		return
	}
	name, ok := p.h.tokenName(r.PostForm.Get("token"))
	if !ok {
		p.h.log.Warn("admin page: sign-in with a wrong token", "remote", client)
		v.Error = "That token is not valid. Check it and try again."
		p.render(w, http.StatusUnauthorized, "signin", v)
		return
	}
	var tk tokenKey
	for _, t := range p.h.tokens {
		if t.name == name {
			tk = t
		}
	}
	value, _ := mintSession(tk, p.h.now().Add(p.ttl))
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: value, Path: "/", MaxAge: int(p.ttl / time.Second),
		HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode,
	})
	p.h.log.Info("admin page: signed in", "token", name, "remote", client)
	http.Redirect(w, r, p.h.prefix+"admin/", http.StatusSeeOther)
}

// sessionForPost returns the session of a form post whose form token matches it.
func (p *page) sessionForPost(w http.ResponseWriter, r *http.Request) (session, bool) {
	s, ok := p.session(r)
	if !ok {
		v := p.base(r)
		v.Error = "Your sign-in has ended. Sign in again; nothing was changed."
		p.render(w, http.StatusUnauthorized, "signin", v)
		return session{}, false
	}
	if !s.formTokenOK(r.PostForm.Get("form_token")) {
		p.plain(w, http.StatusForbidden, "Refused: the form token is missing or does not match your sign-in. Reload the admin page and try again.")
		return session{}, false
	}
	return s, true
}

func (p *page) signout(w http.ResponseWriter, r *http.Request) {
	s, ok := p.sessionForPost(w, r)
	if !ok {
		return
	}
	p.out.add(s.nonce, s.expires, p.h.now())
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
	http.Redirect(w, r, p.h.prefix+"admin/?done=signed-out", http.StatusSeeOther)
}

func (p *page) change(w http.ResponseWriter, r *http.Request) {
	s, ok := p.sessionForPost(w, r)
	if !ok {
		return
	}
	f := formValues{
		Scope: r.PostForm.Get("scope"), On: r.PostForm.Get("on"), Message: strings.TrimSpace(r.PostForm.Get("message")),
		Until: strings.TrimSpace(r.PostForm.Get("until")), Start: strings.TrimSpace(r.PostForm.Get("start")), Reason: strings.TrimSpace(r.PostForm.Get("reason")),
	}
	st, err := p.parseChange(f)
	if err != nil {
		v := p.base(r)
		v.Error, v.Form = err.Error(), f
		p.renderMain(w, r, http.StatusBadRequest, s, v)
		return
	}
	st.ChangedBy = s.name
	old := p.h.tr.Current().Switch(f.Scope)
	if err := p.h.change(r, f.Scope, st, state.Origin{Who: s.name, Token: s.name, Via: state.ViaPage}); err != nil {
		v := p.base(r)
		v.Error, v.Form = "The state store did not take the change; nothing changed. "+err.Error(), f
		code := http.StatusServiceUnavailable
		var se scopeError
		if errors.As(err, &se) {
			v.Error, code = se.Error(), http.StatusBadRequest
		}
		p.renderMain(w, r, code, s, v)
		return
	}
	done := state.NewEntry(old, st, state.Origin{}, p.h.now()).Event
	http.Redirect(w, r, p.h.prefix+"admin/?done="+done, http.StatusSeeOther)
}

// parseChange reads the change form into a state, with the same rules as "maintpage on".
func (p *page) parseChange(f formValues) (state.Scope, error) {
	var s state.Scope
	switch f.On {
	case "on":
		s.On = true
	case "off":
	default:
		return s, errors.New("choose on or off")
	}
	if len(f.Message) > 2000 || len(f.Reason) > 500 {
		return s, errors.New("the message may have 2000 characters and the reason 500")
	}
	now := p.h.now()
	var err error
	if s.Until, err = ParseWhen("until", f.Until, now); err != nil {
		return s, err
	}
	if s.Start, err = ParseWhen("start", f.Start, now); err != nil {
		return s, err
	}
	if !s.On && (f.Until != "" || f.Start != "" || f.Message != "") {
		return s, errors.New("turning maintenance off takes only a reason: clear the message, until and start")
	}
	if !s.Until.IsZero() && !s.Until.After(now) {
		return s, errors.New("until is in the past: announce an end that is still to come")
	}
	if !s.Start.IsZero() && !s.Until.IsZero() && !s.Until.After(s.Start) {
		return s, errors.New("until must be after start")
	}
	s.Message, s.Reason = f.Message, f.Reason
	return s, nil
}

// ParseWhen reads an RFC 3339 time or a duration from now ("90m", "+2h"), as the CLI and the page
// accept them; empty is the zero time. The result is in UTC and within the years JSON can hold.
func ParseWhen(what, v string, now time.Time) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		d, derr := time.ParseDuration(strings.TrimPrefix(v, "+"))
		if derr != nil || d <= 0 {
			return time.Time{}, fmt.Errorf("%s %q: write an RFC 3339 time such as 2026-11-26T18:00:00Z, or a duration from now such as 90m or 2h", what, v)
		}
		t = now.Add(d).Truncate(time.Second)
	}
	t = t.UTC()
	if t.IsZero() || t.Year() < 1 || t.Year() > 9999 {
		return time.Time{}, fmt.Errorf("%s %q is out of range: write a time between 0001-01-01T00:00:01Z and 9999-12-31T23:59:59Z", what, v)
	}
	return t, nil
}
