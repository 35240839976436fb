package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "maintpage.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load("", envOf(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"port", c.Port, 8080},
		{"addr", c.Addr(), ":8080"},
		{"retry_after", c.RetryAfter, time.Hour},
		{"default_format", c.DefaultFormat, "text"},
		{"reserved_prefix", c.ReservedPrefix, "/_maintenance/"},
		{"shutdown_timeout", c.ShutdownTimeout, 8 * time.Second},
		{"log_format", c.LogFormat, "json"},
		{"h2c", c.H2C, false},
		{"max_body_bytes", c.MaxBodyBytes, int64(65536)},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "port: 7000\nmessage: from file\ntitle: file title\nretry_after: 120\n")
	env := envOf(map[string]string{"PORT": "7100", "MAINTENANCE_MESSAGE": "from env"})
	c, err := Load(file, env, map[string]string{"port": "7200"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 7200 {
		t.Errorf("port = %d, want 7200 from the flag (flags beat env beat file)", c.Port)
	}
	if c.Message != "from env" {
		t.Errorf("message = %q, want %q from the env (env beats file)", c.Message, "from env")
	}
	if c.Title != "file title" {
		t.Errorf("title = %q, want %q from the file", c.Title, "file title")
	}
	if c.RetryAfter != 2*time.Minute {
		t.Errorf("retry_after = %v, want 2m (bare seconds)", c.RetryAfter)
	}
}

func TestEveryOptionHasEnvFlagAndValidDefault(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, o := range Options() {
		for _, name := range []string{"key:" + o.Key, "env:" + o.Env, "flag:" + o.Flag} {
			if seen[name] {
				t.Errorf("%s declared twice", name)
			}
			seen[name] = true
		}
		if o.Env == "" || o.Flag == "" || o.Help == "" {
			t.Errorf("%s lacks an env var, flag or help", o.Key)
		}
		if o.Default != "" {
			if err := o.set(&Config{}, o.Default); err != nil {
				t.Errorf("default %q of %s is invalid: %v", o.Default, o.Key, err)
			}
		}
	}
}

// problemsOf loads and returns the problems as strings; it fails the test if loading succeeded.
func problemsOf(t *testing.T, file string, env map[string]string, flags map[string]string) []string {
	t.Helper()
	_, err := Load(file, envOf(env), flags)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("Load error = %v, want *config.Error", err)
	}
	var out []string
	for _, p := range ce.Problems {
		out = append(out, p.String())
	}
	return out
}

