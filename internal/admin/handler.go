package admin

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	mpage "github.com/maintpage/maintpage/internal/page"
	"github.com/maintpage/maintpage/internal/schedule"
	"github.com/maintpage/maintpage/internal/state"
)

// Status is what GET returns, and what a change answers with.
type Status struct {
	State state.State `json:"state"`
	// Active reports whether maintenance applies at the gate now (a scheduled start may not have
	// come, or the announced end may have ended it).
	Active bool  `json:"active"`
	Store  Store `json:"store"`
	// Scopes are the gate's scopes as they apply now (active: in maintenance by their own switch;
	// the whole site's switch covers them all when Active is true).
	Scopes map[string]state.Applied `json:"scopes,omitempty"`
	// Next is the configured window that opens next; InWindow whether one is open now.
	Next     *state.Next `json:"next_window,omitempty"`
	InWindow bool        `json:"in_window,omitempty"`
	// Window is the whole site's switch as an open window sets it, when a window (and not a
	// switch turned on by hand) holds the whole site in maintenance.
	Window *state.Applied `json:"window,omitempty"`
}

// Store is the gate's view of its state store.
type Store struct {
	OK        bool      `json:"ok"`
	LastError string    `json:"last_error,omitempty"`
	LastOK    time.Time `json:"last_ok,omitzero"`
}

// Request is the body of PUT and POST: the new switch of the whole site, or of one scope. ChangedAt
// is set by the gate.
type Request struct {
	On *bool `json:"on"`
	// Scope names the scope to switch; "" switches the whole site (and "on": false ends every
	// scope too). A scope the gate's configuration does not name is refused.
	Scope     string    `json:"scope,omitempty"`
	Message   string    `json:"message,omitempty"`
	Until     time.Time `json:"until,omitzero"`
	Start     time.Time `json:"start,omitzero"`
	Reason    string    `json:"reason,omitempty"`
	ChangedBy string    `json:"changed_by,omitempty"`
}

// Token is one named admin token.
type Token struct {
	Name  string
	Token string
}

// Options configure a Handler.
type Options struct {
	Tracker *state.Tracker
	// Tokens open the API and the page; New refuses an empty list. Token, when set, is one more,
	// named "admin" (the single admin_token).
	Tokens     []Token
	Token      string
	EndAtUntil bool     // as the gate is configured, for Status.Active
	Scopes     []string // the configured scopes; a change of any other is refused
	Windows    []*schedule.Window
	Log        *slog.Logger
	Now        func() time.Time // nil: time.Now
	// Prefix is the reserved prefix the handler is mounted under (default /_maintenance/).
	Prefix string
	// ClientAddr names the client of a request for the history and the sign-in limit; nil uses
	// the peer's address.
	ClientAddr func(*http.Request) string
	// SessionTTL is how long a sign-in to the page lasts; zero means 8h.
	SessionTTL time.Duration
	// Accent is the page's accent colour, so that the admin page looks like its maintenance page.
	Accent string
	// Languages are the page's languages, the default first, for the page's preview links.
	Languages []string
}

// Handler serves the admin API and page under <prefix>admin/.
type Handler struct {
	tr         *state.Tracker
	tokens     []tokenKey
	endAtUntil bool
	scopes     []string
	windows    []*schedule.Window
	log        *slog.Logger
	now        func() time.Time
	prefix     string
	clientAddr func(*http.Request) string
	languages  []string // the page's languages, the default first
	page       *page
}

// tokenKey is a token as the handler keeps it: the hash compared in constant time, and the key
// that signs the token's sessions, so that changing a token ends the sessions it opened.
type tokenKey struct {
	name       string
	hash       [sha256.Size]byte
	sessionKey []byte
}

// maxBody bounds a request body; a state is a few hundred bytes.
const maxBody = 64 << 10

// saveTimeout bounds one save to the store, so a hanging store answers 503 rather than hanging.
const saveTimeout = 5 * time.Second

