package admin

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/maintpage/maintpage/internal/state"
)

// FuzzRequest: whatever body a PUT or POST carries, the answer is 200 or 400 with a JSON body. A 200
// means the body was one JSON object that says "on", and the state is exactly what it says; a 400
// leaves the state as it was.
func FuzzRequest(f *testing.F) {
	for _, s := range []string{
		`{"on":true,"message":"Upgrading","until":"2031-01-01T00:00:00Z","reason":"db","changed_by":"alice"}`,
		`{"on":false}`, `{"on":true,"mesage":"typo"}`, `{"message":"x"}`, `on`, `{"on":true}{}`, `{"on":true} `,
		`{"on":true,"start":"2031-01-02T00:00:00Z","until":"2031-01-01T00:00:00Z"}`,
		`{"ON":true,"On":false}`, `{"on":true,"until":"0000-01-01T00:00:00+23:59"}`, `{"on":true,"until":"9999-12-31T23:59:59-23:59"}`,
		`{"on":null}`, `[{"on":true}]`, `{"on":true,"message":"\ud800"}`,
	} {
		f.Add("PUT", s)
	}
	f.Add("POST", `{"on":true,"start":"2031-01-01T00:00:00.999999999+01:00"}`)
	tr := state.NewTracker(state.NewMemory(), state.State{}, time.Hour, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { tr.Run(ctx); close(done) }()
	f.Cleanup(func() { cancel(); <-done })
	<-tr.Ready()
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	h, err := NewHandler(Options{Tracker: tr, Token: token, Now: func() time.Time { return now }})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method, body string) {
		if method != "PUT" {
			method = "POST"
		}
		before := tr.Current()
		r := httptest.NewRequest(method, DefaultPath, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if ct := w.Header().Get("Content-Type"); ct != "application/json" || !json.Valid(w.Body.Bytes()) {
			t.Fatalf("%q: answer %q is not JSON (%s)", body, w.Body.String(), ct)
		}
		after := tr.Current()
		switch w.Code {
		case http.StatusBadRequest:
			if !after.Equal(before) {
				t.Fatalf("%q: refused, yet the state changed from %+v to %+v", body, before, after)
			}
			return
		case http.StatusOK:
		default:
			t.Fatalf("%q: got %d %s, want 200 or 400", body, w.Code, w.Body.String())
		}
		var req Request
		if !json.Valid([]byte(body)) || json.Unmarshal([]byte(body), &req) != nil || req.On == nil {
			t.Fatalf("%q: accepted a body that is not one object with \"on\"", body)
		}
		want := state.State{On: *req.On, Message: req.Message, Until: req.Until, Start: req.Start, Reason: req.Reason, ChangedBy: req.ChangedBy, ChangedAt: now}
		if want.ChangedBy == "" {
			want.ChangedBy = "admin" // the name of the single admin_token
		}
		if !after.Equal(want) {
			t.Fatalf("%q: state is %+v, want %+v", body, after, want)
		}
		if !want.Start.IsZero() && !want.Until.IsZero() && !want.Until.After(want.Start) {
			t.Fatalf("%q: accepted until %v not after start %v", body, want.Until, want.Start)
		}
		var st Status
		if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil || !st.State.Equal(want) {
			t.Fatalf("%q: answered %s (%v), want the new state", body, w.Body.String(), err)
		}
	})
}
