package server

import (
	"strings"
	"testing"
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
		{name: "browser headers any case", head: "POST / HTTP/1.1\r\nhOsT: a.example:8080\r\nACCEPT: text/html\r\naccept-language: de\r\nCookie: a=b\r\nOrigin: https://x.example\r\nContent-Length: 0\r\n\r\n",
			wantOK: true, wantKeep: true, want: FastRequest{Method: "POST", Path: "/", Host: "a.example:8080", Accept: "text/html", AcceptLanguage: "de", Cookie: "a=b", Origin: "https://x.example"}},
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

func FuzzParseRequest(f *testing.F) {
	f.Add("GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	f.Add("POST /x?y HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	f.Add("GET / HTTP/1.1\r\nHost: h\r\n a\r\n\r\n")
	f.Fuzz(func(t *testing.T, head string) {
		var r FastRequest
		_, ok := parseRequest([]byte(head), &r)
		if !ok {
			return
		}
		// What the fast path accepts must be a plain request net/http would read the same way.
		if !strings.HasPrefix(r.Path, "/") || strings.ContainsAny(r.Path+r.RawQuery, "% #\r\n") {
			t.Fatalf("accepted target %q?%q", r.Path, r.RawQuery)
		}
		if r.Host == "" || !validHost([]byte(r.Host)) || !isToken([]byte(r.Method)) {
			t.Fatalf("accepted method %q host %q", r.Method, r.Host)
		}
		for _, v := range []string{r.Accept, r.AcceptLanguage, r.Cookie, r.Origin} {
			if strings.ContainsAny(v, "\r\n\x00") {
				t.Fatalf("accepted header value %q", v)
			}
		}
	})
}
