package gate

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// routeService checks the X-CF-Forwarded-Url of route-service requests against the configured
// hosts, so that the gate never fetches a URL a stranger names.
type routeService struct {
	exact    map[string]bool
	suffixes []string // ".apps.example.com" for *.apps.example.com
}

var errNotRouteService = errors.New("bad request: this gate is a Cloud Foundry route service; requests must come through the router with X-CF-Forwarded-Url")

func newRouteService(hosts []string) *routeService {
	rs := &routeService{exact: map[string]bool{}}
	for _, h := range hosts {
		h = strings.ToLower(h)
		if rest, ok := strings.CutPrefix(h, "*"); ok {
			rs.suffixes = append(rs.suffixes, rest)
		} else {
			rs.exact[h] = true
		}
	}
	return rs
}

// target parses a forwarded URL and checks it: http or https, no user, a host on the list.
func (rs *routeService) target(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return nil, errors.New("bad request: X-CF-Forwarded-Url must be an absolute http or https URL")
	}
	if u.User != nil {
		return nil, errors.New("bad request: X-CF-Forwarded-Url must not carry a user or password")
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	if !rs.allowed(host) {
		return nil, fmt.Errorf("bad request: X-CF-Forwarded-Url names host %q, which is not in this route service's route_service_hosts", host)
	}
	return u, nil
}

func (rs *routeService) allowed(host string) bool {
	if host == "" {
		return false
	}
	if rs.exact[host] {
		return true
	}
	for _, s := range rs.suffixes {
		if strings.HasSuffix(host, s) && len(host) > len(s) {
			return true
		}
	}
	return false
}
