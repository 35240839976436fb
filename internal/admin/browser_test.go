package admin_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/maintpage/maintpage/internal/browsertest"
	"github.com/maintpage/maintpage/internal/config"
	"github.com/maintpage/maintpage/internal/gate"
	"github.com/maintpage/maintpage/internal/state"
	"github.com/maintpage/maintpage/internal/state/statetest"
)

const oncall = "0123456789abcdef-oncall-browser"

// problems collects what a careful developer counts as an error in a tab: console errors and
// warnings, uncaught exceptions, and the log's errors (a CSP violation is one), except the
// network lines for statuses a test provokes on purpose.
type problems struct {
	mu       sync.Mutex
	list     []string
	expected []string // substrings of network log lines that are expected
}

func (p *problems) listen(ev any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch ev := ev.(type) {
	case *log.EventEntryAdded:
		if ev.Entry.Level != log.EntryLevelError && ev.Entry.Level != log.EntryLevelWarning {
			return
		}
		if ev.Entry.Source == log.EntrySourceNetwork {
			for _, e := range p.expected {
				if strings.Contains(ev.Entry.Text, e) {
					return
				}
			}
		}
		p.list = append(p.list, fmt.Sprintf("log %s %s: %s", ev.Entry.Source, ev.Entry.Level, ev.Entry.Text))
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning {
			p.list = append(p.list, "console."+string(ev.Type))
		}
	case *runtime.EventExceptionThrown:
		p.list = append(p.list, "exception: "+ev.ExceptionDetails.Text)
	}
}

func (p *problems) get() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.list...)
}

func tab(t *testing.T, browser context.Context, expected ...string) (context.Context, *problems) {
	t.Helper()
	ctx, cancelTab := chromedp.NewContext(browser)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelTab() })
	p := &problems{expected: expected}
	if err := chromedp.Listen(ctx, p.listen); err != nil {
		t.Fatal(err)
	}
	return ctx, p
}

func run(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

func text(t *testing.T, ctx context.Context, js string) string {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return s
}

func media(t *testing.T, ctx context.Context, scheme string) {
	t.Helper()
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}); err != nil {
		t.Fatal(err)
	}
}

