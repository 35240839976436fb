package server

import (
	"bufio"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

func TestParseRequest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		head     string
		wantOK   bool
		wantKeep bool
		want     FastRequest
	}{
		{name: "curl", head: "GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n",
			wantOK: true, wantKeep: true, want: FastRequest{Method: "GET", Path: "/a/b", RawQuery: "x=1", Host: "example.com", Accept: "*/*"}},
		{name: "browser headers any case", head: "POST / HTTP/1.1\r\nhOsT: a.example:8080\r\nACCEPT: text/html\r\naccept-language: de\r\nCookie: a=b\r\nOrigin: https://x.example\r\nX-Forwarded-For: 203.0.113.7, 10.0.0.2\r\nContent-Length: 0\r\n\r\n",
			wantOK: true, wantKeep: true, want: FastRequest{Method: "POST", Path: "/", Host: "a.example:8080", Accept: "text/html", AcceptLanguage: "de", Cookie: "a=b", Origin: "https://x.example", XForwardedFor: "203.0.113.7, 10.0.0.2"}},
		{name: "connection close", head: "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
			wantOK: true, wantKeep: false, want: FastRequest{Method: "GET", Path: "/", Host: "h"}},
		{name: "value whitespace trimmed", head: "GET / HTTP/1.1\r\nHost: h\r\nAccept: \t text/plain \t\r\n\r\n",
			wantOK: true, wantKeep: true, want: FastRequest{Method: "GET", Path: "/", Host: "h", Accept: "text/plain"}},
		{name: "ipv6 host", head: "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
			wantOK: true, wantKeep: true, want: FastRequest{Method: "GET", Path: "/", Host: "[::1]:80"}},
		{name: "HTTP/1.0", head: "GET / HTTP/1.0\r\nHost: h\r\n\r\n"},
		{name: "HTTP/2 preface", head: "PRI * HTTP/2.0\r\n\r\n"},
		{name: "absolute form", head: "GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n"},
		{name: "percent-encoded path", head: "GET /a%20b HTTP/1.1\r\nHost: h\r\n\r\n"},
		{name: "no host", head: "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n"},
		{name: "two hosts", head: "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"},
		{name: "odd host", head: "GET / HTTP/1.1\r\nHost: a b\r\n\r\n"},
		{name: "body", head: "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\n"},
		{name: "chunked", head: "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"},
		{name: "expect", head: "POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n"},
		{name: "upgrade", head: "GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"},
		{name: "other connection token", head: "GET / HTTP/1.1\r\nHost: h\r\nConnection: TE\r\n\r\n"},
		{name: "bypass header", head: "GET / HTTP/1.1\r\nHost: h\r\nX-Maintpage-Bypass: s\r\n\r\n"},
		{name: "route service", head: "GET / HTTP/1.1\r\nHost: h\r\nX-CF-Forwarded-Url: https://a/\r\n\r\n"},
		{name: "folded header", head: "GET / HTTP/1.1\r\nHost: h\r\nAccept: text/html,\r\n text/plain\r\n\r\n"},
		{name: "space before colon", head: "GET / HTTP/1.1\r\nHost : h\r\n\r\n"},
		{name: "control in value", head: "GET / HTTP/1.1\r\nHost: h\r\nAccept: a\x01b\r\n\r\n"},
		{name: "repeated accept", head: "GET / HTTP/1.1\r\nHost: h\r\nAccept: a/b\r\nAccept: c/d\r\n\r\n"},
		{name: "bad method", head: "G(T / HTTP/1.1\r\nHost: h\r\n\r\n"},
		{name: "fragment", head: "GET /#x HTTP/1.1\r\nHost: h\r\n\r\n"},
		{name: "bare LF", head: "GET / HTTP/1.1\nHost: h\n\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got FastRequest
			keep, ok := parseRequest([]byte(tt.head), &got)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if !ok {
				return
			}
			if keep != tt.wantKeep || got != tt.want {
				t.Errorf("got %+v keep %v, want %+v keep %v", got, keep, tt.want, tt.wantKeep)
			}
		})
	}
}

