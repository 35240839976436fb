package respond

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/maintpage/maintpage/internal/negotiate"
)

// PreviewStates are the states a preview shows: maintenance without an announced end, with one to
// come, with one that has passed, and the unplanned page the gate shows when the application is down.
var PreviewStates = []string{"planned", "until", "overdue", "unplanned"}

// previewFormats are the formats a preview may ask for.
var previewFormats = []string{"html", "json", "problem+json", "text"}

// PreviewRequest says what to preview.
type PreviewRequest struct {
	State  string // one of PreviewStates; "" is planned
	Lang   string // a language tag, matched as Accept-Language is; "" is the default language
	Format string // html, json, problem+json or text; "" is html
}

// Preview is what a user would get, answered with 200 so that a preview is never mistaken for the
// real thing by a monitor or a cache.
type Preview struct {
	Status int // the status users get (503), for the record
	Header http.Header
	Body   []byte
}

// RenderPreview renders the maintenance response as users would get it in q's state, with the
// message, end and scope of o.Status (or the configuration's), at o.Now.
func RenderPreview(o Options, q PreviewRequest) (*Preview, error) {
	if q.State == "" {
		q.State = "planned"
	}
	if q.Format == "" {
		q.Format = "html"
	}
	if !slices.Contains(PreviewStates, q.State) {
		return nil, fmt.Errorf("state %q: use one of %s", q.State, strings.Join(PreviewStates, ", "))
	}
	f, ok := negotiate.ParseFormat(q.Format)
	if !ok || !slices.Contains(previewFormats, q.Format) {
		return nil, fmt.Errorf("format %q: use one of %s", q.Format, strings.Join(previewFormats, ", "))
	}
	now := time.Now()
	if o.Now != nil {
		now = o.Now()
	}
	o.Now = func() time.Time { return now }
	st := Status{Maintenance: true, Message: o.Config.Message, Until: o.Config.Until}
	if o.Status != nil {
		st = *o.Status
	}
	st.Maintenance = true
	switch q.State {
	case "planned", "unplanned":
		st.Until = time.Time{}
	case "until":
		if !st.Until.After(now) {
			st.Until = now.Add(time.Hour).Truncate(time.Minute)
		}
	case "overdue":
		if st.Until.IsZero() || st.Until.After(now) {
			st.Until = now.Add(-30 * time.Minute).Truncate(time.Minute)
		}
	}
	o.Status = &st
	o.Metrics = nil // a preview is not a response to count
	r, err := New(o)
	if err != nil {
		return nil, err
	}
	resp := r.def
	if q.State == "unplanned" {
		resp = r.unplanned
	}
	c := r.choose(resp, f.ContentType(), q.Lang)
	v := resp.fixed[c.lang][f][c.overdue]
	h := make(http.Header, len(v.header)+3)
	for k, vals := range v.header {
		h[k] = vals
	}
	if c.retry != nil {
		h["Retry-After"] = c.retry
	}
	h["X-Robots-Tag"] = []string{"noindex"}
	h["Maintpage-Preview"] = []string{q.State}
	return &Preview{Status: resp.status, Header: h, Body: v.body}, nil
}

// ServePreview answers a preview request: the parameters state, lang and format from the query.
// The caller has checked that the requester may see it.
func ServePreview(w http.ResponseWriter, r *http.Request, o Options) {
	q := r.URL.Query()
	p, err := RenderPreview(o, PreviewRequest{State: q.Get("state"), Lang: q.Get("lang"), Format: q.Get("format")})
	if err != nil {
		w.Header()["Cache-Control"] = noStore
		w.Header()["X-Content-Type-Options"] = nosniff
		http.Error(w, "preview: "+err.Error(), http.StatusBadRequest)
		return
	}
	for k, v := range p.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(p.Body) //nolint:errcheck // a client that went away is not our error
	}
}
