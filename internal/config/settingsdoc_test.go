package config

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var updateREADME = flag.Bool("update-readme", false, "rewrite the settings table in docs/settings.md")

const (
	tableStart = "<!-- settings:start -->\n"
	tableEnd   = "<!-- settings:end -->"
)

// TestSettingsTable keeps the table of settings the same as the settings declared
// here; run with -update-readme after adding or changing one.
func TestSettingsTable(t *testing.T) {
	const path = "../../docs/settings.md"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme := string(data)
	i := strings.Index(readme, tableStart)
	j := strings.Index(readme, tableEnd)
	if i < 0 || j < i {
		t.Fatalf("docs/settings.md lacks the %q … %q markers", strings.TrimSpace(tableStart), tableEnd)
	}
	want := MarkdownTable()
	got := readme[i+len(tableStart) : j]
	if got == want {
		return
	}
	if *updateREADME {
		if err := os.WriteFile(path, []byte(readme[:i+len(tableStart)]+want+readme[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("docs/settings.md's settings table is out of date: run go test ./internal/config -run TestSettingsTable -update-readme")
}
