package config

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
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
	// Redact, when set, shows a value in messages without its credentials.
	Redact func(string) string
	List   bool // a YAML sequence, or comma-separated in env and flags
	set    func(c *Config, v string) error
}

// Options lists every scalar setting, in the order the settings table in docs/settings.md shows them. The structured
// settings (structuredKeys in load.go: rules, languages, admin_tokens, webhooks, windows) exist only in the YAML file.
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
		Help: "how often a page without JavaScript reloads itself (a <noscript> meta refresh); 0 turns it off",
		set:  func(c *Config, v string) error { return setDuration(&c.RefreshEvery, v, time.Second) }},
	{Key: "log_format", Env: "MAINTPAGE_LOG_FORMAT", Flag: "log-format", Default: "json",
		Help: "request log: json, text or off",
		set:  func(c *Config, v string) error { return setEnum(&c.LogFormat, v, "json", "text", "off") }},
	{Key: "log_requests", Env: "MAINTPAGE_LOG_REQUESTS", Flag: "log-requests", Default: "summary",
		Help: "which requests get a line: summary (the maintenance answers counted in one line every log_summary_interval), sample (one in log_sample of the 503 maintenance answers) or all; every other request always gets one",
		set:  func(c *Config, v string) error { return setEnum(&c.LogRequests, v, "summary", "sample", "all") }},
	{Key: "log_sample", Env: "MAINTPAGE_LOG_SAMPLE", Flag: "log-sample", Default: "100",
		Help: "log_requests: sample writes one in this many 503 maintenance answers of each path class (the first always)",
		set:  func(c *Config, v string) error { return setInt(&c.LogSample, v, 1, 1000000) }},
	{Key: "log_summary_interval", Env: "MAINTPAGE_LOG_SUMMARY_INTERVAL", Flag: "log-summary-interval", Default: "10s",
		Help: "log_requests: summary writes its line this often (none for an interval without requests)",
		set:  func(c *Config, v string) error { return setPositiveDurationMin(&c.LogSummaryInterval, v, time.Second) }},
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
	{Key: "fast_path", Env: "MAINTPAGE_FAST_PATH", Flag: "fast-path", Default: "true",
		Help: "answer ready maintenance responses to plain HTTP/1.1 requests and h2c streams without net/http's per-request work; anything else is served by net/http",
		set:  func(c *Config, v string) error { return setBool(&c.FastPath, v) }},
	{Key: "read_header_timeout", Env: "MAINTPAGE_READ_HEADER_TIMEOUT", Flag: "read-header-timeout", Default: "5s",
		Help: "time allowed to read a request's headers",
		set:  func(c *Config, v string) error { return setTimeout(&c.ReadHeaderTimeout, v) }},
	{Key: "read_timeout", Env: "MAINTPAGE_READ_TIMEOUT", Flag: "read-timeout", Default: "5m",
		Help: "time allowed to read a whole request, body included (the gate lifts it once the upstream accepts a WebSocket or answers with an event stream)",
		set:  func(c *Config, v string) error { return setTimeout(&c.ReadTimeout, v) }},
	{Key: "write_timeout", Env: "MAINTPAGE_WRITE_TIMEOUT", Flag: "write-timeout", Default: "30s",
		Help: "time allowed to write a response (the gate lifts it once the upstream accepts a WebSocket or answers with an event stream)",
		set:  func(c *Config, v string) error { return setTimeout(&c.WriteTimeout, v) }},
	{Key: "idle_timeout", Env: "MAINTPAGE_IDLE_TIMEOUT", Flag: "idle-timeout", Default: "75s",
		Help: "how long an idle keep-alive connection stays open",
		set:  func(c *Config, v string) error { return setTimeout(&c.IdleTimeout, v) }},
	{Key: "shutdown_timeout", Env: "MAINTPAGE_SHUTDOWN_TIMEOUT", Flag: "shutdown-timeout", Default: "8s",
		Help: "how long in-flight requests may finish after SIGTERM (Cloud Foundry kills at 10s)",
		set:  func(c *Config, v string) error { return setDuration(&c.ShutdownTimeout, v, time.Millisecond) }},
	{Key: "max_header_bytes", Env: "MAINTPAGE_MAX_HEADER_BYTES", Flag: "max-header-bytes", Default: "32768",
		Help: "largest request header accepted; larger gets 431",
		set:  func(c *Config, v string) error { return setInt(&c.MaxHeaderBytes, v, 1024, 1<<20) }},
	{Key: "max_body_bytes", Env: "MAINTPAGE_MAX_BODY_BYTES", Flag: "max-body-bytes", Default: "65536",
		Help: "the largest request body net/http may drain after the answer; a larger one, or one of unknown length, closes the connection instead",
		set: func(c *Config, v string) error {
			var n int
			if err := setInt(&n, v, 0, 1<<30); err != nil {
				return err
			}
			c.MaxBodyBytes = int64(n)
			return nil
		}},

	// The gate.
	{Key: "upstream", Env: "MAINTPAGE_UPSTREAM", Flag: "upstream", Redact: redactURL,
		Help: "the application's URL (http://127.0.0.1:3000); makes serve a gate that passes traffic through while maintenance is off",
		set: func(c *Config, v string) error {
			u, err := url.Parse(strings.TrimSpace(v))
			switch {
			case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "":
				return fmt.Errorf("write an absolute http or https URL, such as http://127.0.0.1:3000 or https://app.internal")
			case u.User != nil:
				return fmt.Errorf("must not contain a user or password: the gate passes the client's own Authorization through")
			case u.RawQuery != "" || u.Fragment != "":
				return fmt.Errorf("must not have a query or fragment: write scheme://host[:port][/path]")
			}
			c.Upstream = u
			return nil
		}},
	{Key: "state", Env: "MAINTPAGE_STATE", Flag: "state", Default: "memory", Redact: redactURL,
		Help: "where the maintenance state lives: memory (this process only), file:PATH, redis://host:port/db or redis+sentinel://host:port[,host:port…]/MASTER[/DB] (shared by every instance)",
		set: func(c *Config, v string) error {
			v = strings.TrimSpace(v)
			scheme, rest, _ := strings.Cut(v, ":")
			switch strings.ToLower(scheme) {
			case "memory":
				if v != scheme {
					return fmt.Errorf(`"memory" takes nothing after it`)
				}
			case "file":
				if rest == "" {
					return fmt.Errorf("name the file: file:/var/lib/maintpage/state.json")
				}
			case "redis", "rediss":
				if !strings.HasPrefix(rest, "//") || len(rest) == 2 {
					return fmt.Errorf("write redis://host:port/db, such as redis://127.0.0.1:6379/0")
				}
			case "redis+sentinel", "rediss+sentinel":
				if !strings.HasPrefix(rest, "//") || len(rest) == 2 {
					return fmt.Errorf("write redis+sentinel://host:port[,host:port…]/MASTER[/DB], such as redis+sentinel://10.0.0.1:26379,10.0.0.2:26379/mymaster")
				}
			default:
				return fmt.Errorf("use memory, file:PATH, redis://host:port/db or redis+sentinel://host:port[,host:port…]/MASTER[/DB]")
			}
			c.State = v
			return nil
		}},
	{Key: "startup_state", Env: "MAINTPAGE_STARTUP_STATE", Flag: "startup-state", Default: "off",
		Help: "maintenance on or off while the state store cannot be read at start (off keeps the app reachable, on is safe when in doubt)",
		set:  func(c *Config, v string) error { return setEnum(&c.StartupState, v, "off", "on") }},
	{Key: "end_at_until", Env: "MAINTPAGE_END_AT_UNTIL", Flag: "end-at-until", Default: "false",
		Help: "end maintenance by itself at the announced end (windows overrun: off by default)",
		set:  func(c *Config, v string) error { return setBool(&c.EndAtUntil, v) }},
	{Key: "preserve_host", Env: "MAINTPAGE_PRESERVE_HOST", Flag: "preserve-host", Default: "true",
		Help: "send the client's Host header to the upstream; false sends the upstream URL's host",
		set:  func(c *Config, v string) error { return setBool(&c.PreserveHost, v) }},
	{Key: "fallback_statuses", Env: "MAINTPAGE_FALLBACK_STATUSES", Flag: "fallback-statuses", Default: "502,503,504", List: true,
		Help: "upstream statuses answered with the unplanned maintenance page instead; none turns it off",
		set: func(c *Config, v string) error {
			c.FallbackStatuses = nil
			if strings.EqualFold(strings.TrimSpace(v), "none") {
				return nil
			}
			for _, s := range splitList(v) {
				n, err := strconv.Atoi(s)
				if err != nil || n < 400 || n > 599 {
					return fmt.Errorf("%q: use HTTP statuses from 400 to 599, such as 502,503,504, or none", s)
				}
				c.FallbackStatuses = append(c.FallbackStatuses, n)
			}
			return nil
		}},
	{Key: "upstream_dial_timeout", Env: "MAINTPAGE_UPSTREAM_DIAL_TIMEOUT", Flag: "upstream-dial-timeout", Default: "5s",
		Help: "time allowed to connect to the upstream before the unplanned page answers",
		set:  func(c *Config, v string) error { return setPositiveDuration(&c.UpstreamDialTimeout, v) }},
	{Key: "upstream_header_timeout", Env: "MAINTPAGE_UPSTREAM_HEADER_TIMEOUT", Flag: "upstream-header-timeout", Default: "60s",
		Help: "time allowed for the upstream's response headers before the unplanned page answers",
		set:  func(c *Config, v string) error { return setPositiveDuration(&c.UpstreamHeaderTimeout, v) }},
	{Key: "upstream_ca_file", Env: "MAINTPAGE_UPSTREAM_CA_FILE", Flag: "upstream-ca-file",
		Help: "PEM file of CA certificates trusted, besides the system's, for https upstreams and the Cloud Foundry router in route-service mode",
		set: func(c *Config, v string) error {
			v = strings.TrimSpace(v)
			if v == "" {
				c.UpstreamCAFile, c.UpstreamCAPEM = "", nil
				return nil
			}
			data, err := os.ReadFile(v)
			if err != nil {
				return fmt.Errorf("cannot read it (%w): name a readable PEM file of CA certificates", err)
			}
			if err := checkCAPEM(data); err != nil {
				return err
			}
			c.UpstreamCAFile, c.UpstreamCAPEM = v, data
			return nil
		}},
	{Key: "upstream_insecure_skip_verify", Env: "MAINTPAGE_UPSTREAM_INSECURE_SKIP_VERIFY", Flag: "upstream-insecure-skip-verify", Default: "false",
		Help: "accept any TLS certificate from the upstream and the router (test foundations only; logged loudly at start and on every reload)",
		set:  func(c *Config, v string) error { return setBool(&c.UpstreamInsecureSkipVerify, v) }},
	{Key: "admin_token", Env: "MAINTPAGE_ADMIN_TOKEN", Flag: "admin-token", Secret: true,
		Help: "bearer token that opens the admin API at <reserved_prefix>admin/state and the admin page (as the token named admin); closed when empty, unless admin_tokens are set",
		set: func(c *Config, v string) error {
			if len(v) < 16 {
				return fmt.Errorf("too short: use at least 16 random characters (openssl rand -hex 24)")
			}
			c.AdminToken = v
			return nil
		}},
	{Key: "admin_session_ttl", Env: "MAINTPAGE_ADMIN_SESSION_TTL", Flag: "admin-session-ttl", Default: "8h",
		Help: "how long a sign-in to the admin page <reserved_prefix>admin/ lasts",
		set:  func(c *Config, v string) error { return setPositiveDuration(&c.AdminSessionTTL, v) }},
	{Key: "webhook_retry_for", Env: "MAINTPAGE_WEBHOOK_RETRY_FOR", Flag: "webhook-retry-for", Default: "10m",
		Help: "how long a webhook delivery is retried (exponential backoff with jitter) before it is given up and counted as failed",
		set:  func(c *Config, v string) error { return setPositiveDuration(&c.WebhookRetryFor, v) }},
	{Key: "webhook_queue", Env: "MAINTPAGE_WEBHOOK_QUEUE", Flag: "webhook-queue", Default: "100",
		Help: "webhook deliveries that may wait; when full, new ones are dropped, logged and counted instead of slowing anything",
		set:  func(c *Config, v string) error { return setInt(&c.WebhookQueue, v, 1, 100000) }},
	{Key: "bypass_cidrs", Env: "MAINTPAGE_BYPASS_CIDRS", Flag: "bypass-cidrs", List: true,
		Help: "client networks that pass through while maintenance is on (10.0.0.0/8, 203.0.113.7)",
		set:  func(c *Config, v string) error { return setPrefixes(&c.BypassCIDRs, v) }},
	{Key: "trusted_proxies", Env: "MAINTPAGE_TRUSTED_PROXIES", Flag: "trusted-proxies", List: true,
		Help: "networks of the proxies in front (router, load balancer); X-Forwarded-For is believed only from them, for the bypass and the request log summary's client networks",
		set:  func(c *Config, v string) error { return setPrefixes(&c.TrustedProxies, v) }},
	{Key: "bypass_secret", Env: "MAINTPAGE_BYPASS_SECRET", Flag: "bypass-secret", Secret: true,
		Help: "enables the secret link <reserved_prefix>bypass?secret=… (sets a signed cookie) and the X-Maintpage-Bypass header",
		set: func(c *Config, v string) error {
			if len(v) < 16 {
				return fmt.Errorf("too short: use at least 16 random characters (openssl rand -hex 24)")
			}
			c.BypassSecret = v
			return nil
		}},
	{Key: "bypass_cookie_domain", Env: "MAINTPAGE_BYPASS_COOKIE_DOMAIN", Flag: "bypass-cookie-domain",
		Help: "domain of the bypass cookie, so that it works on subdomains (example.com); host-only when empty",
		set: func(c *Config, v string) error {
			d := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(v), "."))
			if d == "" || strings.ContainsAny(d, "/:@*?#; ,=") || strings.HasSuffix(d, ".") {
				return fmt.Errorf("write a domain name, such as example.com")
			}
			c.BypassCookieDomain = d
			return nil
		}},
	{Key: "bypass_ttl", Env: "MAINTPAGE_BYPASS_TTL", Flag: "bypass-ttl", Default: "12h",
		Help: "how long a bypass cookie is valid",
		set:  func(c *Config, v string) error { return setPositiveDuration(&c.BypassTTL, v) }},
	{Key: "bypass_paths", Env: "MAINTPAGE_BYPASS_PATHS", Flag: "bypass-paths", List: true,
		Help: "path prefixes that always pass through, matched at segment boundaries (/healthz passes /healthz and /healthz/…, not /healthzx)",
		set: func(c *Config, v string) error {
			c.BypassPaths = nil
			for _, p := range splitList(v) {
				if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "?#") {
					return fmt.Errorf("%q: a path prefix starts with / and has no query, such as /healthz", p)
				}
				c.BypassPaths = append(c.BypassPaths, p)
			}
			return nil
		}},
	{Key: "route_service", Env: "MAINTPAGE_ROUTE_SERVICE", Flag: "route-service", Default: "false",
		Help: "act as a Cloud Foundry route service: pass requests to their X-CF-Forwarded-Url",
		set:  func(c *Config, v string) error { return setBool(&c.RouteService, v) }},
	{Key: "route_service_hosts", Env: "MAINTPAGE_ROUTE_SERVICE_HOSTS", Flag: "route-service-hosts", List: true,
		Help: "hosts a route-service request may be forwarded to: exact (app.example.com) or *.example.com, on the scheme's default port; host:port allows that port only",
		set: func(c *Config, v string) error {
			c.RouteServiceHosts = nil
			for _, h := range splitList(v) {
				h = strings.ToLower(h)
				rest := strings.TrimPrefix(h, "*.")
				if host, port, found := strings.Cut(rest, ":"); found {
					n, err := strconv.Atoi(port)
					if err != nil || n < 1 || n > 65535 {
						return fmt.Errorf("%q: the port must be a number from 1 to 65535, as in app.example.com:8443", h)
					}
					rest = host
				}
				if rest == "" || strings.ContainsAny(rest, "*/:@?# ") || strings.HasPrefix(rest, ".") {
					return fmt.Errorf("%q: use a host name like app.example.com or *.apps.example.com, optionally with :port", h)
				}
				c.RouteServiceHosts = append(c.RouteServiceHosts, h)
			}
			return nil
		}},

	// Beside a proxy.
	{Key: "forward_auth", Env: "MAINTPAGE_FORWARD_AUTH", Flag: "forward-auth", Default: "false",
		Help: "serve <reserved_prefix>forward-auth, the decision endpoint for Traefik ForwardAuth, Caddy forward_auth, nginx auth_request and Envoy ext_authz; maintenance then follows the state without an upstream",
		set:  func(c *Config, v string) error { return setBool(&c.ForwardAuth, v) }},
	{Key: "error_pages", Env: "MAINTPAGE_ERROR_PAGES", Flag: "error-pages", Default: "false",
		Help: "be an error-page backend (ingress-nginx default backend): every path outside the reserved prefix answers the page for the status in X-Code, in the format of X-Format, never a 2xx",
		set:  func(c *Config, v string) error { return setBool(&c.ErrorPages, v) }},
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

