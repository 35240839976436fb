package page_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/maintpage/maintpage/internal/config"
	"github.com/maintpage/maintpage/internal/negotiate"
	"github.com/maintpage/maintpage/internal/page"
)

func newPage(t *testing.T, settings map[string]string) *page.Page {
	t.Helper()
	p, err := page.New(loadConfig(t, settings))
	if err != nil {
		t.Fatalf("page.New: %v", err)
	}
	return p
}

// fullData is the largest page the default template makes: every option set, a long message,
// the end announced.
func fullData(t *testing.T, p *page.Page, lang int) page.Data {
	d := p.Data(lang)
	d.Status = 503
	d.Until = time.Date(2030, 1, 2, 18, 30, 0, 0, time.UTC)
	return d
}

func TestPageSize(t *testing.T) {
	t.Parallel()
	settings := brandedSettings(time.Date(2030, 1, 2, 18, 30, 0, 0, time.UTC))
	settings["message"] = strings.Repeat("We are moving to a new data centre. ", 8)
	settings["extra_css"] = "h1{font-weight:800}"
	p := newPage(t, settings)
	const budget = 16 << 10
	for i, lang := range p.Languages() {
		for _, overdue := range []bool{false, true} {
			d := fullData(t, p, i)
			d.Overdue = overdue
			body, csp, err := p.Render(negotiate.HTML, d)
			if err != nil {
				t.Fatal(err)
			}
			// Over the wire: the body, as the server sends no compression, and the CSP header.
			if n := len(body) + len(csp); n > budget/2 {
				t.Errorf("%s (overdue %v): got %d bytes, want well under %d", lang, overdue, n, budget)
			}
			if lang == "en" && !overdue {
				t.Logf("English page with everything set: %d bytes of HTML, %d of CSP", len(body), len(csp))
			}
		}
	}
}

func TestCSP(t *testing.T) {
	t.Parallel()
	p := newPage(t, brandedSettings(time.Date(2030, 1, 2, 18, 30, 0, 0, time.UTC)))
	body, csp, err := p.Render(negotiate.HTML, fullData(t, p, 0))
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range []string{"style", "script"} {
		m := regexp.MustCompile(`(?s)<` + tag + `[^>]*>(.*?)</` + tag + `>`).FindSubmatch(body)
		if m == nil {
			t.Fatalf("no <%s> in the page", tag)
		}
		sum := sha256.Sum256(m[1])
		if want := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, want) {
			t.Errorf("CSP %q: want the hash of the <%s>, %s", csp, tag, want)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*", "http:", "https:"} {
		if strings.Contains(csp, bad) {
			t.Errorf("CSP %q allows %s", csp, bad)
		}
	}
	for _, want := range []string{"default-src 'none'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q: want %s", csp, want)
		}
	}
	if strings.Contains(csp, "script-src 'self'") {
		t.Errorf("CSP %q: allows scripts from the origin, and the page loads none", csp)
	}
}

func TestCSPFor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, body string
		want, not  []string
	}{
		{"no script", "<style>a{}</style>", []string{"style-src 'self' 'sha256-"}, []string{"script-src"}},
		{"script by src", `<script src="/_maintenance/assets/x.js"></script>`, []string{"script-src 'self'"}, []string{"script-src 'self' 'sha256"}},
		{"upper case", "<SCRIPT>1</SCRIPT>", []string{"script-src 'sha256-"}, nil},
		{"attributes", `<script data-x="1">1</script>`, []string{"script-src 'sha256-"}, nil},
		{"not a script element", "<scripts>1</scripts>", nil, []string{"script-src"}},
		{"unclosed", "<script>1", nil, []string{"script-src"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := page.CSP([]byte(tt.body))
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("CSP(%q) = %q, want it to contain %q", tt.body, got, w)
				}
			}
			for _, n := range tt.not {
				if strings.Contains(got, n) {
					t.Errorf("CSP(%q) = %q, want no %q", tt.body, got, n)
				}
			}
		})
	}
}

