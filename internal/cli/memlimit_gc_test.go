package cli_test

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"testing"

	maintcli "github.com/maintpage/maintpage/internal/cli"
)

// gcCountChildEnv names, in the environment of a re-run of this test binary, the memory-limit mode
// countGCs measures (TestMain hands the process to gcCountChild before anything else runs).
const gcCountChildEnv = "MAINTPAGE_GC_COUNT_CHILD"

const (
	gcCountLive  = 64 << 20  // kept reachable: twice DefaultMemoryLimit
	gcCountAlloc = 512 << 20 // allocated and dropped while it is kept
)

// gcCountChild runs in a process of its own (the limit and GOGC are the whole process's): it keeps
// gcCountLive reachable, allocates gcCountAlloc of garbage in 64 KiB pieces, and prints how many
// collections that took and the limit at the end, as JSON.
func gcCountChild(mode string) {
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(math.MaxInt64)
	switch mode {
	case "gogc100":
	case "fixed":
		debug.SetMemoryLimit(maintcli.DefaultMemoryLimit)
	case "tuner":
		stop := maintcli.SetMemoryLimit(func(string) string { return "" })
		defer stop()
	default:
		fmt.Fprintf(os.Stderr, "unknown mode %q\n", mode)
		os.Exit(2)
	}
	live := make([][]byte, gcCountLive>>20)
	for i := range live {
		live[i] = make([]byte, 1<<20)
		live[i][0] = 1
	}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range gcCountAlloc >> 16 {
		gcCountSink = make([]byte, 64<<10)
	}
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(live)
	_ = json.NewEncoder(os.Stdout).Encode(map[string]int64{
		"gcs":   int64(after.NumGC - before.NumGC),
		"limit": debug.SetMemoryLimit(-1),
	})
	os.Exit(0)
}

var gcCountSink []byte

// TestMemoryLimitTunerPacesLikeGOGC: with a live heap above DefaultMemoryLimit, the fixed limit makes
// the collector run back to back, while the default's tuner lets it pace as GOGC=100 does. Counts of
// collections, not times, so a loaded machine changes little; the bounds are still generous.
func TestMemoryLimitTunerPacesLikeGOGC(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	for _, mode := range []string{"gogc100", "tuner", "fixed"} {
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), gcCountChildEnv+"="+mode, "GOGC=", "GOMEMLIMIT=")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", mode, err, out)
		}
		var got struct{ GCs, Limit int64 }
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("%s: %v in %q", mode, err, out)
		}
		t.Logf("%s: %d collections over %d MiB allocated with %d MiB live, limit at the end %d MiB",
			mode, got.GCs, gcCountAlloc>>20, gcCountLive>>20, got.Limit>>20)
		counts[mode] = got.GCs
		if mode == "tuner" && got.Limit < 2*gcCountLive {
			t.Errorf("tuner: limit %d MiB at the end, want at least twice the live %d MiB", got.Limit>>20, gcCountLive>>20)
		}
	}
	// GOGC=100 collects about every gcCountLive allocated: ~8 cycles. The tuner may lag one cycle
	// behind the live heap's growth at the start; the fixed limit collects far more often.
	if counts["tuner"] > 2*counts["gogc100"]+4 {
		t.Errorf("tuner: %d collections, want about GOGC=100's %d", counts["tuner"], counts["gogc100"])
	}
	if counts["fixed"] < 4*counts["tuner"] || counts["fixed"] < 4*counts["gogc100"] {
		t.Errorf("fixed limit: %d collections, want far more than the tuner's %d and GOGC=100's %d",
			counts["fixed"], counts["tuner"], counts["gogc100"])
	}
}