// NewHandler returns the admin API and page over tr.
func NewHandler(o Options) (*Handler, error) {
	toks := o.Tokens
	if o.Token != "" {
		toks = append([]Token{{Name: "admin", Token: o.Token}}, toks...)
	}
	if len(toks) == 0 {
		return nil, errors.New("admin: no token: the admin API stays closed without one")
	}
	h := &Handler{tr: o.Tracker, endAtUntil: o.EndAtUntil, scopes: o.Scopes, windows: o.Windows, log: o.Log, now: o.Now, prefix: o.Prefix, clientAddr: o.ClientAddr, languages: o.Languages}
	if len(h.languages) == 0 {
		h.languages = mpage.BuiltinLanguages()
	}
	for _, t := range toks {
		if t.Token == "" || t.Name == "" {
			return nil, errors.New("admin: a token without a name or value")
		}
		mac := hmac.New(sha256.New, []byte(t.Token))
		mac.Write([]byte("maintpage admin session v1"))
		h.tokens = append(h.tokens, tokenKey{name: t.Name, hash: sha256.Sum256([]byte(t.Token)), sessionKey: mac.Sum(nil)})
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	if h.prefix == "" {
		h.prefix = "/_maintenance/"
	}
	if h.clientAddr == nil {
		h.clientAddr = peerAddr
	}
	var err error
	if h.page, err = newPage(h, o); err != nil {
		return nil, err
	}
	return h, nil
}

func peerAddr(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// ServeHTTP answers everything under <prefix>admin/: the API (state, history) and the page.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch strings.TrimPrefix(r.URL.Path, h.prefix+"admin/") {
	case "state":
		h.serveState(w, r)
	case "history":
		h.serveHistory(w, r)
	default:
		h.page.ServeHTTP(w, r)
	}
}

func (h *Handler) serveState(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.RawQuery != "" {
		// A token in a URL ends up in proxy logs and browser history; refuse before looking at it.
		writeError(w, http.StatusBadRequest, "the admin API takes no query parameters; send the token as Authorization: Bearer <admin_token>, never in the URL")
		return
	}
	name, ok := h.bearer(w, r)
	if !ok {
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.writeStatus(w, http.StatusOK)
	case http.MethodPut, http.MethodPost:
		h.set(w, r, name)
	case http.MethodDelete:
		h.off(w, r, name)
	default:
		w.Header().Set("Allow", "GET, HEAD, PUT, POST, DELETE")
		writeError(w, http.StatusMethodNotAllowed, "use GET to read the state, PUT or POST to set it, DELETE to turn maintenance off")
	}
}

// Authorized reports whether r carries the session of a sign-in to the admin page or an admin
// token, for the other endpoints the team may use (the preview, which the page links to). A wrong
// token there uses up the client's attempts as it does on the API.
func (h *Handler) Authorized(r *http.Request) bool {
	if _, ok := h.page.session(r); ok {
		return true
	}
	_, code, _ := h.checkBearer(r)
	return code == 0
}

// bearer returns the name of the token in the Authorization header, or answers 401 (no token or a
// wrong one) or 429.
func (h *Handler) bearer(w http.ResponseWriter, r *http.Request) (string, bool) {
	name, code, wait := h.checkBearer(r)
	switch code {
	case 0:
		return name, true
	case http.StatusTooManyRequests:
		secs := int(wait/time.Second) + 1
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeError(w, code, fmt.Sprintf("too many wrong tokens from your address: try again in %d seconds", secs))
	default:
		w.Header().Set("WWW-Authenticate", `Bearer realm="maintpage admin"`)
		writeError(w, code, "unauthorized: send Authorization: Bearer <admin_token> with a valid token")
	}
	return "", false
}

