package page

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/maintpage/maintpage/internal/config"
	"github.com/maintpage/maintpage/internal/negotiate"
)

//go:embed templates
var embedded embed.FS

// Template file names, in the embedded set and in a user's templates_dir.
const (
	HTMLFile = "page.html"
	TextFile = "page.txt"
	JSONFile = "page.json"
)

// Request is the part of a request a rule's template may show. Values are raw; html/template
// escapes them in HTML, and the json function in JSON.
type Request struct {
	Method string
	Path   string
	Host   string
	Query  string
}

// Data is what every template sees. The README documents these fields for template authors.
type Data struct {
	Lang        string    // BCP 47 tag of the chosen language
	Title       string    // configured title, or the built-in one
	Message     string    // configured message, or the built-in one
	Status      int       // HTTP status of the response
	Until       time.Time // announced end; zero when none
	Overdue     bool      // the announced end has passed
	Unplanned   bool      // the application is down outside a planned window (gate fallback)
	Refresh     int       // seconds between reloads for readers without JavaScript; 0 for none
	Logo        string    // URL of the logo, or ""
	Accent      string    // CSS colour
	ContactURL  string
	ContactText string
	ExtraCSS    string
	AssetsURL   string // URL prefix of the assets directory, ending in /
	T           Strings
	Request     Request // only filled for rule templates that show it
}

// UntilRFC3339 is the announced end for <time datetime> and JSON; "" when none.
func (d Data) UntilRFC3339() string {
	if d.Until.IsZero() {
		return ""
	}
	return d.Until.UTC().Format(time.RFC3339)
}

// UntilText is the announced end for readers without JavaScript, in UTC.
func (d Data) UntilText() string {
	if d.Until.IsZero() {
		return ""
	}
	return d.Until.UTC().Format("Mon 2 Jan 2006, 15:04 UTC")
}

// Page renders the maintenance response's bodies.
type Page struct {
	html  *htmltemplate.Template
	text  *texttemplate.Template
	json  *texttemplate.Template
	langs []string
	base  []Data // per language, with everything but status, times and request
}

// New parses the embedded templates and any overrides in cfg.TemplatesDir, and test-renders each
// so that a broken template fails here with its file and line.
func New(cfg *config.Config) (*Page, error) {
	p := &Page{}
	var err error
	if p.html, err = parseHTML(cfg.TemplatesDir); err != nil {
		return nil, err
	}
	if p.text, err = parseText(cfg.TemplatesDir, TextFile); err != nil {
		return nil, err
	}
	if p.json, err = parseText(cfg.TemplatesDir, JSONFile); err != nil {
		return nil, err
	}
	p.buildLanguages(cfg)
	if err := p.check(); err != nil {
		return nil, err
	}
	return p, nil
}

// Languages lists the languages offered, the default first.
func (p *Page) Languages() []string { return p.langs }

// Data returns the data for language i (an index into Languages) with status and times unset.
func (p *Page) Data(i int) Data { return p.base[i] }

// Render renders d in format f. For HTML it also returns the Content-Security-Policy that allows
// exactly the page's inline style and script, by hash.
func (p *Page) Render(f negotiate.Format, d Data) (body []byte, csp string, err error) {
	var buf bytes.Buffer
	switch f {
	case negotiate.HTML:
		err = p.html.ExecuteTemplate(&buf, HTMLFile, d)
	case negotiate.Text:
		err = p.text.ExecuteTemplate(&buf, TextFile, d)
	case negotiate.JSON, negotiate.ProblemJSON:
		err = p.json.ExecuteTemplate(&buf, JSONFile, d)
	default:
		err = fmt.Errorf("no template for format %v", f)
	}
	if err != nil {
		return nil, "", err
	}
	body = buf.Bytes()
	switch f {
	case negotiate.HTML:
		csp = CSP(body)
	case negotiate.JSON, negotiate.ProblemJSON:
		if !json.Valid(body) {
			return nil, "", fmt.Errorf("%s does not render valid JSON; use {{json .Field}} for values", JSONFile)
		}
	}
	return body, csp, nil
}

func (p *Page) buildLanguages(cfg *config.Config) {
	seen := map[string]bool{}
	add := func(tag string, l config.Language) {
		if seen[tag] {
			return
		}
		seen[tag] = true
		t, ok := builtin[primary(tag)]
		if !ok {
			t = builtin["en"]
		}
		d := Data{
			Lang:        tag,
			T:           t,
			Title:       first(l.Title, cfg.Title, t.Title),
			Message:     first(l.Message, cfg.Message, t.Message),
			Refresh:     int(cfg.RefreshEvery / time.Second),
			Accent:      cfg.Accent,
			ContactURL:  cfg.ContactURL,
			ContactText: first(cfg.ContactText, t.Contact),
			ExtraCSS:    cfg.ExtraCSS,
			AssetsURL:   cfg.ReservedPrefix + "assets/",
		}
		if cfg.Logo != "" {
			d.Logo = d.AssetsURL + cfg.Logo
		}
		p.langs = append(p.langs, tag)
		p.base = append(p.base, d)
	}
	for _, l := range cfg.Languages {
		add(l.Tag, l)
	}
	for _, tag := range builtinOrder {
		add(tag, config.Language{})
	}
}

