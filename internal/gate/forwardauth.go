package gate

import (
	"errors"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/net/http/httpguts"

	"github.com/maintpage/maintpage/internal/clientaddr"
	"github.com/maintpage/maintpage/internal/config"
	"github.com/maintpage/maintpage/internal/metrics"
)

// The headers in which proxies describe the request they ask about. Traefik's ForwardAuth
// (pkg/middlewares/auth/forward.go) and Caddy's forward_auth (modules/caddyhttp/reverseproxy/
// forwardauth/caddyfile.go, with reverse_proxy's own X-Forwarded-For, -Proto and -Host) send all
// five; nginx's auth_request (src/http/modules/ngx_http_auth_request_module.c) sends what its
// configuration sets (examples/nginx/nginx.conf sets the same five). ingress-nginx's auth-url
// (rootfs/etc/nginx/template/nginx.tmpl) sends X-Original-URL and X-Original-Method instead, which
// are not read here: it needs an auth-snippet that sets these. Envoy's ext_authz HTTP service sends none of them: it keeps the original method and
// Host and appends the original path to path_prefix (api/envoy/extensions/filters/http/ext_authz/
// v3/ext_authz.proto), which is why <prefix>forward-auth/<original path> is read as that path.
const (
	hdrForwardedMethod = "X-Forwarded-Method"
	hdrForwardedURI    = "X-Forwarded-Uri"
	hdrForwardedHost   = "X-Forwarded-Host"
	hdrForwardedProto  = "X-Forwarded-Proto"
)

// forwardAuth answers <prefix>forward-auth: a proxy describes a request, and gets 200 with no body
// when it passes, or the maintenance response for it (or a bare 401 or 403 on request, for nginx's
// auth_request, which understands nothing else).
type forwardAuth struct {
	trusted []netip.Prefix
	count   map[string]prometheus.Counter // "decision/reason" → counter; empty without metrics
}

var forwardAuthOutcomes = []struct{ decision, reason string }{
	{"pass", passOff}, {"pass", "rule"}, {"pass", "cidr"}, {"pass", "cookie"}, {"pass", "header"},
	{"pass", "path"}, {"pass", "reserved"}, {"deny", "maintenance"}, {"refused", "untrusted"}, {"refused", "bad_request"},
}

func newForwardAuth(cfg *config.Config, m *metrics.Metrics) *forwardAuth {
	fa := &forwardAuth{trusted: cfg.TrustedProxies, count: map[string]prometheus.Counter{}}
	if m != nil {
		for _, o := range forwardAuthOutcomes {
			fa.count[o.decision+"/"+o.reason] = m.ForwardAuth.WithLabelValues(o.decision, o.reason)
		}
	}
	return fa
}

func (fa *forwardAuth) inc(decision, reason string) {
	if c := fa.count[decision+"/"+reason]; c != nil {
		c.Inc()
	}
}

var (
	errUntrusted = errors.New("forward-auth: the asking peer is not in trusted_proxies, so its X-Forwarded-* headers cannot be believed: add the proxy's network to trusted_proxies")
	errNoURI     = errors.New("forward-auth: no X-Forwarded-Uri: configure the proxy to send the original request's URI (see docs/proxies.md), or append it to the endpoint's path as Envoy's path_prefix does")
	errBadURI    = errors.New("forward-auth: X-Forwarded-Uri is not an origin-form URI such as /path?query")
	errBadMethod = errors.New("forward-auth: X-Forwarded-Method is not an HTTP method")
)