func TestParseRequestAllocatesNothing(t *testing.T) {
	head := []byte("GET /a/b?x=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: Mozilla/5.0\r\nAccept: text/html,*/*;q=0.8\r\nAccept-Language: en-US,en;q=0.9\r\nCookie: a=b\r\n\r\n")
	var r FastRequest
	if n := testing.AllocsPerRun(100, func() { parseRequest(head, &r) }); n != 0 {
		t.Errorf("parseRequest allocated %v times, want 0", n)
	}
}

// FuzzParseRequest compares the parser with net/http's: every head the fast path takes must be one
// net/http's server takes too (http.ReadRequest plus the server's own checks, from
// net/http/server.go's readRequest), read the same way — same method, target, Host, the headers a
// ready answer depends on, and whether the connection stays open. Fed a prefix at a time, the parser
// must never refuse a part of a head it takes whole. The seeds are llhttp's request corpus.
func FuzzParseRequest(f *testing.F) {
	f.Add("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	f.Add("POST /x?y HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	f.Add("GET / HTTP/1.1\r\nHost: h\r\n a\r\n\r\n")
	b, err := os.ReadFile("testdata/llhttp/requests.txt")
	if err != nil {
		f.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if s, err := strconv.Unquote(line); err == nil {
			if head, _, ok := strings.Cut(s, "\r\n\r\n"); ok {
				f.Add(head + "\r\n\r\n")
			}
		}
	}
	f.Fuzz(func(t *testing.T, head string) {
		var r FastRequest
		keep, ok := parseRequest([]byte(head), &r)
		if !ok {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(head)))
		if err != nil {
			t.Fatalf("the fast path takes %q, http.ReadRequest refuses it: %v", head, err)
		}
		// What net/http's server checks beyond ReadRequest (which has moved the one Host to req.Host).
		if req.Host == "" || !httpguts.ValidHostHeader(req.Host) {
			t.Fatalf("the fast path takes %q, net/http's server refuses its Host %q", head, req.Host)
		}
		for k, vs := range req.Header {
			for _, v := range vs {
				if !httpguts.ValidHeaderFieldName(k) || !httpguts.ValidHeaderFieldValue(v) {
					t.Fatalf("the fast path takes %q, net/http's server refuses header %q: %q", head, k, v)
				}
			}
		}
		if req.ProtoMajor != 1 || req.ProtoMinor != 1 || req.ContentLength != 0 || len(req.TransferEncoding) != 0 {
			t.Fatalf("the fast path takes %q: net/http reads %s, Content-Length %d, Transfer-Encoding %q", head, req.Proto, req.ContentLength, req.TransferEncoding)
		}
		got := [...]string{r.Method, r.Path, r.RawQuery, r.Host, r.Accept, r.AcceptLanguage, r.Cookie, r.Origin, r.XForwardedFor}
		want := [...]string{req.Method, req.URL.Path, req.URL.RawQuery, req.Host, req.Header.Get("Accept"),
			req.Header.Get("Accept-Language"), req.Header.Get("Cookie"), req.Header.Get("Origin"), req.Header.Get("X-Forwarded-For")}
		if got != want {
			t.Fatalf("%q: the fast path reads %q, net/http %q", head, got, want)
		}
		if req.URL.Fragment != "" || req.URL.Host != "" || req.URL.Opaque != "" {
			t.Fatalf("%q: net/http reads a target the fast path does not take whole: %#v", head, req.URL)
		}
		if keep == req.Close {
			t.Fatalf("%q: the fast path keeps the connection %v, net/http's Close is %v", head, keep, req.Close)
		}
		for n := range len(head) {
			p := headParser{r: new(FastRequest)}
			if _, ok := p.feed([]byte(head[:n])); !ok {
				t.Fatalf("%q: the first %d bytes are refused, the whole head is taken", head, n)
			}
		}
	})
}
