package main

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what one wrk run measured.
type wrkResult struct {
	Requests     int64   `json:"requests"`
	Seconds      float64 `json:"seconds"`
	RPS          float64 `json:"rps"`
	P50ms        float64 `json:"p50_ms"`
	P75ms        float64 `json:"p75_ms"`
	P90ms        float64 `json:"p90_ms"`
	P99ms        float64 `json:"p99_ms"`
	SocketErrors int64   `json:"socket_errors"` // connect + read + write + timeout
	Connect      int64   `json:"connect_errors"`
	Read         int64   `json:"read_errors"`
	Write        int64   `json:"write_errors"`
	Timeout      int64   `json:"timeouts"`
	Non2xx3xx    int64   `json:"non_2xx_3xx"`
}

// runWrk runs wrk with keep-alive (its default), two threads and conns connections, sending
// Accept: text/html so that every system is asked for the same representation.
func runWrk(ctx context.Context, wrk, url string, conns int, d time.Duration) (wrkResult, string, error) {
	threads := 2
	if conns < threads {
		threads = conns
	}
	args := []string{
		"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", wrkDuration(d),
		"--timeout", "2s", "--latency", "-H", "Accept: text/html", url,
	}
	out, err := exec.CommandContext(ctx, wrk, args...).CombinedOutput()
	if err != nil {
		return wrkResult{}, string(out), fmt.Errorf("wrk %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	r, err := parseWrk(string(out))
	if err != nil {
		return r, string(out), fmt.Errorf("wrk output: %w", err)
	}
	return r, string(out), nil
}

// wrkDuration writes d the way wrk reads it: whole seconds, or milliseconds below one second.
func wrkDuration(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.Itoa(int(d/time.Second)) + "s"
	}
	return strconv.Itoa(int(d/time.Millisecond)) + "ms"
}

// parseWrk reads wrk's --latency report.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var haveRPS, haveP50, haveP99, haveReq bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		f := strings.Fields(line)
		switch {
		case len(f) == 2 && strings.HasSuffix(f[0], "%"):
			ms, err := parseLatency(f[1])
			if err != nil {
				return r, fmt.Errorf("line %q: %w", line, err)
			}
			switch f[0] {
			case "50%":
				r.P50ms, haveP50 = ms, true
			case "75%":
				r.P75ms = ms
			case "90%":
				r.P90ms = ms
			case "99%":
				r.P99ms, haveP99 = ms, true
			}
		case strings.HasPrefix(line, "Requests/sec:") && len(f) == 2:
			v, err := strconv.ParseFloat(f[1], 64)
			if err != nil {
				return r, fmt.Errorf("line %q: %w", line, err)
			}
			r.RPS, haveRPS = v, true
		case len(f) >= 5 && f[1] == "requests" && f[2] == "in":
			// 123456 requests in 5.00s, 100.00MB read
			n, err := strconv.ParseInt(f[0], 10, 64)
			if err != nil {
				return r, fmt.Errorf("line %q: %w", line, err)
			}
			r.Requests, haveReq = n, true
			if ms, err := parseLatency(strings.TrimSuffix(f[3], ",")); err == nil {
				r.Seconds = ms / 1000
			}
		case strings.HasPrefix(line, "Socket errors:"):
			// Socket errors: connect 0, read 0, write 0, timeout 0
			for i := 2; i+1 < len(f); i += 2 {
				n, err := strconv.ParseInt(strings.TrimSuffix(f[i+1], ","), 10, 64)
				if err != nil {
					return r, fmt.Errorf("line %q: %w", line, err)
				}
				switch f[i] {
				case "connect":
					r.Connect = n
				case "read":
					r.Read = n
				case "write":
					r.Write = n
				case "timeout":
					r.Timeout = n
				}
			}
			r.SocketErrors = r.Connect + r.Read + r.Write + r.Timeout
		case strings.HasPrefix(line, "Non-2xx or 3xx responses:") && len(f) == 5:
			n, err := strconv.ParseInt(f[4], 10, 64)
			if err != nil {
				return r, fmt.Errorf("line %q: %w", line, err)
			}
			r.Non2xx3xx = n
		}
	}
	if !haveRPS || !haveP50 || !haveP99 || !haveReq {
		return r, fmt.Errorf("no Requests/sec, request count or 50%%/99%% latency in %q", out)
	}
	return r, nil
}

// parseLatency converts wrk's 512.00us, 1.23ms, 2.00s or 1.00m to milliseconds.
func parseLatency(s string) (float64, error) {
	units := []struct {
		suffix string
		ms     float64
	}{{"us", 0.001}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}}
	for _, u := range units {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			x, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("latency %q: %w", s, err)
			}
			return x * u.ms, nil
		}
	}
	return 0, fmt.Errorf("latency %q: unknown unit", s)
}
