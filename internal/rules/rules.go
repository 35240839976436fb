package rules

import (
	"net"
	"path"
	"strings"

	"github.com/maintpage/maintpage/internal/config"
)

// Matcher is one compiled rule condition.
type Matcher struct {
	path, prefix, glob string
	methods            []string
	hosts              []string // exact names, lower case
	suffixes           []string // ".example.com" for "*.example.com"
}

// Table is an ordered list of matchers.
type Table struct {
	m []Matcher
}

// New compiles the match part of each rule. Configuration has already validated the patterns.
func New(rs []config.Rule) *Table {
	t := &Table{}
	for _, r := range rs {
		m := Matcher{path: r.Match.Path, prefix: r.Match.PathPrefix, glob: r.Match.PathGlob, methods: r.Match.Methods}
		for _, h := range r.Match.Hosts {
			if s, ok := strings.CutPrefix(h, "*"); ok {
				m.suffixes = append(m.suffixes, s)
			} else {
				m.hosts = append(m.hosts, h)
			}
		}
		t.m = append(t.m, m)
	}
	return t
}

// Len is the number of rules.
func (t *Table) Len() int { return len(t.m) }

// Match returns the index of the first rule that matches, or -1.
func (t *Table) Match(method, urlPath, host string) int {
	for i := range t.m {
		if t.m[i].Match(method, urlPath, host) {
			return i
		}
	}
	return -1
}

// Match reports whether a request with this method, path and Host header matches.
func (m *Matcher) Match(method, urlPath, host string) bool {
	switch {
	case m.path != "" && urlPath != m.path:
		return false
	case m.prefix != "" && !strings.HasPrefix(urlPath, m.prefix):
		return false
	case m.glob != "":
		if ok, _ := path.Match(m.glob, urlPath); !ok {
			return false
		}
	}
	if len(m.methods) > 0 && !containsFold(m.methods, method) {
		return false
	}
	if len(m.hosts)+len(m.suffixes) > 0 && !m.matchHost(hostOnly(host)) {
		return false
	}
	return true
}

func (m *Matcher) matchHost(h string) bool {
	if containsFold(m.hosts, h) {
		return true
	}
	for _, s := range m.suffixes {
		if len(h) > len(s) && strings.EqualFold(h[len(h)-len(s):], s) {
			return true
		}
	}
	return false
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// hostOnly strips a port and a trailing dot from a Host header.
func hostOnly(h string) string {
	if strings.LastIndexByte(h, ':') > strings.LastIndexByte(h, ']') {
		if host, _, err := net.SplitHostPort(h); err == nil {
			h = host
		}
	}
	return strings.TrimSuffix(h, ".")
}
