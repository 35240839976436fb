package cli_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// previewWant is what each state must show, in each built-in language we check.
var previewWant = map[string]map[string]string{
	"en": {"planned": "Down for maintenance", "until": "Expected back", "overdue": "taking longer than expected", "unplanned": "Temporarily unavailable"},
	"de": {"planned": "Wartungsarbeiten", "until": "Voraussichtlich zurück", "overdue": "länger als erwartet", "unplanned": "Vorübergehend nicht erreichbar"},
	"fr": {"planned": "Maintenance en cours", "until": "Retour prévu", "overdue": "plus de temps que prévu", "unplanned": "Temporairement indisponible"},
}

// TestBinaryPreview asks a real gate, with maintenance off, for the preview in every state and
// language and each format, as the team (admin token, bypass header) and as a stranger; and the
// CLI for the same without a server.
func TestBinaryPreview(t *testing.T) {
	t.Parallel()
	app := appUpstream(t)
	const token = "e2e-admin-token-0123456789"
	const secret = "e2e-bypass-secret-0123456789"
	cfg := writeConfig(t, `upstream: `+app.URL+`
admin_token: `+token+`
bypass_secret: `+secret+`
`)
	g := start(t, nil, "serve", "--config", cfg)
	if resp, _ := get(t, g, "GET", "/", nil); resp.StatusCode != 200 {
		t.Fatalf("maintenance is off, but / answered %d", resp.StatusCode)
	}
	for lang, states := range previewWant {
		for st, want := range states {
			for _, format := range []string{"html", "json", "text"} {
				path := "/_maintenance/preview?state=" + st + "&lang=" + lang + "&format=" + format
				resp, body := get(t, g, "GET", path, map[string]string{"Authorization": "Bearer " + token})
				if resp.StatusCode != 200 || resp.Header.Get("X-Robots-Tag") != "noindex" || resp.Header.Get("Content-Language") != lang {
					t.Errorf("%s: got %d, X-Robots-Tag %q, Content-Language %q; want 200, noindex, %s", path, resp.StatusCode, resp.Header.Get("X-Robots-Tag"), resp.Header.Get("Content-Language"), lang)
				}
				if format != "json" && !strings.Contains(body, want) {
					t.Errorf("%s: body does not say %q:\n%.300s", path, want, body)
				}
				if format == "json" {
					var doc map[string]any
					if err := json.Unmarshal([]byte(body), &doc); err != nil {
						t.Errorf("%s: not JSON: %v", path, err)
					}
					_, hasUntil := doc["until"]
					if (st == "until" || st == "overdue") != hasUntil || (st == "overdue") != (doc["overdue"] == true) || (st == "unplanned") != (doc["unplanned"] == true) {
						t.Errorf("%s: %s", path, body)
					}
				}
				// The CLI prints the same page without a server.
				out, err := exec.Command(binary, "preview", "--config", cfg, "--state", st, "--lang", lang, "--format", format).Output()
				if err != nil || (format != "json" && !strings.Contains(string(out), want)) {
					t.Errorf("maintpage preview --state %s --lang %s --format %s: %v\n%.300s", st, lang, format, err, out)
				}
			}
		}
	}
	if resp, _ := get(t, g, "GET", "/_maintenance/preview?state=until", map[string]string{"X-Maintpage-Bypass": secret}); resp.StatusCode != 200 {
		t.Errorf("preview through the bypass header: got %d, want 200", resp.StatusCode)
	}
	if resp, body := get(t, g, "GET", "/_maintenance/preview?state=until", nil); resp.StatusCode != 401 || strings.Contains(body, "Expected back") {
		t.Errorf("preview for a stranger: got %d %q, want 401 without the page", resp.StatusCode, body)
	}
	if resp, body := get(t, g, "GET", "/_maintenance/preview?state=<b>", map[string]string{"Authorization": "Bearer " + token}); resp.StatusCode != 400 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("preview of an unknown state: got %d %s %q, want 400 as text", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	// With maintenance on, the preview still answers 200 and shows the state's message.
	cli(t, []string{"MAINTPAGE_ADMIN_TOKEN=" + token}, "on", "--admin", "http://"+g.addr, "--message", "Upgrading the database")
	if resp, body := get(t, g, "GET", "/_maintenance/preview?state=planned&format=text", map[string]string{"Authorization": "Bearer " + token}); resp.StatusCode != 200 || !strings.Contains(body, "Upgrading the database") {
		t.Errorf("preview with maintenance on: got %d %q, want 200 with the state's message", resp.StatusCode, body)
	}
}