func TestErrorsNameSourceAndFix(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		yaml  string
		env   map[string]string
		flags map[string]string
		want  []string // each must appear in one problem
	}{
		{name: "unknown key with suggestion", yaml: "mesage: hi\n",
			want: []string{`maintpage.yaml:1: mesage: unknown setting; did you mean "message"?`}},
		{name: "bad port in env", env: map[string]string{"PORT": "eighty"},
			want: []string{`env PORT: invalid value "eighty": not a whole number`}},
		{name: "port out of range in flag", flags: map[string]string{"port": "70000"},
			want: []string{`flag --port: invalid value "70000": out of range: use a number from 0 to 65535`}},
		{name: "bad until", yaml: "until: tomorrow\n",
			want: []string{`maintpage.yaml:1: until: invalid value "tomorrow": not an RFC 3339 time`}},
		{name: "bad duration", yaml: "retry_after: soon\n",
			want: []string{`retry_after: invalid value "soon": not a duration`}},
		{name: "bad format", yaml: "default_format: xml\n",
			want: []string{"unknown format: use html, problem+json, json or text"}},
		{name: "not yaml", yaml: "a: [\n", want: []string{"not valid YAML"}},
		{name: "CA file missing", flags: map[string]string{"upstream": "https://app.internal", "upstream_ca_file": "/nonexistent/ca.pem"},
			want: []string{"flag --upstream-ca-file: invalid value", "cannot read it"}},
		{name: "CA file without a certificate", flags: map[string]string{"upstream": "https://app.internal", "upstream_ca_file": "config.go"},
			want: []string{"holds no PEM certificate"}},
		// A bundle whose second certificate was cut short (a bad copy and paste): the CA it was meant
		// to add would be missing at run time, with only "unknown authority" to go on.
		{name: "CA file with a broken certificate", flags: map[string]string{"upstream": "https://app.internal", "upstream_ca_file": "testdata/ca-second-broken.pem"},
			want: []string{"certificate 2 (line 12) cannot be read"}},
		{name: "CA file and insecure together", flags: map[string]string{"upstream": "https://app.internal", "upstream_insecure_skip_verify": "true", "upstream_ca_file": "testdata/ca.pem"},
			want: []string{"upstream_insecure_skip_verify: turns off the check that upstream_ca_file is for"}},
		{name: "not a mapping", yaml: "- a\n- b\n", want: []string{"must be a mapping of settings"}},
		{name: "every problem at once", yaml: "port: x\nuntil: y\nfoo: 1\n",
			want: []string{"maintpage.yaml:1: port", "maintpage.yaml:2: until", "maintpage.yaml:3: foo"}},
		{name: "secret not echoed", env: map[string]string{"MAINTPAGE_METRICS_TOKEN": "short"},
			want: []string{`env MAINTPAGE_METRICS_TOKEN: invalid value "(secret)": too short`}},
		{name: "rule problems", yaml: `rules:
  - match: {path: nope, colour: red}
    status: 42
    format: xml
    headers: {Connection: close, "X-A": "a\nb"}
    other: 1
`, want: []string{
			`maintpage.yaml:2: path: invalid value "nope": a path starts with /`,
			`maintpage.yaml:2: match: unknown key "colour"`,
			`maintpage.yaml:3: status: invalid value "42": use an HTTP status from 200 to 599 that has a body`,
			`maintpage.yaml:4: format: invalid value "xml"`,
			`maintpage.yaml:5: headers: Connection is set by maintpage`,
			`maintpage.yaml:5: headers: the value of X-A must not contain CR, LF or NUL`,
			`maintpage.yaml:6: rules: unknown key "other"`,
		}},
		{name: "two path kinds", yaml: "rules:\n  - match: {path: /a, path_prefix: /b}\n",
			want: []string{"give only one of path, path_prefix and path_glob"}},
		{name: "bad glob", yaml: "rules:\n  - match: {path_glob: \"/[\"}\n", want: []string{"invalid pattern"}},
		{name: "bad language", yaml: "languages:\n  \"not a tag!\": {message: x}\n", want: []string{"BCP 47"}},
		{name: "missing assets dir", yaml: "assets_dir: /nonexistent/dir\n", want: []string{`assets_dir: "/nonexistent/dir" is not a directory`}},
		{name: "logo without assets", yaml: "logo: logo.png\n", want: []string{"logo: needs assets_dir"}},
		{name: "shutdown too long", yaml: "shutdown_timeout: 12s\n", want: []string{"not shorter than Cloud Foundry's 10s"}},
		{name: "extra css escape", yaml: "extra_css: \"</style><script>\"\n", want: []string{"must not contain </style"}},
		{name: "duplicate key", yaml: "port: 1\nport: 2\n", want: []string{"set twice"}},
		{name: "zero timeout", env: map[string]string{"MAINTPAGE_WRITE_TIMEOUT": "0"},
			want: []string{`env MAINTPAGE_WRITE_TIMEOUT: invalid value "0": must not be 0`}},
		{name: "password redacted", env: map[string]string{"MAINTPAGE_STATE": "redis:/:hunter2@h:6379"},
			want: []string{`env MAINTPAGE_STATE: invalid value "(redacted)@h:6379"`}},
		{name: "password redacted in upstream", env: map[string]string{"MAINTPAGE_UPSTREAM": "https://u:hunter2@app.example"},
			want: []string{`env MAINTPAGE_UPSTREAM: invalid value "https://u:xxxxx@app.example"`}},
		{name: "content type from a rule", yaml: "rules:\n  - headers: {Content-Type: text/html}\n",
			want: []string{"Content-Type is set by maintpage"}},
		{name: "retry-after from a rule", yaml: "rules:\n  - headers: {retry-after: \"60\", Date: x}\n",
			want: []string{"retry-after is set by maintpage", "Date is set by maintpage"}},
		{name: "status without a body", yaml: "rules:\n  - status: 304\n", want: []string{`invalid value "304"`}},
		{name: "pass without an upstream", yaml: "rules:\n  - name: reads\n    match: {methods: [GET]}\n    action: pass\n",
			want: []string{`maintpage.yaml:2: rules: rule "reads" has action: pass, but there is no application to pass to: set upstream`}},
		{name: "unknown action", yaml: "upstream: http://127.0.0.1:1\nrules:\n  - action: skip\n",
			want: []string{`maintpage.yaml:3: action: invalid value "skip": use respond`}},
		{name: "pass with a response", yaml: "upstream: http://127.0.0.1:1\nrules:\n  - action: pass\n    status: 200\n    format: json\n",
			want: []string{`rule "rule 1" passes requests to the upstream, so status, format would never be used`}},
		{name: "bad window", yaml: "windows:\n  - name: sunday\n    cron: \"0 2 * *\"\n    duration: 2 hours\n    time_zone: Europe/Berln\n",
			want: []string{`maintpage.yaml:2: windows: sunday: cron "0 2 * *": expected exactly 5 fields`, `duration "2 hours"`, `time_zone "Europe/Berln": use an IANA zone name`}},
		{name: "window for a scope no rule has", yaml: "windows:\n  - {cron: \"0 2 * * 0\", duration: 2h, scope: api}\n",
			want: []string{`windows: window 1 has scope "api", which no rule has`}},
		{name: "window with an unknown key", yaml: "windows:\n  - {cron: \"0 2 * * 0\", duration: 2h, timezone: UTC}\n",
			want: []string{`unknown key "timezone"; did you mean "time_zone"?`}},
		{name: "bad scope", yaml: "rules:\n  - scope: API Only\n", want: []string{`maintpage.yaml:2: scope: invalid value "API Only": use lower-case letters`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			file := ""
			if tt.yaml != "" {
				file = writeFile(t, tt.yaml)
			}
			got := problemsOf(t, file, tt.env, tt.flags)
			joined := strings.Join(got, "\n")
			if file != "" {
				joined = strings.ReplaceAll(joined, file, "maintpage.yaml")
			}
			if strings.Contains(joined, "hunter2") {
				t.Errorf("a password reached the message:\n%s", joined)
			}
			for _, w := range tt.want {
				if !strings.Contains(joined, w) {
					t.Errorf("problems do not contain %q; got:\n%s", w, joined)
				}
			}
		})
	}
}

