package page

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io/fs"
	"net/url"
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
	// partialsFile defines the templates every HTML page may call, such as "autoreturn".
	partialsFile = "partials.html"
)

// Request is the part of a request a rule's template may show. Values are raw; html/template
// escapes them in HTML, and the json function in JSON.
type Request struct {
	Method string
	Path   string
	Host   string
	Query  string
}

// Data is what every template sees. docs/page.md's "Your own templates" section documents every
// field and method for template authors; keep the two in step.
type Data struct {
	Lang        string    // BCP 47 tag of the chosen language
	Title       string    // configured title, or the built-in one
	Message     string    // configured message, or the built-in one
	Status      int       // HTTP status of the response
	Until       time.Time // announced end; zero when none
	Overdue     bool      // the announced end has passed
	Unplanned   bool      // the application is down outside a planned window (gate fallback)
	Error       bool      // an error page for a 4xx Status (the error-page backend), not maintenance
	Next        time.Time // the next recurring window's start, shown while outside one; zero when none
	Refresh     int       // seconds between reloads for readers without JavaScript; 0 for none
	Logo        string    // URL of the logo (versioned by its content), or ""
	Accent      string    // the configured accent colour, #rrggbb or #rgb
	AccentText  string    // the accent, darkened until it reads at WCAG AA on a white card
	AccentDark  string    // the accent, lightened until it reads at WCAG AA on the dark card
	ContactURL  string
	ContactText string
	ExtraCSS    string
	AssetsURL   string // URL prefix of the assets directory, ending in /
	T           Strings
	Request     Request // only filled for rule templates that show it
}

// ShownTitle is the heading to show: the unplanned one when the application is down outside a
// window, else the title.
func (d Data) ShownTitle() string {
	if d.Unplanned {
		return d.T.Unplanned
	}
	return d.Title
}

// ShownMessage is the message to show, chosen like ShownTitle.
func (d Data) ShownMessage() string {
	if d.Unplanned {
		return d.T.UnplannedMsg
	}
	return d.Message
}

// UntilRFC3339 is the announced end for <time datetime> and JSON; "" when none.
func (d Data) UntilRFC3339() string { return utcFormat(d.Until, time.RFC3339) }

// UntilText is the announced end for readers without JavaScript and for terminals: in UTC, in a
// form that reads the same in every language. The page's script replaces it with the reader's
// own zone and language.
func (d Data) UntilText() string { return utcFormat(d.Until, textTime) }

// NextRFC3339 is the next window's start for <time datetime> and JSON; "" when none.
func (d Data) NextRFC3339() string { return utcFormat(d.Next, time.RFC3339) }

// NextText is the next window's start in UTC, as UntilText is the end.
func (d Data) NextText() string { return utcFormat(d.Next, textTime) }

// textTime reads the same in every language.
const textTime = "2006-01-02 15:04 UTC"

// utcFormat formats t in UTC; "" for the zero time.
func utcFormat(t time.Time, layout string) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(layout)
}

// Page renders the maintenance response's bodies.
type Page struct {
	html               *htmltemplate.Template
	text               *texttemplate.Template
	json               *texttemplate.Template
	htmlName, textName string // the template names: the file's path, or "built-in page.html"
	jsonName           string
	langs              []string
	base               []Data // per language, with everything but status, times and request
}

