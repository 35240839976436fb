package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// The HTTP/2 section: maintpage serve --h2c against nginx with `listen … http2;` (cleartext, prior
// knowledge), both answering maintpage's page, loaded with h2load as issue 11 measured them:
// h2load -n 200000 -c 100 -m 10 (one client thread, h2load's default: on these two cores a second
// one made nginx no faster, 84–102k against 108–111k req/s). Each run starts the server afresh, like
// the wrk sections.

const (
	h2Clients = 100 // h2load -c
	h2Streams = 10  // h2load -m: concurrent streams per connection
)

func h2Systems() []*system {
	return []*system{
		{ID: "maintpage-h2c", Name: "maintpage serve --h2c", Group: "h2", Baseline: "nginx-h2", Want: 503,
			start: func(h *harness) (*instance, error) { return startMaintpageWith(h, nil, []string{"--h2c"}, true) }},
		// As for HTTP/1, nginx is measured with sendfile on and off, and the faster is the reference.
		{ID: "nginx-h2", Name: "nginx http2 (sendfile on)", Group: "h2", Baseline: "nginx-h2", Want: 503,
			start: func(h *harness) (*instance, error) { return startNginxPage(h, true, true) }},
		{ID: "nginx-h2-nosendfile", Name: "nginx http2 (sendfile off)", Group: "h2", Baseline: "nginx-h2", Want: 503,
			start: func(h *harness) (*instance, error) { return startNginxPage(h, false, true) }},
	}
}

// h2loadResult is what one h2load run reported.
type h2loadResult struct {
	Requests  int64   `json:"requests"` // total
	Started   int64   `json:"started"`
	Done      int64   `json:"done"`
	Succeeded int64   `json:"succeeded"` // h2load: a status below 400
	Failed    int64   `json:"failed"`    // h2load: a status of 400 or more
	Errored   int64   `json:"errored"`
	Timeout   int64   `json:"timeout"`
	Status2xx int64   `json:"status_2xx"`
	Status3xx int64   `json:"status_3xx"`
	Status4xx int64   `json:"status_4xx"`
	Status5xx int64   `json:"status_5xx"`
	Seconds   float64 `json:"seconds"`
	RPS       float64 `json:"rps"`
	DataBytes int64   `json:"data_bytes"` // DATA frame payload: the bodies
	// "time for request": from sending a request to its last byte, over every request.
	MinMs  float64 `json:"request_min_ms"`
	MaxMs  float64 `json:"request_max_ms"`
	MeanMs float64 `json:"request_mean_ms"`
	SDMs   float64 `json:"request_sd_ms"`
}

// parseH2load reads h2load's report (nghttp2 1.52; testdata/h2load-*.txt).
func parseH2load(out string) (h2loadResult, error) {
	var r h2loadResult
	var haveFinished, haveRequests, haveStatus, haveTime bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		var err error
		switch {
		case strings.HasPrefix(line, "finished in "):
			// finished in 536.75ms, 37261.29 req/s, 239.66MB/s
			f := strings.Fields(strings.ReplaceAll(line, ",", ""))
			if len(f) < 5 || f[4] != "req/s" {
				return r, fmt.Errorf("line %q: want \"finished in T, N req/s, …\"", line)
			}
			var ms float64
			if ms, err = parseLatency(f[2]); err == nil {
				r.Seconds = ms / 1000
				r.RPS, err = strconv.ParseFloat(f[3], 64)
			}
			haveFinished = true
		case strings.HasPrefix(line, "requests: "):
			// requests: 20000 total, 20000 started, 20000 done, 0 succeeded, 20000 failed, 0 errored, 0 timeout
			err = countsByName(strings.TrimPrefix(line, "requests: "), map[string]*int64{
				"total": &r.Requests, "started": &r.Started, "done": &r.Done, "succeeded": &r.Succeeded, "failed": &r.Failed,
				"errored": &r.Errored, "timeout": &r.Timeout,
			})
			haveRequests = true
		case strings.HasPrefix(line, "status codes: "):
			// status codes: 0 2xx, 0 3xx, 0 4xx, 20000 5xx
			err = countsByName(strings.TrimPrefix(line, "status codes: "), map[string]*int64{
				"2xx": &r.Status2xx, "3xx": &r.Status3xx, "4xx": &r.Status4xx, "5xx": &r.Status5xx,
			})
			haveStatus = true
		case strings.HasPrefix(line, "traffic: "):
			// traffic: 128.64MB (134883900) total, 271.29KB (277800) headers (…), 127.85MB (134060000) data
			if i := strings.LastIndex(line, "("); i >= 0 && strings.HasSuffix(line, ") data") {
				r.DataBytes, err = strconv.ParseInt(line[i+1:len(line)-len(") data")], 10, 64)
			}
		case strings.HasPrefix(line, "time for request:"):
			// time for request:      587us    105.52ms     24.25ms     12.79ms    77.90%
			f := strings.Fields(strings.TrimPrefix(line, "time for request:"))
			if len(f) < 4 {
				return r, fmt.Errorf("line %q: want min, max, mean and sd", line)
			}
			for i, dst := range []*float64{&r.MinMs, &r.MaxMs, &r.MeanMs, &r.SDMs} {
				if *dst, err = parseLatency(f[i]); err != nil {
					break
				}
			}
			haveTime = true
		}
		if err != nil {
			return r, fmt.Errorf("line %q: %w", line, err)
		}
	}
	if !haveFinished || !haveRequests || !haveStatus || !haveTime {
		return r, fmt.Errorf("no \"finished in\", \"requests:\", \"status codes:\" or \"time for request:\" line in %q", truncate(out, 400))
	}
	return r, nil
}

