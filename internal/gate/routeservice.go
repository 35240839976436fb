package gate

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// routeService checks the X-CF-Forwarded-Url of route-service requests against the configured
// hosts, so that the gate never fetches a URL a stranger names.
//
// A pattern without a port allows the scheme's default port only (80 for http, 443 for https):
// otherwise https://app.example.com:6379/ would reach any service listening on an allowed host.
// A pattern host:port allows that port only, with either scheme.
type routeService struct {
	exact    map[string][]uint16 // host → its patterns' ports (0: the scheme's default)
	suffixes []hostPattern       // ".apps.example.com" for *.apps.example.com
}

type hostPattern struct {
	suffix string
	port   uint16 // 0: the scheme's default port
}

var errNotRouteService = errors.New("bad request: this gate is a Cloud Foundry route service; requests must come through the router with X-CF-Forwarded-Url")

func newRouteService(hosts []string) *routeService {
	rs := &routeService{exact: map[string][]uint16{}}
	for _, h := range hosts {
		h = strings.ToLower(h)
		var port uint16
		if host, p, err := net.SplitHostPort(h); err == nil {
			n, err := strconv.ParseUint(p, 10, 16)
			if err != nil || n == 0 {
				continue // not a port: the pattern allows nothing rather than any port
			}
			h, port = host, uint16(n)
		}
		h = strings.TrimSuffix(strings.Trim(h, "[]"), ".")
		if rest, ok := strings.CutPrefix(h, "*"); ok {
			rs.suffixes = append(rs.suffixes, hostPattern{suffix: rest, port: port})
		} else {
			rs.exact[h] = append(rs.exact[h], port)
		}
	}
	return rs
}

// target parses a forwarded URL and checks it: http or https, no user, a host and port on the list.
func (rs *routeService) target(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Opaque != "" {
		return nil, errors.New("bad request: X-CF-Forwarded-Url must be an absolute http or https URL")
	}
	if u.User != nil {
		return nil, errors.New("bad request: X-CF-Forwarded-Url must not carry a user or password")
	}
	host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
	port, ok := effectivePort(u)
	if !ok {
		return nil, fmt.Errorf("bad request: X-CF-Forwarded-Url has an invalid port %q", u.Port())
	}
	if !rs.allowed(host, port, defaultPort(u.Scheme)) {
		return nil, fmt.Errorf("bad request: X-CF-Forwarded-Url names %q, which is not in this route service's route_service_hosts (a host without a port allows only the scheme's default port)",
			net.JoinHostPort(host, strconv.Itoa(int(port))))
	}
	return u, nil
}

func defaultPort(scheme string) uint16 {
	if scheme == "https" {
		return 443
	}
	return 80
}

// effectivePort is the port the transport will dial for u.
func effectivePort(u *url.URL) (uint16, bool) {
	p := u.Port()
	if p == "" {
		return defaultPort(u.Scheme), true
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 {
		return 0, false
	}
	return uint16(n), true
}

func (rs *routeService) allowed(host string, port, def uint16) bool {
	if host == "" {
		return false
	}
	ok := func(want uint16) bool { return port == want || want == 0 && port == def }
	if ports, found := rs.exact[host]; found {
		for _, p := range ports {
			if ok(p) {
				return true
			}
		}
	}
	for _, s := range rs.suffixes {
		if strings.HasSuffix(host, s.suffix) && len(host) > len(s.suffix) && ok(s.port) {
			return true
		}
	}
	return false
}
