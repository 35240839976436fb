package respond

import (
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/maintpage/maintpage/internal/negotiate"
)

// The headers of ingress-nginx's default-backend protocol, as its nginx.tmpl sets them in the
// @custom_<upstream>_<code> locations (rootfs/etc/nginx/template/nginx.tmpl) and its example
// backend reads them (images/custom-error-pages/rootfs/main.go): X-Code is the status to answer
// with, X-Format the client's Accept. The request's own path is "/" (nginx rewrites it); the
// original is in X-Original-URI, which nothing here needs.
const (
	codeHeader   = "X-Code"
	formatHeader = "X-Format"
)

// errorPages renders the pages for statuses a proxy asks for, once per status and state: the
// statuses are bounded (400–599), so the cache is too.
type errorPages struct {
	b *builder
	// planned: maintenance is on, so a 5xx shows the planned page rather than the unplanned one.
	planned bool
	mu      sync.Mutex
	byCode  map[int]*response
}

// errorStatus reads a status a proxy asks for; only 4xx and 5xx are error pages.
func errorStatus(s string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 400 || n > 599 {
		return 0, false
	}
	return n, true
}

// ErrorPages answers as ingress-nginx's default backend: the status from X-Code (404 when it is
// missing, unreadable or not an error: a default backend that answered 2xx could make an auth
// service that cannot be reached count as having said yes), the format from X-Format (the client's
// Accept), the language from Accept-Language.
func (r *Responder) ErrorPages(w http.ResponseWriter, req *http.Request) {
	status, ok := errorStatus(req.Header.Get(codeHeader))
	if !ok {
		status = http.StatusNotFound
	}
	accept := req.Header.Get(formatHeader)
	if accept == "" {
		accept = req.Header.Get("Accept")
	}
	r.ErrorPage(w, req, status, accept)
}

// ErrorPage answers with the page for an error status: for 5xx the maintenance page (planned while
// maintenance is on, unplanned otherwise), for 4xx a plain page for that status in the same design
// and languages.
func (r *Responder) ErrorPage(w http.ResponseWriter, req *http.Request, status int, accept string) {
	resp, err := r.errors.get(status)
	if err != nil {
		// The same templates rendered in New; this is a template failing on the error data.
		w.Header()["Cache-Control"] = noStore
		w.Header()["X-Content-Type-Options"] = nosniff
		http.Error(w, http.StatusText(status), status)
		return
	}
	r.serve(w, req, req, resp, accept)
}

func (e *errorPages) get(status int) (*response, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if resp, ok := e.byCode[status]; ok {
		return resp, nil
	}
	resp, err := e.b.errorPage(status, e.planned)
	if err != nil {
		return nil, err
	}
	resp.counters = e.b.counters(resp, "error")
	if e.byCode == nil {
		e.byCode = map[int]*response{}
	}
	e.byCode[status] = resp
	return resp, nil
}

// errorPage renders the response for one error status.
func (b *builder) errorPage(status int, planned bool) (*response, error) {
	resp := &response{status: status, statusLine: statusLine(status), retry: status == http.StatusServiceUnavailable || status == http.StatusTooManyRequests}
	if status >= 500 {
		return resp, b.renderPage(resp, !planned, nil)
	}
	resp.fixed = make([][][2]*variant, len(b.page.Languages()))
	for lang := range resp.fixed {
		resp.fixed[lang] = make([][2]*variant, negotiate.HTML+1)
		d := b.page.Data(lang)
		d.Status = status
		d.Error = true
		d.Refresh = 0 // nothing to come back from
		d.Title, d.Message = d.T.ErrorTexts(status)
		for _, f := range formats {
			body, csp, err := b.page.Render(f, d)
			if err != nil {
				return nil, err
			}
			v := b.variant(f, body, csp, b.page.Languages()[lang], nil)
			// An error page has no announced end: both halves are the same.
			resp.fixed[lang][f] = [2]*variant{v, v}
		}
	}
	return resp, nil
}
