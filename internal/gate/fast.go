package gate

import (
	"strings"

	"github.com/maintpage/maintpage/internal/server"
)

// ServeFast answers from ready bytes while maintenance is on and no bypass could apply; everything
// else — the reserved prefix, proxied requests, anything a bypass might let through — is served by
// ServeHTTP. The fast path hands requests with a bypass or route-service header to ServeHTTP itself.
func (g *Gate) ServeFast(dst []byte, q *server.FastRequest) (server.FastResponse, bool) {
	if g.errorPages || strings.HasPrefix(q.Path, g.prefix) {
		return server.FastResponse{}, false
	}
	e := g.current(g.now())
	if (!e.active && e.scoped == nil) || (!g.standalone && g.bypass.mayApply(q)) {
		return server.FastResponse{}, false
	}
	i, _, maint, pass, resp := g.match(e, q.Method, q.Path, q.Host)
	if !maint || pass {
		return server.FastResponse{}, false // a scope not in maintenance, or a pass rule: ServeHTTP passes it on
	}
	fr, ok := resp.ServeFastRule(dst, q, i)
	if ok {
		g.out.inc(g.out.maintenance)
	}
	return fr, ok
}

// mayApply reports whether a bypass might let q through; when it might, ServeHTTP decides. CIDR
// bypasses need the client's address, which the fast path does not work out.
func (b *bypass) mayApply(q *server.FastRequest) bool {
	if len(b.cidrs) > 0 {
		return true
	}
	// The fast path takes only paths with nothing to decode, so the path as sent is the path.
	if b.pathBypassed(q.Path, "") {
		return true
	}
	return b.hasSecret && strings.Contains(q.Cookie, CookieName)
}