func TestRulesAndLanguagesLoad(t *testing.T) {
	t.Parallel()
	file := writeFile(t, `upstream: http://127.0.0.1:1
rules:
  - name: api
    match: {path_prefix: /api/, methods: [get, POST], hosts: ["*.example.com", API.example.org]}
    format: json
    headers: {StatusHeader: maintenance}
  - match: {path: /}
    status: 200
    format: negotiated
  - name: reads
    scope: api
    action: pass
    match: {methods: [GET]}
windows:
  - name: sunday night
    cron: "0 2 * * 0"
    duration: 2h
    time_zone: Europe/Berlin
    scope: api
    message: Weekly API maintenance
languages:
  de: {title: Wartung, message: Bald zurück}
  en: {message: Back soon}
`)
	c, err := Load(file, envOf(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Rules) != 3 {
		t.Fatalf("got %d rules, want 3", len(c.Rules))
	}
	if r := c.Rules[2]; r.Action != ActionPass || r.Scope != "api" || c.Rules[0].Action != ActionRespond {
		t.Errorf("actions and scopes: got %q/%q and %q, want pass/api and respond", r.Action, r.Scope, c.Rules[0].Action)
	}
	if len(c.Windows) != 1 || c.Windows[0].Cron != "0 2 * * 0" || c.Windows[0].TimeZone != "Europe/Berlin" || c.Windows[0].Scope != "api" || c.Windows[0].Duration != "2h" {
		t.Errorf("windows = %+v", c.Windows)
	}
	if got := strings.Join(c.Scopes(), ","); got != "api" {
		t.Errorf("Scopes() = %s, want api", got)
	}
	r := c.Rules[0]
	if r.Name != "api" || r.Status != 503 || r.Format != "json" || r.Match.PathPrefix != "/api/" {
		t.Errorf("rule 0 = %+v", r)
	}
	if got := strings.Join(r.Match.Methods, ","); got != "GET,POST" {
		t.Errorf("methods = %s, want GET,POST", got)
	}
	if got := strings.Join(r.Match.Hosts, ","); got != "*.example.com,api.example.org" {
		t.Errorf("hosts = %s", got)
	}
	if r.Headers["StatusHeader"] != "maintenance" {
		t.Errorf("headers = %v, want the name kept as written", r.Headers)
	}
	if c.Rules[1].Name != "rule 2" || c.Rules[1].Format != "" || c.Rules[1].Status != 200 {
		t.Errorf("rule 1 = %+v", c.Rules[1])
	}
	if len(c.Languages) != 2 || c.Languages[0].Tag != "de" || c.Languages[0].Title != "Wartung" || c.Languages[1].Message != "Back soon" {
		t.Errorf("languages = %+v", c.Languages)
	}
}

func TestEmptyFileIsEmptyConfig(t *testing.T) {
	t.Parallel()
	if _, err := Load(writeFile(t, ""), envOf(nil), nil); err != nil {
		t.Errorf("empty file: %v", err)
	}
	if _, err := Load(writeFile(t, "# only a comment\n"), envOf(nil), nil); err != nil {
		t.Errorf("comment-only file: %v", err)
	}
}

func TestExamplesLoad(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("../../examples/*.yaml")
	if len(files) == 0 {
		t.Fatal("no examples found")
	}
	for _, f := range files {
		if _, err := Load(f, envOf(nil), nil); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func FuzzLoad(f *testing.F) {
	f.Add("port: 8080\nmessage: hi\n")
	f.Add("rules:\n  - match: {path: /}\n    status: 200\n    format: html\n    body: x\n")
	f.Add("languages:\n  de: {message: x}\n")
	f.Add("cors_origins: [https://a.example, '*']\n")
	f.Fuzz(func(t *testing.T, body string) {
		p := filepath.Join(t.TempDir(), "f.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(p, envOf(nil), nil)
		if err == nil && c == nil {
			t.Fatal("Load returned neither a config nor an error")
		}
		var ce *Error
		if err != nil && !errors.As(err, &ce) {
			t.Fatalf("Load error %T is not *config.Error: %v", err, err)
		}
		if ce != nil && len(ce.Problems) == 0 {
			t.Fatal("a config error with no problems")
		}
	})
}

func TestRestartNeeded(t *testing.T) {
	t.Parallel()
	a, err := Load("", envOf(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Load("", envOf(map[string]string{"PORT": "9000", "MAINTPAGE_WRITE_TIMEOUT": "10s", "MAINTENANCE_MESSAGE": "new"}), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(RestartNeeded(a, b), ","); got != "listen/port,write_timeout" {
		t.Errorf("RestartNeeded = %q, want listen/port,write_timeout (the message applies at once)", got)
	}
	if got := RestartNeeded(a, a); len(got) != 0 {
		t.Errorf("RestartNeeded of the same configuration = %v, want none", got)
	}
}
