package respond

import (
	"strings"
	"testing"
	"time"

	"github.com/maintpage/maintpage/internal/config"
)

func TestRenderPreview(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load("", nil, map[string]string{"message": "Configured message"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	tests := map[string]struct {
		q          PreviewRequest
		status     *Status
		want       []string
		retryAfter string
		wantErr    string
	}{
		"planned":          {q: PreviewRequest{Format: "json"}, want: []string{`"detail":"Configured message"`}, retryAfter: "3600"},
		"until, invented":  {q: PreviewRequest{State: "until", Format: "json"}, want: []string{`"until":"2030-01-01T13:00:00Z"`}, retryAfter: "3600"},
		"until, the state": {q: PreviewRequest{State: "until", Format: "text"}, status: &Status{Message: "From the state", Until: now.Add(2 * time.Hour)}, want: []string{"From the state", "2030-01-01 14:00 UTC"}, retryAfter: "7200"},
		"overdue":          {q: PreviewRequest{State: "overdue", Format: "problem+json"}, want: []string{`"overdue":true`, `"until":"2030-01-01T11:30:00Z"`}},
		"unplanned":        {q: PreviewRequest{State: "unplanned", Lang: "de", Format: "html"}, want: []string{"Vorübergehend nicht erreichbar", `lang="de"`}},
		"bad state":        {q: PreviewRequest{State: "down"}, wantErr: `state "down": use one of planned, until, overdue, unplanned`},
		"bad format":       {q: PreviewRequest{Format: "xml"}, wantErr: `format "xml": use one of html, json, problem+json, text`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p, err := RenderPreview(Options{Config: cfg, Now: clock, Status: tc.status}, tc.q)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(p.Body), w) {
					t.Errorf("body does not contain %q:\n%s", w, p.Body)
				}
			}
			if p.Status != 503 || p.Header.Get("X-Robots-Tag") != "noindex" || p.Header.Get("Maintpage-Preview") == "" {
				t.Errorf("got status %d, headers %v; want 503 recorded, noindex and Maintpage-Preview", p.Status, p.Header)
			}
			if tc.retryAfter != "" && p.Header.Get("Retry-After") != tc.retryAfter {
				t.Errorf("Retry-After = %q, want %q", p.Header.Get("Retry-After"), tc.retryAfter)
			}
		})
	}
}
