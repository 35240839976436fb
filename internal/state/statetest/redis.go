package statetest

import (
	"bufio"
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// StartRedis starts a redis-server on 127.0.0.1 on a free port, with no
// persistence and its own directory, and waits until it answers. stop kills
// it the way a crash would (SIGKILL); restart starts a fresh, empty server
// on the same address. Both may be called any number of times, from the test
// goroutine; the server is stopped when the test ends.
//
// Without redis-server on PATH the test is skipped, unless the environment
// variable CI is "true": there it fails, so that CI cannot pass by skipping.
func StartRedis(t *testing.T) (addr string, stop func(), restart func()) {
	t.Helper()
	r := &redisProcess{t: t, bin: lookPath(t, "redis-server"), dir: t.TempDir(), addr: freeAddr(t)}
	r.start()
	t.Cleanup(r.stop)
	return r.addr, r.stop, func() { t.Helper(); r.stop(); r.start() }
}

// lookPath finds a program the test needs; without it the test is skipped, unless the environment
// variable CI is "true": there it fails, so that CI cannot pass by skipping.
func lookPath(t *testing.T, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatalf("%s not found on PATH, and CI=true forbids skipping: %v", name, err)
		}
		t.Skipf("%s not found on PATH (%v); install it to run this test", name, err)
	}
	return bin
}

type redisProcess struct {
	t    *testing.T
	bin  string
	dir  string
	addr string
	// argv, when set, makes the command line for an address (a sentinel's configuration file);
	// extra is added to the default one (a replica's --replicaof).
	argv  func(addr string) []string
	extra []string
	// ever is set once the server has started: only a first start may move to another port.
	ever bool

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	log    *bytes.Buffer
}

// freeAddr asks the kernel for a free port. Another process could take it
// before redis-server binds it; start then fails with redis-server's own
// message rather than hanging.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	return addr
}

func (r *redisProcess) start() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd != nil {
		return
	}
	for try := 1; ; try++ {
		log, err := r.try()
		if err == nil {
			r.ever = true
			return
		}
		// Another process took the free port between freeAddr and the bind (many test
		// processes share the machine): a first start moves to another one.
		if !r.ever && try < 5 && strings.Contains(log, "Address already in use") {
			r.addr = freeAddr(r.t)
			continue
		}
		r.t.Fatalf("%s on %s: %v: %s", filepath.Base(r.bin), r.addr, err, log)
	}
}

// try starts the process and waits until it answers PING; on failure it returns its output.
func (r *redisProcess) try() (string, error) {
	_, port, _ := net.SplitHostPort(r.addr)
	var args []string
	if r.argv != nil {
		args = r.argv(r.addr)
	} else {
		args = append([]string{
			"--bind", "127.0.0.1",
			"--port", port,
			"--save", "",
			"--appendonly", "no",
			"--dir", r.dir,
			"--dbfilename", "unused.rdb",
			"--logfile", "",
			"--loglevel", "warning",
		}, r.extra...)
	}
	cmd := exec.Command(r.bin, args...)
	log := new(bytes.Buffer)
	cmd.Stdout = log
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		return "", err
	}
	exited := make(chan struct{})
	// Ends when the process does; stop and the cleanup make sure it does.
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	r.cmd, r.exited, r.log = cmd, exited, log

	deadline := time.Now().Add(10 * time.Second)
	for {
		if ping(r.addr) {
			return "", nil
		}
		select {
		case <-exited:
			r.cmd = nil
			return log.String(), errors.New("exited at start")
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			r.cmd = nil
			return log.String(), errors.New("did not answer PING within 10s")
		}
	}
}

func (r *redisProcess) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	<-r.exited
	r.cmd = nil
}

// ping speaks just enough RESP to know the server is taking commands, which
// an open port alone does not prove.
func ping(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && line == "+PONG\r\n"
}
