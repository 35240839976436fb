package gate

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/netip"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/maintpage/maintpage/internal/clientaddr"
	"github.com/maintpage/maintpage/internal/config"
)

// CookieName is the bypass cookie's name.
const CookieName = "maintpage_bypass"

// bypass decides which requests pass through while maintenance is on.
type bypass struct {
	cidrs      []netip.Prefix
	trusted    []netip.Prefix
	paths      []string
	secretHash [sha256.Size]byte // of bypass_secret; zero when none
	hasSecret  bool
	cookieKey  []byte
	domain     string // the cookie's Domain attribute and signed payload; "" for host-only
	ttl        time.Duration
}

func newBypass(cfg *config.Config) *bypass {
	b := &bypass{
		cidrs:   cfg.BypassCIDRs,
		trusted: cfg.TrustedProxies,
		paths:   cfg.BypassPaths,
		domain:  cfg.BypassCookieDomain,
		ttl:     cfg.BypassTTL,
	}
	if cfg.BypassSecret != "" {
		b.hasSecret = true
		b.secretHash = sha256.Sum256([]byte(cfg.BypassSecret))
		// A key of its own for cookies, so that a cookie never reveals anything about the secret
		// that the link and the header take.
		mac := hmac.New(sha256.New, []byte(cfg.BypassSecret))
		mac.Write([]byte("maintpage bypass cookie v1"))
		b.cookieKey = mac.Sum(nil)
	}
	return b
}

func (b *bypass) enabled() bool { return b.hasSecret }

// reason says why r passes through during maintenance: path, header, cookie or cidr; "" when it
// does not. The cheap checks come first.
func (b *bypass) reason(r *http.Request, now time.Time) string {
	if b.pathBypassed(r.URL.Path, r.URL.RawPath) {
		return "path"
	}
	return b.team(r, now)
}

// team says which bypass marks r's sender as one of the team (header, cookie or cidr); "" for
// none. A path bypass is left out: it lets anonymous traffic such as health checks through.
func (b *bypass) team(r *http.Request, now time.Time) string {
	if b.hasSecret {
		if v := r.Header.Get(bypassSecretHeader); v != "" && b.secretMatches(v) {
			return "header"
		}
		if c, err := r.Cookie(CookieName); err == nil && b.verifyCookie(c.Value, b.cookieDomain(r), now) {
			return "cookie"
		}
	}
	if len(b.cidrs) > 0 {
		if a := clientAddr(r, b.trusted); a.IsValid() && clientaddr.In(b.cidrs, a) {
			return "cidr"
		}
	}
	return ""
}

// pathBypassed reports whether a path passes as one of bypass_paths. The proxy sends the path
// upstream as the client wrote it, and the application may normalise it: /healthz/../admin,
// /healthz/%2e%2e/admin, /healthz//..//admin or /healthz/..;/admin can all reach /admin there. So
// only a path that no normalisation changes can pass — clean, with nothing encoded that decodes to a
// separator, a dot or a percent sign, no backslash and no path parameter — and only when it matches
// a prefix at a segment boundary (/healthz passes /healthz and /healthz/live, not /healthzfoo).
// raw is the path as sent when it differs from the canonical escaping (url.URL.RawPath), or "".
func (b *bypass) pathBypassed(p, raw string) bool {
	if len(b.paths) == 0 || !canonicalPath(p, raw) {
		return false
	}
	for _, prefix := range b.paths {
		if pathHasPrefix(p, prefix) {
			return true
		}
	}
	return false
}

// pathHasPrefix matches prefix at a segment boundary; a prefix ending in / matches what is under it.
func pathHasPrefix(p, prefix string) bool {
	if !strings.HasPrefix(p, prefix) {
		return false
	}
	return len(p) == len(prefix) || strings.HasSuffix(prefix, "/") || p[len(prefix)] == '/'
}