// gateServer is a real gate (the standalone page, with named admin tokens, two scopes and a
// recurring window) over a memory store, on 127.0.0.1.
func gateServer(t *testing.T) (*httptest.Server, *state.Tracker) {
	t.Helper()
	tr := statetest.MemoryTracker(t)
	file := filepath.Join(t.TempDir(), "maintpage.yaml")
	yaml := `accent: "#0d9488"
admin_tokens:
  - {name: oncall, token: ` + oncall + `}
rules:
  - {name: api, scope: api, match: {path_prefix: /api/}}
  - {name: checkout, scope: checkout, match: {path_prefix: /checkout/}}
windows:
  - {name: sunday-backups, cron: "0 2 * * 0", duration: 2h, time_zone: Europe/Berlin, scope: api, message: Weekly backups}
`
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A clock that stands still: the sign-in limit must not refill while a busy machine runs the
	// browser slowly.
	now := time.Now()
	g, err := gate.New(gate.Options{Config: cfg, Tracker: tr, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewServer(g)
	t.Cleanup(s.Close)
	return s, tr
}

// submit fills the fields (selector → value) and clicks the form's button.
func submit(t *testing.T, ctx context.Context, fields map[string]string, button string) {
	t.Helper()
	mark(t, ctx)
	var acts []chromedp.Action[chromedp.Void]
	for sel, v := range fields {
		acts = append(acts, chromedp.SetValue(sel, v))
	}
	acts = append(acts, chromedp.Click(button))
	run(t, ctx, acts...)
	waitLoaded(t, ctx)
}

// waitLoaded waits for the document a click or key started to load: the old one may still be
// there for a moment, so wait for the marker it does not have.
func waitLoaded(t *testing.T, ctx context.Context) {
	t.Helper()
	end := time.Now().Add(30 * time.Second)
	for {
		if s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.readyState + (window.__old ? "" : "!")`)); err == nil && s == "complete!" {
			break
		}
		if time.Now().After(end) {
			t.Fatal("no new document within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mark flags the current document, so waitLoaded can tell when the next one is there.
func mark(t *testing.T, ctx context.Context) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`window.__old = true`)); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserAdminPage runs a whole window from the page in real Chromium: sign in with the
// keyboard, turn maintenance on with a message, see it in the history, turn it off, sign out.
func TestBrowserAdminPage(t *testing.T) {
	t.Parallel()
	browser := browsertest.Chromium(t)
	srv, tr := gateServer(t)
	base := srv.URL + "/_maintenance/admin/"
	shots := browsertest.ScreenshotDir(t)

	ctx, probs := tab(t, browser, "status of 401")
	run(t, ctx, chromedp.EmulateViewport(1280, 900), chromedp.Navigate(base))
	if got := text(t, ctx, `document.querySelector("label[for=token]").innerText`); got != "Admin token" {
		t.Fatalf("sign-in form: label %q", got)
	}
	// A wrong token first: refused, said so, and the field marked invalid for screen readers.
	submit(t, ctx, map[string]string{"#token": "not-the-token"}, "button[type=submit]")
	if got := text(t, ctx, `document.querySelector("[role=alert]").innerText`); !strings.Contains(got, "not valid") {
		t.Errorf("wrong token: alert %q", got)
	}
	if got := text(t, ctx, `document.getElementById("token").getAttribute("aria-invalid")`); got != "true" {
		t.Errorf("wrong token: aria-invalid %q", got)
	}

	// Sign in with the keyboard only: the field has focus on load; type, Enter.
	run(t, ctx, chromedp.Navigate(base))
	if got := text(t, ctx, `document.activeElement.id`); got != "token" {
		t.Errorf("focus on load: %q, want the token field", got)
	}
	mark(t, ctx)
	run(t, ctx, chromedp.KeyEvent(oncall), chromedp.KeyEvent("\r"))
	waitLoaded(t, ctx)
	if got := text(t, ctx, `document.querySelector("header .who").innerText`); !strings.Contains(got, "Signed in as oncall") {
		t.Fatalf("after sign-in: %q", got)
	}
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{})
	if err != nil {
		t.Fatal(err)
	}
	cookies := res.Cookies
	if len(cookies) != 1 || cookies[0].Name != "__Host-maintpage-admin" || !cookies[0].HTTPOnly || !cookies[0].Secure || cookies[0].SameSite != network.CookieSameSiteStrict {
		t.Errorf("cookies: %+v", cookies)
	}
	if got := text(t, ctx, `String(document.cookie)`); got != "" {
		t.Errorf("the session is readable from script: %q", got)
	}

	// Every control has a label a screen reader announces.
	if got := text(t, ctx, `[...document.querySelectorAll("input:not([type=hidden]),select,textarea,button")].filter(e => !(e.labels && e.labels.length) && !e.innerText.trim()).map(e => e.outerHTML).join("\n")`); got != "" {
		t.Errorf("controls without a label:\n%s", got)
	}

	// Every scope is listed, off.
	if got := text(t, ctx, `[...document.querySelectorAll(".scopes li")].map(li => li.querySelector("strong").innerText + ": " + li.querySelector(".badge").innerText).join(", ")`); got != "Whole site: Off, Scope api: Off, Scope checkout: Off" {
		t.Errorf("scopes: %q", got)
	}

	// The next window, and the previews in each state and language.
	if got := text(t, ctx, `document.querySelector("#now-title").parentElement.innerText`); !strings.Contains(got, "sunday-backups (scope api): Sun ") {
		t.Errorf("next windows: %q", got)
	}
	previews := text(t, ctx, `[...document.querySelectorAll("a[href*='preview?']")].map(a => a.innerText + "=" + a.getAttribute("href")).join("\n")`)
	for _, want := range []string{"state=planned", "state=until", "state=overdue", "state=unplanned", "lang=de", "lang=ja", "format=json", "scope=api"} {
		if !strings.Contains(previews, want) {
			t.Errorf("preview links lack %s:\n%s", want, previews)
		}
	}
	// A preview opens with the page's session (no token in the URL), in the language asked for.
	de := text(t, ctx, `document.querySelector("a[href*='lang=de']").href`)
	run(t, ctx, chromedp.Navigate(de))
	if got := text(t, ctx, `document.documentElement.lang + " " + document.title`); !strings.HasPrefix(got, "de ") {
		t.Errorf("the German preview: %q", got)
	}
	run(t, ctx, chromedp.Navigate(base))

	// The API's scope on, with a message and a reason.
	run(t, ctx, chromedp.Click(`input[name=on][value=on]`))
	submit(t, ctx, map[string]string{"#scope": "api", "#message": "Upgrading the database", "#until": "2h", "#reason": "migration 42"}, "#change button[type=submit]")
	if got := text(t, ctx, `document.querySelector("[role=status]").innerText`); got != "Maintenance is on." {
		t.Errorf("notice after turning on: %q", got)
	}
	if got := text(t, ctx, `document.querySelector("h1").innerText`); got != "Maintenance is on for api" {
		t.Errorf("heading: %q", got)
	}
	if cur := tr.Current().Scopes["api"]; cur.On != true || cur.Message != "Upgrading the database" || cur.Reason != "migration 42" || cur.ChangedBy != "oncall" || cur.Until.IsZero() || tr.Current().On {
		t.Errorf("state after turning the api on: %+v", tr.Current())
	}
	if got := text(t, ctx, `[...document.querySelectorAll(".scopes li")].map(li => li.querySelector(".badge").innerText).join(",")`); got != "Off,On,Off" {
		t.Errorf("badges after turning the api on: %q", got)
	}
	first := text(t, ctx, `document.querySelector(".history li").innerText`)
	for _, want := range []string{"Maintenance on", "scope api", "by oncall via page from 127.0.0.1", "Upgrading the database", "Reason: migration 42"} {
		if !strings.Contains(first, want) {
			t.Errorf("history's first entry %q lacks %q", first, want)
		}
	}
	screenshot(t, ctx, filepath.Join(shots, "admin-desktop-light.png"))

	// Dark mode and a 320 px wide phone: nothing overflows sideways.
	media(t, ctx, "dark")
	run(t, ctx, chromedp.EmulateViewport(320, 640, chromedp.EmulateScale(2)))
	if got := text(t, ctx, `getComputedStyle(document.body).backgroundColor`); got != "rgb(14, 17, 22)" {
		t.Errorf("dark background: %s, want the maintenance page's rgb(14, 17, 22)", got)
	}
	if got := text(t, ctx, `String(document.documentElement.scrollWidth)`); got != "320" {
		t.Errorf("at 320 px the page is %s px wide", got)
	}
	run(t, ctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2)))
	screenshot(t, ctx, filepath.Join(shots, "admin-mobile-dark.png"))
	media(t, ctx, "light")
	run(t, ctx, chromedp.EmulateViewport(1280, 900))

	// Off, with a reason.
	run(t, ctx, chromedp.Click(`input[name=on][value=off]`))
	submit(t, ctx, map[string]string{"#scope": "api", "#reason": "migration done"}, "#change button[type=submit]")
	if got := text(t, ctx, `document.querySelector("[role=status]").innerText`); got != "Maintenance is off." {
		t.Errorf("notice after turning off: %q", got)
	}
	if cur := tr.Current(); cur.Scopes["api"].On {
		t.Errorf("still on after turning off: %+v", cur)
	}
	if got := text(t, ctx, `document.querySelector(".history li").innerText`); !strings.Contains(got, "Maintenance off") || !strings.Contains(got, "migration done") {
		t.Errorf("history after turning off: %q", got)
	}

	// Sign out: the cookie is gone, and the page asks for a token again.
	submit(t, ctx, nil, "header button[type=submit]")
	if got := text(t, ctx, `document.querySelector("[role=status]").innerText`); got != "You are signed out." {
		t.Errorf("after sign-out: %q", got)
	}
	run(t, ctx, chromedp.Navigate(base))
	if got := text(t, ctx, `String(!!document.getElementById("token"))`); got != "true" {
		t.Error("after sign-out the admin page does not ask for a token")
	}
	for _, p := range probs.get() {
		t.Errorf("console: %s", p)
	}
}

func screenshot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserAdminCrossSite: a page on another site that posts the change form, with the admin
// signed in, is refused, and nothing changes.
func TestBrowserAdminCrossSite(t *testing.T) {
	t.Parallel()
	browser := browsertest.Chromium(t)
	srv, tr := gateServer(t)
	ctx, _ := tab(t, browser)
	run(t, ctx, chromedp.Navigate(srv.URL+"/_maintenance/admin/"))
	submit(t, ctx, map[string]string{"#token": oncall}, "button[type=submit]")
	if got := text(t, ctx, `document.querySelector("header .who").innerText`); !strings.Contains(got, "oncall") {
		t.Fatalf("sign-in failed: %q", got)
	}
	// The attacker's page: another site (localhost, not 127.0.0.1) and another port.
	target := srv.URL + "/_maintenance/admin/change"
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `<!doctype html><form id=f method=post action=%q><input name=on value=on><input name=form_token value=guess><input name=message value=pwned></form><script>document.getElementById("f").submit()</script>`, target)
	}))
	t.Cleanup(evil.Close)
	var status int64
	for _, origin := range []string{strings.Replace(evil.URL, "127.0.0.1", "localhost", 1), evil.URL} {
		run(t, ctx, chromedp.Navigate(origin))
		// The attacker's page posts at once; wait for the answer to the post.
		end := time.Now().Add(30 * time.Second)
		for !strings.HasPrefix(text(t, ctx, `location.href`), target) {
			if time.Now().After(end) {
				t.Fatalf("the attacker's form did not post within 30s")
			}
			time.Sleep(50 * time.Millisecond)
		}
		got := text(t, ctx, `document.body.innerText`)
		if !strings.Contains(got, "Refused") {
			t.Errorf("cross-site post from %s: the answer is %q, want a refusal", origin, got)
		}
		status++
	}
	if cur := tr.Current(); cur.On {
		t.Errorf("a cross-site post changed the state: %+v", cur)
	}
}

// TestBrowserAdminSignInRateLimited: the sixth wrong token in a row is refused without being
// checked, and the page says when to try again.
func TestBrowserAdminSignInRateLimited(t *testing.T) {
	t.Parallel()
	browser := browsertest.Chromium(t)
	srv, _ := gateServer(t)
	ctx, probs := tab(t, browser, "status of 401", "status of 429")
	for i := range 6 {
		run(t, ctx, chromedp.Navigate(srv.URL+"/_maintenance/admin/"))
		submit(t, ctx, map[string]string{"#token": fmt.Sprintf("guess-%d", i)}, "button[type=submit]")
	}
	if got := text(t, ctx, `document.querySelector("[role=alert]").innerText`); !strings.Contains(got, "Too many sign-in attempts") {
		t.Errorf("sixth attempt: %q", got)
	}
	// Now even the right token waits.
	run(t, ctx, chromedp.Navigate(srv.URL+"/_maintenance/admin/"))
	submit(t, ctx, map[string]string{"#token": oncall}, "button[type=submit]")
	if got := text(t, ctx, `document.querySelector("[role=alert]").innerText`); !strings.Contains(got, "Too many") {
		t.Errorf("right token while limited: %q", got)
	}
	for _, p := range probs.get() {
		t.Errorf("console: %s", p)
	}
}
