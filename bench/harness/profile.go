package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// --profile: after the runs, CPU profiles of the loads a goal is judged on, for the note that says
// why a goal is missed. Each target is started afresh and loaded as in its section while
// `perf record -g` samples the server's process (the kernel's share too: system calls, the network
// stack, scheduling — what pprof does not see). The profiled loads are not measured: perf takes
// CPU from them. Every report is written in full beside the results; the Markdown quotes its top.

// profileTarget is one profiled load: a system at a wrk connection count, or (conns 0) under h2load.
type profileTarget struct {
	ID    string
	Conns int
}

var profileTargets = []profileTarget{
	{"maintpage", 100}, {"maintpage", 1000}, {"gate", 100}, {"gate", 1000}, {"maintpage-h2c", 0},
}

// profile is one profiled load: the report files and their top lines.
type profile struct {
	System   string   `json:"system"`
	Conns    int      `json:"conns"` // 0: h2load -c 100 -m 10
	File     string   `json:"file,omitempty"`
	Self     []string `json:"self,omitempty"`     // the top of the report by own time (perf --no-children)
	Children []string `json:"children,omitempty"` // the top by time including callees (perf --children)
	Error    string   `json:"error,omitempty"`
}

const (
	profileRate  = "499" // samples per second: an odd rate, so it does not beat with a periodic task
	profileLines = 15    // lines of each report quoted in the Markdown
)

// profileAll records every target whose system is selected into dir/profiles, as DATE-target.txt.
func (h *harness) profileAll(ctx context.Context, systems []*system, o options, dir, date string, logf func(string, ...any)) []profile {
	var ps []profile
	for _, t := range profileTargets {
		s := findSystem(systems, t.ID)
		if s == nil || ctx.Err() != nil {
			continue
		}
		logf("profiling %s at %s", t.ID, conLabel(t.Conns))
		p := h.profileOne(ctx, s, t.Conns, o, dir, date)
		if p.Error != "" {
			logf("profile of %s: %s", t.ID, p.Error)
		}
		ps = append(ps, p)
	}
	return ps
}

func conLabel(conns int) string {
	if conns == 0 {
		return fmt.Sprintf("h2load -c %d -m %d", h2Clients, h2Streams)
	}
	return "c=" + strconv.Itoa(conns)
}

func (h *harness) profileOne(ctx context.Context, s *system, conns int, o options, resultsDir, date string) (p profile) {
	p = profile{System: s.ID, Conns: conns}
	dir := filepath.Join(resultsDir, "profiles")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		p.Error = err.Error()
		return p
	}
	in, err := h.startChecked(s)
	if err != nil {
		p.Error = err.Error()
		return p
	}
	defer in.stop()
	url := "http://" + in.addr + benchPath
	// The load runs for the wrk duration; perf records its middle, a second in from each end.
	load := time.Duration(max(o.duration, 3*time.Second))
	done := make(chan error, 1)
	go func() {
		var err error
		if conns == 0 {
			var out []byte
			out, err = exec.CommandContext(ctx, h.h2load, "-D", strconv.Itoa(int(load/time.Second)), "-c", strconv.Itoa(h2Clients),
				"-m", strconv.Itoa(h2Streams), "-H", "Accept: text/html", url).CombinedOutput()
			if err != nil {
				err = fmt.Errorf("h2load: %w: %s", err, truncate(string(out), 200))
			}
		} else {
			_, _, err = runWrk(ctx, h.wrk, url, conns, load)
		}
		done <- err
	}()
	name := fmt.Sprintf("%s-%s-c%d", date, s.ID, conns)
	if conns == 0 {
		name = date + "-" + s.ID + "-h2load"
	}
	data := filepath.Join(dir, name+".perf.data")
	select {
	case err := <-done:
		p.Error = fmt.Sprintf("the load ended before perf started: %v", err)
		return p
	case <-time.After(time.Second):
	}
	rec := exec.CommandContext(ctx, h.perf, "record", "-F", profileRate, "-g", "-o", data, "-p", strconv.Itoa(in.main.cmd.Process.Pid),
		"--", "sleep", strconv.FormatFloat((load-2*time.Second).Seconds(), 'f', 1, 64))
	recOut, recErr := rec.CombinedOutput()
	if err := <-done; err != nil {
		p.Error = "load: " + err.Error()
		return p
	}
	if recErr != nil {
		p.Error = fmt.Sprintf("perf record: %v: %s (as root, or with kernel.perf_event_paranoid ≤ 1)", recErr, truncate(string(recOut), 200))
		return p
	}
	defer os.Remove(data)
	report := func(args ...string) (string, error) {
		args = append([]string{"report", "-i", data, "--stdio", "-g", "none", "--percent-limit", "0.5", "--sort", "dso,symbol"}, args...)
		out, err := exec.CommandContext(ctx, h.perf, args...).Output()
		if err != nil {
			return "", fmt.Errorf("perf %s: %w", strings.Join(args, " "), err)
		}
		return string(out), nil
	}
	self, err := report("--no-children")
	if err == nil {
		var children string
		if children, err = report("--children"); err == nil {
			p.Self, p.Children = perfTop(self, profileLines), perfTop(children, profileLines)
			p.File = "profiles/" + name + ".txt" // relative to the results
			err = os.WriteFile(filepath.Join(dir, name+".txt"), []byte("# own time (perf report --no-children)\n"+self+"\n# including callees (perf report --children)\n"+children), 0o644)
		}
	}
	if err != nil {
		p.Error = err.Error()
	}
	return p
}

// perfTop is the first n sample lines of a perf report --stdio, without its comments and the
// empty IPC columns perf adds at the end of each line.
func perfTop(report string, n int) []string {
	var top []string
	for _, l := range strings.Split(report, "\n") {
		if len(top) == n {
			break
		}
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		for strings.HasSuffix(t, " -") {
			t = strings.TrimSpace(strings.TrimSuffix(t, "-"))
		}
		top = append(top, strings.Join(strings.Fields(t), " "))
	}
	return top
}

// profileMarkdown quotes the top of every profile.
func (r *results) profileMarkdown() string {
	if len(r.Profiles) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("## CPU profiles (--profile)\n\n" +
		"After the runs, each target started afresh and loaded as in its section (wrk for --duration, or h2load -D for as long) while " +
		"`perf record -F " + profileRate + " -g -p PID` sampled the server's process for all but the first and last second; these loads are not " +
		"measured. The top of each report by own time and by time including callees (kernel symbols are marked [k]); the whole reports are in the files named.\n\n")
	for _, p := range r.Profiles {
		fmt.Fprintf(&b, "### %s, %s\n\n", p.System, conLabel(p.Conns))
		if p.Error != "" {
			fmt.Fprintf(&b, "Not recorded: %s\n\n", truncate(p.Error, 300))
			continue
		}
		fmt.Fprintf(&b, "File: [%s](%s)\n\n", p.File, p.File)
		fmt.Fprintf(&b, "```text\n# own time\n%s\n# including callees\n%s\n```\n\n", strings.Join(p.Self, "\n"), strings.Join(p.Children, "\n"))
	}
	return b.String()
}
