package cli

import (
	"math"
	"runtime"
	"runtime/metrics"
	"testing"
)

func TestMemoryLimitSource(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"nothing set":    {nil, "default"},
		"GOMEMLIMIT":     {map[string]string{"GOMEMLIMIT": "100MiB"}, "GOMEMLIMIT"},
		"GOMEMLIMIT off": {map[string]string{"GOMEMLIMIT": "off"}, "GOMEMLIMIT"},
		"GOGC alone":     {map[string]string{"GOGC": "200"}, "GOGC"},
		"GOGC off":       {map[string]string{"GOGC": "off"}, "GOGC"},
		"both":           {map[string]string{"GOGC": "50", "GOMEMLIMIT": "1GiB"}, "GOMEMLIMIT"},
		"empty is unset": {map[string]string{"GOMEMLIMIT": "", "GOGC": ""}, "default"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := memoryLimitSource(func(k string) string { return tc.env[k] }); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMemoryLimitFor(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	for name, tc := range map[string]struct {
		m    runtimeMemory
		want int64
	}{
		"idle process: the floor":       {runtimeMemory{heapLive: 2 * mib, globals: mib / 4, nonHeap: 5 * mib}, DefaultMemoryLimit},
		"just under the floor":          {runtimeMemory{heapLive: 10 * mib, nonHeap: 6 * mib}, DefaultMemoryLimit},
		"just over the floor":           {runtimeMemory{heapLive: 10 * mib, nonHeap: 6*mib + 1}, 32*mib + 2},
		"large live heap: twice":        {runtimeMemory{heapLive: 64 * mib, globals: mib, nonHeap: 7 * mib}, 144 * mib},
		"many connections: stacks":      {runtimeMemory{heapLive: 12 * mib, nonHeap: 30 * mib}, 84 * mib},
		"nothing read (unknown metric)": {runtimeMemory{}, DefaultMemoryLimit},
		"overflow: no limit":            {runtimeMemory{heapLive: math.MaxUint64 - 1, nonHeap: 2}, math.MaxInt64},
		"beyond int64 when doubled":     {runtimeMemory{heapLive: math.MaxInt64 / 2, nonHeap: 1}, math.MaxInt64},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := memoryLimitFor(tc.m); got != tc.want {
				t.Errorf("memoryLimitFor(%+v) = %d, want %d", tc.m, got, tc.want)
			}
		})
	}
}

func TestReadRuntimeMemory(t *testing.T) {
	t.Parallel()
	samples := make([]metrics.Sample, len(memoryMetrics))
	for i, name := range memoryMetrics {
		samples[i].Name = name
	}
	runtime.GC() // the live heap is measured by a cycle: 0 before the first
	metrics.Read(samples)
	for _, s := range samples {
		if s.Value.Kind() != metrics.KindUint64 {
			t.Errorf("%s: this Go does not have it (kind %v)", s.Name, s.Value.Kind())
		}
	}
	m := readRuntimeMemory(samples)
	// Every process has a live heap and goroutine stacks, and its non-heap memory is less than all
	// the runtime holds.
	if m.heapLive == 0 || m.nonHeap == 0 || m.nonHeap >= samples[2].Value.Uint64() {
		t.Errorf("readRuntimeMemory = %+v from %v", m, samples)
	}
}
