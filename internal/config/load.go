package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"gopkg.in/yaml.v3"

	"github.com/maintpage/maintpage/internal/negotiate"
	"github.com/maintpage/maintpage/internal/schedule"
	"github.com/maintpage/maintpage/internal/state"
)

// Load builds a Config from the defaults, then the YAML file (if file is not empty), then the
// environment, then flags (YAML key → value, only those the user set). It returns *Error listing
// every problem found, each with its source.
func Load(file string, getenv func(string) string, flags map[string]string) (*Config, error) {
	c := &Config{File: file}
	var ps problems
	for _, o := range options {
		if o.Default != "" {
			if err := o.set(c, o.Default); err != nil {
				panic(fmt.Sprintf("config: default of %s: %v", o.Key, err)) // a bug, caught by tests
			}
		}
	}
	if file != "" {
		data, err := os.ReadFile(file)
		if err != nil {
			ps.add("", "", "cannot read the configuration file: %v", err)
		} else {
			parseYAML(c, file, data, &ps)
		}
	}
	if getenv != nil {
		for _, o := range options {
			if v := getenv(o.Env); v != "" {
				if err := o.set(c, v); err != nil {
					ps.add("env "+o.Env, "", "invalid value %q: %v", display(&o, v), err)
				}
			}
		}
	}
	keys := make([]string, 0, len(flags))
	for k := range flags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		o, ok := optionByKey(k)
		if !ok {
			ps.add("", k, "not a setting") // a bug in the CLI's wiring
			continue
		}
		if err := o.set(c, flags[k]); err != nil {
			ps.add("flag --"+o.Flag, "", "invalid value %q: %v", display(o, flags[k]), err)
		}
	}
	validate(c, &ps)
	if err := ps.err(); err != nil {
		return nil, err
	}
	return c, nil
}

func display(o *Option, v string) string {
	if o.Secret {
		return "(secret)"
	}
	if o.Redact != nil {
		return o.Redact(v)
	}
	return v
}

func parseYAML(c *Config, file string, data []byte, ps *problems) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return // an empty file is an empty configuration
		}
		ps.add(file, "", "not valid YAML: %v", err)
		return
	}
	if len(doc.Content) == 0 {
		return
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		ps.add(at(file, root), "", "the file must be a mapping of settings (key: value)")
		return
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		src := at(file, k)
		if seen[k.Value] {
			ps.add(src, k.Value, "set twice; keep one")
			continue
		}
		seen[k.Value] = true
		if parse := structuredKey(k.Value); parse != nil {
			parse(c, file, v, ps)
			continue
		}
		o, ok := optionByKey(k.Value)
		if !ok {
			ps.add(src, k.Value, "unknown setting%s", suggest(k.Value, topKeys()))
			continue
		}
		val, ok := scalarValue(v, o.List)
		if !ok {
			ps.add(at(file, v), o.Key, "must be a single value%s", map[bool]string{true: " or a list of values", false: ""}[o.List])
			continue
		}
		if err := o.set(c, val); err != nil {
			ps.add(at(file, v), o.Key, "invalid value %q: %v", display(o, val), err)
		}
	}
}

func at(file string, n *yaml.Node) string { return file + ":" + strconv.Itoa(n.Line) }

func scalarValue(n *yaml.Node, list bool) (string, bool) {
	switch {
	case n.Kind == yaml.ScalarNode:
		return n.Value, true
	case n.Kind == yaml.SequenceNode && list:
		vals := make([]string, 0, len(n.Content))
		for _, e := range n.Content {
			if e.Kind != yaml.ScalarNode {
				return "", false
			}
			vals = append(vals, e.Value)
		}
		return strings.Join(vals, ","), true
	}
	return "", false
}

// structuredKeys are the top-level settings whose values are lists or mappings, each with its parser.
var structuredKeys = []struct {
	key   string
	parse func(c *Config, file string, v *yaml.Node, ps *problems)
}{
	{"rules", func(c *Config, file string, v *yaml.Node, ps *problems) { c.Rules = parseRules(file, v, ps) }},
	{"languages", func(c *Config, file string, v *yaml.Node, ps *problems) { c.Languages = parseLanguages(file, v, ps) }},
	{"admin_tokens", func(c *Config, file string, v *yaml.Node, ps *problems) {
		c.AdminTokens = parseAdminTokens(file, v, ps)
	}},
	{"webhooks", func(c *Config, file string, v *yaml.Node, ps *problems) { c.Webhooks = parseWebhooks(file, v, ps) }},
	{"windows", func(c *Config, file string, v *yaml.Node, ps *problems) { c.Windows = parseWindows(file, v, ps) }},
}

