package cli_test

import (
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestBinaryWindowOpensAndCloses runs the real gate with a window that opens every minute for 20
// seconds (the shortest step a five-field cron has), and watches one open and close: the next
// window in the status endpoint and in "maintpage status", the 503 with Retry-After counting to the
// window's end, and maintenance turned on by hand during the window outliving it.
func TestBinaryWindowOpensAndCloses(t *testing.T) {
	t.Parallel()
	app := appUpstream(t)
	store := "file:" + filepath.Join(t.TempDir(), "state.json")
	cfg := writeConfig(t, `upstream: `+app.URL+`
state: `+store+`
windows:
  - name: every minute
    cron: "* * * * *"
    duration: 20s
    message: A short window
`)
	g := start(t, nil, "serve", "--config", cfg)

	// Wait until we are outside a window, so that the whole of the next one is seen.
	waitFor(t, "outside a window", func() bool { resp, _ := get(t, g, "GET", "/", nil); return resp.StatusCode == 200 })
	_, body := get(t, g, "GET", "/_maintenance/status", nil)
	var st struct {
		NextWindow struct{ Start, End time.Time } `json:"next_window"`
	}
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.NextWindow.Start.IsZero() || st.NextWindow.End.Sub(st.NextWindow.Start) != 20*time.Second {
		t.Fatalf("status outside the window: %s (%v); want a next window of 20s", body, err)
	}
	if out := cli(t, nil, "status", "--state", store); !strings.Contains(out, "next window:") || !strings.Contains(out, "every minute") {
		t.Errorf("maintpage status outside the window:\n%s\nwant the next window, learnt from what the gate published", out)
	}

	// It opens within the minute, with a Retry-After that counts to its end.
	var opened time.Time
	// Up to a minute away (the next minute's start), so waitFor's bound is too short.
	deadline := time.Until(st.NextWindow.Start) + 20*time.Second
	for ok := false; !ok; {
		if time.Until(st.NextWindow.Start.Add(20*time.Second)) < 0 {
			t.Fatalf("the window announced for %v did not open within %v", st.NextWindow.Start, deadline)
		}
		ok = func() bool {
			resp, body := get(t, g, "GET", "/", map[string]string{"Accept": "text/plain"})
			if resp.StatusCode != 503 {
				return false
			}
			opened = time.Now()
			ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
			if err != nil || ra < 1 || ra > 20 || !strings.Contains(body, "A short window") {
				t.Errorf("inside the window: Retry-After %q, body %q; want 1..20 seconds and the window's message", resp.Header.Get("Retry-After"), body)
			}
			return true
		}()
		time.Sleep(5 * time.Millisecond)
	}
	if d := opened.Sub(st.NextWindow.Start); d < -time.Second || d > 5*time.Second {
		t.Errorf("the window opened at %v, announced for %v", opened, st.NextWindow.Start)
	}
	if out := cli(t, nil, "status", "--state", store); !strings.Contains(out, "on, by window every minute") {
		t.Errorf("maintpage status inside the window:\n%s", out)
	}
	// Turned on by hand inside the window: the window's end must not turn it off.
	cli(t, nil, "on", "--state", store, "--message", "By hand")
	waitFor(t, "the hand's message shows", func() bool {
		_, body := get(t, g, "GET", "/", map[string]string{"Accept": "text/plain"})
		return strings.Contains(body, "By hand")
	})
	time.Sleep(time.Until(st.NextWindow.End.Add(time.Second)))
	if resp, _ := get(t, g, "GET", "/", nil); resp.StatusCode != 503 {
		t.Errorf("after the window's end with maintenance on by hand: got %d, want 503", resp.StatusCode)
	}
	cli(t, nil, "off", "--state", store)
	waitFor(t, "off after the window", func() bool { resp, _ := get(t, g, "GET", "/", nil); return resp.StatusCode == 200 })
}
