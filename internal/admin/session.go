package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// sessionCookie is the admin page's session. The __Host- prefix makes browsers refuse it unless
// it is Secure, has Path=/ and no Domain, so no sibling subdomain can plant or widen it.
const sessionCookie = "__Host-maintpage-admin"

// session is a signed-in admin: the token's name, when the sign-in ends, and a random nonce that
// the form token is derived from.
type session struct {
	name    string
	expires time.Time
	nonce   string
	key     []byte // the token's session key
}

// mint returns the cookie value for a new session of token t: name.expiry.nonce.mac, the name in
// base64url so a dot in it cannot confuse the parser, the MAC over everything before it.
func mintSession(t tokenKey, expires time.Time) (string, session) {
	var n [16]byte
	rand.Read(n[:]) //nolint:errcheck // crypto/rand.Read never fails (Go 1.24+)
	s := session{name: t.name, expires: expires, nonce: hex.EncodeToString(n[:]), key: t.sessionKey}
	payload := base64.RawURLEncoding.EncodeToString([]byte(t.name)) + "." + strconv.FormatInt(expires.Unix(), 10) + "." + s.nonce
	return payload + "." + sign(t.sessionKey, "session|"+payload), s
}

func sign(key []byte, msg string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(msg))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// session returns the request's valid session, if it has one.
func (p *page) session(r *http.Request) (session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return session{}, false
	}
	parts := strings.Split(c.Value, ".")
	if len(parts) != 4 {
		return session{}, false
	}
	nb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		return session{}, false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return session{}, false
	}
	name := string(nb)
	for _, t := range p.h.tokens {
		if t.name != name {
			continue
		}
		want := sign(t.sessionKey, "session|"+parts[0]+"."+parts[1]+"."+parts[2])
		if !hmac.Equal([]byte(want), []byte(parts[3])) {
			return session{}, false
		}
		s := session{name: name, expires: time.Unix(exp, 0), nonce: parts[2], key: t.sessionKey}
		if !p.h.now().Before(s.expires) || p.out.has(s.nonce) {
			return session{}, false
		}
		return s, true
	}
	return session{}, false
}

// formToken is the token every form of the page carries: tied to the session, so a page from one
// sign-in cannot be replayed in another, and unknown to any other site.
func (s session) formToken() string { return sign(s.key, "form|"+s.nonce) }

func (s session) formTokenOK(got string) bool {
	return hmac.Equal([]byte(s.formToken()), []byte(got))
}

// limiter allows each client a few sign-in attempts, then one per interval: a token of 16
// random characters cannot be guessed at that pace, and a typo costs a moment, not a lockout.
type limiter struct {
	mu      sync.Mutex
	burst   float64
	every   time.Duration
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

// maxClients bounds the limiter's memory; beyond it, full buckets are forgotten first.
const maxClients = 10000

func newLimiter(burst int, every time.Duration) *limiter {
	return &limiter{burst: float64(burst), every: every, buckets: map[string]*bucket{}}
}

// allow takes one attempt from client's bucket, or says how long until the next one.
func (l *limiter) allow(client string, now time.Time) (bool, time.Duration) {
	client = limitKey(client)
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[client]
	if !ok {
		if len(l.buckets) >= maxClients {
			l.prune(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[client] = b
	}
	b.tokens = min(l.burst, b.tokens+float64(now.Sub(b.last))/float64(l.every))
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) * float64(l.every))
	return false, wait
}

// wait says how long client must wait for its next attempt (0: it may try now) without taking
// one, so the API can refuse a client that has run out before it looks at the token it sent.
func (l *limiter) wait(client string, now time.Time) time.Duration {
	client = limitKey(client)
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[client]
	if !ok {
		return 0
	}
	if t := min(l.burst, b.tokens+float64(now.Sub(b.last))/float64(l.every)); t < 1 {
		return time.Duration((1 - t) * float64(l.every))
	}
	return 0
}

func (l *limiter) prune(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+float64(now.Sub(b.last))/float64(l.every) >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxClients {
		// Everyone is failing at once: start over rather than grow without bound.
		clear(l.buckets)
	}
}

// limitKey is the limiter's key for a client address: an IPv4 address itself, an IPv6 address its
// /64, which one host or household usually holds whole (RFC 6177), so that it cannot take a fresh
// burst of attempts from each of its addresses.
func limitKey(addr string) string {
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Unmap().Is4() {
		return addr
	}
	p, err := a.Prefix(64)
	if err != nil {
		return addr
	}
	return p.String()
}

// signedOut is the set of sessions signed out on this instance, each kept until it would have
// expired. It is bounded: past maxSignedOut the oldest are forgotten (only a signed-in admin can
// add to it, one per sign-in).
type signedOut struct {
	mu    sync.Mutex
	until map[string]time.Time // nonce → expiry
}

const maxSignedOut = 10000

func (o *signedOut) add(nonce string, expires, now time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.until == nil {
		o.until = map[string]time.Time{}
	}
	for n, t := range o.until {
		if !now.Before(t) {
			delete(o.until, n)
		}
	}
	for len(o.until) >= maxSignedOut {
		oldest, first := "", time.Time{}
		for n, t := range o.until {
			if oldest == "" || t.Before(first) {
				oldest, first = n, t
			}
		}
		delete(o.until, oldest)
	}
	o.until[nonce] = expires
}

func (o *signedOut) has(nonce string) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	_, ok := o.until[nonce]
	return ok
}
