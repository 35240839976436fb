package statetest

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// SentinelMaster is the name the sentinels of StartSentinel monitor.
const SentinelMaster = "mymaster"

// Sentinels is a Redis primary, one replica and three sentinels on 127.0.0.1, each on a free port.
type Sentinels struct {
	Addrs   []string // the sentinels'
	Primary string   // the primary's address at the start
	Replica string   // the replica's
	primary *redisProcess
}

// StartSentinel starts the primary, the replica and three sentinels (Debian's redis-server and
// redis-sentinel), and waits until every sentinel knows the replica and the two other sentinels —
// before that a failover cannot happen. A primary is judged down after one second without an
// answer. Everything is stopped when the test ends. Without the programs the test is skipped, or
// fails when CI is "true".
func StartSentinel(t *testing.T) *Sentinels {
	t.Helper()
	server := lookPath(t, "redis-server")
	sentinelBin := lookPath(t, "redis-sentinel")
	primary := &redisProcess{t: t, bin: server, dir: t.TempDir(), addr: freeAddr(t)}
	primary.start()
	t.Cleanup(primary.stop)
	host, port, _ := net.SplitHostPort(primary.addr)
	replica := &redisProcess{t: t, bin: server, dir: t.TempDir(), addr: freeAddr(t), extra: []string{"--replicaof", host, port}}
	replica.start()
	t.Cleanup(replica.stop)
	s := &Sentinels{Primary: primary.addr, Replica: replica.addr, primary: primary} // after start: a taken port moves them
	for range 3 {
		dir := t.TempDir()
		conf := func(addr string) []string {
			_, sport, _ := net.SplitHostPort(addr)
			file := filepath.Join(dir, "sentinel.conf")
			// Sentinel rewrites its configuration file as it learns, so each has its own.
			text := fmt.Sprintf(`bind 127.0.0.1
port %s
dir %s
logfile ""
loglevel warning
sentinel monitor %s %s %s 2
sentinel down-after-milliseconds %s 1000
sentinel failover-timeout %s 5000
sentinel parallel-syncs %s 1
`, sport, dir, SentinelMaster, host, port, SentinelMaster, SentinelMaster, SentinelMaster)
			if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			return []string{file}
		}
		p := &redisProcess{t: t, bin: sentinelBin, dir: dir, addr: freeAddr(t), argv: conf}
		p.start()
		t.Cleanup(p.stop)
		s.Addrs = append(s.Addrs, p.addr)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, a := range s.Addrs {
		for !s.knowsAll(a) {
			if time.Now().After(deadline) {
				t.Fatalf("sentinel %s did not see the replica and the other sentinels within 30s", a)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return s
}

func (s *Sentinels) knowsAll(addr string) bool {
	c := redis.NewSentinelClient(&redis.Options{Addr: addr, DialTimeout: time.Second, ReadTimeout: time.Second})
	defer c.Close()
	m, err := c.Master(context.Background(), SentinelMaster).Result()
	return err == nil && m["num-slaves"] == "1" && m["num-other-sentinels"] == "2"
}

// KillPrimary kills the primary as a crash would (SIGKILL).
func (s *Sentinels) KillPrimary() { s.primary.stop() }

// WaitFailover waits until every sentinel names the replica as the primary, and returns how long
// that took.
func (s *Sentinels) WaitFailover(t *testing.T, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for _, a := range s.Addrs {
		c := redis.NewSentinelClient(&redis.Options{Addr: a, DialTimeout: time.Second, ReadTimeout: time.Second})
		for {
			got, err := c.GetMasterAddrByName(context.Background(), SentinelMaster).Result()
			if err == nil && len(got) == 2 && net.JoinHostPort(got[0], got[1]) == s.Replica {
				break
			}
			if time.Since(start) > within {
				c.Close()
				t.Fatalf("sentinel %s still names %v as the primary after %v; want the replica %s", a, got, within, s.Replica)
			}
			time.Sleep(50 * time.Millisecond)
		}
		c.Close()
	}
	return time.Since(start)
}

// WaitReplicated waits until the replica has processed everything the primary has written, so that
// killing the primary loses nothing.
func (s *Sentinels) WaitReplicated(t *testing.T) {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: s.Primary, DialTimeout: time.Second})
	defer c.Close()
	// WAIT counts the acknowledgements of this connection's writes; replication keeps order, so
	// one write of ours acknowledged means every earlier one is too.
	if err := c.Set(context.Background(), "statetest:sync", time.Now().String(), 0).Err(); err != nil {
		t.Fatalf("write to the primary: %v", err)
	}
	if n, err := c.Wait(context.Background(), 1, 10*time.Second).Result(); err != nil || n < 1 {
		t.Fatalf("WAIT for the replica: %d replicas, %v", n, err)
	}
}
