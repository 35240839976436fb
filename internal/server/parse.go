package server

import (
	"bytes"
	"unsafe"
)

// parseRequest reads a whole request head (ending in CRLF CRLF) into r. It accepts only what the
// fast path can answer without a doubt — HTTP/1.1, an origin-form target with nothing to decode, no
// body, no upgrade, no header it does not understand the framing of — and reports ok false for
// anything else, so that net/http, not this parser, judges every unusual request. keep reports
// whether the connection stays open after the answer.
func parseRequest(head []byte, r *FastRequest) (keep, ok bool) {
	p := headParser{r: r}
	done, ok := p.feed(head)
	if !done || !ok || p.pos != len(head) {
		return false, false
	}
	return p.finish()
}

// headParser reads a request head line by line as its bytes arrive, so that the fast path hands a
// connection to net/http at the first line it would not answer itself — net/http answers a bad line
// (400) as soon as it has read it, without waiting for a head that may never be completed.
type headParser struct {
	r       *FastRequest
	pos     int // where the first line not yet read starts
	scanned int // how far past pos no LF was found
	keep    bool
	hasHost bool
	seen    uint8
}

// feed reads the complete lines of b[p.pos:] (b holds the whole head so far, from its first byte).
// It reports done once the empty line that ends the head is read (the head is b[:p.pos]), and ok
// false as soon as a line is one the fast path leaves to net/http: a bare LF (net/http accepts it
// as a line end, the fast path does not), a bad request line, a header it does not take.
func (p *headParser) feed(b []byte) (done, ok bool) {
	for {
		from := max(p.scanned, p.pos)
		i := bytes.IndexByte(b[from:], '\n')
		if i < 0 {
			p.scanned = len(b)
			return false, true
		}
		i += from
		if i == p.pos || b[i-1] != '\r' {
			// A LF without its CR: RFC 9112 section 2.2 lets a recipient take it as a line end, and
			// net/textproto's reader.go (readLineSlice) does; the fast path leaves it to net/http.
			return false, false
		}
		line := b[p.pos : i-1]
		first := p.pos == 0
		p.pos = i + 1
		switch {
		case first:
			if !p.requestLine(line) {
				return false, false
			}
		case len(line) == 0:
			return true, true
		default:
			if !p.header(line) {
				return false, false
			}
		}
	}
}

// finish checks what only the whole head can tell: an HTTP/1.1 request without Host is a 400 (RFC
// 9112 section 3.2; net/http's server.go, readRequest).
func (p *headParser) finish() (keep, ok bool) {
	if !p.hasHost {
		return false, false
	}
	return p.keep, true
}

// requestLine reads RFC 9112 section 3's request-line (method SP request-target SP HTTP-version),
// as net/http's request.go (parseRequestLine) splits it; of the target forms (section 3.2) only
// origin-form is taken.
func (p *headParser) requestLine(line []byte) bool {
	method, line, found := bytes.Cut(line, sp)
	if !found || !isToken(method) {
		return false
	}
	target, version, found := bytes.Cut(line, sp)
	if !found || string(version) != "HTTP/1.1" || !fastTarget(target) {
		return false
	}
	path, query, _ := bytes.Cut(target, question)
	r := p.r
	r.Method, r.Path, r.RawQuery = str(method), str(path), str(query)
	p.keep = true
	return true
}

// fastTarget reports whether an origin-form target is one the fast path takes: no percent-encoding
// (the path would need decoding), no fragment, nothing outside visible ASCII. HTTP/2's :path is
// checked the same way.
func fastTarget(target []byte) bool {
	if len(target) == 0 || target[0] != '/' {
		return false
	}
	for _, c := range target {
		if c <= ' ' || c >= 0x7f || c == '%' || c == '#' {
			return false
		}
	}
	return true
}

