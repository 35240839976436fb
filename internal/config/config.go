package config

import (
	"strconv"
	"time"
)

// Config is everything maintpage serve needs. It is built once by Load and never changed after: a
// reload builds a new one, so a request always sees one whole configuration.
type Config struct {
	File string // the YAML file it was loaded from, if any

	// Server.
	Port              int
	Listen            string // host:port; when empty, ":Port"
	H2C               bool
	ReadHeaderTimeout time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	ShutdownTimeout   time.Duration
	MaxHeaderBytes    int
	MaxBodyBytes      int64 // read at most this much of a request body, then close the connection
	LogFormat         string
	LogLevel          string
	MetricsListen     string
	MetricsToken      string

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

	// The page.
	Logo         string // file name under AssetsDir, or a data: URL
	Accent       string // CSS colour
	ContactURL   string
	ContactText  string
	ExtraCSS     string
	TemplatesDir string
	RefreshEvery time.Duration // the no-JavaScript Refresh fallback
	Languages    []Language    // configured texts per language; the first is the default
}

// Rule answers the requests it matches with its own status, format, body and headers.
type Rule struct {
	Name    string
	Source  string // file:line, for messages
	Match   Match
	Status  int
	Format  string // "" negotiates like the default response
	Body    string // a Go template; html/template for html, text/template otherwise
	Headers map[string]string
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
