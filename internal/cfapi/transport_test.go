package cfapi

import (
	"net/http"
	"testing"
	"time"
)

func TestCFRetryAfter(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		header string
		want   time.Duration
	}{
		"absent":       {"", time.Second},
		"seconds":      {"3", 3 * time.Second},
		"zero":         {"0", 0},
		"date in past": {time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), 0},
		"garbage":      {"soon", time.Second},
	}
	for name, tc := range tests {
		if got := retryAfter(tc.header, time.Second); got != tc.want {
			t.Errorf("%s: got %v, want %v", name, got, tc.want)
		}
	}
}

func TestCFNormRoute(t *testing.T) {
	t.Parallel()
	tests := map[string]struct{ in, want string }{
		"plain":          {"my-app.example.com", "my-app.example.com"},
		"scheme + slash": {"https://My-App.Example.com/", "my-app.example.com"},
		"path kept":      {"http://shop.example.com/API/", "shop.example.com/API"},
	}
	for name, tc := range tests {
		if got := normRoute(tc.in); got != tc.want {
			t.Errorf("%s: got %q, want %q", name, got, tc.want)
		}
	}
}