// canonicalPath reports whether p is a path that an application cannot read as another one.
func canonicalPath(p, raw string) bool {
	if p == "" || p[0] != '/' || strings.ContainsAny(p, "\\;%") {
		return false
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	if clean != p {
		return false // //, /./, /../, a trailing /. or /..
	}
	if raw == "" {
		return true
	}
	// Escapes of anything unreserved are harmless (%41 is A), but an escaped separator, dot or
	// percent sign means the application might see other segments than we did.
	for i := 0; i+2 < len(raw); i++ {
		if raw[i] != '%' {
			continue
		}
		switch strings.ToLower(raw[i+1 : i+3]) {
		case "2f", "2e", "25", "5c", "3b":
			return false
		}
	}
	return true
}

// secretMatches compares hashes in constant time, so neither the content nor the length of the
// secret leaks through timing.
func (b *bypass) secretMatches(v string) bool {
	h := sha256.Sum256([]byte(v))
	return subtle.ConstantTimeCompare(h[:], b.secretHash[:]) == 1
}

// cookieDomain is the domain a cookie is minted for and checked against: the configured one, or
// the request's host for a host-only cookie.
func (b *bypass) cookieDomain(r *http.Request) string {
	if b.domain != "" {
		return b.domain
	}
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return strings.ToLower(host)
}

// The cookie is base64url(payload) "." base64url(HMAC-SHA256(key, payload)), where payload is
// "v1|<expiry, Unix seconds>|<domain>". The domain is signed so that a cookie minted by a gate for
// another domain with the same secret is refused.
//
// Strict decoding refuses non-zero padding bits: otherwise the last character of either part has
// variants that decode to the same bytes, and a cookie with a byte changed would still verify.
var b64 = base64.RawURLEncoding.Strict()

const maxCookieLen = 512

func (b *bypass) mintCookie(domain string, exp time.Time) string {
	payload := "v1|" + strconv.FormatInt(exp.Unix(), 10) + "|" + domain
	return b64.EncodeToString([]byte(payload)) + "." + b64.EncodeToString(b.sign([]byte(payload)))
}

func (b *bypass) sign(payload []byte) []byte {
	mac := hmac.New(sha256.New, b.cookieKey)
	mac.Write(payload)
	return mac.Sum(nil)
}

func (b *bypass) verifyCookie(v, domain string, now time.Time) bool {
	if len(v) > maxCookieLen {
		return false
	}
	p64, m64, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	payload, err := b64.DecodeString(p64)
	if err != nil {
		return false
	}
	got, err := b64.DecodeString(m64)
	if err != nil || !hmac.Equal(got, b.sign(payload)) {
		return false
	}
	parts := strings.SplitN(string(payload), "|", 3)
	if len(parts) != 3 || parts[0] != "v1" {
		return false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || now.Unix() >= exp {
		return false
	}
	return parts[2] == domain
}

// serveLink answers <prefix>bypass?secret=…: with the right secret it sets the cookie and sends
// the browser to /; otherwise 403 and no cookie. The secret travels in the query because the
// request log never records queries.
func (b *bypass) serveLink(w http.ResponseWriter, r *http.Request, now time.Time) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Robots-Tag", "noindex")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !b.secretMatches(r.URL.Query().Get("secret")) {
		http.Error(w, "forbidden: the bypass link's secret is wrong or missing", http.StatusForbidden)
		return
	}
	if !b.overHTTPS(r) {
		// The cookie is Secure: a browser drops it when it comes over plain http, and the redirect
		// would only show the maintenance page again, with no word of why.
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusBadRequest)
		io.WriteString(w, plainHTTPPage)
		return
	}
	exp := now.Add(b.ttl)
	http.SetCookie(w, &http.Cookie{
		Name:     CookieName,
		Value:    b.mintCookie(b.cookieDomain(r), exp),
		Path:     "/",
		Domain:   b.domain,
		Expires:  exp,
		MaxAge:   int(b.ttl / time.Second),
		HttpOnly: true,
		Secure:   true,
		SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// overHTTPS reports whether the browser reached us over https: TLS here, or X-Forwarded-Proto: https
// from a trusted proxy (one that terminates TLS in front of us).
func (b *bypass) overHTTPS(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && clientaddr.In(b.trusted, ap.Addr().Unmap().WithZone("")) &&
		strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}

// plainHTTPPage tells the person who opened the bypass link over http why it cannot work. It names
// nothing from the request (the URL holds the secret).
const plainHTTPPage = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>Open this link over https</title></head>
<body>
<h1>Open this link over https</h1>
<p>The bypass link is right, but it was opened over plain <code>http://</code>. The bypass cookie is
<em>Secure</em>: browsers keep it only when it comes over <code>https://</code>, so the site would
still show the maintenance page. Open the same link with <code>https://</code> instead.</p>
<p>If you did open it over https, a proxy in front of maintpage terminates TLS and is not in
<code>trusted_proxies</code> (or does not send <code>X-Forwarded-Proto: https</code>), so maintpage cannot
tell: ask the operator to add it.</p>
</body>
</html>
`

// clientAddr is the address of the client, as clientaddr.Of finds it behind trusted proxies.
func clientAddr(r *http.Request, trusted []netip.Prefix) netip.Addr {
	return clientaddr.Of(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), trusted)
}
