package cli

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func run(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = Main(context.Background(), args, func(k string) string { return env[k] }, &out, &errb)
	return code, out.String(), errb.String()
}

func TestHelpIsPinned(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"serve", "-h"}, {"check", "--help"}} {
		name := strings.Join(args, "_")
		t.Run(name, func(t *testing.T) {
			code, out, _ := run(t, nil, args...)
			if code != 0 {
				t.Fatalf("exit %d", code)
			}
			golden := filepath.Join("testdata", "help"+strings.ReplaceAll(name, "-", "")+".golden")
			if *update {
				os.MkdirAll("testdata", 0o755)
				os.WriteFile(golden, []byte(out), 0o644)
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/cli -run TestHelpIsPinned -update)", err)
			}
			if out != string(want) {
				t.Errorf("help changed; if on purpose, run with -update. got:\n%s", out)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("message: hi\nrules:\n  - match: {path: /}\n    status: 200\n"), 0o600)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("port: x\nrules:\n  - format: text\n    body: \"{{.Nope\"\n  - statuss: 200\n"), 0o600)
	badTemplate := filepath.Join(dir, "tmpl.yaml")
	os.WriteFile(badTemplate, []byte("rules:\n  - format: text\n    body: \"{{.Nope}}\"\n"), 0o600)

	code, out, _ := run(t, nil, "check", "--config", good)
	if code != 0 || !strings.Contains(out, "configuration OK") || !strings.Contains(out, "1 rule") {
		t.Errorf("good config: exit %d, %q", code, out)
	}
	code, _, errOut := run(t, nil, "check", "--config", bad)
	if code != 2 {
		t.Errorf("bad config: exit %d, want 2", code)
	}
	for _, want := range []string{bad + ":1: port", bad + ":5: rules: unknown key \"statuss\"; did you mean \"status\"?"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("bad config output lacks %q:\n%s", want, errOut)
		}
	}
	code, _, errOut = run(t, nil, "check", "--config", badTemplate)
	if code != 2 || !strings.Contains(errOut, badTemplate+":2: rule \"rule 1\"") || !strings.Contains(errOut, "can't evaluate field Nope") {
		t.Errorf("bad template: exit %d:\n%s", code, errOut)
	}
	code, _, errOut = run(t, map[string]string{"MAINTPAGE_CONFIG": bad}, "check")
	if code != 2 || !strings.Contains(errOut, bad) {
		t.Errorf("MAINTPAGE_CONFIG: exit %d:\n%s", code, errOut)
	}
	code, _, errOut = run(t, nil, "check", "--retry-after", "soon")
	if code != 2 || !strings.Contains(errOut, `flag --retry-after: invalid value "soon"`) {
		t.Errorf("bad flag: exit %d:\n%s", code, errOut)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"nonsense"}, {"serve", "--no-such-flag"}, {"serve", "extra"}} {
		if code, _, _ := run(t, nil, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

func TestVersion(t *testing.T) {
	t.Parallel()
	code, out, _ := run(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "maintpage ") {
		t.Errorf("version: %d %q", code, out)
	}
}
