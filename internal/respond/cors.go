package respond

import (
	"net/http"
	"strings"
)

// cors lets browser clients on configured origins read the maintenance response, so a single-page
// app can show the 503's problem JSON instead of an opaque network error.
type cors struct {
	any     bool
	origins map[string]bool
}

func newCORS(origins []string) cors {
	c := cors{origins: map[string]bool{}}
	for _, o := range origins {
		if o == "*" {
			c.any = true
		}
		c.origins[o] = true
	}
	return c
}

func (c *cors) enabled() bool { return c.any || len(c.origins) > 0 }

// allowed returns the Access-Control-Allow-Origin value for a request's Origin, or "".
// The request's Origin is only ever echoed when it equals a configured origin exactly.
func (c *cors) allowed(origin string) string {
	switch {
	case origin == "":
		return ""
	case c.origins[origin]:
		return origin
	case c.any:
		return "*"
	}
	return ""
}

var exposed = []string{"Retry-After, Content-Language"}

func (c *cors) annotate(h http.Header, req *http.Request) {
	if o := c.allowed(req.Header.Get("Origin")); o != "" {
		h.Set("Access-Control-Allow-Origin", o)
		h["Access-Control-Expose-Headers"] = exposed
	}
}

// preflight answers a CORS preflight from an allowed origin and reports whether it did.
func (c *cors) preflight(w http.ResponseWriter, req *http.Request) bool {
	if req.Method != http.MethodOptions {
		return false
	}
	method := req.Header.Get("Access-Control-Request-Method")
	o := c.allowed(req.Header.Get("Origin"))
	if o == "" || method == "" || !isTokenList(method) {
		return false
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", o)
	h.Set("Access-Control-Allow-Methods", method)
	if rh := req.Header.Get("Access-Control-Request-Headers"); rh != "" && isTokenList(rh) {
		h.Set("Access-Control-Allow-Headers", rh)
	}
	h.Set("Access-Control-Max-Age", "600")
	h.Set("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
	return true
}

// isTokenList accepts only header-name characters, commas and spaces, so nothing else from the
// request is reflected.
func isTokenList(s string) bool {
	if len(s) > 512 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		ok := c == ',' || c == ' ' || c == '-' || c == '_' || c == '.' ||
			(c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !ok {
			return false
		}
	}
	return strings.TrimSpace(s) != ""
}