// FuzzCSP checks that the policy allows exactly the inline style and script of a page, whatever
// they contain: a page whose own script the policy did not allow would break in every browser.
func FuzzCSP(f *testing.F) {
	f.Add("hello", "a{color:red}", "console.log(1)")
	f.Add("<b>x</b>", "", "if (a < b) {}")
	f.Fuzz(func(t *testing.T, text, style, script string) {
		for _, s := range []string{text, style, script} {
			if strings.Contains(strings.ToLower(s), "<s") || strings.Contains(s, "</") {
				return // keep the page well formed: the elements' contents must not end them
			}
		}
		body := "<p>" + text + "</p><style>" + style + "</style><script>" + script + "</script><script src=\"/x.js\"></script>"
		csp := page.CSP([]byte(body))
		for _, inline := range []string{style, script} {
			sum := sha256.Sum256([]byte(inline))
			want := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
			if !strings.Contains(csp, want) {
				t.Fatalf("CSP of %q lacks %s:\n%s", body, want, csp)
			}
		}
		if n := strings.Count(csp, "'sha256-"); n != 2 {
			t.Fatalf("CSP of %q allows %d inline elements, want 2:\n%s", body, n, csp)
		}
		if !strings.HasPrefix(csp, "default-src 'none'") {
			t.Fatalf("CSP %q does not start from nothing", csp)
		}
	})
}

// writeTemplates makes a templates_dir holding the given files.
func writeTemplates(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestBrokenTemplates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		file  string
		src   string
		where string // file:line, or the file, that the error must name
		what  string
	}{
		{"html parse error", "page.html", "<!doctype html>\n<h1>{{.Title}}</h1>\n<p>{{.Message</p>\n", "page.html:3:", "bad character"},
		{"html unknown function", "page.html", "<p>\n{{shout .Title}}</p>\n", "page.html:2:", `function "shout" not defined`},
		{"html unknown field", "page.html", "<!doctype html>\n<h1>{{.Title}}</h1>\n\n<p>{{.Mesage}}</p>\n", "page.html:4:", "can't evaluate field Mesage"},
		{"html error only when overdue", "page.html", "<p>{{.Title}}</p>\n{{if .Overdue}}{{.Until.Nope}}{{end}}\n", "page.html:2:", "Nope"},
		{"html escaping error", "page.html", "<script>\nvar x = '{{.Title}}\n", "page.html", "html/template"},
		{"text parse error", "page.txt", "{{.Title}}\n{{end}}\n", "page.txt:2:", "unexpected {{end}}"},
		{"text unknown field", "page.txt", "{{.Title}}\n\n{{.T.Nope}}\n", "page.txt:3:", "can't evaluate field Nope"},
		{"json parse error", "page.json", `{"title": {{json .Title}`, "page.json:1:", ""},
		{"json that is not JSON", "page.json", `{"title": {{.Title}}}`, "page.json", "does not render valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := writeTemplates(t, map[string]string{tt.file: tt.src})
			_, err := page.New(loadConfig(t, map[string]string{"templates_dir": dir}))
			if err == nil {
				t.Fatalf("page.New with a broken %s: got no error", tt.file)
			}
			path := filepath.Join(dir, tt.where)
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tt.what) {
				t.Errorf("got error %q, want one naming %s and saying %q", err, path, tt.what)
			}
		})
	}
}

