package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The request log's rows (issue 15): maintpage serve with its request log on, in each log_requests
// mode, beside the "maintpage" row whose log is off, so that the table shows what logging costs;
// and the bytes each mode writes, for the log volume per hour at the benchmark's rate.

func logSystems() []*system {
	mk := func(mode, name string) *system {
		return &system{ID: "maintpage-log-" + mode, Name: name, Group: "maintenance", Baseline: "nginx", Want: 503,
			start: func(h *harness) (*instance, error) { return startMaintpageLogged(h, mode) }}
	}
	return []*system{
		mk("summary", "maintpage serve, request log: summary (the default)"),
		mk("sample", "maintpage serve, request log: sample (1 in 100)"),
		mk("all", "maintpage serve, request log: all"),
	}
}

// startMaintpageLogged runs maintpage serve with its defaults but log_requests, its request log
// (stdout) going to a file of its own, as a container runtime's log driver would take it.
func startMaintpageLogged(h *harness, mode string) (*instance, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	dir, err := h.newDir("maintpage-log-" + mode)
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	reqLog := filepath.Join(dir, "requests.log")
	// exec: the shell only redirects stdout; the process measured is maintpage itself.
	p, err := startProc("maintpage", dir, childEnv("MAINTPAGE_LISTEN="+addr, "MAINTPAGE_LOG_REQUESTS="+mode),
		filepath.Join(dir, "out.log"), "/bin/sh", "-c", `exec "$0" serve >"$1"`, h.maintpage, reqLog)
	if err != nil {
		return nil, err
	}
	in, err := ready(p, addr, 503)
	if err != nil {
		return nil, err
	}
	in.requestLog = reqLog
	return in, nil
}

// logFlushWait is longer than maintpage's flush interval (200 ms): after it, every line of the
// requests answered before it is in the file.
const logFlushWait = 400 * time.Millisecond

func fileSize(path string) int64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logBefore is called before the measured load; it returns the log's size once everything before
// it is written.
func (in *instance) logBefore() int64 {
	if in.requestLog == "" {
		return 0
	}
	time.Sleep(logFlushWait)
	return fileSize(in.requestLog)
}

// logAfter records in c what the log got during the measured load, then stops the instance to read
// the line its shutdown writes (the summary).
func (in *instance) logAfter(c *cell, before int64) {
	if in.requestLog == "" {
		return
	}
	time.Sleep(logFlushWait)
	after := fileSize(in.requestLog)
	in.stop()
	b, err := os.ReadFile(in.requestLog)
	if err != nil || int64(len(b)) < after {
		c.Error = fmt.Sprintf("request log: %v (%d bytes, want at least %d)", err, len(b), after)
		return
	}
	c.LogBytes = after - before
	c.LogLines = int64(bytes.Count(b[before:after], []byte("\n")))
	if i := bytes.LastIndex(b, []byte(`"msg":"requests"`)); i >= 0 {
		start := bytes.LastIndexByte(b[:i], '\n') + 1
		end := bytes.IndexByte(b[i:], '\n')
		if end >= 0 {
			c.SummaryLineBytes = int64(i + end + 1 - start)
		}
	}
}

// logMarkdown is the section on what each mode writes: per second and per hour at the rate
// measured, from the bytes the log file grew by during the measured load.
func (r *results) logMarkdown() string {
	var b strings.Builder
	var rows []string
	for _, s := range r.systems {
		mode, ok := strings.CutPrefix(s.ID, "maintpage-log-")
		if !ok {
			continue
		}
		for _, conns := range r.Conns {
			var reqs, bytesW, lines, secs float64
			var sumLine int64
			for _, c := range r.Cells {
				if c.System != s.ID || c.Conns != conns || c.Result == nil || c.Error != "" {
					continue
				}
				reqs += float64(c.Result.Requests)
				bytesW += float64(c.LogBytes)
				lines += float64(c.LogLines)
				secs += c.Result.Seconds
				sumLine = max(sumLine, c.SummaryLineBytes)
			}
			if secs == 0 {
				continue
			}
			rate := reqs / secs
			perHour := bytesW / secs * 3600
			note := fmt.Sprintf("%.1f B per request", bytesW/max(reqs, 1))
			if mode == "summary" {
				// One line per log_summary_interval (10s), whatever the rate: the load is shorter
				// than that, so the line is the one written at shutdown.
				perHour = float64(sumLine) * 360
				note = fmt.Sprintf("one line of %d B per 10 s (360 an hour); %.0f B in the load itself", sumLine, bytesW)
			}
			rows = append(rows, fmt.Sprintf("| %s | %d | %.0f | %.0f | %s | %s | %s |\n",
				mode, conns, rate, lines/secs, fmtBytes(bytesW/secs)+"/s", fmtBytes(perHour), note))
		}
	}
	if len(rows) == 0 {
		return ""
	}
	b.WriteString("## Request log volume\n\n")
	b.WriteString("What each `log_requests` mode wrote to stdout (a file) while the load ran — bytes the file grew by, " +
		"from before the measured run to 400 ms after it (maintpage flushes every 200 ms) — and the volume an hour " +
		"at that rate. Every request here is a plain maintenance answer, so summary and sample write almost nothing; " +
		"other requests (reserved paths, bypassed and proxied ones) get a line each in every mode.\n\n")
	b.WriteString("| log_requests | conns | req/s | lines/s | log written | per hour at this rate | note |\n|---|--:|--:|--:|--:|--:|---|\n")
	for _, row := range rows {
		b.WriteString(row)
	}
	b.WriteString("\n")
	return b.String()
}

func fmtBytes(v float64) string {
	switch {
	case v >= 1<<30:
		return fmt.Sprintf("%.1f GiB", v/(1<<30))
	case v >= 1<<20:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case v >= 1<<10:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	}
	return fmt.Sprintf("%.0f B", v)
}
