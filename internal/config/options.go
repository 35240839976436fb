package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/maintpage/maintpage/internal/negotiate"
)

// Option is one setting, declared once: its YAML key, environment variable, flag, default and parser.
type Option struct {
	Key     string // YAML key
	Env     string
	Flag    string
	Default string
	Help    string
	Secret  bool // never printed
	List    bool // a YAML sequence, or comma-separated in env and flags
	set     func(c *Config, v string) error
}

// Options lists every scalar setting, in the order the README's table shows them. The structured
// settings "rules" and "languages" exist only in the YAML file.
func Options() []Option { return options }

var options = []Option{
	{Key: "port", Env: "PORT", Flag: "port", Default: "8080",
		Help: "TCP port to listen on (Cloud Foundry sets PORT)",
		set:  func(c *Config, v string) error { return setInt(&c.Port, v, 0, 65535) }},
	{Key: "listen", Env: "MAINTPAGE_LISTEN", Flag: "listen",
		Help: "address to listen on, host:port; overrides port",
		set: func(c *Config, v string) error {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return fmt.Errorf("%w: use host:port, such as 127.0.0.1:8080 or :8080", err)
			}
			c.Listen = v
			return nil
		}},
	{Key: "message", Env: "MAINTENANCE_MESSAGE", Flag: "message",
		Help: "the message shown in every format (default: a built-in one in the reader's language)",
		set:  func(c *Config, v string) error { c.Message = v; return nil }},
	{Key: "title", Env: "MAINTPAGE_TITLE", Flag: "title",
		Help: "the page's title and the problem JSON's title (default: a built-in one in the reader's language)",
		set:  func(c *Config, v string) error { c.Title = v; return nil }},
	{Key: "until", Env: "MAINTPAGE_UNTIL", Flag: "until",
		Help: "announced end of the window, RFC 3339 (2026-11-26T18:00:00Z); drives Retry-After and the page",
		set: func(c *Config, v string) error {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				return fmt.Errorf("not an RFC 3339 time: write it like 2026-11-26T18:00:00Z or 2026-11-26T19:00:00+01:00")
			}
			c.Until = t
			return nil
		}},
	{Key: "retry_after", Env: "MAINTPAGE_RETRY_AFTER", Flag: "retry-after", Default: "1h",
		Help: "Retry-After when no end is announced (seconds or a duration like 1h)",
		set:  func(c *Config, v string) error { return setDuration(&c.RetryAfter, v, time.Second) }},
	{Key: "retry_after_overdue", Env: "MAINTPAGE_RETRY_AFTER_OVERDUE", Flag: "retry-after-overdue", Default: "5m",
		Help: "Retry-After once the announced end has passed",
		set:  func(c *Config, v string) error { return setDuration(&c.RetryAfterOverdue, v, time.Second) }},
	{Key: "default_format", Env: "MAINTPAGE_DEFAULT_FORMAT", Flag: "default-format", Default: "text",
		Help: "format for Accept */*, a missing or unreadable Accept, or one that matches nothing: html, problem+json, json or text",
		set: func(c *Config, v string) error {
			if _, ok := negotiate.ParseFormat(v); !ok {
				return fmt.Errorf("unknown format: use html, problem+json, json or text")
			}
			c.DefaultFormat = strings.ToLower(v)
			return nil
		}},
	{Key: "reserved_prefix", Env: "MAINTPAGE_RESERVED_PREFIX", Flag: "reserved-prefix", Default: "/_maintenance/",
		Help: "path prefix for health, status and assets; never answered with the maintenance response",
		set: func(c *Config, v string) error {
			if !strings.HasPrefix(v, "/") || !strings.HasSuffix(v, "/") || len(v) < 3 || strings.ContainsAny(v, "?#*% ") {
				return fmt.Errorf("must start and end with / and name a path, such as /_maintenance/")
			}
			c.ReservedPrefix = v
			return nil
		}},
	{Key: "assets_dir", Env: "MAINTPAGE_ASSETS_DIR", Flag: "assets-dir",
		Help: "directory served under <reserved_prefix>assets/ (logo, stylesheets); no listings",
		set:  func(c *Config, v string) error { c.AssetsDir = v; return nil }},
	{Key: "cors_origins", Env: "MAINTPAGE_CORS_ORIGINS", Flag: "cors-origins", List: true,
		Help: "origins allowed to read the maintenance response from a browser (https://app.example.com, or *)",
		set: func(c *Config, v string) error {
			c.CORSOrigins = nil
			for _, o := range splitList(v) {
				if o != "*" {
					u, err := url.Parse(o)
					if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
						return fmt.Errorf("origin %q: write scheme://host[:port], such as https://app.example.com", o)
					}
					o = u.Scheme + "://" + u.Host
				}
				c.CORSOrigins = append(c.CORSOrigins, o)
			}
			return nil
		}},
	{Key: "logo", Env: "MAINTPAGE_LOGO", Flag: "logo",
		Help: "logo on the page: a file name in assets_dir",
		set:  func(c *Config, v string) error { c.Logo = v; return nil }},
	{Key: "accent", Env: "MAINTPAGE_ACCENT", Flag: "accent", Default: "#2563eb",
		Help: "accent colour of the page, #rgb or #rrggbb",
		set: func(c *Config, v string) error {
			if !isHexColour(v) {
				return fmt.Errorf("not a colour: write #rgb or #rrggbb, such as #2563eb")
			}
			c.Accent = v
			return nil
		}},
	{Key: "contact_url", Env: "MAINTPAGE_CONTACT_URL", Flag: "contact-url",
		Help: "a link for questions (https://status.example.com or mailto:ops@example.com)",
		set: func(c *Config, v string) error {
			u, err := url.Parse(v)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http" && u.Scheme != "mailto") {
				return fmt.Errorf("use an https:, http: or mailto: URL")
			}
			c.ContactURL = v
			return nil
		}},
	{Key: "contact_text", Env: "MAINTPAGE_CONTACT_TEXT", Flag: "contact-text",
		Help: "the contact link's text (default: a built-in phrase in the reader's language)",
		set:  func(c *Config, v string) error { c.ContactText = v; return nil }},
	{Key: "extra_css", Env: "MAINTPAGE_EXTRA_CSS", Flag: "extra-css",
		Help: "CSS added to the default page's stylesheet",
		set: func(c *Config, v string) error {
			if strings.Contains(strings.ToLower(v), "</style") {
				return fmt.Errorf("must not contain </style")
			}
			c.ExtraCSS = v
			return nil
		}},
	{Key: "templates_dir", Env: "MAINTPAGE_TEMPLATES_DIR", Flag: "templates-dir",
		Help: "directory with page.html, page.txt or page.json overriding the built-in templates",
		set:  func(c *Config, v string) error { c.TemplatesDir = v; return nil }},
	{Key: "refresh", Env: "MAINTPAGE_REFRESH", Flag: "refresh", Default: "5m",
		Help: "how often a page without JavaScript reloads itself (Refresh header); 0 turns it off",
		set:  func(c *Config, v string) error { return setDuration(&c.RefreshEvery, v, time.Second) }},
	{Key: "log_format", Env: "MAINTPAGE_LOG_FORMAT", Flag: "log-format", Default: "json",
		Help: "request log: json, text or off",
		set:  func(c *Config, v string) error { return setEnum(&c.LogFormat, v, "json", "text", "off") }},
	{Key: "log_level", Env: "MAINTPAGE_LOG_LEVEL", Flag: "log-level", Default: "info",
		Help: "debug, info, warn or error",
		set:  func(c *Config, v string) error { return setEnum(&c.LogLevel, v, "debug", "info", "warn", "error") }},
	{Key: "metrics_listen", Env: "MAINTPAGE_METRICS_LISTEN", Flag: "metrics-listen",
		Help: "address of a separate listener for /metrics (such as 127.0.0.1:9090); off when empty",
		set: func(c *Config, v string) error {
			if _, _, err := net.SplitHostPort(v); err != nil {
				return fmt.Errorf("%w: use host:port, such as 127.0.0.1:9090", err)
			}
			c.MetricsListen = v
			return nil
		}},
	{Key: "metrics_token", Env: "MAINTPAGE_METRICS_TOKEN", Flag: "metrics-token", Secret: true,
		Help: "bearer token that opens <reserved_prefix>metrics on the main port; closed when empty",
		set: func(c *Config, v string) error {
			if len(v) < 16 {
				return fmt.Errorf("too short: use at least 16 random characters")
			}
			c.MetricsToken = v
			return nil
		}},
	{Key: "h2c", Env: "MAINTPAGE_H2C", Flag: "h2c", Default: "false",
		Help: "also speak HTTP/2 without TLS (behind a proxy that does)",
		set:  func(c *Config, v string) error { return setBool(&c.H2C, v) }},
	{Key: "read_header_timeout", Env: "MAINTPAGE_READ_HEADER_TIMEOUT", Flag: "read-header-timeout", Default: "5s",
		Help: "time allowed to read a request's headers",
		set:  func(c *Config, v string) error { return setDuration(&c.ReadHeaderTimeout, v, time.Millisecond) }},
	{Key: "write_timeout", Env: "MAINTPAGE_WRITE_TIMEOUT", Flag: "write-timeout", Default: "30s",
		Help: "time allowed to write a response",
		set:  func(c *Config, v string) error { return setDuration(&c.WriteTimeout, v, time.Millisecond) }},
	{Key: "idle_timeout", Env: "MAINTPAGE_IDLE_TIMEOUT", Flag: "idle-timeout", Default: "75s",
		Help: "how long an idle keep-alive connection stays open",
		set:  func(c *Config, v string) error { return setDuration(&c.IdleTimeout, v, time.Millisecond) }},
	{Key: "shutdown_timeout", Env: "MAINTPAGE_SHUTDOWN_TIMEOUT", Flag: "shutdown-timeout", Default: "8s",
		Help: "how long in-flight requests may finish after SIGTERM (Cloud Foundry kills at 10s)",
		set:  func(c *Config, v string) error { return setDuration(&c.ShutdownTimeout, v, time.Millisecond) }},
	{Key: "max_header_bytes", Env: "MAINTPAGE_MAX_HEADER_BYTES", Flag: "max-header-bytes", Default: "32768",
		Help: "largest request header accepted; larger gets 431",
		set:  func(c *Config, v string) error { return setInt(&c.MaxHeaderBytes, v, 1024, 1<<20) }},
	{Key: "max_body_bytes", Env: "MAINTPAGE_MAX_BODY_BYTES", Flag: "max-body-bytes", Default: "65536",
		Help: "request body read before answering; past it the connection is closed instead of drained",
		set: func(c *Config, v string) error {
			var n int
			if err := setInt(&n, v, 0, 1<<30); err != nil {
				return err
			}
			c.MaxBodyBytes = int64(n)
			return nil
		}},
}