// check renders every template in every state it can be in.
func (p *Page) check() error {
	now := time.Now()
	var errs []error
	for _, f := range []negotiate.Format{negotiate.HTML, negotiate.Text, negotiate.ProblemJSON} {
		for _, d := range []Data{p.base[0], withUntil(p.base[0], now.Add(time.Hour), false), withUntil(p.base[0], now.Add(-time.Hour), true)} {
			for _, unplanned := range []bool{false, true} {
				d.Status, d.Unplanned = 503, unplanned
				if _, _, err := p.Render(f, d); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(dedupe(errs)...)
}

func withUntil(d Data, t time.Time, overdue bool) Data {
	d.Until, d.Overdue = t, overdue
	return d
}

func dedupe(errs []error) []error {
	seen := map[string]bool{}
	var out []error
	for _, e := range errs {
		if !seen[e.Error()] {
			seen[e.Error()] = true
			out = append(out, e)
		}
	}
	return out
}

// Funcs are available in every template, the user's and the rules' included.
func Funcs() map[string]any {
	return map[string]any{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
		"rfc3339": func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	}
}

func parseHTML(dir string) (*htmltemplate.Template, error) {
	t := htmltemplate.New(HTMLFile).Funcs(Funcs()).Funcs(htmltemplate.FuncMap{
		// css lets the configured extra CSS into the page's <style>; config rejects "</style".
		"css": func(s string) htmltemplate.CSS { return htmltemplate.CSS(s) },
	})
	src, name, err := source(dir, HTMLFile)
	if err != nil {
		return nil, err
	}
	if _, err := t.Parse(src); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return t, nil
}

func parseText(dir, file string) (*texttemplate.Template, error) {
	src, name, err := source(dir, file)
	if err != nil {
		return nil, err
	}
	t, err := texttemplate.New(file).Funcs(Funcs()).Parse(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return t, nil
}

// source reads a template from the user's directory when it has one by that name, else the
// embedded default.
func source(dir, file string) (src, name string, err error) {
	if dir != "" {
		path := filepath.Join(dir, file)
		b, err := os.ReadFile(path)
		if err == nil {
			return string(b), path, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", "", fmt.Errorf("read template: %w", err)
		}
	}
	b, err := embedded.ReadFile("templates/" + file)
	if err != nil {
		return "", "", fmt.Errorf("embedded template %s: %w", file, err)
	}
	return string(b), "built-in " + file, nil
}

// CSP builds a Content-Security-Policy for an HTML body: nothing from other origins, and inline
// <style> and <script> elements allowed only by the hash of their exact contents.
func CSP(body []byte) string {
	styles := inlineHashes(body, "style")
	scripts := inlineHashes(body, "script")
	var b strings.Builder
	b.WriteString("default-src 'none'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	b.WriteString("; style-src 'self'")
	for _, h := range styles {
		b.WriteString(" '" + h + "'")
	}
	if len(scripts) > 0 {
		b.WriteString("; script-src")
		for _, h := range scripts {
			b.WriteString(" '" + h + "'")
		}
	}
	return b.String()
}

// inlineHashes returns the sha256 source expressions of the contents of every <tag> element
// without a src attribute.
func inlineHashes(body []byte, tag string) []string {
	var out []string
	lower := bytes.ToLower(body)
	open, closing := []byte("<"+tag), []byte("</"+tag+">")
	for i := 0; ; {
		j := bytes.Index(lower[i:], open)
		if j < 0 {
			return out
		}
		start := i + j
		end := bytes.IndexByte(lower[start:], '>')
		if end < 0 {
			return out
		}
		attrs := lower[start+len(open) : start+end]
		contentStart := start + end + 1
		k := bytes.Index(lower[contentStart:], closing)
		if k < 0 {
			return out
		}
		if len(attrs) == 0 || attrs[0] == ' ' || attrs[0] == '\t' || attrs[0] == '\n' {
			if !bytes.Contains(attrs, []byte("src=")) {
				sum := sha256.Sum256(body[contentStart : contentStart+k])
				out = append(out, "sha256-"+base64.StdEncoding.EncodeToString(sum[:]))
			}
		}
		i = contentStart + k + len(closing)
	}
}

func primary(tag string) string {
	p, _, _ := strings.Cut(strings.ToLower(tag), "-")
	return p
}

func first(vals ...string) string {
	for _, v := range vals {
		if v != "" {
			return v
		}
	}
	return ""
}
