package cli_test

import (
	"regexp"
	"strings"
	"testing"
)

// TestBinaryMemoryLimit: the real binary runs with DefaultMemoryLimit unless GOMEMLIMIT or GOGC is
// set, says so in its start-up log, and the Go runtime's own figure (go_gc_gomemlimit_bytes, read
// by the Prometheus Go collector from runtime/metrics) agrees.
func TestBinaryMemoryLimit(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		env        []string
		log        string
		gomemlimit string // go_gc_gomemlimit_bytes as the collector prints it
	}{
		"default":    {nil, `"memory_limit":"32 MiB","memory_limit_from":"default"`, "3.3554432e+07"},
		"GOMEMLIMIT": {[]string{"GOMEMLIMIT=100MiB"}, `"memory_limit":"100 MiB","memory_limit_from":"GOMEMLIMIT"`, "1.048576e+08"},
		"GOGC":       {[]string{"GOGC=200"}, `"memory_limit":"none","memory_limit_from":"GOGC"`, "9.223372036854776e+18"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := start(t, append([]string{"MAINTPAGE_METRICS_LISTEN=127.0.0.1:0"}, tc.env...), "serve")
			if !strings.Contains(p.logs(), tc.log) {
				t.Errorf("start-up log lacks %s:\n%s", tc.log, p.logs())
			}
			body := metrics(t, p)
			got := regexp.MustCompile(`(?m)^go_gc_gomemlimit_bytes (\S+)$`).FindStringSubmatch(string(body))
			if got == nil || got[1] != tc.gomemlimit {
				t.Errorf("go_gc_gomemlimit_bytes %v, want %s", got, tc.gomemlimit)
			}
		})
	}
}