// original rebuilds the request the proxy asks about. Its headers (Accept, Accept-Language,
// Cookie, X-Forwarded-For, the bypass header) are the asking request's, which every proxy copies
// from the original; its method, URI and host come from the forwarded headers, or for Envoy from
// the path. deny is the status a deny should have instead of the maintenance response: 0, 401 or 403.
func (g *Gate) original(r *http.Request) (orig *http.Request, deny int, err error) {
	peer, perr := netip.ParseAddrPort(r.RemoteAddr)
	if perr != nil || !clientaddr.In(g.fa.trusted, peer.Addr().Unmap().WithZone("")) {
		return nil, 0, errUntrusted
	}
	o := *r
	o.Body, o.ContentLength, o.GetBody = http.NoBody, 0, nil
	o.TransferEncoding = nil
	h := r.Header
	var u *url.URL
	if suffix, ok := strings.CutPrefix(r.URL.EscapedPath(), g.forwardAuthDir); ok {
		// Envoy: the path after the endpoint, with the query, is the original request's; the
		// method and Host are the original's already. X-Forwarded-Method and -Uri are not read
		// here, since a client could have sent them and Envoy passes what allowed_headers lets by.
		if u, err = url.ParseRequestURI("/" + suffix); err != nil {
			return nil, 0, errBadURI
		}
		u.RawQuery = r.URL.RawQuery
	} else {
		raw := h.Get(hdrForwardedURI)
		if raw == "" {
			return nil, 0, errNoURI
		}
		if u, err = url.ParseRequestURI(raw); err != nil || u.Path == "" || u.Path[0] != '/' || u.Host != "" || u.Scheme != "" {
			return nil, 0, errBadURI
		}
		if m := h.Get(hdrForwardedMethod); m != "" {
			if !httpguts.ValidHeaderFieldName(m) {
				return nil, 0, errBadMethod
			}
			o.Method = m
		}
		switch r.URL.Query().Get("deny") {
		case "401":
			deny = http.StatusUnauthorized
		case "403":
			deny = http.StatusForbidden
		}
	}
	if host := firstValue(h.Get(hdrForwardedHost)); host != "" {
		o.Host = host
	}
	if proto := strings.ToLower(firstValue(h.Get(hdrForwardedProto))); proto == "http" || proto == "https" {
		u.Scheme = proto
	}
	o.URL = u
	o.RequestURI = u.RequestURI()
	return &o, deny, nil
}

// firstValue is the first of a comma-separated header value, trimmed.
func firstValue(v string) string {
	v, _, _ = strings.Cut(v, ",")
	return strings.TrimSpace(v)
}

// serveForwardAuth decides for the request the proxy describes, through the gate's own Decide.
// Canonical paths under the reserved prefix always pass, so that the secret link, the assets and the
// health check work through a proxy that asks about every path.
func (g *Gate) serveForwardAuth(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h["Cache-Control"] = noStoreValue
	orig, deny, err := g.original(r)
	if err != nil {
		reason, status := "bad_request", http.StatusBadRequest
		if errors.Is(err, errUntrusted) {
			reason, status = "untrusted", http.StatusForbidden
		}
		g.log.Warn("forward-auth request refused", "error", err, "peer", r.RemoteAddr)
		g.fa.inc("refused", reason)
		h.Set("Content-Type", "text/plain; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(status)
		w.Write([]byte(err.Error() + "\n")) //nolint:errcheck
		return
	}
	// Only a canonical path: the proxy passes the original request on as written, and an
	// application may read /_maintenance/../admin or /_maintenance/%2e%2e/admin as /admin.
	if strings.HasPrefix(orig.URL.Path, g.prefix) && canonicalPath(orig.URL.Path, orig.URL.RawPath) {
		g.fa.inc("pass", "reserved")
		w.WriteHeader(http.StatusOK)
		return
	}
	d := g.Decide(orig, g.now())
	switch {
	case !d.Respond():
		reason := passOff
		switch {
		case d.Maintenance && d.Pass:
			reason = "rule"
		case d.Maintenance:
			reason = d.Bypass
			h[bypassHeader] = bypassValues[d.Bypass]
		}
		g.fa.inc("pass", reason)
		w.WriteHeader(http.StatusOK)
	case deny != 0:
		g.fa.inc("deny", "maintenance")
		w.WriteHeader(deny)
	default:
		g.fa.inc("deny", "maintenance")
		d.ServeFor(w, r, orig)
	}
}

// passOff is the reason of a request that passes because maintenance does not apply to it.
const passOff = "off"

var noStoreValue = []string{"no-store"}
