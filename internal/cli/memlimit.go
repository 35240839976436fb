package cli

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"sync"
)

// DefaultMemoryLimit is the floor of the Go runtime's soft memory limit (runtime/debug.SetMemoryLimit)
// the binary runs with when neither GOMEMLIMIT nor GOGC is set. The maintenance page allocates almost
// nothing per request, so with GOGC alone the collector seldom runs and what closed connections
// leave behind waits; the limit makes it collect, and the scavenger return memory, once the
// runtime's memory (heap, stacks, runtime structures; not the binary's own pages, ~17 MiB resident)
// nears it. 32 MiB is above what the page needs at 1000 busy connections (~17 MiB measured) so it
// costs no collection there, and it keeps the process, with the binary's pages, inside the 64 MiB
// of manifest.yml. docs/operating.md has the figures.
//
// It is only a floor: a fixed limit below what the program really holds makes the collector run
// back to back (capped only by the runtime's 50 % GC CPU limiter), which the GC guide
// (https://go.dev/doc/gc-guide, "Memory limit") warns against. So the default limit follows the
// live memory after every collection (see memoryLimitFor).
const DefaultMemoryLimit = 32 << 20

// SetMemoryLimit applies the default memory limit unless the user tuned the collector with
// GOMEMLIMIT or GOGC (then the runtime has read theirs, and nothing here touches the limit). The
// default starts at DefaultMemoryLimit and is raised and lowered after every collection by a tuner
// (memoryLimitFor) so that it never sits below twice the live memory. main calls it once, before
// anything else; stop ends the tuner (after it returns the limit is no longer changed) and is a
// no-op when the default does not apply.
func SetMemoryLimit(getenv func(string) string) (stop func()) {
	if memoryLimitSource(getenv) != "default" {
		return func() {}
	}
	debug.SetMemoryLimit(DefaultMemoryLimit)
	return startMemoryLimitTuner()
}

// memoryLimitSource says what decides the memory limit: GOMEMLIMIT, GOGC (set alone: no limit
// unless GOMEMLIMIT is set too, as the runtime does), or the default.
func memoryLimitSource(getenv func(string) string) string {
	switch {
	case getenv("GOMEMLIMIT") != "":
		return "GOMEMLIMIT"
	case getenv("GOGC") != "":
		return "GOGC"
	default:
		return "default"
	}
}

// memoryLimitAttrs are the log attributes of the limit in effect and where it comes from. With the
// default, the limit logged is the one at start (DefaultMemoryLimit, unless a collection has already
// raised it); go_gc_gomemlimit_bytes in the metrics is the runtime's current value.
func memoryLimitAttrs(getenv func(string) string) []any {
	limit := "none"
	if l := debug.SetMemoryLimit(-1); l != math.MaxInt64 {
		limit = strconv.FormatInt(l>>20, 10) + " MiB"
		if l%(1<<20) != 0 {
			limit = strconv.FormatInt(l, 10) + " bytes"
		}
	}
	return []any{"memory_limit", limit, "memory_limit_from", memoryLimitSource(getenv)}
}

// runtimeMemory is what the runtime holds that is not garbage, from runtime/metrics after a
// collection. The memory limit counts all memory the runtime has mapped and not released
// (/memory/classes/total minus /memory/classes/heap/released), so the non-heap part is taken the
// same way: everything but the heap's object, unused, free and released spans — goroutine stacks
// (/memory/classes/heap/stacks and os-stacks, which hold what /gc/scan/stack scans, so that one is
// not added again), GC and span metadata, profiling buckets and the runtime's other memory.
type runtimeMemory struct {
	heapLive uint64 // /gc/heap/live:bytes: the heap marked live by the last cycle
	globals  uint64 // /gc/scan/globals:bytes: counted by GOGC's goal, though not mapped by the runtime
	nonHeap  uint64 // total - heap objects, unused, free and released
}

// memoryMetrics are the runtime/metrics names read after each cycle, in the order readRuntimeMemory
// expects them.
var memoryMetrics = []string{
	"/gc/heap/live:bytes",
	"/gc/scan/globals:bytes",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/unused:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/released:bytes",
}

// readRuntimeMemory reads runtimeMemory from samples of memoryMetrics (a metric this Go does not
// know reads as 0).
func readRuntimeMemory(samples []metrics.Sample) runtimeMemory {
	v := make([]uint64, len(samples))
	for i, s := range samples {
		if s.Value.Kind() == metrics.KindUint64 {
			v[i] = s.Value.Uint64()
		}
	}
	m := runtimeMemory{heapLive: v[0], globals: v[1]}
	if heap := v[3] + v[4] + v[5] + v[6]; v[2] > heap {
		m.nonHeap = v[2] - heap
	}
	return m
}

// memoryLimitFor is the default memory limit for what the runtime holds: twice the live memory,
// never below DefaultMemoryLimit. Twice, because GOGC=100 lets the heap grow to the live heap plus
// as much again (plus stacks and globals) before it collects: a limit at twice the live memory
// sits above that goal, so with a large live heap the collector paces as GOGC=100 would and the
// limit never binds, and with a small one the 32 MiB cap holds and makes it collect what idle
// connections leave behind.
func memoryLimitFor(m runtimeMemory) int64 {
	live := m.heapLive + m.globals + m.nonHeap
	if live < m.heapLive || live > math.MaxInt64/2 { // overflow: no limit
		return math.MaxInt64
	}
	return max(DefaultMemoryLimit, int64(2*live))
}

// startMemoryLimitTuner sets the limit from memoryLimitFor after every collection until stop is
// called. It hangs on a finalizer of a sentinel object, re-armed each time it runs, rather than
// polling runtime/metrics: the finalizer runs once per cycle, right after the cycle has measured
// the live heap, so a spike that outgrows the limit is followed within one cycle (polling once a
// second would let the collector run back to back for up to a second at the old limit), and an idle
// process, which does not collect, pays nothing. The work per cycle is one metrics.Read of seven
// values on the runtime's finalizer goroutine.
func startMemoryLimitTuner() (stop func()) {
	t := &memoryLimitTuner{samples: make([]metrics.Sample, len(memoryMetrics))}
	for i, name := range memoryMetrics {
		t.samples[i].Name = name
	}
	t.arm()
	return t.stop
}

type memoryLimitTuner struct {
	mu      sync.Mutex // held while the limit is set, so that after stop nothing sets it
	stopped bool
	samples []metrics.Sample
}

// gcSentinel is the object whose finalizer runs after the cycle that found it unreachable; it is
// not a zero-size or tiny-allocated object (those may never be finalized).
type gcSentinel struct{ _ [16]byte }

func (t *memoryLimitTuner) arm() {
	runtime.SetFinalizer(&gcSentinel{}, func(*gcSentinel) { t.tune() })
}

func (t *memoryLimitTuner) tune() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return // and not re-armed: the sentinel chain ends here
	}
	metrics.Read(t.samples)
	debug.SetMemoryLimit(memoryLimitFor(readRuntimeMemory(t.samples)))
	t.arm()
}

func (t *memoryLimitTuner) stop() {
	t.mu.Lock()
	t.stopped = true
	t.mu.Unlock()
}
