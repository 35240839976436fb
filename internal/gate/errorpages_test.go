package gate

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/maintpage/maintpage/internal/state"
)

// ingressNginxAsks is the request ingress-nginx sends its default backend for an intercepted error:
// its nginx.tmpl (rootfs/etc/nginx/template/nginx.tmpl, the @custom_<upstream>_<code> locations)
// keeps the original method and headers, sets X-Code, X-Format ($http_accept), X-Original-URI,
// X-Namespace, X-Ingress-Name, X-Service-Name, X-Service-Port, X-Request-ID and Host, and
// rewrites the path to /. For hosts no Ingress serves, the catch-all server sends X-Code 404.
func ingressNginxAsks(method, code, accept, acceptLanguage string) *http.Request {
	r := httptest.NewRequest(method, "/", nil)
	r.RemoteAddr = "10.0.0.3:51000"
	r.Host = "shop.example"
	if code != "" {
		r.Header.Set("X-Code", code)
	}
	r.Header.Set("X-Format", accept)
	r.Header.Set("Accept", accept)
	r.Header.Set("Accept-Language", acceptLanguage)
	r.Header.Set("X-Original-URI", "/checkout?<script>alert(1)</script>")
	r.Header.Set("X-Namespace", "shop")
	r.Header.Set("X-Ingress-Name", "shop")
	r.Header.Set("X-Service-Name", "shop-web")
	r.Header.Set("X-Service-Port", "80")
	r.Header.Set("X-Request-ID", "3f2a9c0d8b7e6f5a4b3c2d1e0f9a8b7c")
	return r
}

func TestErrorPagesSpeakIngressNginxsProtocol(t *testing.T) {
	t.Parallel()
	f := newFixture(t, map[string]string{"error_pages": "true"}, nil)
	tests := []struct {
		name, method, code, accept, lang string
		on                               bool
		status                           int
		ctype, langWant                  string
		body                             []string // each must be in the body
	}{
		{"503 unplanned, HTML", "GET", "503", "text/html,application/xhtml+xml", "fr", false, 503, "text/html", "fr", []string{"Temporairement indisponible"}},
		{"502 unplanned, problem JSON", "GET", "502", "application/json", "", false, 502, "application/json", "en", []string{`"unplanned":true`, `"status":502`}},
		{"503 while maintenance is on: the planned page", "GET", "503", "application/problem+json", "", true, 503, "application/problem+json", "en", []string{`"type":"urn:maintpage:maintenance"`, "Upgrading"}},
		{"404 plain page, JSON", "GET", "404", "application/json", "", false, 404, "application/json", "en", []string{`"type":"about:blank"`, `"title":"Page not found"`, `"status":404`}},
		{"404 plain page, HTML in German", "GET", "404", "text/html", "de", false, 404, "text/html", "de", []string{"Seite nicht gefunden"}},
		{"403, text", "POST", "403", "text/plain", "", false, 403, "text/plain", "en", []string{"Access denied"}},
		{"no X-Code: 404", "GET", "", "text/plain", "", false, 404, "text/plain", "en", []string{"Page not found"}},
		{"X-Code 200 is never answered with a 2xx", "GET", "200", "text/plain", "", false, 404, "text/plain", "en", nil},
		{"X-Code 302", "GET", "302", "text/plain", "", false, 404, "text/plain", "en", nil},
		{"X-Code unreadable", "GET", "5o3", "text/plain", "", false, 404, "text/plain", "en", nil},
		{"HEAD", "HEAD", "503", "text/html", "", false, 503, "text/html", "en", nil},
	}
	for _, tt := range tests {
		if tt.on {
			f.set(t, state.State{On: true, Message: "Upgrading"})
		} else {
			f.set(t, state.State{})
		}
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			f.g.ServeHTTP(w, ingressNginxAsks(tt.method, tt.code, tt.accept, tt.lang))
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d", w.Code, tt.status)
			}
			if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, tt.ctype) {
				t.Errorf("Content-Type %q, want %s", ct, tt.ctype)
			}
			if cl := w.Header().Get("Content-Language"); cl != tt.langWant {
				t.Errorf("Content-Language %q, want %s", cl, tt.langWant)
			}
			if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
			if (tt.status == 503) != (w.Header().Get("Retry-After") != "") {
				t.Errorf("Retry-After %q on a %d", w.Header().Get("Retry-After"), tt.status)
			}
			body := w.Body.String()
			if tt.method == "HEAD" && body != "" {
				t.Errorf("a body for HEAD")
			}
			for _, s := range tt.body {
				if !strings.Contains(body, s) {
					t.Errorf("body lacks %q:\n%s", s, body)
				}
			}
			if strings.Contains(body, "<script>alert") || strings.Contains(body, "checkout") {
				t.Error("the body shows the original URI")
			}
			if strings.HasPrefix(tt.ctype, "application/") && !json.Valid(w.Body.Bytes()) {
				t.Errorf("not JSON: %s", body)
			}
			if tt.status < 500 && strings.Contains(body, "reload by itself") {
				t.Error("a 4xx page promises to come back by itself")
			}
		})
	}
}

// TestErrorPathForProxies is <prefix>error/{status}, for Traefik's errors middleware and Caddy's
// handle_errors, in every mode: the format from Accept.
func TestErrorPathForProxies(t *testing.T) {
	t.Parallel()
	app := newEcho(t)
	f := newFixture(t, map[string]string{"upstream": app.URL}, nil)
	for _, tt := range []struct {
		path   string
		status int
		want   string
	}{
		{"/_maintenance/error/502", 502, `"unplanned":true`},
		{"/_maintenance/error/503", 503, `"unplanned":true`},
		{"/_maintenance/error/404", 404, `"about:blank"`},
		{"/_maintenance/error/200", 404, "not found"},
		{"/_maintenance/error/x", 404, "not found"},
	} {
		w := f.do("GET", tt.path, "", problem)
		if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.want) {
			t.Errorf("%s: %d %q, want %d with %q", tt.path, w.Code, w.Body.String(), tt.status, tt.want)
		}
	}
	if app.hits.Load() != 0 {
		t.Error("an error page reached the application")
	}
}
