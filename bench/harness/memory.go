package main

import (
	"context"
	"fmt"
	"strings"
)

// The long-lived-process section: one maintpage serve process and one gate process (with its
// upstream) started once and kept running through --memory-rounds rounds of wrk at
// --memory-conns connections, their VmHWM (peak resident set) and VmRSS (resident set now) read
// after each round. Memory that only grows over rounds — per-connection buffers waiting for a GC
// that never comes, a pool that keeps what it once needed — shows here and not in the other
// sections, which start every process afresh. The goal row takes the VmHWM after the last round.

// memorySystems are the systems kept running, in the order they are loaded in each round.
var memorySystems = []string{"maintpage", "gate"}

// memRound is one system's figures after one round of the long-lived section.
type memRound struct {
	System       string  `json:"system"`
	Run          int     `json:"run"`
	Round        int     `json:"round"`
	Conns        int     `json:"conns"`
	RPS          float64 `json:"rps"`
	SocketErrors int64   `json:"socket_errors"`
	WrongStatus  int64   `json:"wrong_status"`
	VmHWMKiB     int64   `json:"vmhwm_kib"`
	VmRSSKiB     int64   `json:"vmrss_kib"`
	LoadBefore   string  `json:"loadavg_before,omitempty"`
	LoadAfter    string  `json:"loadavg_after,omitempty"`
	Error        string  `json:"error,omitempty"`
}

// memorySection runs the long-lived section of one run and adds its rounds (and failures) to res.
func (h *harness) memorySection(ctx context.Context, run int, systems []*system, o options, res *results, logf func(string, ...any)) {
	type live struct {
		s  *system
		in *instance
	}
	var procs []live
	defer func() {
		for _, p := range procs {
			p.in.stop()
		}
	}()
	for _, id := range memorySystems {
		s := findSystem(systems, id)
		if s == nil {
			continue
		}
		in, err := h.startChecked(s)
		if err != nil {
			res.fail("run %d, long-lived %s: %v", run, id, err)
			continue
		}
		procs = append(procs, live{s, in})
	}
	if len(procs) == 0 {
		return
	}
	for round := 1; round <= o.memRounds && ctx.Err() == nil; round++ {
		for _, p := range procs {
			m := memRound{System: p.s.ID, Run: run, Round: round, Conns: o.memConns, LoadBefore: loadAvg1()}
			r, _, err := runWrk(ctx, h.wrk, "http://"+p.in.addr+benchPath, o.memConns, o.memDuration)
			m.LoadAfter = loadAvg1()
			if err != nil {
				m.Error = err.Error()
			} else {
				m.RPS, m.SocketErrors = r.RPS, r.SocketErrors
				m.WrongStatus = wrongStatus(p.s, r)
				pid := p.in.main.cmd.Process.Pid
				if m.VmHWMKiB, err = procStatus(pid, "VmHWM"); err == nil {
					m.VmRSSKiB, err = procStatus(pid, "VmRSS")
				}
				if err != nil {
					m.Error = fmt.Sprintf("%s: %v (has it exited? %s)", p.s.ID, err, p.in.main.logTail(3))
				} else if m.WrongStatus > 0 {
					m.Error = fmt.Sprintf("%d response(s) with the wrong status class under load", m.WrongStatus)
				}
			}
			if m.Error != "" {
				res.fail("run %d, long-lived %s, round %d: %s", run, p.s.ID, round, m.Error)
			} else {
				logf("run %d, long-lived round %d/%d, %s: %.0f req/s, VmHWM %.1f MiB, VmRSS %.1f MiB",
					run, round, o.memRounds, p.s.ID, m.RPS, kibMiB(m.VmHWMKiB), kibMiB(m.VmRSSKiB))
			}
			res.Memory = append(res.Memory, m)
		}
	}
	for _, p := range procs {
		if err := h.check(p.s, p.in); err != nil {
			res.fail("run %d, long-lived %s after its rounds: %v", run, p.s.ID, err)
		}
	}
}

func findSystem(systems []*system, id string) *system {
	for _, s := range systems {
		if s.ID == id {
			return s
		}
	}
	return nil
}

func kibMiB(kib int64) float64 { return float64(kib) / 1024 }

// memAt is one system's round in one run, if it was measured.
func (r *results) memAt(id string, run, round int) *memRound {
	for i := range r.Memory {
		m := &r.Memory[i]
		if m.System == id && m.Run == run && m.Round == round && m.Error == "" {
			return m
		}
	}
	return nil
}

// lastHWM is, per run, the VmHWM of id after the run's last round (only when every round before it
// was measured too: a process restarted halfway would not be long-lived).
func (r *results) lastHWM(id string) []float64 {
	var xs []float64
	for run := 1; run <= r.Runs; run++ {
		ok := r.MemoryRounds > 0
		for round := 1; round <= r.MemoryRounds; round++ {
			ok = ok && r.memAt(id, run, round) != nil
		}
		if ok {
			xs = append(xs, kibMiB(r.memAt(id, run, r.MemoryRounds).VmHWMKiB))
		}
	}
	return xs
}

// memoryMarkdown is the long-lived section's table: per round, each system's req/s, VmHWM and
// VmRSS, medians over runs with their range.
func (r *results) memoryMarkdown() string {
	var ids []string
	for _, id := range memorySystems {
		for _, m := range r.Memory {
			if m.System == id {
				ids = append(ids, id)
				break
			}
		}
	}
	if len(ids) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## Memory of a long-lived process\n\n"+
		"One maintpage serve process (request log off, as in the tables above) and one gate process with its upstream, each "+
		"started once per run and kept running through %d rounds of wrk at %d connections, %s each, loaded in turn. "+
		"VmHWM is the process's peak resident set so far, VmRSS its resident set after the round, from /proc/PID/status. "+
		"Figures are medians over %d run(s), with the range over runs in brackets.\n\n",
		r.MemoryRounds, r.MemoryConns, r.MemoryDuration, r.Runs)
	b.WriteString("| round |")
	sep := "|--:|"
	for _, id := range ids {
		fmt.Fprintf(&b, " %s req/s | %s VmHWM | %s VmRSS |", id, id, id)
		sep += "--:|--:|--:|"
	}
	b.WriteString("\n" + sep + "\n")
	for round := 1; round <= r.MemoryRounds; round++ {
		fmt.Fprintf(&b, "| %d |", round)
		for _, id := range ids {
			var rps, hwm, rss []float64
			for run := 1; run <= r.Runs; run++ {
				if m := r.memAt(id, run, round); m != nil {
					rps = append(rps, m.RPS)
					hwm = append(hwm, kibMiB(m.VmHWMKiB))
					rss = append(rss, kibMiB(m.VmRSSKiB))
				}
			}
			fmt.Fprintf(&b, " %s | %s | %s |", spreadOf(rps).format(fmtRPS), spreadOf(hwm).format(fmtMiB), spreadOf(rss).format(fmtMiB))
		}
		b.WriteString("\n")
	}
	b.WriteString("\n")
	return b.String()
}