func structuredKey(key string) func(c *Config, file string, v *yaml.Node, ps *problems) {
	for _, s := range structuredKeys {
		if s.key == key {
			return s.parse
		}
	}
	return nil
}

func topKeys() []string {
	var keys []string
	for _, s := range structuredKeys {
		keys = append(keys, s.key)
	}
	for _, o := range options {
		keys = append(keys, o.Key)
	}
	return keys
}

var ruleKeys = []string{"name", "action", "scope", "match", "status", "format", "body", "headers"}

// scopeName is what a scope may be called: it goes into URLs, metrics labels and flags unquoted.
var scopeName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
var matchKeys = []string{"path", "path_prefix", "path_glob", "methods", "hosts"}

func parseRules(file string, n *yaml.Node, ps *problems) []Rule {
	if n.Kind != yaml.SequenceNode {
		ps.add(at(file, n), "rules", "must be a list of rules (each starting with \"- \")")
		return nil
	}
	var rules []Rule
	for i, rn := range n.Content {
		r := Rule{Source: at(file, rn), Name: "rule " + strconv.Itoa(i+1), Action: ActionRespond}
		var responseKeys []string
		if rn.Kind != yaml.MappingNode {
			ps.add(r.Source, "rules", "each rule must be a mapping with match, status, format, body, headers")
			continue
		}
		eachPair(file, rn, "rules", ruleKeys, ps, func(k string, v *yaml.Node) {
			src := at(file, v)
			if k == "status" || k == "format" || k == "body" || k == "headers" {
				responseKeys = append(responseKeys, k)
			}
			switch k {
			case "name":
				r.Name = v.Value
			case "action":
				if v.Value != ActionRespond && v.Value != ActionPass {
					ps.add(src, "action", "invalid value %q: use respond (answer with the rule's response, the default) or pass (send the request to the upstream even during maintenance)", v.Value)
				}
				r.Action = v.Value
			case "scope":
				r.Scope = parseScope(src, v.Value, ps)
			case "status":
				s, err := strconv.Atoi(v.Value)
				if err != nil || s < 200 || s > 599 || s == 204 || s == 205 || s == 304 {
					ps.add(src, "status", "invalid value %q: use an HTTP status from 200 to 599 that has a body (not 204, 205 or 304), such as 503", v.Value)
				}
				r.Status = s
			case "format":
				if v.Value == "negotiated" || v.Value == "" {
					break
				}
				if _, ok := negotiate.ParseFormat(v.Value); !ok {
					ps.add(src, "format", "invalid value %q: use html, json, problem+json, text or negotiated", v.Value)
				}
				r.Format = strings.ToLower(v.Value)
			case "body":
				r.Body = v.Value
			case "headers":
				r.Headers = parseHeaders(file, v, ps)
			case "match":
				r.Match = parseMatch(file, v, ps)
			}
		})
		if r.Action == ActionPass && len(responseKeys) > 0 {
			ps.add(r.Source, "rules", "rule %q passes requests to the upstream, so %s would never be used: remove %s, or use action: respond", r.Name, strings.Join(responseKeys, ", "), map[bool]string{true: "it", false: "them"}[len(responseKeys) == 1])
		}
		if r.Status == 0 {
			r.Status = http.StatusServiceUnavailable
		}
		rules = append(rules, r)
	}
	return rules
}

func parseScope(src, v string, ps *problems) string {
	if !scopeName.MatchString(v) {
		ps.add(src, "scope", "invalid value %q: use lower-case letters, digits, - and _ (up to 63), such as api", v)
	}
	return v
}

var windowKeys = []string{"name", "cron", "duration", "time_zone", "scope", "message", "reason"}