// checkBearer returns the name of the token in the Authorization header, or 401 (no token or a
// wrong one) or 429 with the wait. A wrong token uses up one of the client's sign-in attempts,
// shared with the page: the API takes the same tokens, so without this it would be the place to
// guess them. A client that has none left is refused before its token is looked at, so it learns
// nothing; a request without a token is not a guess and costs nothing.
func (h *Handler) checkBearer(r *http.Request) (name string, code int, wait time.Duration) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return "", http.StatusUnauthorized, 0
	}
	client, now := h.clientAddr(r), h.now()
	if wait := h.page.limit.wait(client, now); wait > 0 {
		return "", http.StatusTooManyRequests, wait
	}
	name, ok = h.tokenName(tok)
	if !ok {
		h.page.limit.allow(client, now)
		h.log.Warn("admin: request with a wrong token", "remote", client)
		return "", http.StatusUnauthorized, 0
	}
	return name, 0, 0
}

// tokenName compares hashes, so the comparison takes the same time whatever the token's length,
// and compares with every token, so the time does not tell which one came close.
func (h *Handler) tokenName(tok string) (string, bool) {
	got := sha256.Sum256([]byte(tok))
	name, found := "", 0
	for _, t := range h.tokens {
		eq := subtle.ConstantTimeCompare(got[:], t.hash[:])
		if eq == 1 {
			name = t.name
		}
		found |= eq
	}
	return name, found == 1 && tok != ""
}

func (h *Handler) set(w http.ResponseWriter, r *http.Request, token string) {
	var req Request
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid JSON body: %v; send {\"on\": true, \"message\": \"…\", \"until\": \"2026-11-26T18:00:00Z\"}", err))
		return
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "invalid JSON body: send one object")
		return
	}
	if req.On == nil {
		writeError(w, http.StatusBadRequest, `say "on": true or "on": false`)
		return
	}
	s := state.Scope{On: *req.On, Message: req.Message, Until: req.Until, Start: req.Start, Reason: req.Reason, ChangedBy: req.ChangedBy}
	if !s.Start.IsZero() && !s.Until.IsZero() && !s.Until.After(s.Start) {
		writeError(w, http.StatusBadRequest, "until must be after start")
		return
	}
	h.save(w, r, req.Scope, s, token)
}

func (h *Handler) off(w http.ResponseWriter, r *http.Request, token string) {
	s := state.Scope{On: false}
	// An optional body may say which scope, who and why; anything else in it is ignored.
	var req Request
	if r.ContentLength != 0 && r.Body != nil {
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody)).Decode(&req); err != nil && !errors.Is(err, io.EOF) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("invalid JSON body: %v", err))
			return
		}
	}
	s.Reason, s.ChangedBy = req.Reason, req.ChangedBy
	h.save(w, r, req.Scope, s, token)
}

// save switches scope ("" the whole site) to s. A scope the configuration does not name is
// refused, except to turn off one the state still holds from an earlier configuration. Who is what
// the caller says (changed_by, as the CLI sends $USER@host), else the token's name; the history
// keeps the token's name beside it either way.
func (h *Handler) save(w http.ResponseWriter, r *http.Request, scope string, s state.Scope, token string) {
	if s.ChangedBy == "" {
		s.ChangedBy = token
	}
	if err := h.change(r, scope, s, state.Origin{Who: s.ChangedBy, Token: token, Via: state.ViaAPI}); err != nil {
		var se scopeError
		if errors.As(err, &se) {
			writeError(w, http.StatusBadRequest, se.Error())
			return
		}
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("the state store did not take the change, nothing changed: %v", err))
		return
	}
	h.writeStatus(w, http.StatusOK)
}

// change saves s for the API and the page alike.
func (h *Handler) change(r *http.Request, scope string, s state.Scope, o state.Origin) error {
	s.ChangedAt = h.now().UTC().Round(0)
	o.Addr = h.clientAddr(r)
	// The scope is checked against the stored state, in the same step as the change.
	check := func(cur state.State) error {
		if err := state.CheckScope(scope, h.scopes); err != nil {
			// Turning off a scope the state still holds from an earlier configuration is allowed.
			if _, stored := cur.Scopes[scope]; s.On || !stored {
				return scopeError{err}
			}
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), saveTimeout)
	defer cancel()
	if _, err := h.tr.ChangeScope(ctx, scope, s, o, check); err != nil {
		if !errors.As(err, new(scopeError)) {
			h.log.Error("admin: saving the state failed", "error", err, "scope", scope, "on", s.On, "changed_by", s.ChangedBy, "via", o.Via)
		}
		return err
	}
	h.log.Info("admin: state set", "scope", scope, "on", s.On, "changed_by", s.ChangedBy, "token", o.Token, "via", o.Via, "reason", s.Reason, "remote", o.Addr)
	return nil
}

