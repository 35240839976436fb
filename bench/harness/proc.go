package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// proc is one server the harness started, in its own process group so that stopping it also stops
// its workers (nginx, gunicorn).
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	started time.Time
	done    chan struct{}
	waitErr error
}

// live holds every process group not yet stopped, so that an error or Ctrl-C can stop them all.
var live = struct {
	sync.Mutex
	m map[*proc]bool
}{m: map[*proc]bool{}}

// startProc starts argv with its output in logPath.
func startProc(name, dir string, env []string, logPath string, argv ...string) (*proc, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Pdeathsig stops the server even when the harness itself is killed with SIGKILL.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &proc{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s (%s): %w", name, argv[0], err)
	}
	live.Lock()
	live.m[p] = true
	live.Unlock()
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, then SIGKILL to what is left after two seconds.
func (p *proc) stop() {
	pgid := p.cmd.Process.Pid
	syscall.Kill(-pgid, syscall.SIGTERM) //nolint:errcheck // ESRCH: already gone
	select {
	case <-p.done:
	case <-time.After(2 * time.Second):
	}
	// Workers may outlive their master; the group goes in any case.
	syscall.Kill(-pgid, syscall.SIGKILL) //nolint:errcheck // ESRCH: already gone
	<-p.done
	live.Lock()
	delete(live.m, p)
	live.Unlock()
}

// stopAll stops every process group still running (on error, Ctrl-C and at the end).
func stopAll() {
	live.Lock()
	ps := make([]*proc, 0, len(live.m))
	for p := range live.m {
		ps = append(ps, p)
	}
	live.Unlock()
	for _, p := range ps {
		p.stop()
	}
}

// logTail returns the last lines of the process's output, for error messages.
func (p *proc) logTail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// peakRSS sums VmHWM (the peak resident set) over every process in the group: nginx's master and
// workers, gunicorn's arbiter and workers, or the single process of the others.
func (p *proc) peakRSS() (kib int64, procs int, err error) {
	pgid := p.cmd.Process.Pid
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0, err
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the command name, which is in parentheses and may hold spaces:
		// state ppid pgrp ...
		i := bytes.LastIndexByte(stat, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 3 || f[2] != strconv.Itoa(pgid) {
			continue
		}
		hwm, err := vmHWM(pid)
		if err != nil {
			continue // exited between the two reads
		}
		kib += hwm
		procs++
	}
	if procs == 0 {
		return 0, 0, fmt.Errorf("no process left in group %d", pgid)
	}
	return kib, procs, nil
}

func vmHWM(pid int) (int64, error) { return procStatus(pid, "VmHWM") }

// procStatus reads one kB figure of /proc/PID/status: VmHWM (the peak resident set) or VmRSS (the
// resident set now).
func procStatus(pid int, field string) (int64, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, errors.New("no " + field)
}

// freePort asks the kernel for a free loopback port. Another process could take it before the
// server binds it; on this machine that is unlikely, and a failure to start says so.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// firstResponse polls addr in a tight loop (TCP connect, then one request) until it answers with
// want, and returns how long after p started that was. It fails when the process exits or the
// deadline passes.
func firstResponse(p *proc, addr, path string, want int, deadline time.Duration) (time.Duration, error) {
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nAccept: text/html\r\nConnection: close\r\n\r\n")
	return firstAnswer(p, addr, want, deadline, func() (int, error) { return probe(addr, req) })
}

// firstAnswer polls with ask (one request, its status) until it answers want; see firstResponse.
func firstAnswer(p *proc, addr string, want int, deadline time.Duration, ask func() (int, error)) (time.Duration, error) {
	end := p.started.Add(deadline)
	var last error
	for time.Now().Before(end) {
		if p.exited() {
			return 0, fmt.Errorf("%s exited before answering (%v): %s", p.name, p.waitErr, p.logTail(5))
		}
		status, err := ask()
		if err == nil && status == want {
			return time.Since(p.started), nil
		}
		if err == nil {
			err = fmt.Errorf("answered %d, want %d", status, want)
		}
		last = err
		time.Sleep(200 * time.Microsecond)
	}
	return 0, fmt.Errorf("%s did not answer %d on %s within %v (last: %v); its output: %s", p.name, want, addr, deadline, last, p.logTail(5))
}

func probe(addr string, req []byte) (int, error) {
	c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second)) //nolint:errcheck // a fresh conn
	if _, err := c.Write(req); err != nil {
		return 0, err
	}
	line, err := bufio.NewReader(io.LimitReader(c, 4096)).ReadString('\n')
	if err != nil {
		return 0, err
	}
	// HTTP/1.1 503 Service Unavailable
	f := strings.Fields(line)
	if len(f) < 2 {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	return strconv.Atoi(f[1])
}