func parseWindows(file string, n *yaml.Node, ps *problems) []schedule.Spec {
	if n.Kind != yaml.SequenceNode {
		ps.add(at(file, n), "windows", "must be a list of windows (each starting with \"- \"), such as - {cron: \"0 2 * * 0\", duration: 2h, time_zone: Europe/Berlin}")
		return nil
	}
	var ws []schedule.Spec
	for i, wn := range n.Content {
		src := at(file, wn)
		if wn.Kind != yaml.MappingNode {
			ps.add(src, "windows", "each window must be a mapping with %s", strings.Join(windowKeys, ", "))
			continue
		}
		var w schedule.Spec
		eachPair(file, wn, "windows", windowKeys, ps, func(k string, v *yaml.Node) {
			switch k {
			case "name":
				w.Name = v.Value
			case "cron":
				w.Cron = v.Value
			case "duration":
				w.Duration = v.Value
			case "time_zone":
				w.TimeZone = v.Value
			case "scope":
				w.Scope = parseScope(at(file, v), v.Value, ps)
			case "message":
				w.Message = v.Value
			case "reason":
				w.Reason = v.Value
			}
		})
		if _, err := schedule.New(w, time.Now()); err != nil {
			ps.add(src, "windows", "%s: %v", windowName(w, i), err)
		}
		ws = append(ws, w)
	}
	return ws
}

// windowName is what messages call the i-th window: its name, or "window N" without one.
func windowName(w schedule.Spec, i int) string {
	if w.Name != "" {
		return w.Name
	}
	return "window " + strconv.Itoa(i+1)
}

func parseMatch(file string, n *yaml.Node, ps *problems) Match {
	var m Match
	if n.Kind != yaml.MappingNode {
		ps.add(at(file, n), "match", "must be a mapping of %s", strings.Join(matchKeys, ", "))
		return m
	}
	paths := 0
	eachPair(file, n, "match", matchKeys, ps, func(k string, v *yaml.Node) {
		src := at(file, v)
		switch k {
		case "path", "path_prefix", "path_glob":
			paths++
			if !strings.HasPrefix(v.Value, "/") {
				ps.add(src, k, "invalid value %q: a path starts with /", v.Value)
			}
			switch k {
			case "path":
				m.Path = v.Value
			case "path_prefix":
				m.PathPrefix = v.Value
			case "path_glob":
				if _, err := path.Match(v.Value, "/"); err != nil {
					ps.add(src, k, "invalid pattern %q: %v (use * for one path segment, ? and [a-z])", v.Value, err)
				}
				m.PathGlob = v.Value
			}
		case "methods":
			for _, s := range listOf(file, v, k, ps) {
				if !httpguts.ValidHeaderFieldName(s) {
					ps.add(src, k, "invalid method %q: use names like GET or POST", s)
				}
				m.Methods = append(m.Methods, strings.ToUpper(s))
			}
		case "hosts":
			for _, s := range listOf(file, v, k, ps) {
				h := strings.TrimPrefix(s, "*.")
				if h == "" || strings.ContainsAny(h, "*/:@ ") {
					ps.add(src, k, "invalid host %q: use a name like app.example.com or *.example.com", s)
				}
				m.Hosts = append(m.Hosts, strings.ToLower(s))
			}
		}
	})
	if paths > 1 {
		ps.add(at(file, n), "match", "give only one of path, path_prefix and path_glob")
	}
	return m
}

// forbiddenHeaders are the headers a rule may not set, each with the reason and what to do instead.
var forbiddenHeaders = func() map[string]string {
	m := map[string]string{}
	// Hop-by-hop headers belong to one connection (RFC 9110 §7.6.1); the server frames the body.
	for _, h := range []string{"Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade", "Content-Length"} {
		m[h] = "is a hop-by-hop or framing header, which the server sets"
	}
	// Letting a rule change these could turn a text body that shows the request into HTML a browser runs.
	for _, h := range []string{"Content-Type", "X-Content-Type-Options", "Content-Security-Policy"} {
		m[h] = "follows the rule's format; choose the body's type with format"
	}
	m["Date"] = "is the server's"
	m["Retry-After"] = "comes from retry_after, retry_after_overdue and until; set those instead"
	return m
}()

