package cfapi

import (
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"
)

// FuzzParseSaved: whatever an annotation holds, parseSaved either refuses it or returns a record
// with the invariants the switch relies on, and that record survives encode → parseSaved unchanged.
func FuzzParseSaved(f *testing.F) {
	port, weight := 9090, 30
	good, err := Saved{Version: savedVersion, App: "a-guid", AppName: "my-app", MaintenanceApp: "m-guid",
		Since: time.Date(2026, 11, 26, 17, 0, 0, 0, time.UTC), By: "alice",
		Destinations: []Dest{{App: "a-guid"}, {App: "g-guid", Process: "worker", Port: &port, Protocol: "http2", Weight: &weight}}}.encode()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{good, "", "{}", "null", `{"v":2,"app":"a","dests":[{"app":"a"}]}`,
		`{"v":1,"app":"a","dests":[]}`, `{"v":1,"app":"a","dests":[{"app":"a","guid":"x"}],"since":"2026-01-01T00:00:00+02:00"}`,
		`{"v":1,"APP":"a","app":"b","dests":[{}]}`, `{"v":1,"app":"\u00e9<&>","dests":[null]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		s, err := parseSaved(raw)
		if (s == nil) == (err == nil) {
			t.Fatalf("parseSaved(%q): got %v and %v, want exactly one of a record and an error", raw, s, err)
		}
		if err != nil {
			if !strings.Contains(err.Error(), AnnotationSaved) {
				t.Errorf("error %q does not name the annotation", err)
			}
			return
		}
		if s.Version != savedVersion || s.App == "" || len(s.Destinations) == 0 {
			t.Fatalf("parseSaved(%q) accepted %+v: want version %d, an app and a destination", raw, s, savedVersion)
		}
		for _, d := range s.Destinations {
			if d.GUID != "" {
				t.Fatalf("parseSaved(%q) kept a mapping GUID %q, which does not survive a restore", raw, d.GUID)
			}
		}
		again, err := s.encode()
		if err != nil {
			// Accepted but not writable back: only a record over CC's size limit, or a time JSON
			// cannot write, may be.
			if !strings.Contains(err.Error(), "more than the") && !strings.Contains(err.Error(), "year outside") {
				t.Fatalf("encode of %+v parsed from %q: %v", s, raw, err)
			}
			return
		}
		s2, err := parseSaved(again)
		if err != nil {
			t.Fatalf("re-parsing %q (from %q): %v", again, raw, err)
		}
		assertSameSaved(t, s, s2)
	})
}

// FuzzSavedRoundTrip: every record the switch writes reads back as the same record.
func FuzzSavedRoundTrip(f *testing.F) {
	f.Add("a-guid", "my-app", "alice", "web", "http1", int64(1795712400), 8080, 0, uint8(1))
	f.Add("a\"\\\x00<", "é", "", "", "", int64(0), -1, 100, uint8(7))
	f.Fuzz(func(t *testing.T, app, name, by, process, protocol string, since int64, port, weight int, n uint8) {
		if app == "" || n == 0 {
			return // parseSaved refuses these by design; FuzzParseSaved covers the refusal
		}
		var ds []Dest
		for i := range int(n%8) + 1 {
			d := Dest{App: app, Process: process, Protocol: protocol}
			if i%2 == 0 {
				p, w := port+i, weight
				d.Port, d.Weight = &p, &w
			}
			ds = append(ds, d)
		}
		in := &Saved{Version: savedVersion, App: app, AppName: name, MaintenanceApp: "m", By: by,
			Since: time.Unix(since%253402300800, 0).UTC(), Destinations: ds}
		raw, err := in.encode()
		if err != nil {
			if len(raw) == 0 && (strings.Contains(err.Error(), "more than the") || strings.Contains(err.Error(), "year outside")) {
				return
			}
			t.Fatalf("encode %+v: %v", in, err)
		}
		if len(raw) > maxAnnotation {
			t.Fatalf("encode wrote %d bytes, more than CC's %d", len(raw), maxAnnotation)
		}
		out, err := parseSaved(raw)
		if err != nil {
			t.Fatalf("parseSaved(%q): %v", raw, err)
		}
		// JSON carries strings as UTF-8: invalid bytes come back as U+FFFD, which is what CC stores.
		in.App, in.AppName, in.By = valid(in.App), valid(in.AppName), valid(in.By)
		for i := range in.Destinations {
			d := &in.Destinations[i]
			d.App, d.Process, d.Protocol = valid(d.App), valid(d.Process), valid(d.Protocol)
		}
		assertSameSaved(t, in, out)
	})
}

// valid is s as encoding/json reads it back: each byte that is not UTF-8 becomes U+FFFD, as a
// conversion to runes does.
func valid(s string) string { return string([]rune(s)) }

func assertSameSaved(t *testing.T, want, got *Saved) {
	t.Helper()
	if !got.Since.Equal(want.Since) {
		t.Fatalf("since: got %v, want %v", got.Since, want.Since)
	}
	w, g := *want, *got
	w.Since, g.Since = time.Time{}, time.Time{}
	if !reflect.DeepEqual(w, g) {
		t.Fatalf("round trip: got %+v, want %+v", g, w)
	}
}

// FuzzNormRoute: normRoute is a normal form. Applying it again changes nothing, a scheme, spaces
// and a trailing slash around a route are ignored, and the host is lower case.
func FuzzNormRoute(f *testing.F) {
	for _, s := range []string{"https://shop.example.com/api/", "Shop.Example.COM", "my-app.example.com",
		"http://x.example.com//a/B/", " a/b /", "a://b://c", "/http://a", "HTTP://A/Ö", "\xff/x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, u string) {
		n := normRoute(u)
		if again := normRoute(n); again != n {
			t.Fatalf("normRoute(%q) = %q, but normRoute(%q) = %q: want a fixed point", u, n, n, again)
		}
		for _, wrapped := range []string{"https://" + n + "/", "  HTTP://" + n + "  ", n + "/ /"} {
			if got := normRoute(wrapped); got != n {
				t.Fatalf("normRoute(%q) = %q, want %q (from %q)", wrapped, got, n, u)
			}
		}
		if strings.TrimFunc(n, func(r rune) bool { return r == '/' || unicode.IsSpace(r) }) != n {
			t.Fatalf("normRoute(%q) = %q: want no leading or trailing slash or space", u, n)
		}
		host, _, _ := strings.Cut(n, "/")
		if strings.ToLower(host) != host {
			t.Fatalf("normRoute(%q) = %q: want the host in lower case", u, n)
		}
	})
}
