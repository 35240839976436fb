package gate

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/maintpage/maintpage/internal/config"
)

// FuzzBypassCookie: a cookie minted for a domain verifies for that domain until it expires, and
// never for another domain, at or after its expiry, or with any single byte changed.
func FuzzBypassCookie(f *testing.F) {
	f.Add("example.com", int64(3600), uint16(0), byte(1))
	f.Add("a.example.com", int64(1), uint16(40), byte('A'))
	f.Add("", int64(43200), uint16(200), byte('.'))
	f.Add("xn--bcher-kva.example", int64(86400*365), uint16(7), byte(0x80))
	b := newBypass(&config.Config{BypassSecret: "correct-horse-battery-staple"})
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, domain string, ttl int64, at uint16, x byte) {
		if len(domain) > 253 || ttl <= 0 || ttl > 100*365*86400 {
			return // longer than a DNS name; a TTL that is not a TTL
		}
		exp := now.Add(time.Duration(ttl) * time.Second)
		c := b.mintCookie(domain, exp)
		if !b.verifyCookie(c, domain, now) {
			t.Fatalf("a fresh cookie for %q did not verify: %q", domain, c)
		}
		if !b.verifyCookie(c, domain, exp.Add(-time.Second)) {
			t.Fatalf("did not verify a second before its expiry")
		}
		if b.verifyCookie(c, domain, exp) || b.verifyCookie(c, domain, exp.Add(time.Hour)) {
			t.Fatalf("verified at or after its expiry")
		}
		for _, other := range []string{domain + "x", "x" + domain, strings.ToUpper(domain) + "_", domain + "|"} {
			if other != domain && b.verifyCookie(c, other, now) {
				t.Fatalf("a cookie for %q verified for %q", domain, other)
			}
		}
		i := int(at) % len(c)
		if x == c[i] {
			x ^= 1
		}
		changed := c[:i] + string([]byte{x}) + c[i+1:]
		if b.verifyCookie(changed, domain, now) {
			t.Fatalf("byte %d changed from %q to %q and the cookie still verified: %q", i, c[i], x, changed)
		}
	})
}

// and names an allowed host on an allowed port — checked here against the patterns written out.
func FuzzRouteServiceTarget(f *testing.F) {
	for _, s := range []string{
		"https://my-app.apps.example.com/x?y=1", "http://a.internal.example.com:8080/", "https://my-app.apps.example.com:6379/",
		"http://x@my-app.apps.example.com/", "http://internal.example.com:8080/", "HTTPS://MY-APP.APPS.EXAMPLE.COM./",
		"http://[::1]:80/", "http://my-app.apps.example.com:/", "https://my-app.apps.example.com:0443", "//my-app.apps.example.com/",
	} {
		f.Add(s)
	}
	rs := newRouteService([]string{"my-app.apps.example.com", "*.internal.example.com:8080"})
	f.Fuzz(func(t *testing.T, raw string) {
		u, err := rs.target(raw)
		if err != nil {
			return
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			t.Fatalf("%q: accepted scheme %q", raw, u.Scheme)
		}
		if u.User != nil || u.Opaque != "" {
			t.Fatalf("%q: accepted a user or an opaque URL", raw)
		}
		host := strings.TrimSuffix(strings.ToLower(u.Hostname()), ".")
		port := u.Port()
		if port == "" {
			port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
		}
		n, err := strconv.Atoi(port)
		if err != nil {
			t.Fatalf("%q: accepted port %q", raw, port)
		}
		def := map[string]int{"http": 80, "https": 443}[u.Scheme]
		switch {
		case host == "my-app.apps.example.com" && n == def:
		case strings.HasSuffix(host, ".internal.example.com") && host != ".internal.example.com" && n == 8080:
		default:
			t.Fatalf("%q: accepted host %q port %d", raw, host, n)
		}
		// The transport dials what the URL says: it must say the same again.
		if again, err := url.Parse(u.String()); err != nil || again.Host != u.Host {
			t.Fatalf("%q: %q does not parse back to the same host: %v", raw, u.String(), err)
		}
	})
}