func TestUserTemplates(t *testing.T) {
	t.Parallel()
	dir := writeTemplates(t, map[string]string{
		"page.html": `<!doctype html><html lang="{{.Lang}}"><title>{{.ShownTitle}}</title>` +
			`<style>body{color:{{css .AccentText}}}</style><h1 class=custom>{{.ShownTitle}}</h1>` +
			`<p>{{.ShownMessage}}</p>{{if not .Until.IsZero}}<time datetime="{{.UntilRFC3339}}">{{.UntilText}}</time>{{end}}` +
			`{{template "autoreturn" .}}</html>`,
	})
	p := newPage(t, map[string]string{"templates_dir": dir, "message": "Back at six <sharp>"})
	d := fullData(t, p, 0)
	html, csp, err := p.Render(negotiate.HTML, d)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<h1 class=custom>Down for maintenance</h1>`, "Back at six &lt;sharp&gt;", `datetime="2030-01-02T18:30:00Z"`, "<script data-status=\"503\">"} {
		if !bytes.Contains(html, []byte(want)) {
			t.Errorf("custom HTML: want %q in\n%s", want, html)
		}
	}
	if !strings.Contains(csp, "script-src 'sha256-") || !strings.Contains(csp, "style-src 'self' 'sha256-") {
		t.Errorf("custom HTML: CSP %q does not allow its inline style and script by hash", csp)
	}
	// Only page.html was given: text and JSON stay built-in.
	text, _, err := p.Render(negotiate.Text, d)
	if err != nil {
		t.Fatal(err)
	}
	if want := "Down for maintenance\n\nBack at six <sharp>\nExpected back: 2030-01-02 18:30 UTC\n"; string(text) != want {
		t.Errorf("text: got %q, want %q", text, want)
	}
	js, _, err := p.Render(negotiate.ProblemJSON, d)
	if err != nil {
		t.Fatal(err)
	}
	var problem map[string]any
	if err := json.Unmarshal(js, &problem); err != nil || problem["detail"] != "Back at six <sharp>" || problem["until"] != "2030-01-02T18:30:00Z" {
		t.Errorf("JSON: got %s (%v)", js, err)
	}
}

func TestUserTextAndJSONTemplates(t *testing.T) {
	t.Parallel()
	dir := writeTemplates(t, map[string]string{
		"page.txt":  "{{.ShownTitle | printf \"%q\"}}\n",
		"page.json": `{"down":true,"message":{{json .ShownMessage}},"lang":{{json .Lang}}}`,
	})
	p := newPage(t, map[string]string{"templates_dir": dir})
	d := fullData(t, p, 1) // German
	tests := []struct {
		name string
		f    negotiate.Format
		want string
	}{
		{"text", negotiate.Text, "\"Wartungsarbeiten\"\n"},
		{"json", negotiate.JSON, `{"down":true,"message":"Wir führen geplante Wartungsarbeiten durch und sind bald wieder für Sie da.","lang":"de"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := p.Render(tt.f, d)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	// page.html was not given: the built-in page, with its script.
	html, _, err := p.Render(negotiate.HTML, d)
	if err != nil || !bytes.Contains(html, []byte(`<html lang="de">`)) || !bytes.Contains(html, []byte("<script")) {
		t.Errorf("built-in HTML alongside custom text: %v\n%s", err, html)
	}
}

func TestLanguages(t *testing.T) {
	t.Parallel()
	p := newPage(t, nil)
	if got, want := strings.Join(p.Languages(), ","), "en,de,fr,es,ja"; got != want {
		t.Fatalf("languages: got %s, want %s", got, want)
	}
	titles := map[string]string{}
	for i, lang := range p.Languages() {
		d := p.Data(i)
		if d.Lang != lang {
			t.Errorf("%s: Lang %q", lang, d.Lang)
		}
		// Every built-in text exists, and every language has its own.
		v := map[string]string{"Title": d.T.Title, "Message": d.T.Message, "ExpectedBack": d.T.ExpectedBack, "Overdue": d.T.Overdue,
			"Unplanned": d.T.Unplanned, "UnplannedMsg": d.T.UnplannedMsg, "Contact": d.T.Contact, "AutoReturn": d.T.AutoReturn}
		for field, s := range v {
			if s == "" {
				t.Errorf("%s: %s is empty", lang, field)
			}
		}
		if other, ok := titles[d.T.Title]; ok {
			t.Errorf("%s has the same title as %s: %q", lang, other, d.T.Title)
		}
		titles[d.T.Title] = lang
		html, _, err := p.Render(negotiate.HTML, fullData(t, p, i))
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{`<html lang="` + lang + `">`, d.T.Title, d.T.ExpectedBack} {
			if !bytes.Contains(html, []byte(want)) {
				t.Errorf("%s page: want %q", lang, want)
			}
		}
	}
}

func TestConfiguredLanguages(t *testing.T) {
	t.Parallel()
	cfg := loadConfig(t, nil)
	cfg.Languages = []config.Language{{Tag: "pt-BR", Title: "Em manutenção", Message: "Voltamos logo."}, {Tag: "de", Message: "Bald zurück."}}
	p, err := page.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		lang, title, message, expectedBack string
	}{
		{"pt-BR", "Em manutenção", "Voltamos logo.", "Expected back"},     // no built-in Portuguese: English texts
		{"de", "Em manutenção", "Bald zurück.", "Voraussichtlich zurück"}, // its own message, the default title
		{"fr", "Em manutenção", "Voltamos logo.", "Retour prévu"},         // not configured: the default language's words
		{"ja", "Em manutenção", "Voltamos logo.", "再開予定"},
	}
	for _, tt := range tests {
		t.Run(tt.lang, func(t *testing.T) {
			i := index(p.Languages(), tt.lang)
			if i < 0 {
				t.Fatalf("%s not offered: %v", tt.lang, p.Languages())
			}
			d := p.Data(i)
			if d.Title != tt.title || d.Message != tt.message || d.T.ExpectedBack != tt.expectedBack {
				t.Errorf("got %q / %q / %q, want %q / %q / %q", d.Title, d.Message, d.T.ExpectedBack, tt.title, tt.message, tt.expectedBack)
			}
		})
	}
	if p.Languages()[0] != "pt-BR" {
		t.Errorf("default language: got %s, want the first configured, pt-BR", p.Languages()[0])
	}
}