func parseHeaders(file string, n *yaml.Node, ps *problems) map[string]string {
	if n.Kind != yaml.MappingNode {
		ps.add(at(file, n), "headers", "must be a mapping of header name to value")
		return nil
	}
	h := map[string]string{}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		// The name is sent as written (the original app's StatusHeader, say); checks use the canonical form.
		name := http.CanonicalHeaderKey(k.Value)
		switch {
		case seen[name]:
			ps.add(at(file, k), "headers", "%s is set twice (header names ignore case); keep one", k.Value)
		case !httpguts.ValidHeaderFieldName(k.Value):
			ps.add(at(file, k), "headers", "invalid header name %q", k.Value)
		case forbiddenHeaders[name] != "":
			ps.add(at(file, k), "headers", "%s is set by maintpage and cannot be set by a rule: it %s", k.Value, forbiddenHeaders[name])
		case v.Kind != yaml.ScalarNode:
			ps.add(at(file, v), "headers", "the value of %s must be a string", name)
		case strings.ContainsAny(v.Value, "\r\n\x00"):
			ps.add(at(file, v), "headers", "the value of %s must not contain CR, LF or NUL", name)
		default:
			seen[name] = true
			h[k.Value] = v.Value
		}
	}
	return h
}

func parseLanguages(file string, n *yaml.Node, ps *problems) []Language {
	if n.Kind != yaml.MappingNode {
		ps.add(at(file, n), "languages", "must be a mapping from a language tag to {title, message}, such as de: {message: ...}")
		return nil
	}
	var langs []Language
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		l := Language{Tag: k.Value}
		if _, err := negotiate.NewLanguages([]string{k.Value}); err != nil {
			ps.add(at(file, k), "languages", "%v", err)
		}
		if v.Kind != yaml.MappingNode {
			ps.add(at(file, v), "languages", "%s must be a mapping with title and message", k.Value)
			continue
		}
		eachPair(file, v, "languages."+k.Value, []string{"title", "message"}, ps, func(key string, val *yaml.Node) {
			if key == "title" {
				l.Title = val.Value
			} else {
				l.Message = val.Value
			}
		})
		langs = append(langs, l)
	}
	return langs
}

// eachPair walks a mapping, reporting unknown keys and non-scalar values where scalars are expected.
func eachPair(file string, n *yaml.Node, where string, known []string, ps *problems, fn func(k string, v *yaml.Node)) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if !contains(known, k.Value) {
			ps.add(at(file, k), where, "unknown key %q%s", k.Value, suggest(k.Value, known))
			continue
		}
		if seen[k.Value] {
			ps.add(at(file, k), where, "%s set twice; keep one", k.Value)
			continue
		}
		seen[k.Value] = true
		structured := k.Value == "match" || k.Value == "headers" || k.Value == "methods" || k.Value == "hosts" || k.Value == "events"
		if !structured && v.Kind != yaml.ScalarNode {
			ps.add(at(file, v), where, "%s must be a single value", k.Value)
			continue
		}
		fn(k.Value, v)
	}
}

func listOf(file string, n *yaml.Node, key string, ps *problems) []string {
	val, ok := scalarValue(n, true)
	if !ok {
		ps.add(at(file, n), key, "must be a list of strings")
		return nil
	}
	return splitList(val)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// suggest names the known key closest to a misspelt one.
func suggest(got string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := distance(got, k); d < bestD {
			best, bestD = k, d
		}
	}
	if best == "" {
		return "; known ones are " + strings.Join(known, ", ")
	}
	return fmt.Sprintf("; did you mean %q?", best)
}

