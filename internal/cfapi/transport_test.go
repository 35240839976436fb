package cfapi

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"golang.org/x/oauth2"
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

// TestCFTokenOnlyToTheAPI: the token is added for the Cloud Controller's scheme and host only.
func TestCFTokenOnlyToTheAPI(t *testing.T) {
	t.Parallel()
	var got []string
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = append(got, r.URL.Host+" "+r.Header.Get("Authorization"))
		return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
	})
	api, _ := url.Parse("https://api.example.com")
	src := &tokenSource{tok: &oauth2.Token{AccessToken: "t0k", TokenType: "bearer", Expiry: time.Now().Add(time.Hour)}}
	tr := &authTransport{base: base, src: src, api: api}
	for _, u := range []string{"https://api.example.com/v3/routes", "https://evil.example.net/v3/routes", "http://api.example.com/v3/routes"} {
		req, _ := http.NewRequest("GET", u, nil)
		if _, err := tr.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"api.example.com Bearer t0k", "evil.example.net ", "api.example.com "}
	if !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