func optionByKey(key string) (*Option, bool) {
	for i := range options {
		if options[i].Key == key {
			return &options[i], true
		}
	}
	return nil, false
}

func setInt(dst *int, v string, lo, hi int) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("not a whole number")
	}
	if n < lo || n > hi {
		return fmt.Errorf("out of range: use a number from %d to %d", lo, hi)
	}
	*dst = n
	return nil
}

// setDuration reads a Go duration ("90s", "1h30m") or a bare number of seconds.
func setDuration(dst *time.Duration, v string, min time.Duration) error {
	v = strings.TrimSpace(v)
	d, err := time.ParseDuration(v)
	if err != nil {
		n, nerr := strconv.Atoi(v)
		if nerr != nil {
			return fmt.Errorf("not a duration: write seconds (3600) or a duration such as 90s, 5m or 1h")
		}
		d = time.Duration(n) * time.Second
	}
	if d < 0 {
		return fmt.Errorf("must not be negative")
	}
	if d != 0 && d < min {
		return fmt.Errorf("too short: use at least %v", min)
	}
	*dst = d
	return nil
}

func setBool(dst *bool, v string) error {
	b, err := strconv.ParseBool(strings.TrimSpace(v))
	if err != nil {
		return fmt.Errorf("not a boolean: use true or false")
	}
	*dst = b
	return nil
}

func setEnum(dst *string, v string, allowed ...string) error {
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			*dst = a
			return nil
		}
	}
	return fmt.Errorf("unknown value: use %s", strings.Join(allowed, ", "))
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func isHexColour(v string) bool {
	if len(v) != 4 && len(v) != 7 || v[0] != '#' {
		return false
	}
	for _, c := range v[1:] {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

// MarkdownTable is the README's settings table: one row per setting, flag | env | YAML key | default.
func MarkdownTable() string {
	var b strings.Builder
	b.WriteString("| flag | env | YAML key | default | what it does |\n|---|---|---|---|---|\n")
	for _, o := range options {
		def := o.Default
		if def == "" {
			def = "—"
		} else {
			def = "`" + def + "`"
		}
		fmt.Fprintf(&b, "| `--%s` | `%s` | `%s` | %s | %s |\n", o.Flag, o.Env, o.Key, def, strings.ReplaceAll(o.Help, "|", "\\|"))
	}
	return b.String()
}
