package cli

import (
	"math"
	"runtime/debug"
	"strconv"
)

// DefaultMemoryLimit is the Go runtime's soft memory limit (runtime/debug.SetMemoryLimit) the
// binary runs with when neither GOMEMLIMIT nor GOGC is set. The maintenance page allocates almost
// nothing per request, so with GOGC alone the collector seldom runs and what closed connections
// leave behind waits; the limit makes it collect, and the scavenger return memory, once the
// runtime's memory (heap, stacks, runtime structures; not the binary's own pages, ~17 MiB resident)
// nears it. 32 MiB is above what the page needs at 1000 busy connections (~17 MiB measured) so it
// costs no collection there, and it keeps the process, with the binary's pages, inside the 64 MiB
// of manifest.yml. docs/operating.md has the figures.
const DefaultMemoryLimit = 32 << 20

// SetMemoryLimit applies DefaultMemoryLimit unless the user tuned the collector with GOMEMLIMIT or
// GOGC (then the runtime has read theirs). main calls it once, before anything else.
func SetMemoryLimit(getenv func(string) string) {
	if memoryLimitSource(getenv) == "default" {
		debug.SetMemoryLimit(DefaultMemoryLimit)
	}
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

// memoryLimitAttrs are the log attributes of the limit in effect and where it comes from.
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