// countsByName reads "N name, N name, …" into the named counters; every name must be known.
func countsByName(s string, dst map[string]*int64) error {
	for _, part := range strings.Split(s, ",") {
		f := strings.Fields(part)
		if len(f) != 2 {
			return fmt.Errorf("%q is not \"count name\"", part)
		}
		p, ok := dst[f[1]]
		if !ok {
			return fmt.Errorf("unknown count %q", f[1])
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return err
		}
		*p = n
	}
	return nil
}

// runH2load loads url over HTTP/2 with prior knowledge (h2load's way with an http:// URL), with
// Accept: text/html as wrk sends it.
func runH2load(ctx context.Context, h2load, url string, requests int) (h2loadResult, string, error) {
	args := []string{"-n", strconv.Itoa(requests), "-c", strconv.Itoa(h2Clients), "-m", strconv.Itoa(h2Streams),
		"-H", "Accept: text/html", url}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, h2load, args...).CombinedOutput()
	if err != nil {
		return h2loadResult{}, string(out), fmt.Errorf("h2load %s: %w: %s", strings.Join(args, " "), err, truncate(string(out), 300))
	}
	r, err := parseH2load(string(out))
	if err != nil {
		return r, string(out), fmt.Errorf("h2load output: %w", err)
	}
	return r, string(out), nil
}

// h2Problem says what is wrong with an h2load run whose every answer should have been a 503 with
// a body of bodyLen bytes, or "" when nothing is.
func h2Problem(r h2loadResult, requests, bodyLen int) string {
	n := int64(requests)
	switch {
	case r.Requests != n || r.Done != n:
		return fmt.Sprintf("h2load finished %d of %d requests (%d total)", r.Done, n, r.Requests)
	case r.Errored > 0 || r.Timeout > 0:
		return fmt.Sprintf("%d request(s) errored and %d timed out", r.Errored, r.Timeout)
	case r.Status5xx != n || r.Failed != n:
		return fmt.Sprintf("%d of %d answers were 5xx (2xx %d, 3xx %d, 4xx %d); want all 503", r.Status5xx, n, r.Status2xx, r.Status3xx, r.Status4xx)
	case r.DataBytes != n*int64(bodyLen):
		return fmt.Sprintf("%d body bytes for %d answers; want %d each", r.DataBytes, n, bodyLen)
	}
	return ""
}

// h2cell is one measured h2load run.
type h2cell struct {
	System     string        `json:"system"`
	Run        int           `json:"run"`
	Round      int           `json:"round"`
	Result     *h2loadResult `json:"result,omitempty"`
	PeakRSSKiB int64         `json:"peak_rss_kib"`
	Error      string        `json:"error,omitempty"`
	LoadBefore string        `json:"loadavg_before,omitempty"`
	LoadAfter  string        `json:"loadavg_after,omitempty"`
	Raw        string        `json:"h2load_output,omitempty"`
}

// measureH2 starts s afresh, checks its answer over HTTP/2, warms it up with a tenth of the
// requests when the wrk sections warm up too, loads it, reads its peak RSS and checks it again.
func (h *harness) measureH2(ctx context.Context, s *system, run, round int, o options) (c h2cell) {
	c = h2cell{System: s.ID, Run: run, Round: round, LoadBefore: loadAvg1()}
	defer func() { c.LoadAfter = loadAvg1() }()
	in, err := h.startChecked(s)
	if err != nil {
		c.Error = err.Error()
		return c
	}
	defer in.stop()
	url := "http://" + in.addr + benchPath
	if o.warmup > 0 {
		if _, _, err := runH2load(ctx, h.h2load, url, max(o.h2Requests/10, h2Clients)); err != nil {
			c.Error = "warm-up: " + err.Error()
			return c
		}
	}
	r, raw, err := runH2load(ctx, h.h2load, url, o.h2Requests)
	c.Raw = raw
	if err != nil {
		c.Error = err.Error()
		return c
	}
	c.Result = &r
	if c.PeakRSSKiB, _, err = in.main.peakRSS(); err != nil {
		c.Error = "peak RSS: " + err.Error()
		return c
	}
	if err := h.check(s, in); err != nil {
		c.Error = "after load: " + err.Error()
		return c
	}
	if p := h2Problem(r, o.h2Requests, len(h.ref.body)); p != "" {
		c.Error = p
	}
	return c
}

// fetchH2 is fetch over HTTP/2 with prior knowledge (h2c), as h2load asks; an answer over
// HTTP/1 is an error.
func fetchH2(addr string) (*http.Response, []byte, error) {
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protos}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+benchPath, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "text/html")
	resp, err := (&http.Client{Timeout: 5 * time.Second, Transport: tr}).Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.ProtoMajor != 2 {
		err = fmt.Errorf("answered over %s, want HTTP/2", resp.Proto)
	}
	return resp, body, err
}

// readyH2 is ready for a server that speaks HTTP/2 with prior knowledge.
func readyH2(p *proc, addr string, want int) (*instance, error) {
	d, err := firstAnswer(p, addr, want, readyTimeout, func() (int, error) {
		resp, _, err := fetchH2(addr)
		if err != nil {
			return 0, err
		}
		return resp.StatusCode, nil
	})
	if err != nil {
		p.stop()
		return nil, err
	}
	return &instance{addr: addr, main: p, startup: d}, nil
}
