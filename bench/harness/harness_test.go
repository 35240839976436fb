package main

import (
	"net/http"
	"strings"
	"testing"
)

const wrkOut = `Running 5s test @ http://127.0.0.1:41201/bench
  2 threads and 100 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.21ms    2.03ms  45.54ms   93.40%
    Req/Sec    11.21k     1.02k   13.50k    70.00%
  Latency Distribution
     50%  512.00us
     75%    1.02ms
     90%    2.50ms
     99%    1.20s
  111534 requests in 5.00s, 700.12MB read
  Socket errors: connect 0, read 3, write 1, timeout 7
  Non-2xx or 3xx responses: 111530
Requests/sec:  22302.55
Transfer/sec:    140.01MB
`

func TestParseWrk(t *testing.T) {
	t.Parallel()
	got, err := parseWrk(wrkOut)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{Requests: 111534, Seconds: 5, RPS: 22302.55, P50ms: 0.512, P75ms: 1.02, P90ms: 2.5, P99ms: 1200,
		SocketErrors: 11, Read: 3, Write: 1, Timeout: 7, Non2xx3xx: 111530}
	if got != want {
		t.Errorf("parseWrk:\ngot  %+v\nwant %+v", got, want)
	}
}

func TestParseWrkRejectsIncomplete(t *testing.T) {
	t.Parallel()
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused\n"); err == nil {
		t.Error("parseWrk accepted output without results")
	}
}

func TestParseLatency(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]float64{"250.00us": 0.25, "1.50ms": 1.5, "2.00s": 2000, "1.00m": 60000} {
		if got, err := parseLatency(in); err != nil || got != want {
			t.Errorf("parseLatency(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if _, err := parseLatency("3.0xs"); err == nil {
		t.Error("parseLatency accepted an unknown unit")
	}
}

func TestNginxMaintConfRepeatsHeaders(t *testing.T) {
	t.Parallel()
	hdr := http.Header{
		"Content-Type":            {"text/html; charset=utf-8"},
		"Retry-After":             {"3600"},
		"Cache-Control":           {"no-store"},
		"Content-Security-Policy": {`default-src 'none'; style-src "x"`},
		"Date":                    {"Thu, 26 Nov 2026 00:36:56 GMT"},
		"Content-Length":          {"875"},
	}
	conf, err := nginxMaintConf("/tmp/x", 8080, hdr, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`sendfile off;`,
		`default_type "text/html; charset=utf-8";`,
		`add_header Retry-After "3600" always;`,
		`add_header Cache-Control "no-store" always;`,
		`add_header Content-Security-Policy "default-src 'none'; style-src \"x\"" always;`,
		"listen 127.0.0.1:8080;", "access_log off;", "error_page 503 /maint.html;",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("configuration lacks %q:\n%s", want, conf)
		}
	}
	for _, not := range []string{"add_header Date", "add_header Content-Length", "add_header Content-Type"} {
		if strings.Contains(conf, not) {
			t.Errorf("configuration has %q; nginx writes that header itself", not)
		}
	}
	hdr.Set("X-Bad", "$host")
	if _, err := nginxMaintConf("/tmp/x", 8080, hdr, true); err == nil {
		t.Error("a header with $ was accepted; nginx would expand it")
	}
}

func TestMedian(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		in   []float64
		want float64
	}{"empty": {nil, 0}, "odd": {[]float64{3, 1, 2}, 2}, "even": {[]float64{4, 1, 3, 2}, 2.5}} {
		if got := median(tc.in); got != tc.want {
			t.Errorf("%s: median(%v) = %v, want %v", name, tc.in, got, tc.want)
		}
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	o, err := parseFlags([]string{"--smoke"}, &strings.Builder{})
	if err != nil {
		t.Fatal(err)
	}
	if o.rounds != 1 || o.duration.Seconds() != 1 || len(o.conns) != 1 || o.starts != 1 {
		t.Errorf("--smoke: got rounds %d, duration %v, conns %v, starts %d; want a one-second, one-round run", o.rounds, o.duration, o.conns, o.starts)
	}
	if _, err := parseFlags([]string{"--systems", "apache"}, &strings.Builder{}); err == nil {
		t.Error("an unknown system was accepted")
	}
}