// distance is the Levenshtein distance between a and b.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// validate checks what no single setting can: combinations, and files that must exist.
func validate(c *Config, ps *problems) {
	for _, d := range []struct{ key, dir string }{{"assets_dir", c.AssetsDir}, {"templates_dir", c.TemplatesDir}} {
		if d.dir == "" {
			continue
		}
		if fi, err := os.Stat(d.dir); err != nil || !fi.IsDir() {
			ps.add("", d.key, "%q is not a directory: create it or correct the path", d.dir)
		}
	}
	if c.Logo != "" {
		if c.AssetsDir == "" {
			ps.add("", "logo", "needs assets_dir: put the logo file in a directory and set assets_dir to it")
		} else if strings.ContainsAny(c.Logo, `/\`) || c.Logo == ".." {
			ps.add("", "logo", "%q must be a file name inside assets_dir, without a path", c.Logo)
		} else if _, err := os.Stat(c.AssetsDir + "/" + c.Logo); err != nil {
			ps.add("", "logo", "%q is not in assets_dir %q: copy it there or correct the name", c.Logo, c.AssetsDir)
		}
	}
	if c.MetricsListen != "" && c.MetricsListen == c.Addr() && !strings.HasSuffix(c.Addr(), ":0") {
		ps.add("", "metrics_listen", "must differ from the main address %s", c.Addr())
	}
	validateGate(c, ps)
	validateOps(c, ps)
	if c.ShutdownTimeout >= 10e9 {
		ps.add("", "shutdown_timeout", "%v is not shorter than Cloud Foundry's 10s stop timeout: use 8s or less", c.ShutdownTimeout)
	}
}

// validateGate checks the gate's settings against each other: a setting that only the gate reads is
// an error without the gate, so that nobody believes a bypass or route-service list is in force.
func validateGate(c *Config, ps *problems) {
	if c.RouteService && len(c.RouteServiceHosts) == 0 {
		ps.add("", "route_service_hosts", "required with route_service: list the hosts of the routes bound to this service, such as *.apps.example.com, so that the gate never forwards to a host a stranger names")
	}
	if !c.RouteService && len(c.RouteServiceHosts) > 0 {
		ps.add("", "route_service_hosts", "only used with route_service: true; set it or remove this list")
	}
	if c.ErrorPages && c.Gate() {
		ps.add("", "error_pages", "answers every path itself, so it cannot be combined with upstream or route_service: run the error-page backend as an instance of its own")
	}
	if c.ForwardAuth && len(c.TrustedProxies) == 0 {
		ps.add("", "trusted_proxies", "required with forward_auth: list the networks of the proxies that ask (such as 10.0.0.0/8), since the forwarded method, host and URI are believed only from them")
	}
	if !c.Gate() {
		// The bypass serves the gate and the forward-auth endpoint; the upstream's TLS only the gate.
		for _, s := range []struct {
			key         string
			set, byAuth bool
		}{
			{"bypass_cidrs", len(c.BypassCIDRs) > 0, true},
			{"bypass_secret", c.BypassSecret != "", true},
			{"bypass_cookie_domain", c.BypassCookieDomain != "", true},
			{"bypass_paths", len(c.BypassPaths) > 0, true},
			{"upstream_ca_file", c.UpstreamCAFile != "", false},
			{"upstream_insecure_skip_verify", c.UpstreamInsecureSkipVerify, false},
		} {
			switch {
			case !s.set || (s.byAuth && c.ForwardAuth):
			case s.byAuth:
				ps.add("", s.key, "only used in gate mode or with forward_auth: set upstream (or route_service: true, or forward_auth: true), or remove it")
			default:
				ps.add("", s.key, "only used in gate mode: set upstream (or route_service: true), or remove it")
			}
		}
	}
	if c.UpstreamInsecureSkipVerify && c.UpstreamCAFile != "" {
		ps.add("", "upstream_insecure_skip_verify", "turns off the check that upstream_ca_file is for: keep upstream_ca_file and set this to false")
	}
	// The request log's summary reads X-Forwarded-For from trusted proxies too.
	if !c.Gate() && !c.ForwardAuth && len(c.TrustedProxies) > 0 && (c.LogFormat == "off" || c.LogRequests != "summary") {
		ps.add("", "trusted_proxies", "only used in gate mode and by the request log's summary (log_requests: summary), or with forward_auth: set upstream or forward_auth, or remove it")
	}
	if c.BypassCookieDomain != "" && c.BypassSecret == "" {
		ps.add("", "bypass_cookie_domain", "the bypass cookie needs bypass_secret: set one (at least 16 random characters) or remove the domain")
	}
	for i, w := range c.Windows {
		if err := state.CheckScope(w.Scope, c.Scopes()); err != nil {
			ps.add("", "windows", "%s has scope %q, which no rule has, so it would change nothing: %v", windowName(w, i), w.Scope, err)
		}
	}
	if !c.Gate() && !c.ForwardAuth {
		for _, r := range c.Rules {
			if r.Action == ActionPass {
				ps.add(r.Source, "rules", "rule %q has action: pass, but there is no application to pass to: set upstream (or route_service: true) to run as a gate, or forward_auth: true to let the proxy pass it, or use action: respond", r.Name)
			}
		}
	}
	if c.AdminToken != "" && c.AdminToken == c.BypassSecret {
		ps.add("", "bypass_secret", "must differ from admin_token: the bypass secret is handed out in links, the admin token must not be")
	}
}
