package reqlog

import (
	"strconv"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"
)

// The request line is written by hand, not through slog, because slog allocates for a record of six
// attributes; it is the same line slog's JSON and text handlers write (keys, order, quoting and
// escaping; tested against them), except that the time has milliseconds.

// maxPath bounds the path written in a line, so that one request cannot make a line too long for
// the platform's log pipeline (Docker splits lines at 16 KiB, Cloud Foundry truncates them).
const maxPath = 2048

// appendLine appends e as one line ending in a newline. sampled > 1 adds how many requests the line
// stands for.
func appendLine(b []byte, text bool, c *clock, e *Entry, sampled int) []byte {
	path := e.Path
	cut := len(path) > maxPath
	if cut {
		path = path[:maxPath]
	}
	if text {
		b = append(b, "time="...)
		b = c.append(b)
		b = append(b, " level=INFO msg=request method="...)
		b = appendTextString(b, e.Method)
		b = append(b, " path="...)
		if cut {
			b = strconv.AppendQuote(b, path)
			b = append(b[:len(b)-1], `…"`...)
		} else {
			b = appendTextString(b, path)
		}
		b = append(b, " status="...)
		b = strconv.AppendInt(b, int64(e.Status), 10)
		b = append(b, " bytes="...)
		b = strconv.AppendInt(b, e.Bytes, 10)
		b = append(b, " duration="...)
		b = appendDuration(b, e.Duration)
		b = append(b, " remote="...)
		b = appendTextString(b, e.Remote)
		if sampled > 1 {
			b = append(b, " sampled="...)
			b = strconv.AppendInt(b, int64(sampled), 10)
		}
		return append(b, '\n')
	}
	b = append(b, `{"time":"`...)
	b = c.append(b)
	b = append(b, `","level":"INFO","msg":"request","method":"`...)
	b = appendJSONString(b, e.Method)
	b = append(b, `","path":"`...)
	b = appendJSONString(b, path)
	if cut {
		b = append(b, "…"...)
	}
	b = append(b, `","status":`...)
	b = strconv.AppendInt(b, int64(e.Status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, e.Bytes, 10)
	b = append(b, `,"duration":`...)
	b = strconv.AppendInt(b, int64(e.Duration), 10)
	b = append(b, `,"remote":"`...)
	b = appendJSONString(b, e.Remote)
	b = append(b, '"')
	if sampled > 1 {
		b = append(b, `,"sampled":`...)
		b = strconv.AppendInt(b, int64(sampled), 10)
	}
	return append(b, "}\n"...)
}

const hex = "0123456789abcdef"

// appendJSONString escapes s as slog's JSON handler does (log/slog/json_handler.go,
// appendEscapedJSONString): quotes, backslashes and control characters escaped, invalid UTF-8 as
// U+FFFD, U+2028 and U+2029 escaped, and <, > and & left as they are.
func appendJSONString(b []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= ' ' && c != '"' && c != '\\' { // slog's safeSet
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(b, s[start:]...)
}

// appendTextString writes s as slog's text handler does (log/slog/text_handler.go, needsQuoting):
// bare when it is safe, else Go-quoted.
func appendTextString(b []byte, s string) []byte {
	if needsQuoting(s) {
		return strconv.AppendQuote(b, s)
	}
	return append(b, s...)
}

func needsQuoting(s string) bool {
	if len(s) == 0 {
		return true
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			// What JSON would escape (but a backslash), a space and '='.
			if c != '\\' && (c <= ' ' || c == '=' || c == '"') {
				return true
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError || unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return true
		}
		i += size
	}
	return false
}

// appendDuration writes d as time.Duration.String does, without the allocation of the string.
func appendDuration(b []byte, d time.Duration) []byte {
	var buf [32]byte
	w := len(buf)
	u := uint64(d)
	neg := d < 0
	if neg {
		u = -u
	}
	if u < uint64(time.Second) {
		var prec int
		w--
		buf[w] = 's'
		w--
		switch {
		case u == 0:
			return append(b, "0s"...)
		case u < uint64(time.Microsecond):
			prec = 0
			buf[w] = 'n'
		case u < uint64(time.Millisecond):
			prec = 3
			// U+00B5 'µ' micro sign == 0xC2 0xB5
			w--
			copy(buf[w:], "µ")
		default:
			prec = 6
			buf[w] = 'm'
		}
		w, u = fmtFrac(buf[:w], u, prec)
		w = fmtInt(buf[:w], u)
	} else {
		w--
		buf[w] = 's'
		w, u = fmtFrac(buf[:w], u, 9)
		w = fmtInt(buf[:w], u%60)
		u /= 60
		if u > 0 {
			w--
			buf[w] = 'm'
			w = fmtInt(buf[:w], u%60)
			u /= 60
			if u > 0 {
				w--
				buf[w] = 'h'
				w = fmtInt(buf[:w], u)
			}
		}
	}
	if neg {
		w--
		buf[w] = '-'
	}
	return append(b, buf[w:]...)
}

// fmtFrac and fmtInt are time.Duration.String's helpers (time/time.go): the fraction of v/10^prec
// without trailing zeros, and v in decimal, written backwards from the end of buf.
func fmtFrac(buf []byte, v uint64, prec int) (nw int, nv uint64) {
	w := len(buf)
	print := false
	for i := 0; i < prec; i++ {
		digit := v % 10
		print = print || digit != 0
		if print {
			w--
			buf[w] = byte(digit) + '0'
		}
		v /= 10
	}
	if print {
		w--
		buf[w] = '.'
	}
	return w, v
}

func fmtInt(buf []byte, v uint64) int {
	w := len(buf)
	if v == 0 {
		w--
		buf[w] = '0'
	} else {
		for v > 0 {
			w--
			buf[w] = byte(v%10) + '0'
			v /= 10
		}
	}
	return w
}

// clock formats the time of a line, RFC 3339 with milliseconds in the local zone, as slog's text
// handler does. The part up to the seconds and the zone are formatted once a second.
type clock struct {
	now  func() time.Time
	last atomic.Pointer[second]
}

type second struct {
	unix       int64
	head, zone []byte
}

func (c *clock) append(b []byte) []byte {
	t := c.now()
	s := c.last.Load()
	if s == nil || s.unix != t.Unix() {
		s = &second{unix: t.Unix(), head: t.AppendFormat(nil, "2006-01-02T15:04:05"), zone: t.AppendFormat(nil, "Z07:00")}
		c.last.Store(s)
	}
	b = append(b, s.head...)
	ms := t.Nanosecond() / 1e6
	b = append(b, '.', byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10))
	return append(b, s.zone...)
}