// setPositiveDuration is setDuration for timeouts, where 0 would mean "wait forever".
func setPositiveDuration(dst *time.Duration, v string) error {
	var d time.Duration
	if err := setDuration(&d, v, time.Millisecond); err != nil {
		return err
	}
	if d == 0 {
		return fmt.Errorf("must be more than 0")
	}
	*dst = d
	return nil
}

// setPrefixes reads a list of CIDRs; a bare address is a network of one.
func setPrefixes(dst *[]netip.Prefix, v string) error {
	var out []netip.Prefix
	for _, s := range splitList(v) {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return fmt.Errorf("%q: write a network such as 10.0.0.0/8 or fd00::/8, or an address such as 203.0.113.7", s)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	*dst = out
	return nil
}

// setPositiveDurationMin is setDuration for an interval that must be at least min.
func setPositiveDurationMin(dst *time.Duration, v string, min time.Duration) error {
	var d time.Duration
	if err := setDuration(&d, v, min); err != nil {
		return err
	}
	if d == 0 {
		return fmt.Errorf("must not be 0: use at least %v", min)
	}
	*dst = d
	return nil
}

// setTimeout reads a server timeout: a duration that must not be zero, since zero would mean none.
func setTimeout(dst *time.Duration, v string) error {
	var d time.Duration
	if err := setDuration(&d, v, time.Millisecond); err != nil {
		return err
	}
	if d == 0 {
		return fmt.Errorf("must not be 0, which would mean no timeout at all: use a duration such as 30s")
	}
	*dst = d
	return nil
}

// redactURL hides the password of a URL, and everything before an @ in what does not parse.
func redactURL(v string) string {
	if u, err := url.Parse(v); err == nil && u.User != nil {
		return u.Redacted()
	}
	if at := strings.LastIndex(v, "@"); at >= 0 {
		return "(redacted)" + v[at:]
	}
	return v
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

// MarkdownTable is the settings table of docs/settings.md: one row per setting, flag | env | YAML key | default.
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

// checkCAPEM reads every certificate of a CA file. x509.CertPool.AppendCertsFromPEM skips a block
// it cannot parse, so a bundle with one broken certificate would load and the CA it was meant to add
// would be missing at run time, where the only symptom is "certificate signed by unknown authority".
func checkCAPEM(data []byte) error {
	rest, n := data, 0
	for {
		block, next := pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type == "CERTIFICATE" {
			n++
			if _, err := x509.ParseCertificate(block.Bytes); err != nil {
				line := 1 + bytes.Count(data[:len(data)-len(rest)], []byte("\n")) + bytes.Count(rest[:bytes.Index(rest, []byte("-----BEGIN"))], []byte("\n"))
				return fmt.Errorf("certificate %d (line %d) cannot be read (%w): copy it again from its source", n, line, err)
			}
		}
		rest = next
	}
	if n == 0 {
		return errors.New("holds no PEM certificate: write the CA certificates as -----BEGIN CERTIFICATE----- blocks")
	}
	return nil
}
