package config

import (
	"net/url"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/maintpage/maintpage/internal/state"
)

// AdminToken is one named admin token: the name is what the history records as who made a
// change through the admin API or page.
type AdminToken struct {
	Name   string
	Token  string
	Source string // file:line, for messages
}

// DefaultAdminTokenName is the name the single admin_token goes by.
const DefaultAdminTokenName = "admin"

// Webhook is one receiver of the history's changes.
type Webhook struct {
	URL    *url.URL
	Secret string   // signs each delivery (HMAC-SHA256); required for format json
	Format string   // json or slack
	Events []string // the events it wants; empty means all
	Source string   // file:line, for messages
}

// AllAdminTokens is admin_token (named "admin") followed by admin_tokens: every token that opens
// the admin API and page.
func (c *Config) AllAdminTokens() []AdminToken {
	var out []AdminToken
	if c.AdminToken != "" {
		out = append(out, AdminToken{Name: DefaultAdminTokenName, Token: c.AdminToken})
	}
	return append(out, c.AdminTokens...)
}

var adminTokenKeys = []string{"name", "token"}

func parseAdminTokens(file string, n *yaml.Node, ps *problems) []AdminToken {
	if n.Kind != yaml.SequenceNode {
		ps.add(at(file, n), "admin_tokens", "must be a list of {name, token} (each starting with \"- \")")
		return nil
	}
	var out []AdminToken
	for _, tn := range n.Content {
		t := AdminToken{Source: at(file, tn)}
		if tn.Kind != yaml.MappingNode {
			ps.add(t.Source, "admin_tokens", "each admin token must be a mapping with name and token")
			continue
		}
		eachPair(file, tn, "admin_tokens", adminTokenKeys, ps, func(k string, v *yaml.Node) {
			switch k {
			case "name":
				t.Name = strings.TrimSpace(v.Value)
			case "token":
				t.Token = v.Value
			}
		})
		out = append(out, t)
	}
	return out
}

var webhookKeys = []string{"url", "secret", "format", "events"}

func parseWebhooks(file string, n *yaml.Node, ps *problems) []Webhook {
	if n.Kind != yaml.SequenceNode {
		ps.add(at(file, n), "webhooks", "must be a list of {url, secret, format, events} (each starting with \"- \")")
		return nil
	}
	var out []Webhook
	for _, wn := range n.Content {
		w := Webhook{Source: at(file, wn), Format: "json"}
		if wn.Kind != yaml.MappingNode {
			ps.add(w.Source, "webhooks", "each webhook must be a mapping with url, secret, format and events")
			continue
		}
		eachPair(file, wn, "webhooks", webhookKeys, ps, func(k string, v *yaml.Node) {
			src := at(file, v)
			switch k {
			case "url":
				u, err := url.Parse(strings.TrimSpace(v.Value))
				if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					// The URL itself may be the secret (Slack's are): never repeat it.
					ps.add(src, "url", "invalid webhook URL: write an absolute http or https URL, such as https://hooks.slack.com/services/…")
					return
				}
				w.URL = u
			case "secret":
				w.Secret = v.Value
			case "format":
				if err := setEnum(&w.Format, v.Value, "json", "slack"); err != nil {
					ps.add(src, "format", "invalid value %q: %v", v.Value, err)
				}
			case "events":
				for _, e := range listOf(file, v, k, ps) {
					if !contains(state.Events, e) {
						ps.add(src, "events", "unknown event %q%s", e, suggest(e, state.Events))
						continue
					}
					w.Events = append(w.Events, e)
				}
			}
		})
		out = append(out, w)
	}
	return out
}

// validateOps checks the admin tokens and webhooks.
func validateOps(c *Config, ps *problems) {
	names := map[string]string{}
	tokens := map[string]bool{}
	if c.AdminToken != "" {
		names[DefaultAdminTokenName] = "admin_token"
		tokens[c.AdminToken] = true
	}
	for _, t := range c.AdminTokens {
		switch {
		case t.Name == "":
			ps.add(t.Source, "admin_tokens", "name the token (name: ops-oncall): the history records changes under that name")
		case strings.ContainsAny(t.Name, "\r\n\t") || len(t.Name) > 64:
			ps.add(t.Source, "admin_tokens", "name %q: use up to 64 characters on one line", t.Name)
		case names[t.Name] != "":
			ps.add(t.Source, "admin_tokens", "name %q is taken (by %s): give every token its own name", t.Name, names[t.Name])
		default:
			names[t.Name] = t.Source
		}
		switch {
		case len(t.Token) < 16:
			ps.add(t.Source, "admin_tokens", "the token of %q is too short: use at least 16 random characters (openssl rand -hex 24)", t.Name)
		case tokens[t.Token]:
			ps.add(t.Source, "admin_tokens", "the token of %q is used twice: give every name its own token, or the history cannot tell who acted", t.Name)
		case t.Token == c.BypassSecret:
			ps.add(t.Source, "admin_tokens", "the token of %q must differ from bypass_secret: the bypass secret is handed out in links", t.Name)
		}
		tokens[t.Token] = true
	}
	for _, w := range c.Webhooks {
		if w.URL == nil {
			ps.add(w.Source, "webhooks", "each webhook needs a url")
		}
		if w.Format == "json" && len(w.Secret) < 16 {
			ps.add(w.Source, "webhooks", "a json webhook needs a secret of at least 16 random characters (openssl rand -hex 24), so the receiver can check that a delivery is ours")
		}
		if w.Format == "slack" && w.Secret != "" && len(w.Secret) < 16 {
			ps.add(w.Source, "webhooks", "the secret is too short: use at least 16 random characters, or none (Slack does not check it)")
		}
	}
}
