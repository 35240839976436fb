// Package browsertest starts Debian's Chromium for the browser tests of the maintenance page and
// the admin page. A test that needs it skips when Chromium is missing, except in CI (CI=true),
// where a skip would hide a broken page.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"
)

// Chromium starts one headless Chromium for the test and returns a context for opening tabs. It
// uses $CHROME_PATH, else chromium, chromium-browser or google-chrome from PATH.
func Chromium(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("CHROME_PATH")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatal("Chromium not found: install Debian's chromium package or set CHROME_PATH; browser tests must run in CI")
		}
		t.Skip("Chromium not found (install chromium or set CHROME_PATH); skipping browser tests outside CI")
	}
	// The machine may have no network: these flags keep Chromium from calling home, which would
	// fill the log with refused connections and slow every test.
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
	})
	if err := chromedp.Do(bctx); err != nil { // start the browser now, so a failure is clear
		t.Fatalf("start Chromium %s: %v", path, err)
	}
	return bctx
}

// ScreenshotDir is where screenshots go: $MAINTPAGE_SCREENSHOT_DIR, to keep them, or a directory
// the test removes.
func ScreenshotDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("MAINTPAGE_SCREENSHOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	return t.TempDir()
}