func index(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// TestSameLanguageInEveryFormat: the responder picks one language from Accept-Language, and the
// HTML, JSON and text bodies all speak it.
func TestSameLanguageInEveryFormat(t *testing.T) {
	t.Parallel()
	r := responder(t, loadConfig(t, nil))
	tests := []struct{ acceptLanguage, lang, title string }{
		{"de-CH, en;q=0.5", "de", "Wartungsarbeiten"},
		{"fr-CA", "fr", "Maintenance en cours"},
		{"es-419,es;q=0.9", "es", "En mantenimiento"},
		{"ja-JP", "ja", "メンテナンス中"},
		{"nl-NL", "en", "Down for maintenance"},
		{"", "en", "Down for maintenance"},
	}
	for _, tt := range tests {
		for _, accept := range []string{"text/html", "application/problem+json", "text/plain"} {
			req := httptest.NewRequest("GET", "/x", nil)
			req.Header.Set("Accept", accept)
			req.Header.Set("Accept-Language", tt.acceptLanguage)
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			if got := w.Header().Get("Content-Language"); got != tt.lang || !strings.Contains(w.Body.String(), tt.title) {
				t.Errorf("Accept-Language %q, Accept %s: got %s and a body without %q; want %s", tt.acceptLanguage, accept, got, tt.title, tt.lang)
			}
		}
	}
}

func TestBranding(t *testing.T) {
	t.Parallel()
	p := newPage(t, brandedSettings(time.Date(2030, 1, 2, 18, 30, 0, 0, time.UTC)))
	d := fullData(t, p, 0)
	html, _, err := p.Render(negotiate.HTML, d)
	if err != nil {
		t.Fatal(err)
	}
	logo, err := os.ReadFile("testdata/assets/logo.svg")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(logo)
	wantLogo := "/_maintenance/assets/logo.svg?v=" + strings.ToLower(strings.TrimRight(base16(sum[:6]), "="))
	for _, want := range []string{
		`<img class="mark" src="` + wantLogo + `" alt="">`,
		"--accent:#0d9488",
		`<a href="https://status.acme.example">Status page</a>`,
		"<h1>Acme is down for maintenance</h1>",
		"fill='%230d9488'", // the favicon, in the accent
	} {
		if !bytes.Contains(html, []byte(want)) {
			t.Errorf("branded page: want %q", want)
		}
	}
	if d.Logo != wantLogo {
		t.Errorf("Logo: got %q, want %q", d.Logo, wantLogo)
	}
}

func base16(b []byte) string {
	const hexdigits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, c := range b {
		out = append(out, hexdigits[c>>4], hexdigits[c&15])
	}
	return string(out)
}

func TestDataMethods(t *testing.T) {
	t.Parallel()
	until := time.Date(2030, 1, 2, 19, 30, 0, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name                           string
		d                              page.Data
		title, message, rfc3339, plain string
	}{
		{"planned", page.Data{Title: "T", Message: "M", Until: until, T: page.Strings{Unplanned: "U", UnplannedMsg: "UM"}}, "T", "M", "2030-01-02T18:30:00Z", "2030-01-02 18:30 UTC"},
		{"unplanned", page.Data{Title: "T", Message: "M", Unplanned: true, T: page.Strings{Unplanned: "U", UnplannedMsg: "UM"}}, "U", "UM", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.d.ShownTitle(); got != tt.title {
				t.Errorf("ShownTitle: got %q, want %q", got, tt.title)
			}
			if got := tt.d.ShownMessage(); got != tt.message {
				t.Errorf("ShownMessage: got %q, want %q", got, tt.message)
			}
			if got := tt.d.UntilRFC3339(); got != tt.rfc3339 {
				t.Errorf("UntilRFC3339: got %q, want %q", got, tt.rfc3339)
			}
			if got := tt.d.UntilText(); got != tt.plain {
				t.Errorf("UntilText: got %q, want %q", got, tt.plain)
			}
		})
	}
}

