package admin

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

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

// Options configure a Handler.
type Options struct {
	Tracker    *state.Tracker
	Token      string   // required; New refuses an empty one
	EndAtUntil bool     // as the gate is configured, for Status.Active
	Scopes     []string // the configured scopes; a change of any other is refused
	Log        *slog.Logger
	Now        func() time.Time // nil: time.Now
}

// Handler serves the admin API on whatever path it is mounted.
type Handler struct {
	tr         *state.Tracker
	tokenHash  [sha256.Size]byte
	endAtUntil bool
	scopes     []string
	log        *slog.Logger
	now        func() time.Time
}

// maxBody bounds a request body; a state is a few hundred bytes.
const maxBody = 64 << 10

// saveTimeout bounds one save to the store, so a hanging store answers 503 rather than hanging.
const saveTimeout = 5 * time.Second

// NewHandler returns the admin API over tr.
func NewHandler(o Options) (*Handler, error) {
	if o.Token == "" {
		return nil, errors.New("admin: no token: the admin API stays closed without one")
	}
	h := &Handler{tr: o.Tracker, tokenHash: sha256.Sum256([]byte(o.Token)), endAtUntil: o.EndAtUntil, scopes: o.Scopes, log: o.Log, now: o.Now}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.now == nil {
		h.now = time.Now
	}
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.RawQuery != "" {
		// A token in a URL ends up in proxy logs and browser history; refuse before looking at it.
		writeError(w, http.StatusBadRequest, "the admin API takes no query parameters; send the token as Authorization: Bearer <admin_token>, never in the URL")
		return
	}
	if !h.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="maintpage admin"`)
		writeError(w, http.StatusUnauthorized, "unauthorized: send Authorization: Bearer <admin_token>")
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		h.writeStatus(w, http.StatusOK)
	case http.MethodPut, http.MethodPost:
		h.set(w, r)
	case http.MethodDelete:
		h.off(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, PUT, POST, DELETE")
		writeError(w, http.StatusMethodNotAllowed, "use GET to read the state, PUT or POST to set it, DELETE to turn maintenance off")
	}
}

// authorized compares hashes, so the comparison takes the same time whatever the token's length.
func (h *Handler) authorized(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	tok, ok := strings.CutPrefix(auth, "Bearer ")
	if !ok {
		tok = ""
	}
	got := sha256.Sum256([]byte(tok))
	return ok && subtle.ConstantTimeCompare(got[:], h.tokenHash[:]) == 1
}

func (h *Handler) set(w http.ResponseWriter, r *http.Request) {
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
	h.save(w, r, req.Scope, s)
}

func (h *Handler) off(w http.ResponseWriter, r *http.Request) {
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
	h.save(w, r, req.Scope, s)
}

// save switches scope ("" the whole site) to s. A scope the configuration does not name is
// refused, except to turn off one the state still holds from an earlier configuration.
func (h *Handler) save(w http.ResponseWriter, r *http.Request, scope string, s state.Scope) {
	if err := state.CheckScope(scope, h.scopes); err != nil {
		if _, stored := h.tr.Current().Scopes[scope]; s.On || !stored {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	if s.ChangedBy == "" {
		s.ChangedBy = "admin API"
	}
	s.ChangedAt = h.now().UTC().Round(0)
	ctx, cancel := context.WithTimeout(r.Context(), saveTimeout)
	defer cancel()
	if _, err := h.tr.Update(ctx, func(cur state.State) (state.State, error) { return cur.WithScope(scope, s), nil }); err != nil {
		h.log.Error("admin API: saving the state failed", "error", err, "scope", scope, "on", s.On, "changed_by", s.ChangedBy)
		writeError(w, http.StatusServiceUnavailable, fmt.Sprintf("the state store did not take the change, nothing changed: %v", err))
		return
	}
	h.log.Info("admin API: state set", "scope", scope, "on", s.On, "changed_by", s.ChangedBy, "reason", s.Reason, "remote", r.RemoteAddr)
	h.writeStatus(w, http.StatusOK)
}

// Current reports the state and the store's health as the gate sees them.
func (h *Handler) Current() Status {
	cur := h.tr.Current()
	hl := h.tr.Health()
	v := cur.ViewAt(h.now(), state.ViewOptions{EndAtUntil: h.endAtUntil, Scopes: h.scopes})
	st := Status{
		State:  cur,
		Active: v.Site.Active,
		Store:  Store{OK: hl.OK, LastError: hl.LastError, LastOK: hl.LastOK},
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
