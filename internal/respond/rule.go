package respond

import (
	"bytes"
	"encoding/json"
	"fmt"
	htmltemplate "html/template"
	"net/http"
	"strings"
	texttemplate "text/template"

	"github.com/maintpage/maintpage/internal/config"
	"github.com/maintpage/maintpage/internal/negotiate"
	"github.com/maintpage/maintpage/internal/page"
)

// rule builds the response of one configured rule. A rule without a body uses the page templates
// with its own status; a rule with a body renders that template, once if it does not show the
// request, or per request if it does.
func (b *builder) rule(rule config.Rule) (*response, error) {
	resp := &response{status: rule.Status, statusLine: statusLine(rule.Status), retry: rule.Status == http.StatusServiceUnavailable || rule.Status == http.StatusTooManyRequests}
	if rule.Format != "" {
		resp.format, _ = negotiate.ParseFormat(rule.Format)
	}
	nLang := len(b.page.Languages())
	if rule.Body == "" {
		return resp, b.renderPage(resp, false, rule.Headers)
	}
	if resp.format == negotiate.Unknown {
		return nil, fmt.Errorf("a rule with a body needs a format: set format to html, json, problem+json or text")
	}
	render, err := compileBody(resp.format, rule.Body)
	if err != nil {
		return nil, err
	}
	f := resp.format
	// Render with two different requests: if the output is the same, the body does not show the
	// request and can be rendered once per language.
	// The probes carry the characters that break JSON and HTML when written unescaped, so that a
	// JSON body writing a request value without the json function fails here, not in production.
	probeA := page.Request{Method: `GET"\`, Path: `/probe-a"\<x>`, Host: `a.example"\`, Query: `a=1"\<`}
	probeB := page.Request{Method: `POST"\`, Path: `/probe/b"\</y>`, Host: `b.example"\`, Query: `b=2"\>`}
	dynamic, sameCSP := false, true
	for lang := 0; lang < nLang; lang++ {
		for overdue := 0; overdue < 2; overdue++ {
			d := b.data(lang, resp.status, overdue == 1, false)
			d.Request = probeA
			outA, err := render(d)
			if err != nil {
				return nil, err
			}
			d.Request = probeB
			outB, err := render(d)
			if err != nil {
				return nil, err
			}
			dynamic = dynamic || !bytes.Equal(outA, outB)
			sameCSP = sameCSP && (f != negotiate.HTML || page.CSP(outA) == page.CSP(outB))
		}
	}
	header := func(body []byte, lang int) *variant {
		csp := ""
		if f == negotiate.HTML {
			csp = page.CSP(body)
		}
		return b.variant(f, body, csp, b.page.Languages()[lang], rule.Headers)
	}
	// Probes cannot try every condition a template may put on the request ({{if .Request.Query}}):
	// a body that names the request at all is rendered per request.
	if strings.Contains(rule.Body, "Request") {
		dynamic = true
	}
	if dynamic && sameCSP && f == negotiate.HTML {
		// The request changes the text but not the inline style or script: the policy of the
		// rendering at start holds for every request, and need not be hashed again.
		body, err := render(b.data(0, resp.status, false, false))
		if err != nil {
			return nil, err
		}
		csp := page.CSP(body)
		header = func(body []byte, lang int) *variant {
			return b.variant(f, body, csp, b.page.Languages()[lang], rule.Headers)
		}
	}
	if dynamic {
		resp.dynamic = render
		resp.makeVariant = header
		resp.data = b.data
		return resp, nil
	}
	resp.fixed = make([][][2]*variant, nLang)
	for lang := range resp.fixed {
		resp.fixed[lang] = make([][2]*variant, negotiate.HTML+1)
		for overdue := 0; overdue < 2; overdue++ {
			body, err := render(b.data(lang, resp.status, overdue == 1, false))
			if err != nil {
				return nil, err
			}
			v := header(body, lang)
			// A fixed-format rule answers every Accept with the same variant.
			for _, g := range formats {
				resp.fixed[lang][g][overdue] = v
			}
		}
	}
	return resp, nil
}

// compileBody parses a rule's body: html/template for HTML, so that anything shown from the
// request is escaped; text/template otherwise, where JSON bodies must use the json function.
func compileBody(f negotiate.Format, body string) (func(page.Data) ([]byte, error), error) {
	var exec func(*bytes.Buffer, page.Data) error
	if f == negotiate.HTML {
		t, err := htmltemplate.New("body").Funcs(page.Funcs()).Parse(body)
		if err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
		exec = func(buf *bytes.Buffer, d page.Data) error { return t.Execute(buf, d) }
	} else {
		t, err := texttemplate.New("body").Funcs(page.Funcs()).Parse(body)
		if err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
		exec = func(buf *bytes.Buffer, d page.Data) error { return t.Execute(buf, d) }
	}
	isJSON := f == negotiate.JSON || f == negotiate.ProblemJSON
	return func(d page.Data) ([]byte, error) {
		var buf bytes.Buffer
		if err := exec(&buf, d); err != nil {
			return nil, fmt.Errorf("body: %w", err)
		}
		if isJSON && !json.Valid(buf.Bytes()) {
			return nil, fmt.Errorf("body does not render valid JSON (got %.80q): write every value with the json function, such as {{json .Message}} or {{json .Request.Path}}", strings.TrimSpace(buf.String()))
		}
		return buf.Bytes(), nil
	}, nil
}

// render renders a rule body that shows the request.
func (resp *response) render(req *http.Request, lang int, overdue bool) (*variant, error) {
	d := resp.data(lang, resp.status, overdue, false)
	d.Request = page.Request{Method: req.Method, Path: req.URL.Path, Host: req.Host, Query: req.URL.RawQuery}
	body, err := resp.dynamic(d)
	if err != nil {
		return nil, err
	}
	return resp.makeVariant(body, lang), nil
}
