package reqlog

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// The corpus of strings a request can put into a line, for the comparison with slog.
var strs = []string{
	"", "/", "/a/b.css", "GET", "127.0.0.1:4312", "[::1]:80", "/with space", "/eq=ual", `/quo"te`,
	`/back\slash`, "/tab\there", "/nl\nx", "/cr\rx", "/\x00\x01\x1f\x7f", "/<script>&amp;", "/ünïcödé",
	"/\u2028\u2029", "/\xff\xfe", "/bad\xc3", "/\u00a0nbsp", "/\u200bzero-width", "/emoji😀", "/%zz",
	"/\u0085next-line", "/é=", "\\", "=", `"`,
}

// slogLine is what slog's handler writes for the same request, with a zero time (no time key).
func slogLine(t *testing.T, text bool, e *Entry, sampled int) string {
	t.Helper()
	var buf bytes.Buffer
	var h slog.Handler = slog.NewJSONHandler(&buf, nil)
	if text {
		h = slog.NewTextHandler(&buf, nil)
	}
	r := slog.NewRecord(time.Time{}, slog.LevelInfo, "request", 0)
	r.AddAttrs(slog.String("method", e.Method), slog.String("path", e.Path), slog.Int("status", e.Status),
		slog.Int64("bytes", e.Bytes), slog.Duration("duration", e.Duration), slog.String("remote", e.Remote))
	if sampled > 1 {
		r.AddAttrs(slog.Int("sampled", sampled))
	}
	if err := h.Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

var fixedTime = time.Date(2026, 12, 1, 23, 48, 40, 123456789, time.UTC)

func fixedClock() *clock { return &clock{now: func() time.Time { return fixedTime }} }

// withoutTime removes our time field, which slog writes with other precision.
func withoutTime(t *testing.T, text bool, line string) string {
	t.Helper()
	prefix := `{"time":"2026-12-01T23:48:40.123Z",`
	if text {
		prefix = "time=2026-12-01T23:48:40.123Z "
	}
	rest, ok := strings.CutPrefix(line, prefix)
	if !ok {
		t.Fatalf("line %q does not start with %q", line, prefix)
	}
	if text {
		return rest
	}
	return "{" + rest
}

func TestLineSameAsSlog(t *testing.T) {
	t.Parallel()
	durations := []time.Duration{0, 1, 999, 1500, 123456, time.Millisecond, 1234567890, 90 * time.Minute, -5 * time.Second}
	for _, text := range []bool{false, true} {
		for i, s := range strs {
			e := Entry{Method: strs[(i+3)%len(strs)], Path: s, Status: 503, Bytes: int64(i * 1000),
				Duration: durations[i%len(durations)], Remote: strs[(i+7)%len(strs)]}
			for _, sampled := range []int{0, 100} {
				got := withoutTime(t, text, string(appendLine(nil, text, fixedClock(), &e, sampled)))
				if want := slogLine(t, text, &e, sampled); got != want {
					t.Errorf("text=%v, path %q:\ngot  %s\nwant %s", text, s, got, want)
				}
			}
		}
	}
}

func TestLongPathCut(t *testing.T) {
	t.Parallel()
	e := Entry{Method: "GET", Path: "/" + strings.Repeat("a b", 2000), Status: 503, Remote: "1.2.3.4:5"}
	for _, text := range []bool{false, true} {
		line := string(appendLine(nil, text, fixedClock(), &e, 0))
		if len(line) > maxPath+300 {
			t.Errorf("text=%v: line of %d bytes, want at most %d", text, len(line), maxPath+300)
		}
		if !strings.Contains(line, `a…"`) {
			t.Errorf("text=%v: the cut path does not end in …: %s", text, line[len(line)-80:])
		}
		if !text {
			var v map[string]any
			if err := json.Unmarshal([]byte(line), &v); err != nil {
				t.Errorf("cut line is not JSON: %v", err)
			}
		}
	}
}

func TestAppendDuration(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{0, 1, -1, 999, 1000, 1001, 999999, 1e6, 1e9 - 1, 1e9, 61e9, 3601e9 + 5, 1<<63 - 1, -1 << 63} {
		if got, want := string(appendDuration(nil, d)), d.String(); got != want {
			t.Errorf("appendDuration(%d) = %q, want %q", int64(d), got, want)
		}
	}
}

func FuzzLine(f *testing.F) {
	for _, s := range strs {
		f.Add(s, int64(len(s))*7919)
	}
	f.Fuzz(func(t *testing.T, s string, d int64) {
		e := Entry{Method: s, Path: s, Status: 503, Remote: s, Duration: time.Duration(d)}
		if len(s) > maxPath {
			return // cut paths are not slog's; TestLongPathCut covers them
		}
		for _, text := range []bool{false, true} {
			got := withoutTime(t, text, string(appendLine(nil, text, fixedClock(), &e, 0)))
			if want := slogLine(t, text, &e, 0); got != want {
				t.Fatalf("text=%v, %q:\ngot  %s\nwant %s", text, s, got, want)
			}
		}
	})
}

func TestClockZones(t *testing.T) {
	t.Parallel()
	zone := time.FixedZone("", 90*60)
	for _, tm := range []time.Time{fixedTime, fixedTime.In(zone), time.Date(2026, 1, 2, 3, 4, 5, 7e6, time.UTC)} {
		c := &clock{now: func() time.Time { return tm }}
		if got, want := string(c.append(nil)), tm.Format("2006-01-02T15:04:05.000Z07:00"); got != want {
			t.Errorf("clock = %q, want %q", got, want)
		}
	}
}