// New parses the embedded templates and any overrides in cfg.TemplatesDir, and test-renders each
// in every state it can be in, so that a broken template fails here with its file and line.
func New(cfg *config.Config) (*Page, error) {
	p := &Page{}
	var err error
	if p.html, p.htmlName, err = parseHTML(cfg.TemplatesDir); err != nil {
		return nil, err
	}
	if p.text, p.textName, err = parseText(cfg.TemplatesDir, TextFile); err != nil {
		return nil, err
	}
	if p.json, p.jsonName, err = parseText(cfg.TemplatesDir, JSONFile); err != nil {
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
	name := ""
	switch f {
	case negotiate.HTML:
		name = p.htmlName
		err = p.html.ExecuteTemplate(&buf, name, d)
	case negotiate.Text:
		name = p.textName
		err = p.text.ExecuteTemplate(&buf, name, d)
	case negotiate.JSON, negotiate.ProblemJSON:
		name = p.jsonName
		err = p.json.ExecuteTemplate(&buf, name, d)
	default:
		err = fmt.Errorf("no template for format %v", f)
	}
	if err != nil {
		return nil, "", fmt.Errorf("render template: %w", err)
	}
	body = buf.Bytes()
	switch f {
	case negotiate.HTML:
		csp = CSP(body)
	case negotiate.JSON, negotiate.ProblemJSON:
		if !json.Valid(body) {
			return nil, "", fmt.Errorf("%s does not render valid JSON (got %.80q): write values with {{json .Field}}", name, strings.TrimSpace(buf.String()))
		}
	}
	return body, csp, nil
}

func (p *Page) buildLanguages(cfg *config.Config) {
	assets := cfg.ReservedPrefix + "assets/"
	logo := ""
	if cfg.Logo != "" {
		logo = assets + url.PathEscape(cfg.Logo) + version(filepath.Join(cfg.AssetsDir, cfg.Logo))
	}
	accent := cfg.Accent
	if accent == "" {
		accent = DefaultAccent
	}
	// A language without its own texts shows the operator's words in the default language before
	// the built-in ones: what was configured says more than our generic sentence.
	var def config.Language
	if len(cfg.Languages) > 0 {
		def = cfg.Languages[0]
	}
	seen := map[string]bool{}
	add := func(tag string, l config.Language) {
		if seen[tag] {
			return
		}
		seen[tag] = true
		t := builtinStrings(tag)
		d := Data{
			Lang:        tag,
			T:           t,
			Title:       first(l.Title, cfg.Title, def.Title, t.Title),
			Message:     first(l.Message, cfg.Message, def.Message, t.Message),
			Refresh:     int(cfg.RefreshEvery / time.Second),
			Logo:        logo,
			Accent:      accent,
			AccentText:  readableOn(accent, lightCard),
			AccentDark:  readableOn(accent, darkCard),
			ContactURL:  cfg.ContactURL,
			ContactText: first(cfg.ContactText, t.Contact),
			ExtraCSS:    cfg.ExtraCSS,
			AssetsURL:   assets,
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

// version returns a query string naming the content of a file, so that an asset can be cached
// for long and still change the moment the operator replaces it.
func version(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "" // config validation reports a missing logo; the page still renders
	}
	sum := sha256.Sum256(b)
	return "?v=" + hex.EncodeToString(sum[:6])
}

// check renders every template in every state it can be in, for every language.
func (p *Page) check() error {
	now := time.Now()
	var errs []error
	for _, f := range []negotiate.Format{negotiate.HTML, negotiate.Text, negotiate.ProblemJSON} {
		for _, base := range p.base {
			for _, d := range []Data{base, withUntil(base, now.Add(time.Hour), false), withUntil(base, now.Add(-time.Hour), true)} {
				for _, unplanned := range []bool{false, true} {
					d.Status, d.Unplanned = 503, unplanned
					if _, _, err := p.Render(f, d); err != nil {
						errs = append(errs, err)
					}
				}
				e := d
				e.Status, e.Unplanned, e.Error, e.Refresh = 404, false, true, 0
				e.Title, e.Message = e.T.ErrorTexts(404)
				if _, _, err := p.Render(f, e); err != nil {
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

// parseHTML parses the HTML page: the partials every HTML template may call ("autoreturn"), then
// the user's page.html or the built-in one, which may redefine them.
func parseHTML(dir string) (*htmltemplate.Template, string, error) {
	src, name, err := source(dir, HTMLFile)
	if err != nil {
		return nil, "", err
	}
	t := htmltemplate.New(name).Funcs(Funcs()).Funcs(htmltemplate.FuncMap{
		// css lets the configured extra CSS into the page's <style>; config rejects "</style".
		"css": func(s string) htmltemplate.CSS { return htmltemplate.CSS(s) },
	})
	partials, err := embedded.ReadFile("templates/" + partialsFile)
	if err != nil {
		return nil, "", fmt.Errorf("embedded template %s: %w", partialsFile, err)
	}
	if _, err := t.New("built-in " + partialsFile).Parse(string(partials)); err != nil {
		return nil, "", fmt.Errorf("parse template: %w", err)
	}
	if _, err := t.Parse(src); err != nil {
		return nil, "", fmt.Errorf("parse template: %w", err)
	}
	return t, name, nil
}

func parseText(dir, file string) (*texttemplate.Template, string, error) {
	src, name, err := source(dir, file)
	if err != nil {
		return nil, "", err
	}
	t, err := texttemplate.New(name).Funcs(Funcs()).Parse(src)
	if err != nil {
		return nil, "", fmt.Errorf("parse template: %w", err)
	}
	return t, name, nil
}

// source reads a template from the user's directory when it has one by that name, else the
// embedded default. The name it returns is the template's name, so that every parse and
// execution error starts with the file it comes from.
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

// CSP builds a Content-Security-Policy for an HTML body: nothing from other origins, no plugins,
// frames, forms or base; inline <style> and <script> elements allowed only by the hash of their
// exact contents; images, stylesheets and fonts from the page's own origin (the assets under the
// reserved prefix), scripts from it only when the body loads one by src, and requests only to
// itself (the auto-return check).
func CSP(body []byte) string {
	styles := inlineHashes(body, "style")
	scripts := inlineHashes(body, "script")
	var b strings.Builder
	b.WriteString("default-src 'none'; img-src 'self' data:; font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
	b.WriteString("; style-src 'self'")
	for _, h := range styles {
		b.WriteString(" '" + h + "'")
	}
	external := hasScriptSrc(body)
	if len(scripts) > 0 || external {
		b.WriteString("; script-src")
		if external {
			b.WriteString(" 'self'")
		}
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
	eachElement(body, tag, func(attrs, content []byte) {
		if !bytes.Contains(asciiLower(attrs), []byte("src=")) {
			sum := sha256.Sum256(content)
			out = append(out, "sha256-"+base64.StdEncoding.EncodeToString(sum[:]))
		}
	})
	return out
}

func hasScriptSrc(body []byte) bool {
	found := false
	eachElement(body, "script", func(attrs, _ []byte) {
		found = found || bytes.Contains(asciiLower(attrs), []byte("src="))
	})
	return found
}

// eachElement calls fn with the attributes and the raw contents of every <tag> element.
func eachElement(body []byte, tag string, fn func(attrs, content []byte)) {
	lower := asciiLower(body)
	open, closing := []byte("<"+tag), []byte("</"+tag+">")
	for i := 0; ; {
		j := bytes.Index(lower[i:], open)
		if j < 0 {
			return
		}
		start := i + j
		end := bytes.IndexByte(lower[start:], '>')
		if end < 0 {
			return
		}
		attrs := body[start+len(open) : start+end]
		contentStart := start + end + 1
		k := bytes.Index(lower[contentStart:], closing)
		if k < 0 {
			return
		}
		if len(attrs) == 0 || attrs[0] == ' ' || attrs[0] == '\t' || attrs[0] == '\n' || attrs[0] == '\r' || attrs[0] == '/' {
			fn(attrs, body[contentStart:contentStart+k])
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

// asciiLower lowers ASCII letters only, so that every byte keeps its index: bytes.ToLower would
// change the length of text such as "İ" or invalid UTF-8 and shift the offsets of what it finds.
func asciiLower(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out
}
