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

	// Wait until we are outside a window with the next one at least a few seconds away, so that the
	// whole of it is seen and the status read below cannot straddle its opening. A window lasts 20s
	// of every minute, so this can take up to about 25s; 70s bounds it on a busy machine.
	var st struct {
		NextWindow struct{ Start, End time.Time } `json:"next_window"`
	}
	var body string
	for deadline := time.Now().Add(70 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after 70s still no moment outside a window with the next one ahead; last status: %s", body)
		}
		_, body = get(t, g, "GET", "/_maintenance/status", nil)
		st.NextWindow.Start, st.NextWindow.End = time.Time{}, time.Time{}
		if err := json.Unmarshal([]byte(body), &st); err != nil {
			t.Fatalf("status: %s: %v", body, err)
		}
		if st.NextWindow.Start.IsZero() || time.Until(st.NextWindow.Start) < 5*time.Second {
			continue
		}
		if resp, _ := get(t, g, "GET", "/", nil); resp.StatusCode == 200 {
			break
		}
	}
	if d := st.NextWindow.End.Sub(st.NextWindow.Start); d != 20*time.Second {
		t.Fatalf("status outside the window: %s; want a next window of 20s, got %v", body, d)
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
