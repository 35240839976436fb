package page_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/maintpage/maintpage/internal/browsertest"
	"github.com/maintpage/maintpage/internal/config"
	"github.com/maintpage/maintpage/internal/respond"
)

// The browser tests drive Debian's Chromium (browsertest.Chromium) against the real responder on
// 127.0.0.1.

// recorder keeps what a tab did: every request, the status of every response, and every
// message that a careful developer would count as an error.
type recorder struct {
	mu        sync.Mutex
	requests  []string
	statuses  map[string]int64
	problems  []string
	loadCount int // documents loaded (navigations and reloads)
}

// expectedNetworkLog matches the lines Chromium logs for the responses a maintenance page is
// built on: the document's 503, and the 503s (or 502s) of its own checks.
func expectedNetworkLog(e *log.Entry) bool {
	return e.Source == log.EntrySourceNetwork && (strings.Contains(e.Text, "status of 503") || strings.Contains(e.Text, "status of 502"))
}

func (r *recorder) listen(ev any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		r.requests = append(r.requests, ev.Request.URL)
		if ev.Type == network.ResourceTypeDocument {
			r.loadCount++
		}
	case *network.EventResponseReceived:
		r.statuses[ev.Response.URL] = ev.Response.Status
	case *log.EventEntryAdded:
		if (ev.Entry.Level == log.EntryLevelError || ev.Entry.Level == log.EntryLevelWarning) && !expectedNetworkLog(ev.Entry) {
			r.problems = append(r.problems, fmt.Sprintf("log %s %s: %s", ev.Entry.Source, ev.Entry.Level, ev.Entry.Text))
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type == runtime.ConsoleAPICalledTypeError || ev.Type == runtime.ConsoleAPICalledTypeWarning || ev.Type == runtime.ConsoleAPICalledTypeAssert {
			r.problems = append(r.problems, fmt.Sprintf("console.%s", ev.Type))
		}
	case *runtime.EventExceptionThrown:
		r.problems = append(r.problems, "uncaught exception: "+ev.ExceptionDetails.Text+" "+exceptionDescription(ev.ExceptionDetails))
	}
}

func exceptionDescription(d *runtime.ExceptionDetails) string {
	if d.Exception != nil {
		return d.Exception.Description
	}
	return ""
}

func (r *recorder) snapshot() (requests []string, statuses map[string]int64, problems []string, loads int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	statuses = make(map[string]int64, len(r.statuses))
	for k, v := range r.statuses {
		statuses[k] = v
	}
	return append([]string(nil), r.requests...), statuses, append([]string(nil), r.problems...), r.loadCount
}

// tab opens a tab in the browser with a generous deadline, recording what it does.
func tab(t *testing.T, browser context.Context, timeout time.Duration) (context.Context, *recorder) {
	t.Helper()
	ctx, cancelTab := chromedp.NewContext(browser)
	ctx, cancelTimeout := context.WithTimeout(ctx, timeout)
	t.Cleanup(func() {
		cancelTimeout()
		cancelTab()
	})
	rec := &recorder{statuses: map[string]int64{}}
	if err := chromedp.Listen(ctx, rec.listen); err != nil {
		t.Fatalf("listen: %v", err)
	}
	// A reader in Berlin, so the page must convert the announced end from UTC.
	if _, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Europe/Berlin"}); err != nil {
		t.Fatalf("time zone: %v", err)
	}
	return ctx, rec
}

func setHeaders(t *testing.T, ctx context.Context, h map[string]string) {
	t.Helper()
	hs := network.Headers{}
	for k, v := range h {
		hs[k] = v
	}
	if _, err := chromedp.Call(ctx, network.SetExtraHTTPHeaders, network.SetExtraHTTPHeadersParams{Headers: hs}); err != nil {
		t.Fatalf("set headers: %v", err)
	}
}

func setMedia(t *testing.T, ctx context.Context, features map[string]string) {
	t.Helper()
	var fs []*emulation.MediaFeature
	for k, v := range features {
		fs = append(fs, &emulation.MediaFeature{Name: k, Value: v})
	}
	if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: fs}); err != nil {
		t.Fatalf("emulate media: %v", err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// loadConfig builds a configuration the way the CLI does, from settings by YAML key.
func loadConfig(t *testing.T, settings map[string]string) *config.Config {
	t.Helper()
	cfg, err := config.Load("", nil, settings)
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg
}

func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h) // listens on 127.0.0.1
	t.Cleanup(srv.Close)
	return srv
}

