package cli_test

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/maintpage/maintpage/internal/state/statetest"
)

// TestGatesOnSentinelSurvivePrimaryLoss runs two real gates on a Sentinel URL (real redis-server and
// redis-sentinel: a primary, a replica, three sentinels), kills the primary while requests flow, and
// checks that no request fails, that the state saved before the failover is still served after it,
// and that once the sentinels have promoted the replica `maintpage off` and `maintpage on` reach
// both gates within 2s of the command returning.
func TestGatesOnSentinelSurvivePrimaryLoss(t *testing.T) {
	t.Parallel()
	s := statetest.StartSentinel(t)
	store := "redis+sentinel://" + strings.Join(s.Addrs, ",") + "/" + statetest.SentinelMaster + "/0"
	app := appUpstream(t)
	env := []string{"MAINTPAGE_UPSTREAM=" + app.URL, "MAINTPAGE_STATE=" + store}
	a, b := start(t, env, "serve"), start(t, env, "serve")
	waitAll(t, 200, 10*time.Second, a, b)
	cli(t, nil, "on", "--state", store, "--message", "Before the failover")
	waitAll(t, 503, 5*time.Second, a, b)
	s.WaitReplicated(t)

	// Load on both gates. Until `off` runs after the failover, every answer must be the maintenance
	// page: a failed request or an app answer (a lost state) counts against the store.
	var offSent atomic.Bool
	traffic := startTraffic(4, []*proc{a, b}, func(status int, body string) string {
		switch {
		case status == 503 && strings.Contains(body, "Before the failover"):
			return "maintenance"
		case status == 503 && offSent.Load():
			return "maintenance after"
		case status == 200 && body == "app" && offSent.Load():
			return "app"
		}
		return ""
	})
	time.Sleep(300 * time.Millisecond)
	s.KillPrimary()
	t.Logf("the sentinels promoted the replica %v after the kill", s.WaitFailover(t, 30*time.Second).Round(time.Millisecond))

	offSent.Store(true)
	for _, step := range []struct {
		args []string
		want int
	}{
		{[]string{"off", "--state", store}, 200},
		{[]string{"on", "--state", store, "--message", "After the failover"}, 503},
	} {
		began := time.Now()
		cli(t, nil, step.args...)
		ran := time.Since(began)
		took := waitAll(t, step.want, 2*time.Second, a, b)
		t.Logf("maintpage %s: the command took %v; both gates answered %d %v after it returned",
			step.args[0], ran.Round(time.Millisecond), step.want, took.Round(time.Millisecond))
	}
	counts := traffic.stop(t)
	if counts["maintenance"] == 0 {
		t.Errorf("got %v, want maintenance answers across the failover", counts)
	}
}