func (p *headParser) header(line []byte) bool {
	if line[0] == ' ' || line[0] == '\t' {
		// Obsolete line folding, RFC 9112 section 5.2 (net/textproto's reader.go joins it).
		return false
	}
	// field-line = field-name ":" OWS field-value OWS (RFC 9112 section 5; the name a token, RFC
	// 9110 section 5.6.2); no CTL in the value (RFC 9110 section 5.5), as httpguts.ValidHeaderFieldValue.
	name, value, found := bytes.Cut(line, colon)
	if !found || !isToken(name) {
		return false
	}
	value = bytes.Trim(value, " \t")
	for _, c := range value {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	return p.field(name, value)
}

// field takes one header field of a request (the name as sent, the value without surrounding
// whitespace and free of CTLs); HTTP/2 requests are read through it too.
func (p *headParser) field(name, value []byte) bool {
	r := p.r
	var dst *string
	switch len(name) {
	case 4:
		if equalFold(name, "host") {
			// One Host, well formed: net/http's server.go (readRequest) answers 400 otherwise
			// (RFC 9112 section 3.2).
			if p.hasHost || !validHost(value) {
				return false
			}
			p.hasHost = true
			dst = &r.Host
		}
	case 6:
		switch {
		case equalFold(name, "accept"):
			dst = &r.Accept
		case equalFold(name, "cookie"):
			dst = &r.Cookie
		case equalFold(name, "origin"):
			dst = &r.Origin
		case equalFold(name, "expect"):
			return false // RFC 9110 section 10.1.1; net/http's server.go answers 100-continue or 417
		}
	case 7:
		if equalFold(name, "upgrade") {
			return false // RFC 9110 section 7.8 (WebSocket, h2c): the handler's to answer
		}
	case 10:
		// Persistence, RFC 9112 section 9.3; net/http's transfer.go (shouldClose).
		if equalFold(name, "connection") {
			switch {
			case equalFold(value, "close"):
				p.keep = false
			case equalFold(value, "keep-alive"):
			default:
				return false
			}
		}
	case 14:
		// Message body length, RFC 9112 section 6.3; net/http's transfer.go (fixLength).
		if equalFold(name, "content-length") && string(value) != "0" {
			return false
		}
	case 15:
		switch {
		case equalFold(name, "accept-language"):
			dst = &r.AcceptLanguage
		case equalFold(name, "x-forwarded-for"):
			dst = &r.XForwardedFor
		}
	case 17:
		if equalFold(name, "transfer-encoding") {
			return false // a body, RFC 9112 section 6.1; net/http's transfer.go (parseTransferEncoding)
		}
	case 18:
		if equalFold(name, "x-maintpage-bypass") || equalFold(name, "x-cf-forwarded-url") {
			return false // a bypass or a route-service request: the gate's full path decides
		}
	}
	if dst != nil {
		if p.seen&bit(dst, r) != 0 {
			return false // a repeated header, even after an empty one: net/http's rules apply
		}
		p.seen |= bit(dst, r)
		*dst = str(value)
	}
	return true
}

// bit names the header a destination field holds, for noticing repeats.
func bit(dst *string, r *FastRequest) uint8 {
	switch dst {
	case &r.Host:
		return 1
	case &r.Accept:
		return 2
	case &r.AcceptLanguage:
		return 4
	case &r.Cookie:
		return 8
	case &r.Origin:
		return 16
	}
	return 32 // X-Forwarded-For
}

var (
	crlf     = []byte("\r\n")
	sp       = []byte(" ")
	colon    = []byte(":")
	question = []byte("?")
)

// str views b as a string without copying; the FastRequest contract limits its life to the call.
func str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// EqualFold reports whether b is lower (ASCII lower case) in any case; IsToken whether b is an
// RFC 9110 token, as header names are. The gate's fast proxy path reads upstream heads with them.
func EqualFold(b []byte, lower string) bool { return equalFold(b, lower) }

// IsToken: see EqualFold.
func IsToken(b []byte) bool { return isToken(b) }

func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if !tokenChars[c] {
			return false
		}
	}
	return true
}

var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// validHost accepts the characters of host names, IPv4 and bracketed IPv6 addresses and a port;
// anything else goes to net/http, which answers 400 where it must.
func validHost(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		ok := c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_' ||
			('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
		if !ok {
			return false
		}
	}
	return true
}
