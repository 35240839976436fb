package gate

import (
	"testing"

	"github.com/maintpage/maintpage/internal/state"
)

// A path bypass lets anonymous traffic (health checks) through to the application; it says nothing
// about who is asking, so it must not open the preview, which is for the team only.
func TestPreviewIsNotOpenedByAPathBypass(t *testing.T) {
	t.Parallel()
	up := newEcho(t)
	f := newFixture(t, map[string]string{
		"upstream":      up.URL,
		"bypass_secret": "a-bypass-secret-of-enough-length",
		"bypass_paths":  "/_maintenance/,/healthz",
	}, nil)
	f.set(t, state.State{On: true, Message: "Back soon"})
	tests := []struct {
		name   string
		header map[string]string
		want   int
	}{
		{"anonymous", nil, 401},
		{"bypass header", map[string]string{"X-Maintpage-Bypass": "a-bypass-secret-of-enough-length"}, 200},
	}
	for _, tt := range tests {
		if w := f.do("GET", "/_maintenance/preview?state=until", "", tt.header); w.Code != tt.want {
			t.Errorf("%s: preview got %d, want %d", tt.name, w.Code, tt.want)
		}
	}
}
