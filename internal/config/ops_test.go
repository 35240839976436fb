package config

import (
	"strings"
	"testing"
)

func TestAdminTokensAndWebhooksLoad(t *testing.T) {
	t.Parallel()
	file := writeFile(t, `admin_token: 0123456789abcdef-single
admin_tokens:
  - name: ops-oncall
    token: 0123456789abcdef-oncall
  - {name: ci, token: 0123456789abcdef-ci-job}
webhooks:
  - url: https://hooks.example.com/maintpage
    secret: 0123456789abcdef-secret
    events: [on, off]
  - url: https://hooks.slack.com/services/T0/B0/X
    format: slack
`)
	c, err := Load(file, envOf(nil), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tok := range c.AllAdminTokens() {
		names = append(names, tok.Name+"="+tok.Token)
	}
	if got, want := strings.Join(names, ","), "admin=0123456789abcdef-single,ops-oncall=0123456789abcdef-oncall,ci=0123456789abcdef-ci-job"; got != want {
		t.Errorf("tokens: got %s, want %s", got, want)
	}
	if len(c.Webhooks) != 2 {
		t.Fatalf("webhooks: got %d, want 2", len(c.Webhooks))
	}
	w := c.Webhooks[0]
	if w.URL.String() != "https://hooks.example.com/maintpage" || w.Format != "json" || w.Secret != "0123456789abcdef-secret" || strings.Join(w.Events, ",") != "on,off" {
		t.Errorf("first webhook: got %+v", w)
	}
	if s := c.Webhooks[1]; s.Format != "slack" || len(s.Events) != 0 || s.Secret != "" {
		t.Errorf("second webhook: got %+v", s)
	}
	if c.WebhookRetryFor.String() != "10m0s" || c.WebhookQueue != 100 || c.AdminSessionTTL.String() != "8h0m0s" {
		t.Errorf("defaults: retry %v, queue %d, session %v", c.WebhookRetryFor, c.WebhookQueue, c.AdminSessionTTL)
	}
}

func TestAdminTokensAndWebhooksErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, yaml string
		want       []string
		never      string // must not appear in any problem (a secret)
	}{
		{"no name", "admin_tokens: [{token: 0123456789abcdef-x}]\n", []string{"name the token"}, ""},
		{"short token", "admin_tokens: [{name: a, token: short-secret}]\n", []string{`the token of "a" is too short`}, "short-secret"},
		{"name twice", "admin_token: 0123456789abcdef-one\nadmin_tokens: [{name: admin, token: 0123456789abcdef-two}]\n", []string{`name "admin" is taken (by admin_token)`}, "0123456789abcdef"},
		{"token twice", "admin_tokens: [{name: a, token: 0123456789abcdef-x}, {name: b, token: 0123456789abcdef-x}]\n", []string{`the token of "b" is used twice`}, "0123456789abcdef"},
		{"unknown key", "admin_tokens: [{name: a, tokn: 0123456789abcdef-x}]\n", []string{`unknown key "tokn"; did you mean "token"?`}, ""},
		{"not a list", "webhooks: {url: x}\n", []string{"webhooks: must be a list"}, ""},
		{"bad url", "webhooks: [{url: 'ftp://secret-path@host', secret: 0123456789abcdef-x}]\n", []string{"invalid webhook URL"}, "secret-path"},
		{"json needs a secret", "webhooks: [{url: 'https://h.example'}]\n", []string{"a json webhook needs a secret"}, ""},
		{"unknown event", "webhooks: [{url: 'https://h.example', secret: 0123456789abcdef-x, events: [of]}]\n", []string{`unknown event "of"; did you mean "on"?`}, ""},
		{"bad format", "webhooks: [{url: 'https://h.example', format: teams}]\n", []string{`format: invalid value "teams"`}, ""},
		{"no url", "webhooks: [{secret: 0123456789abcdef-x}]\n", []string{"each webhook needs a url"}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := problemsOf(t, writeFile(t, tt.yaml), nil, nil)
			all := strings.Join(got, "\n")
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("problems:\n%s\nwant one containing %q", all, w)
				}
			}
			if tt.never != "" && strings.Contains(all, tt.never) {
				t.Errorf("problems repeat a secret %q:\n%s", tt.never, all)
			}
		})
	}
}
