package gate

import (
	"strings"
	"testing"
)

func TestAdminAPIThroughTheGate(t *testing.T) {
	t.Parallel()
	up := newEcho(t)
	const token = "0123456789abcdef-admin"
	f := newFixture(t, map[string]string{"upstream": up.URL, "admin_token": token}, nil)
	auth := map[string]string{"Authorization": "Bearer " + token}

	if w := f.do("GET", "/_maintenance/admin/state", "", nil); w.Code != 401 {
		t.Errorf("without a token: got %d, want 401", w.Code)
	}
	if w := f.do("GET", "/_maintenance/admin/state?token="+token, "", nil); w.Code != 400 {
		t.Errorf("token in the query: got %d, want 400", w.Code)
	}
	w := f.do("GET", "/_maintenance/admin/state", "", auth)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"active":false`) {
		t.Errorf("GET: got %d %s", w.Code, w.Body.String())
	}
	r := f.do("GET", "/", "", nil)
	if r.Code != 200 {
		t.Fatalf("before: got %d, want 200", r.Code)
	}
	w = doBody(f, "PUT", "/_maintenance/admin/state", `{"on":true,"message":"From the API"}`, auth)
	if w.Code != 200 || !strings.Contains(w.Body.String(), `"active":true`) {
		t.Fatalf("PUT: got %d %s", w.Code, w.Body.String())
	}
	if r := f.do("GET", "/", "", map[string]string{"Accept": "text/plain"}); r.Code != 503 || !strings.Contains(r.Body.String(), "From the API") {
		t.Errorf("after PUT: got %d %q, want 503 with the new message", r.Code, r.Body.String())
	}
	if w := doBody(f, "DELETE", "/_maintenance/admin/state", "", auth); w.Code != 200 {
		t.Errorf("DELETE: got %d", w.Code)
	}
	if r := f.do("GET", "/", "", nil); r.Code != 200 {
		t.Errorf("after DELETE: got %d, want 200", r.Code)
	}
	if n := up.hits.Load(); n != 2 {
		t.Errorf("upstream hits: got %d, want 2 (the admin API is never proxied)", n)
	}
}

// The preview takes the admin token too: a wrong one there uses up the client's attempts as on the
// admin API, so it is no place to guess tokens.
func TestPreviewWrongTokensAreRateLimited(t *testing.T) {
	t.Parallel()
	up := newEcho(t)
	const token = "0123456789abcdef-admin"
	f := newFixture(t, map[string]string{"upstream": up.URL, "admin_token": token}, nil)
	for i := range 5 {
		if w := f.do("GET", "/_maintenance/preview", "", map[string]string{"Authorization": "Bearer wrong-guess"}); w.Code != 401 {
			t.Fatalf("wrong token %d: got %d, want 401", i, w.Code)
		}
	}
	if w := f.do("GET", "/_maintenance/preview", "", map[string]string{"Authorization": "Bearer " + token}); w.Code != 401 {
		t.Errorf("the right token after 5 wrong ones from the same address: got %d, want 401", w.Code)
	}
	if w := f.do("GET", "/_maintenance/admin/state", "", map[string]string{"Authorization": "Bearer " + token}); w.Code != 429 {
		t.Errorf("the admin API after 5 wrong preview tokens from the same address: got %d, want 429", w.Code)
	}
}