func responder(t *testing.T, cfg *config.Config) *respond.Responder {
	t.Helper()
	r, err := respond.New(respond.Options{Config: cfg})
	if err != nil {
		t.Fatalf("respond.New: %v", err)
	}
	return r
}

// brandedSettings is a page branded from configuration alone: logo, accent, contact link.
func brandedSettings(until time.Time) map[string]string {
	abs, _ := filepath.Abs("testdata/assets")
	return map[string]string{
		"title":        "Acme is down for maintenance",
		"message":      "We are upgrading our database to make Acme faster. Your data is safe, and everything will be back shortly.",
		"until":        until.Format(time.RFC3339),
		"assets_dir":   abs,
		"logo":         "logo.svg",
		"accent":       "#0d9488",
		"contact_url":  "https://status.acme.example",
		"contact_text": "Status page",
	}
}

func TestBrowserPage(t *testing.T) {
	t.Parallel()
	browser := browsertest.Chromium(t)
	// An end two to three hours away, on the hour, as an operator would announce it.
	until := time.Now().UTC().Truncate(time.Hour).Add(3 * time.Hour)
	srv := serve(t, responder(t, loadConfig(t, brandedSettings(until))))
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	shots := browsertest.ScreenshotDir(t)

	t.Run("renders", func(t *testing.T) {
		t.Parallel()
		ctx, rec := tab(t, browser, 60*time.Second)
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 800)); err != nil {
			t.Fatal(err)
		}
		resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(srv.URL+"/orders/42"))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != 503 {
			t.Errorf("status: got %d, want 503", resp.Status)
		}
		for _, c := range []struct{ name, js, want string }{
			{"lang", `document.documentElement.lang`, "en"},
			{"title", `document.title`, "Acme is down for maintenance"},
			{"h1", `document.querySelector("h1").innerText`, "Acme is down for maintenance"},
			{"message", `document.querySelector(".lead").innerText`, "We are upgrading our database to make Acme faster. Your data is safe, and everything will be back shortly."},
			{"contact", `document.querySelector(".contact a").href`, "https://status.acme.example/"},
		} {
			if got := eval[string](t, ctx, c.js); got != c.want {
				t.Errorf("%s: got %q, want %q", c.name, got, c.want)
			}
		}
		for _, sel := range []string{"h1", ".lead", "#mp-when time", "#mp-left", ".auto", "img.mark", ".contact a"} {
			if !eval[bool](t, ctx, fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e || !e.checkVisibility()) return false; const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 && r.bottom <= innerHeight; })()`, sel)) {
				t.Errorf("%s is not visible in the first screen", sel)
			}
		}
		// The end time in the reader's zone (Berlin), not UTC, and the time left.
		wantClock := until.In(berlin).Format("3:04")
		if got := eval[string](t, ctx, `document.querySelector("#mp-when time").innerText`); !strings.Contains(got, wantClock) || strings.Contains(got, "UTC") {
			t.Errorf("end time: got %q, want the Berlin time %s", got, wantClock)
		}
		if got := eval[string](t, ctx, `document.querySelector("#mp-when time").dateTime`); got != until.Format(time.RFC3339) {
			t.Errorf("datetime: got %q, want %q", got, until.Format(time.RFC3339))
		}
		if got := eval[string](t, ctx, `document.getElementById("mp-left").innerText`); !strings.HasPrefix(got, "in ") || !strings.Contains(got, "hour") {
			t.Errorf("time left: got %q, want \"in N hours\"", got)
		}
		// The logo comes from the reserved assets path with 200.
		if !eval[bool](t, ctx, `(() => { const i = document.querySelector("img.mark"); return i.complete && i.naturalWidth > 0; })()`) {
			t.Error("logo did not load")
		}
		requests, statuses, problems, _ := rec.snapshot()
		logo := ""
		for u, s := range statuses {
			if strings.Contains(u, "/_maintenance/assets/logo.svg") {
				logo = u
				if s != 200 {
					t.Errorf("logo %s: got status %d, want 200", u, s)
				}
			}
		}
		if logo == "" {
			t.Errorf("no response for the logo; responses: %v", statuses)
		}
		checkOrigin(t, srv.URL, requests)
		for _, p := range problems {
			t.Errorf("console: %s", p)
		}
	})

	t.Run("dark mode and reduced motion", func(t *testing.T) {
		t.Parallel()
		ctx, rec := tab(t, browser, 60*time.Second)
		setMedia(t, ctx, map[string]string{"prefers-color-scheme": "dark"})
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
			t.Fatal(err)
		}
		if got := eval[string](t, ctx, `getComputedStyle(document.body).backgroundColor`); got != "rgb(14, 17, 22)" {
			t.Errorf("dark background: got %s, want rgb(14, 17, 22)", got)
		}
		if got := eval[string](t, ctx, `getComputedStyle(document.querySelector("h1")).color`); got != "rgb(236, 238, 241)" {
			t.Errorf("dark text: got %s, want rgb(236, 238, 241)", got)
		}
		if got := eval[string](t, ctx, `getComputedStyle(document.querySelector(".auto"), "::before").animationName`); got != "pulse" {
			t.Errorf("animation with motion allowed: got %q, want pulse", got)
		}
		setMedia(t, ctx, map[string]string{"prefers-color-scheme": "dark", "prefers-reduced-motion": "reduce"})
		if got := eval[string](t, ctx, `getComputedStyle(document.querySelector(".auto"), "::before").animationName`); got != "none" {
			t.Errorf("animation with reduced motion: got %q, want none", got)
		}
		_, _, problems, _ := rec.snapshot()
		for _, p := range problems {
			t.Errorf("console: %s", p)
		}
	})

	t.Run("keyboard focus is visible", func(t *testing.T) {
		t.Parallel()
		ctx, _ := tab(t, browser, 60*time.Second)
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/"), chromedp.KeyEvent("\t")); err != nil {
			t.Fatal(err)
		}
		if got := eval[string](t, ctx, `document.activeElement.innerText`); got != "Status page" {
			t.Fatalf("focused element after Tab: got %q, want the contact link", got)
		}
		if got := eval[string](t, ctx, `(() => { const s = getComputedStyle(document.activeElement); return s.outlineStyle + " " + s.outlineWidth; })()`); got != "solid 3px" {
			t.Errorf("focus outline: got %q, want solid 3px", got)
		}
	})

	t.Run("320 px wide, no horizontal scrolling", func(t *testing.T) {
		t.Parallel()
		ctx, _ := tab(t, browser, 60*time.Second)
		if err := chromedp.Do(ctx, chromedp.EmulateViewport(320, 568, chromedp.EmulateMobile), chromedp.Navigate(srv.URL+"/")); err != nil {
			t.Fatal(err)
		}
		if got := eval[int](t, ctx, `document.documentElement.scrollWidth`); got > 320 {
			t.Errorf("page width at 320 px: got %d, want at most 320", got)
		}
		screenshot(t, ctx, filepath.Join(shots, "mobile-320-light.png"))
	})

	t.Run("German", func(t *testing.T) {
		t.Parallel()
		ctx, rec := tab(t, browser, 60*time.Second)
		setHeaders(t, ctx, map[string]string{"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
		if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
			t.Fatal(err)
		}
		if got := eval[string](t, ctx, `document.documentElement.lang`); got != "de" {
			t.Errorf("lang: got %q, want de", got)
		}
		if got := eval[string](t, ctx, `document.querySelector(".label").innerText`); got != "Voraussichtlich zurück" {
			t.Errorf("label: got %q, want the German one", got)
		}
		wantClock := until.In(berlin).Format("15:04")
		if got := eval[string](t, ctx, `document.querySelector("#mp-when time").innerText`); !strings.Contains(got, wantClock) {
			t.Errorf("end time: got %q, want German with %s", got, wantClock)
		}
		if got := eval[string](t, ctx, `document.getElementById("mp-left").innerText`); !strings.HasPrefix(got, "in ") || !strings.Contains(got, "Stunde") {
			t.Errorf("time left: got %q, want \"in N Stunden\"", got)
		}
		_, _, problems, _ := rec.snapshot()
		for _, p := range problems {
			t.Errorf("console: %s", p)
		}
	})

	for _, s := range []struct {
		name          string
		width, height int64
		mobile        bool
		dark          bool
	}{
		{"desktop-light", 1280, 800, false, false},
		{"desktop-dark", 1280, 800, false, true},
		{"mobile-light", 375, 667, true, false},
		{"mobile-dark", 375, 667, true, true},
	} {
		t.Run("screenshot "+s.name, func(t *testing.T) {
			t.Parallel()
			ctx := shoot(t, browser, srv.URL+"/", filepath.Join(shots, s.name+".png"), s.width, s.height, s.mobile, s.dark)
			if !eval[bool](t, ctx, `document.querySelector("img.mark").complete`) {
				t.Error("logo not loaded at the screenshot")
			}
		})
	}
}

// TestBrowserScreenshotsStates takes screenshots of the other states a reader can meet: the
// unbranded default, the overdue window, and the gate's unplanned outage.
func TestBrowserScreenshotsStates(t *testing.T) {
	t.Parallel()
	browser := browsertest.Chromium(t)
	shots := browsertest.ScreenshotDir(t)
	plain := responder(t, loadConfig(t, nil))
	overdue := responder(t, loadConfig(t, map[string]string{"until": "2020-01-01T00:00:00Z", "contact_url": "mailto:ops@example.com"}))
	tests := []struct {
		name    string
		handler http.Handler
		mobile  bool
		dark    bool
	}{
		{"default-desktop-light", plain, false, false},
		{"default-mobile-dark", plain, true, true},
		{"overdue-mobile-light", overdue, true, false},
		{"overdue-desktop-dark", overdue, false, true},
		{"unplanned-desktop-light", http.HandlerFunc(plain.Unplanned), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := serve(t, tt.handler)
			w, h := int64(1280), int64(800)
			if tt.mobile {
				w, h = 375, 667
			}
			shoot(t, browser, srv.URL+"/", filepath.Join(shots, tt.name+".png"), w, h, tt.mobile, tt.dark)
		})
	}
}

// shoot opens url in a new tab at the given size and scheme and saves a screenshot to path.
func shoot(t *testing.T, browser context.Context, url, path string, width, height int64, mobile, dark bool) context.Context {
	t.Helper()
	ctx, rec := tab(t, browser, 60*time.Second)
	scheme := "light"
	if dark {
		scheme = "dark"
	}
	// Reduced motion holds the pulsing dot still, so screenshots do not depend on timing.
	setMedia(t, ctx, map[string]string{"prefers-color-scheme": scheme, "prefers-reduced-motion": "reduce"})
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(2)}
	if mobile {
		opts = append(opts, chromedp.EmulateMobile)
	}
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(width, height, opts...), chromedp.Navigate(url)); err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, path)
	_, _, problems, _ := rec.snapshot()
	for _, p := range problems {
		t.Errorf("console: %s", p)
	}
	return ctx
}

// TestBrowserOverdue: once the announced end passes while the page is open, the countdown gives
// way to the "taking longer" line, never a negative time.
func TestBrowserOverdue(t *testing.T) {
	t.Parallel()
	browser := browsertest.Chromium(t)
	until := time.Now().Add(4 * time.Second).Truncate(time.Second)
	srv := serve(t, responder(t, loadConfig(t, map[string]string{"until": until.UTC().Format(time.RFC3339)})))
	ctx, rec := tab(t, browser, 60*time.Second)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	if time.Now().Before(until) && !eval[bool](t, ctx, `!!document.querySelector("#mp-when time")`) {
		t.Error("before the end: no end time shown")
	}
	overdue := "This is taking longer than expected. Thank you for your patience."
	got := poll(t, ctx, 30*time.Second, `document.getElementById("mp-when").innerText`, func(s string) bool { return s == overdue })
	if got != overdue {
		t.Errorf("after the end: got %q, want %q", got, overdue)
	}
	if eval[bool](t, ctx, `!!document.querySelector("#mp-when time")`) {
		t.Error("after the end: the end time is still shown")
	}
	// A reader who arrives late gets the overdue page from the server.
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/again")); err != nil {
		t.Fatal(err)
	}
	if got := eval[string](t, ctx, `document.getElementById("mp-when").innerText`); got != overdue {
		t.Errorf("fresh load after the end: got %q, want %q", got, overdue)
	}
	_, _, problems, _ := rec.snapshot()
	for _, p := range problems {
		t.Errorf("console: %s", p)
	}
}

// TestBrowserAutoReturn: the page checks its own URL and reloads itself when the answer is no
// longer the maintenance response, and only then.
func TestBrowserAutoReturn(t *testing.T) {
	t.Parallel()
	browser := browsertest.Chromium(t)
	const (
		maintenance = iota
		gatewayError
		back
	)
	tests := []struct {
		name string
		back http.HandlerFunc // what the application answers once it is back
	}{
		{"routes switched back", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, "<!doctype html><title>app</title><p id=app>back</p>")
		}},
		{"gate passes a redirect through", func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/login" {
				http.Redirect(w, r, "/login", http.StatusFound)
				return
			}
			fmt.Fprint(w, "<!doctype html><title>app</title><p id=app>back</p>")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := responder(t, loadConfig(t, map[string]string{"retry_after": "1s"}))
			var phase atomic.Int32
			var checks atomic.Int32 // the page's own checks, not navigations
			srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				if req.Header.Get("Sec-Fetch-Mode") != "navigate" && !r.IsReserved(req.URL.Path) {
					checks.Add(1)
				}
				switch phase.Load() {
				case maintenance:
					r.ServeHTTP(w, req)
				case gatewayError: // a router between two deployments: not the application yet
					http.Error(w, "bad gateway", http.StatusBadGateway)
				default:
					tt.back(w, req)
				}
			}))
			ctx, rec := tab(t, browser, 120*time.Second)
			start := time.Now()
			resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(srv.URL+"/dashboard"))
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != 503 {
				t.Fatalf("status: got %d, want 503", resp.Status)
			}
			// First check comes after about 10 s; wait for one, still in maintenance.
			waitFor(t, 30*time.Second, "a first check", func() bool { return checks.Load() >= 1 })
			phase.Store(gatewayError)
			n := checks.Load()
			waitFor(t, 30*time.Second, "a check that sees the 502", func() bool { return checks.Load() > n })
			time.Sleep(500 * time.Millisecond) // time for a (wrong) reload to start
			if _, _, _, loads := rec.snapshot(); loads != 1 {
				t.Fatalf("the page reloaded on a gateway error (%d loads)", loads)
			}
			if got := eval[string](t, ctx, `document.querySelector("h1") ? document.querySelector("h1").innerText : ""`); got != "Down for maintenance" {
				t.Fatalf("page after the 502: got h1 %q, want the maintenance page", got)
			}
			phase.Store(back)
			flipped := time.Now()
			got := poll(t, ctx, 45*time.Second, `document.getElementById("app") ? document.getElementById("app").innerText : ""`, func(s string) bool { return s == "back" })
			if got != "back" {
				t.Fatalf("the tab did not come back by itself within 45 s of the application's return")
			}
			t.Logf("back %v after the application returned", time.Since(flipped).Round(100*time.Millisecond))
			// No storm: with retry_after 1s the page still waits at least about 4 s (5 s less
			// jitter) between checks.
			elapsed := time.Since(start)
			if max := int32(elapsed/(4*time.Second)) + 2; checks.Load() > max {
				t.Errorf("checks: got %d in %v, want at most %d", checks.Load(), elapsed.Round(time.Second), max)
			}
			requests, _, problems, _ := rec.snapshot()
			checkOrigin(t, srv.URL, requests)
			for _, p := range problems {
				t.Errorf("console: %s", p)
			}
		})
	}
}

// checkOrigin fails for any request that leaves the test server's origin.
func checkOrigin(t *testing.T, origin string, requests []string) {
	t.Helper()
	o, err := url.Parse(origin)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range requests {
		u, err := url.Parse(r)
		if err != nil {
			t.Errorf("request to an unreadable URL %q", r)
			continue
		}
		if u.Scheme == "data" {
			continue
		}
		if u.Scheme != o.Scheme || u.Host != o.Host {
			t.Errorf("request left the origin %s: %s", origin, r)
		}
	}
}

// poll evaluates js until ok accepts its value or the deadline passes, and returns the last
// value. It survives reloads: an evaluation that fails while a page changes is retried.
func poll(t *testing.T, ctx context.Context, deadline time.Duration, js string, ok func(string) bool) string {
	t.Helper()
	end := time.Now().Add(deadline)
	last := ""
	for time.Now().Before(end) {
		if v, err := chromedp.Run(ctx, chromedp.Evaluate[string](js)); err == nil {
			last = v
			if ok(v) {
				return v
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	return last
}

func waitFor(t *testing.T, deadline time.Duration, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(deadline)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("no %s within %v", what, deadline)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func screenshot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
}
