package rules

import (
	"strings"
	"testing"

	"github.com/maintpage/maintpage/internal/config"
)

func TestMatch(t *testing.T) {
	t.Parallel()
	table := New([]config.Rule{
		{Match: config.Match{Path: "/exact"}},
		{Match: config.Match{PathPrefix: "/api/", Methods: []string{"POST", "PUT"}}},
		{Match: config.Match{PathGlob: "/static/*.css"}},
		{Match: config.Match{Hosts: []string{"*.example.com", "admin.example.org"}}},
		{Match: config.Match{}},
	})
	tests := []struct {
		name, method, path, host string
		want                     int
	}{
		{"exact", "GET", "/exact", "x", 0},
		{"exact is not a prefix", "GET", "/exact/more", "x", 4},
		{"prefix with method", "post", "/api/v1/things", "x", 1},
		{"prefix wrong method", "GET", "/api/v1/things", "x", 4},
		{"glob", "GET", "/static/site.css", "x", 2},
		{"glob stops at slash", "GET", "/static/a/site.css", "x", 4},
		{"wildcard host", "GET", "/", "shop.example.com", 3},
		{"wildcard host with port and case", "GET", "/", "Shop.Example.COM:8443", 3},
		{"wildcard host needs a subdomain", "GET", "/", "example.com", 4},
		{"exact host with trailing dot", "GET", "/", "admin.example.org.", 3},
		{"suffix is not a substring", "GET", "/", "evilexample.com", 4},
		{"ipv6 host", "GET", "/", "[::1]:8080", 4},
		{"catch-all", "DELETE", "/anything", "", 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := table.Match(tt.method, tt.path, tt.host); got != tt.want {
				t.Errorf("Match(%s %s, host %s) = %d, want %d", tt.method, tt.path, tt.host, got, tt.want)
			}
		})
	}
}

func TestNoRules(t *testing.T) {
	t.Parallel()
	if got := New(nil).Match("GET", "/", "x"); got != -1 {
		t.Errorf("Match with no rules = %d, want -1", got)
	}
}

func TestMatchAllocatesNothing(t *testing.T) {
	table := New([]config.Rule{
		{Match: config.Match{PathGlob: "/static/*.css"}},
		{Match: config.Match{PathPrefix: "/api/", Hosts: []string{"*.example.com"}}},
	})
	if n := testing.AllocsPerRun(100, func() { table.Match("GET", "/api/x", "a.example.com:443") }); n != 0 {
		t.Errorf("Match allocated %v times, want 0", n)
	}
}

func FuzzMatch(f *testing.F) {
	f.Add("/a/*", "/a/b", "x.example.com", "GET")
	f.Add("/[a-", "/", "", "")
	f.Fuzz(func(t *testing.T, glob, path, host, method string) {
		// Patterns here are not validated, as config would; matching must still never panic.
		table := New([]config.Rule{
			{Match: config.Match{PathGlob: glob}},
			{Match: config.Match{Path: path, Hosts: []string{strings.ToLower(host)}}},
		})
		got := table.Match(method, path, host)
		if got < -1 || got > 1 {
			t.Fatalf("Match = %d, out of range", got)
		}
		exact := New([]config.Rule{{Match: config.Match{Path: path}}})
		if exact.Match(method, path, host) != 0 {
			t.Fatalf("an exact rule for %q does not match that path", path)
		}
	})
}
