package config

import (
	"strings"
	"testing"
)

func TestGateSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		settings map[string]string
		problems []string // substrings, one per expected problem; none: valid
	}{
		{"standalone", nil, nil},
		{"gate", map[string]string{"upstream": "http://127.0.0.1:3000", "bypass_cidrs": "10.0.0.0/8, 203.0.113.7", "trusted_proxies": "fd00::/8"}, nil},
		{"upstream not absolute", map[string]string{"upstream": "127.0.0.1:3000"}, []string{"absolute http or https URL"}},
		{"upstream with a password", map[string]string{"upstream": "http://u:p@app"}, []string{"user or password"}},
		{"upstream with a query", map[string]string{"upstream": "http://app/?x=1"}, []string{"query"}},
		{"bad state", map[string]string{"state": "postgres://x"}, []string{"memory, file:PATH, redis://"}},
		{"bad cidr", map[string]string{"upstream": "http://app", "bypass_cidrs": "10.0.0.0/33"}, []string{"write a network"}},
		{"short admin token", map[string]string{"admin_token": "short"}, []string{"at least 16"}},
		{"bad fallback status", map[string]string{"fallback_statuses": "200"}, []string{"400 to 599"}},
		{"route service without hosts", map[string]string{"route_service": "true"}, []string{"route_service_hosts: required"}},
		{"hosts without route service", map[string]string{"upstream": "http://app", "route_service_hosts": "a.example.com"}, []string{"only used with route_service"}},
		{"bad route service host", map[string]string{"route_service": "true", "route_service_hosts": "*"}, []string{"host name", "required"}},
		{"trusted proxies for the request log", map[string]string{"trusted_proxies": "10.0.0.0/8"}, nil},
		{"trusted proxies for nothing", map[string]string{"trusted_proxies": "10.0.0.0/8", "log_requests": "all"}, []string{"trusted_proxies: only used in gate mode and by the request log's summary"}},
		{"bypass without gate", map[string]string{"bypass_cidrs": "10.0.0.0/8", "bypass_paths": "/healthz"}, []string{"bypass_cidrs: only used in gate mode", "bypass_paths: only used in gate mode"}},
		{"cookie domain without secret", map[string]string{"upstream": "http://app", "bypass_cookie_domain": "example.com"}, []string{"needs bypass_secret"}},
		{"same secret twice", map[string]string{"upstream": "http://app", "bypass_secret": "0123456789abcdef", "admin_token": "0123456789abcdef"}, []string{"must differ from admin_token"}},
		{"zero timeout", map[string]string{"upstream": "http://app", "upstream_header_timeout": "0"}, []string{"more than 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := Load("", nil, tt.settings)
			if len(tt.problems) == 0 {
				if err != nil {
					t.Fatalf("got %v, want a valid configuration", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("got a valid configuration, want problems %q", tt.problems)
			}
			ps := err.(*Error).Problems
			if len(ps) != len(tt.problems) {
				t.Errorf("got %d problems, want %d:\n%v", len(ps), len(tt.problems), err)
			}
			for _, want := range tt.problems {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("got %v, want a problem saying %q", err, want)
				}
			}
			_ = c
		})
	}
}

func TestGateDefaults(t *testing.T) {
	t.Parallel()
	c, err := Load("", nil, map[string]string{"upstream": "http://app:3000"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.Gate() || c.State != "memory" || c.StartupState != "off" || c.EndAtUntil || !c.PreserveHost ||
		len(c.FallbackStatuses) != 3 || c.BypassTTL.Hours() != 12 || c.RouteService {
		t.Errorf("defaults: got %+v", c)
	}
	secret, err := Load("", func(k string) string {
		if k == "MAINTPAGE_ADMIN_TOKEN" {
			return "tiny-secret"
		}
		return ""
	}, nil)
	if err == nil || strings.Contains(err.Error(), "tiny-secret") {
		t.Errorf("a bad secret is echoed or accepted: %v, %v", secret, err)
	}
}

func TestRouteServiceHostsWithPorts(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		value string
		ok    bool
	}{
		{"app.example.com:8443", true},
		{"*.apps.example.com:443", true},
		{"app.example.com:0", false},
		{"app.example.com:http", false},
		{"app.example.com:1:2", false},
	} {
		c := &Config{}
		o, _ := optionByKey("route_service_hosts")
		if err := o.set(c, tt.value); (err == nil) != tt.ok {
			t.Errorf("route_service_hosts %q: error %v, want ok %v", tt.value, err, tt.ok)
		}
	}
}
