package gate

import (
	"bufio"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// The proxy flushes only what streams (FlushInterval 0): ReverseProxy flushes event streams and
// bodies of unknown length after every write by itself. These tests pin that, so that a change of
// the flush setting cannot make a stream wait for the end of its response.

// streamUpstream answers with one part, flushed, then holds the response open until release.
func streamUpstream(t *testing.T, contentType, first string, release <-chan struct{}) *httptest.Server {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, first)
		http.NewResponseController(w).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(w, "last\n")
	}))
	t.Cleanup(up.Close)
	return up
}

// getFirst requests path through a gate in front of up and returns the response once its headers
// are in, failing the test if they take longer than a stream's should.
func getFirst(t *testing.T, up *httptest.Server, accept string) *http.Response {
	t.Helper()
	f := newFixture(t, map[string]string{"upstream": up.URL}, nil)
	gw := httptest.NewServer(f.g)
	t.Cleanup(gw.Close)
	req, err := http.NewRequest("GET", gw.URL+"/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("headers did not arrive while the upstream held the response open: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestStreamingEvents(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		contentType, first, accept string
	}{
		// An EventSource opens on the headers, before any event: they must not wait for one.
		"event stream, headers before the first event": {contentType: "text/event-stream", accept: "text/event-stream"},
		"event stream, first event":                    {contentType: "text/event-stream; charset=utf-8", first: "data: first\n\n", accept: "text/event-stream"},
		// A chunked body of unknown length (a long poll, a log tail) is a stream whatever its type.
		"chunked body, first chunk": {contentType: "application/x-ndjson", first: "{\"n\":1}\n"},
		"chunked body, no type":     {first: "first\n"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			release := make(chan struct{})
			defer close(release)
			resp := getFirst(t, streamUpstream(t, tt.contentType, tt.first, release), tt.accept)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status: got %d, want 200", resp.StatusCode)
			}
			if resp.ContentLength != -1 {
				t.Errorf("Content-Length: got %d, want none (a stream)", resp.ContentLength)
			}
			if tt.first == "" {
				return
			}
			got := make(chan string, 1)
			go func() {
				line, _ := bufio.NewReader(resp.Body).ReadString('\n')
				got <- line
			}()
			want, _, _ := strings.Cut(tt.first, "\n")
			want += "\n"
			select {
			case line := <-got:
				if line != want {
					t.Errorf("first line: got %q, want %q", line, want)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the first part did not arrive before the upstream finished the response")
			}
		})
	}
}

// The transport asks the upstream for no encoding the client did not ask for, and passes an encoded
// body through as it came (no transparent gzip, which would drop the Content-Length).
func TestNoEncodingAddedOrRemoved(t *testing.T) {
	t.Parallel()
	up := newEcho(t)
	f := newFixture(t, map[string]string{"upstream": up.URL}, nil)
	if got := decodeEcho(t, f.do("GET", "/", "", nil)).Header.Get("Accept-Encoding"); got != "" {
		t.Errorf("Accept-Encoding sent upstream for a client that sent none: got %q, want none", got)
	}
	if got := decodeEcho(t, f.do("GET", "/", "", map[string]string{"Accept-Encoding": "br"})).Header.Get("Accept-Encoding"); got != "br" {
		t.Errorf("Accept-Encoding: got %q, want the client's %q", got, "br")
	}

	gz := []byte("\x1f\x8b not really gzip, which a decompressing transport would choke on")
	enc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(gz)
	}))
	t.Cleanup(enc.Close)
	fe := newFixture(t, map[string]string{"upstream": enc.URL}, nil)
	w := fe.do("GET", "/", "", nil)
	if w.Code != http.StatusOK || w.Header().Get("Content-Encoding") != "gzip" || w.Body.String() != string(gz) {
		t.Errorf("got %d, Content-Encoding %q, body %q; want 200, gzip and the upstream's bytes",
			w.Code, w.Header().Get("Content-Encoding"), w.Body.String())
	}
}
