package cli_test

import (
	"encoding/xml"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/maintpage/maintpage/internal/config"
	"github.com/maintpage/maintpage/internal/respond"
)

// TestH2Spec runs h2spec (github.com/summerwind/h2spec, installed by scripts/test.sh at a pinned
// version) against the real binary with h2c on, and against a plain Go net/http h2c server that
// answers the same way, and fails on any h2spec case that fails against maintpage and never against
// plain Go. Cases that fail against both are Go's (see docs/benchmark.md for each and why); a few
// of them depend on timing (whether the answer is out before the client's next frames arrive), so a
// case that failed against maintpage alone is run again against plain Go, up to 40 times, before it
// is counted as ours.
func TestH2Spec(t *testing.T) {
	t.Parallel()
	bin := h2specPath(t)
	p := start(t, []string{"MAINTPAGE_H2C=true"}, "serve")
	// The reference is net/http's own server answering with maintpage's own handler, and nothing of
	// internal/server (no fast path, no handover): what differs is what our server core adds. The same
	// handler also keeps the timing alike, which a few h2spec cases depend on.
	cfg, err := config.Load("", func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := respond.New(respond.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	plain := httptest.NewUnstartedServer(h)
	plain.Config.ReadHeaderTimeout, plain.Config.ReadTimeout = cfg.ReadHeaderTimeout, cfg.ReadTimeout
	plain.Config.WriteTimeout, plain.Config.IdleTimeout = cfg.WriteTimeout, cfg.IdleTimeout
	plain.Config.MaxHeaderBytes = cfg.MaxHeaderBytes
	plain.Config.ErrorLog = log.New(io.Discard, "", 0) // h2spec's bad frames, logged by design
	plain.Config.Protocols = new(http.Protocols)
	plain.Config.Protocols.SetHTTP1(true)
	plain.Config.Protocols.SetUnencryptedHTTP2(true)
	plain.Start()
	t.Cleanup(plain.Close)

	ours := runH2Spec(t, bin, p.addr)
	goFailed := runH2Spec(t, bin, strings.TrimPrefix(plain.URL, "http://"))
	t.Logf("h2spec against maintpage --h2c: %d cases, failed: %v", ours.total, ours.failed)
	t.Logf("h2spec against plain Go net/http h2c: %d cases, failed: %v", goFailed.total, goFailed.failed)
	if ours.total < 100 {
		t.Fatalf("h2spec ran %d cases, want the whole suite (145 in v2.2.1)", ours.total)
	}
	for _, id := range ours.failed {
		if slices.Contains(goFailed.failed, id) {
			continue
		}
		alsoGo := false
		for range 40 {
			if r := runH2Spec(t, bin, strings.TrimPrefix(plain.URL, "http://"), id); len(r.failed) > 0 {
				alsoGo = true
				break
			}
		}
		if alsoGo {
			t.Logf("%s failed against maintpage and, in another run, against plain Go: Go's, depending on timing", id)
			continue
		}
		t.Errorf("h2spec %s fails against maintpage --h2c and not against plain Go net/http h2c (41 runs):\n%s", id, ours.report[id])
	}
}

// h2specPath finds h2spec on PATH or where go install puts it; without it the test is skipped, or
// fails when CI is "true".
func h2specPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("h2spec"); err == nil {
		return p
	}
	out, _ := exec.Command("go", "env", "GOPATH").Output()
	for _, dir := range filepath.SplitList(strings.TrimSpace(string(out))) {
		if p := filepath.Join(dir, "bin", "h2spec"); fileExists(p) {
			return p
		}
	}
	const how = "go install github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible (scripts/test.sh does)"
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
		t.Fatalf("h2spec not found, and CI=true forbids skipping: %s", how)
	}
	t.Skipf("h2spec not found; %s", how)
	return ""
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

type h2specResult struct {
	total  int
	failed []string          // case ids, such as http2/4.2/2
	report map[string]string // id → h2spec's message
}

// runH2Spec runs h2spec (all cases, or those named) against addr and reads its JUnit report: a
// case's id is its suite's package and its place in the suite, as h2spec numbers them.
func runH2Spec(t *testing.T, bin, addr string, cases ...string) h2specResult {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	report := filepath.Join(t.TempDir(), "report.xml")
	args := append([]string{"-h", host, "-p", port, "-j", report}, cases...)
	out, err := exec.Command(bin, args...).CombinedOutput()
	var ee *exec.ExitError
	if err != nil && !errorsAs(err, &ee) { // h2spec exits 1 when a case fails
		t.Fatalf("h2spec: %v\n%s", err, out)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("h2spec wrote no report (%v):\n%s", err, out)
	}
	var doc struct {
		Suites []struct {
			Package string `xml:"package,attr"`
			Cases   []struct {
				Name    string  `xml:"classname,attr"`
				Failure *string `xml:"failure"`
				Error   *string `xml:"error"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("h2spec's report: %v", err)
	}
	r := h2specResult{report: map[string]string{}}
	for _, s := range doc.Suites {
		for i, c := range s.Cases {
			r.total++
			msg := c.Failure
			if msg == nil {
				msg = c.Error
			}
			if msg == nil {
				continue
			}
			id := fmt.Sprintf("%s/%d", s.Package, i+1)
			if len(cases) == 1 {
				id = cases[0] // a single case is reported as the suite's first
			}
			r.failed = append(r.failed, id)
			r.report[id] = c.Name + ": " + *msg
		}
	}
	return r
}