// scopeError is a change refused because its scope is not configured.
type scopeError struct{ error }

// History is what GET <prefix>admin/history returns: newest first.
type History struct {
	Entries []state.Entry `json:"entries"`
}

// historyTimeout bounds one read of the history.
const historyTimeout = 5 * time.Second

// maxHistoryLimit bounds ?limit, and is the default: the store keeps about this many anyway.
const maxHistoryLimit = state.HistoryCap

func (h *Handler) serveHistory(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	// The page's session opens the history too; without one, the Authorization header must.
	if _, ok := h.page.session(r); !ok {
		if _, ok := h.bearer(w, r); !ok {
			return
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, "the history is read-only: use GET")
		return
	}
	q, err := parseHistoryQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	entries, err := h.history(r.Context(), q)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("the state store could not be read: %v", err))
		return
	}
	b, err := json.Marshal(History{Entries: entries})
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(append(b, '\n')) //nolint:errcheck // a client that went away is not our error
}

// history reads the newest entries q selects, newest first.
func (h *Handler) history(ctx context.Context, q state.HistoryQuery) ([]state.Entry, error) {
	ctx, cancel := context.WithTimeout(ctx, historyTimeout)
	defer cancel()
	entries, err := h.tr.History(ctx, q)
	if err != nil {
		return nil, err
	}
	slices.Reverse(entries)
	if entries == nil {
		entries = []state.Entry{}
	}
	return entries, nil
}

// parseHistoryQuery reads ?limit=N&scope=S; anything else is refused rather than ignored, so a
// typo does not silently show everything.
func parseHistoryQuery(v url.Values) (state.HistoryQuery, error) {
	q := state.HistoryQuery{Limit: 100}
	for k, vs := range v {
		if len(vs) != 1 {
			return q, fmt.Errorf("give %s once", k)
		}
		switch k {
		case "limit":
			n, err := strconv.Atoi(vs[0])
			if err != nil || n < 1 || n > maxHistoryLimit {
				return q, fmt.Errorf("limit must be a number from 1 to %d", maxHistoryLimit)
			}
			q.Limit = n
		case "scope":
			q.Scope = vs[0]
		default:
			return q, fmt.Errorf("unknown parameter %q: use limit and scope", k)
		}
	}
	return q, nil
}

// Current reports the state and the store's health as the gate sees them.
func (h *Handler) Current() Status {
	cur := h.tr.Current()
	hl := h.tr.Health()
	v := cur.ViewAt(h.now(), state.ViewOptions{EndAtUntil: h.endAtUntil, Scopes: h.scopes, Windows: h.windows})
	st := StatusOf(cur, v)
	st.Store = Store{OK: hl.OK, LastError: hl.LastError, LastOK: hl.LastOK}
	return st
}

// StatusOf is what GET shows for state s seen through v, without the store's health.
func StatusOf(s state.State, v state.View) Status {
	st := Status{State: s, Active: v.Site.Active, Next: v.Next, InWindow: v.InWindow}
	if v.Site.Window != "" {
		site := v.Site
		st.Window = &site
	}
	if len(v.Scopes) > 0 {
		st.Scopes = v.Scopes
	}
	return st
}

func (h *Handler) writeStatus(w http.ResponseWriter, code int) {
	b, err := json.Marshal(h.Current())
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n')) //nolint:errcheck // a client that went away is not our error
}

// errorBody is the body of every error answer.
type errorBody struct {
	Error string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	b, _ := json.Marshal(errorBody{Error: msg})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	w.Write(append(b, '\n')) //nolint:errcheck
}
