package config

import (
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/maintpage/maintpage/internal/schedule"
)

// Config is everything maintpage serve needs. It is built once by Load and never changed after: a
// reload builds a new one, so a request always sees one whole configuration.
type Config struct {
	File string // the YAML file it was loaded from, if any

	// Server.
	Port               int
	Listen             string // host:port; when empty, ":Port"
	H2C                bool
	FastPath           bool
	ReadHeaderTimeout  time.Duration
	ReadTimeout        time.Duration
	WriteTimeout       time.Duration
	IdleTimeout        time.Duration
	ShutdownTimeout    time.Duration
	MaxHeaderBytes     int
	MaxBodyBytes       int64 // read at most this much of a request body, then close the connection
	LogFormat          string
	LogRequests        string // summary, sample or all
	LogSample          int
	LogSummaryInterval time.Duration
	LogLevel           string
	MetricsListen      string
	MetricsToken       string

	// The maintenance response.
	Message           string
	Title             string
	Until             time.Time // announced end; zero when none
	RetryAfter        time.Duration
	RetryAfterOverdue time.Duration // Retry-After once Until has passed
	DefaultFormat     string        // html, json, problem+json or text
	ReservedPrefix    string
	AssetsDir         string
	CORSOrigins       []string
	Rules             []Rule
	// Windows are the recurring maintenance windows, as written; each was checked with schedule.New.
	Windows []schedule.Spec

	// The page.
	Logo         string // file name under AssetsDir, or a data: URL
	Accent       string // CSS colour
	ContactURL   string
	ContactText  string
	ExtraCSS     string
	TemplatesDir string
	RefreshEvery time.Duration // the no-JavaScript Refresh fallback
	Languages    []Language    // configured texts per language; the first is the default

	// The gate (on when Upstream is set or RouteService is on).
	Upstream              *url.URL // absolute http(s) URL of the application; nil when none
	State                 string   // the state store's URL: memory, file:PATH, redis://host:port/db
	StartupState          string   // on or off: the state served while the store cannot be read at start
	EndAtUntil            bool     // end maintenance at the announced end
	PreserveHost          bool     // send the client's Host upstream (else the upstream's)
	FallbackStatuses      []int    // upstream statuses answered with the unplanned maintenance response
	UpstreamDialTimeout   time.Duration
	UpstreamHeaderTimeout time.Duration // time to wait for the upstream's response headers
	// UpstreamCAFile names PEM certificates the gate trusts for upstream and route-service
	// connections, besides the system's; UpstreamCAPEM is its content, read and checked at load so
	// that a reload with a broken file keeps the old configuration.
	UpstreamCAFile             string
	UpstreamCAPEM              []byte
	UpstreamInsecureSkipVerify bool          // accept any certificate upstream: test foundations only
	AdminToken                 string        // opens <prefix>admin/state; off when empty
	AdminTokens                []AdminToken  // named tokens, beside AdminToken; see AllAdminTokens
	AdminSessionTTL            time.Duration // how long an admin page sign-in lasts
	Webhooks                   []Webhook
	WebhookRetryFor            time.Duration // how long a delivery is retried
	WebhookQueue               int           // deliveries waiting at most; more are dropped and counted
	BypassCIDRs                []netip.Prefix
	TrustedProxies             []netip.Prefix // X-Forwarded-For is believed only from these
	BypassSecret               string         // enables <prefix>bypass?secret=… and X-Maintpage-Bypass
	BypassCookieDomain         string         // "" for a host-only cookie
	BypassTTL                  time.Duration
	BypassPaths                []string // path prefixes that always pass
	RouteService               bool
	RouteServiceHosts          []string // exact host names or *.domain

	// Beside a proxy.
	ForwardAuth bool // serve <prefix>forward-auth, the decision endpoint for a proxy's forward-auth
	ErrorPages  bool // answer every path outside the prefix as an error-page backend (X-Code, X-Format)
}

// Gate reports whether serve runs as a gate in front of an application rather than as the
// standalone maintenance page.
func (c *Config) Gate() bool { return c.Upstream != nil || c.RouteService }

// StateDecides reports whether maintenance follows the state (off until turned on) rather than
// always being on: in gate mode, and beside a proxy that asks (forward_auth) or sends its errors
// (error_pages). Otherwise serve is the standalone page, always in maintenance.
func (c *Config) StateDecides() bool { return c.Gate() || c.ForwardAuth || c.ErrorPages }

// Rule answers the requests it matches with its own status, format, body and headers.
type Rule struct {
	Name   string
	Source string // file:line, for messages
	// Action is what happens to a matching request while maintenance applies to it: "respond"
	// (the rule's response; the default) or "pass" (the gate sends it to the upstream anyway, as
	// reads do in read-only mode).
	Action string
	// Scope names the part of the site the rule belongs to: "maintpage on --scope NAME" turns on
	// maintenance for the requests whose first matching rule has that scope. "" belongs to no
	// scope: such requests are in maintenance only while the whole site is.
	Scope   string
	Match   Match
	Status  int
	Format  string // "" negotiates like the default response
	Body    string // a Go template; html/template for html, text/template otherwise
	Headers map[string]string
}

// Rule actions.
const (
	ActionRespond = "respond"
	ActionPass    = "pass"
)

// Scopes returns the scope names the rules use, sorted, each once.
func (c *Config) Scopes() []string {
	var names []string
	for _, r := range c.Rules {
		if r.Scope != "" && !slices.Contains(names, r.Scope) {
			names = append(names, r.Scope)
		}
	}
	slices.Sort(names)
	return names
}

// Match says which requests a rule applies to; empty parts match everything.
type Match struct {
	Path       string // exact path
	PathPrefix string
	PathGlob   string // path.Match syntax: * stops at /
	Methods    []string
	Hosts      []string // exact, or *.example.com for any subdomain
}

// Language holds the texts for one language; empty fields fall back to the default language's.
type Language struct {
	Tag     string
	Title   string
	Message string
}

// Addr is the address to listen on.
func (c *Config) Addr() string {
	if c.Listen != "" {
		return c.Listen
	}
	return ":" + strconv.Itoa(c.Port)
}

// RestartNeeded lists the settings that differ between a and b but apply only when the process
// starts: the listeners, the server's timeouts and limits, logging, and the state store.
func RestartNeeded(a, b *Config) []string {
	var keys []string
	add := func(changed bool, key string) {
		if changed {
			keys = append(keys, key)
		}
	}
	add(a.Addr() != b.Addr(), "listen/port")
	add(a.MetricsListen != b.MetricsListen, "metrics_listen")
	add(a.H2C != b.H2C, "h2c")
	add(a.FastPath != b.FastPath, "fast_path")
	add(a.ReadHeaderTimeout != b.ReadHeaderTimeout, "read_header_timeout")
	add(a.ReadTimeout != b.ReadTimeout, "read_timeout")
	add(a.WriteTimeout != b.WriteTimeout, "write_timeout")
	add(a.IdleTimeout != b.IdleTimeout, "idle_timeout")
	add(a.ShutdownTimeout != b.ShutdownTimeout, "shutdown_timeout")
	add(a.MaxHeaderBytes != b.MaxHeaderBytes, "max_header_bytes")
	add(a.LogFormat != b.LogFormat, "log_format")
	add(a.LogRequests != b.LogRequests, "log_requests")
	add(a.LogSample != b.LogSample, "log_sample")
	add(a.LogSummaryInterval != b.LogSummaryInterval, "log_summary_interval")
	add(a.LogLevel != b.LogLevel, "log_level")
	add(a.State != b.State, "state")
	add(a.StartupState != b.StartupState, "startup_state")
	return keys
}
