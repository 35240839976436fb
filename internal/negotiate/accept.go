package negotiate

import (
	"strings"

	"golang.org/x/net/http/httpguts"
)

// Format is a representation of the maintenance response.
type Format uint8

// The formats, in the order the server prefers them when a client's ranges tie (application/* gives
// problem JSON, text/* gives plain text).
const (
	Unknown     Format = iota
	ProblemJSON        // application/problem+json (RFC 9457)
	JSON               // application/json: the same body, for clients that asked for exactly that
	Text               // text/plain
	HTML               // text/html
)

var formatNames = [...]string{Unknown: "", ProblemJSON: "problem+json", JSON: "json", Text: "text", HTML: "html"}

// String returns the format's short name, as used in configuration and metrics.
func (f Format) String() string {
	if int(f) < len(formatNames) {
		return formatNames[f]
	}
	return ""
}

// ContentType is the Content-Type header value for f.
func (f Format) ContentType() string {
	switch f {
	case ProblemJSON:
		return "application/problem+json"
	case JSON:
		return "application/json"
	case Text:
		return "text/plain; charset=utf-8"
	case HTML:
		return "text/html; charset=utf-8"
	}
	return ""
}

// ParseFormat reads a format's short name ("html", "json", "problem+json", "text").
func ParseFormat(s string) (Format, bool) {
	for f, name := range formatNames {
		if name != "" && strings.EqualFold(s, name) {
			return Format(f), true
		}
	}
	return Unknown, false
}

// offers are what the server can produce, with the media type each one answers to.
var offers = [...]struct {
	format  Format
	typ     string
	subtype string
}{
	{ProblemJSON, "application", "problem+json"},
	{JSON, "application", "json"},
	{Text, "text", "plain"},
	{HTML, "text", "html"},
}

// Accept returns the format an Accept header asks for most, or def when the header is empty,
// malformed, asks only for "*/*", or matches nothing the server offers.
//
// Ranges are weighed by q-value, then by how specific they are (type/subtype over type/* over */*),
// then by their order in the header, then by the server's preference. A structured-syntax "+json"
// subtype (application/vnd.api+json) is answered with problem JSON.
func Accept(header string, def Format) Format {
	if header == "" {
		return def
	}
	type score struct {
		q    int // q-value in thousandths
		spec int // 0 */*, 1 type/*, 2 exact
		pos  int
	}
	var best [len(offers)]score
	for i := range best {
		best[i] = score{q: -1, spec: -1}
	}
	pos := 0
	for rest := header; rest != ""; pos++ {
		var part string
		part, rest, _ = strings.Cut(rest, ",")
		typ, sub, q, ok := parseRange(part)
		if !ok {
			continue
		}
		for i, o := range offers {
			spec := match(typ, sub, o.typ, o.subtype)
			if spec < 0 {
				continue
			}
			// The most specific matching range decides an offer's q (RFC 9110 §12.5.1).
			if spec > best[i].spec {
				best[i] = score{q: q, spec: spec, pos: pos}
			}
		}
	}
	winner, top := -1, score{q: 0, spec: -1, pos: 1 << 30}
	for i, s := range best {
		if s.q <= 0 {
			continue
		}
		if s.q > top.q || (s.q == top.q && (s.spec > top.spec || (s.spec == top.spec && s.pos < top.pos))) {
			winner, top = i, s
		}
	}
	if winner < 0 || top.spec == 0 {
		// Nothing acceptable, or only "*/*": the client has no preference, so the operator's default applies.
		return def
	}
	return offers[winner].format
}

// match reports how specifically the range typ/sub matches the offer otyp/osub: 2 exact, 1 type/*,
// 0 */*, -1 no match.
func match(typ, sub, otyp, osub string) int {
	switch {
	case typ == "*" && sub == "*":
		return 0
	case !strings.EqualFold(typ, otyp):
		return -1
	case sub == "*":
		return 1
	case strings.EqualFold(sub, osub):
		return 2
	case osub == "problem+json" && len(sub) > 5 && strings.EqualFold(sub[len(sub)-5:], "+json"):
		return 2
	}
	return -1
}

// parseRange reads one media range "type/subtype;param=value;q=0.5". A lone "*" (sent by old Java
// clients) is read as "*/*".
func parseRange(s string) (typ, sub string, q int, ok bool) {
	mt, params, _ := strings.Cut(s, ";")
	mt = strings.TrimSpace(mt)
	if mt == "*" {
		typ, sub = "*", "*"
	} else {
		var found bool
		typ, sub, found = strings.Cut(mt, "/")
		if !found || !httpguts.ValidHeaderFieldName(typ) || !httpguts.ValidHeaderFieldName(sub) || (typ == "*" && sub != "*") {
			return "", "", 0, false
		}
	}
	q = 1000
	for params != "" {
		var p string
		p, params, _ = strings.Cut(params, ";")
		k, v, found := strings.Cut(p, "=")
		if !found {
			continue
		}
		if k = strings.TrimSpace(k); k == "q" || k == "Q" {
			var qok bool
			if q, qok = parseQ(strings.TrimSpace(v)); !qok {
				return "", "", 0, false
			}
			break // parameters after q are accept-extensions, not part of the range
		}
	}
	return typ, sub, q, true
}

// parseQ reads a qvalue ("0", "0.5", "1.000", also ".5" as sent by real clients) in thousandths.
func parseQ(s string) (int, bool) {
	if s == "" || len(s) > 5 {
		return 0, false
	}
	whole := 0
	i := 0
	switch s[0] {
	case '0':
		i = 1
	case '1':
		whole, i = 1000, 1
	case '.':
	default:
		return 0, false
	}
	if i == len(s) {
		return whole, true
	}
	if s[i] != '.' {
		return 0, false
	}
	frac, scale := 0, 100
	for _, c := range s[i+1:] {
		if c < '0' || c > '9' {
			return 0, false
		}
		frac += int(c-'0') * scale
		scale /= 10
	}
	if whole == 1000 && frac != 0 {
		return 0, false
	}
	return whole + frac, true
}