// TestReadmeExample renders the page.html docs/page.md shows (testdata/readme, kept in step with
// it), so the documented example works as written.
func TestReadmeExample(t *testing.T) {
	t.Parallel()
	abs, err := filepath.Abs("testdata/readme")
	if err != nil {
		t.Fatal(err)
	}
	settings := brandedSettings(time.Date(2030, 1, 2, 18, 30, 0, 0, time.UTC))
	settings["templates_dir"] = abs
	p := newPage(t, settings)
	for _, overdue := range []bool{false, true} {
		d := fullData(t, p, 0)
		d.Overdue = overdue
		html, csp, err := p.Render(negotiate.HTML, d)
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"<h1>Acme is down for maintenance</h1>", `href="/_maintenance/assets/page.css"`, "<script data-status=\"503\">"} {
			if !bytes.Contains(html, []byte(want)) {
				t.Errorf("overdue %v: want %q in\n%s", overdue, want, html)
			}
		}
		if !strings.Contains(csp, "style-src 'self'") || !strings.Contains(csp, "script-src 'sha256-") {
			t.Errorf("CSP %q: want the assets' stylesheet and the script allowed", csp)
		}
	}
}

func TestCSPWithTextThatChangesLengthWhenLowered(t *testing.T) {
	t.Parallel()
	// "İ" lowers to three bytes in Unicode; an offset taken from lowered text would hash the wrong bytes.
	body := []byte("<p>İİİ</p><script>go()</script>")
	sum := sha256.Sum256([]byte("go()"))
	want := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	if csp := page.CSP(body); !strings.Contains(csp, want) {
		t.Errorf("CSP lacks the script's hash %s:\n%s", want, csp)
	}
}
