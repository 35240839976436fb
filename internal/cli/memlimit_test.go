package cli

import (
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
