package state_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/maintpage/maintpage/internal/state"
)

func TestActiveAt(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	before, after := now.Add(-time.Minute), now.Add(time.Minute)
	tests := map[string]struct {
		s          state.State
		endAtUntil bool
		want       bool
	}{
		"off":                             {s: state.State{}, want: false},
		"off with a past start":           {s: state.State{Start: before}, want: false},
		"on":                              {s: state.State{On: true}, want: true},
		"on, start passed":                {s: state.State{On: true, Start: before}, want: true},
		"on, start is now":                {s: state.State{On: true, Start: now}, want: true},
		"on, start ahead":                 {s: state.State{On: true, Start: after}, want: false},
		"until passed, not binding":       {s: state.State{On: true, Until: before}, want: true},
		"until passed, binding":           {s: state.State{On: true, Until: before}, endAtUntil: true, want: false},
		"until is now, binding":           {s: state.State{On: true, Until: now}, endAtUntil: true, want: false},
		"until ahead, binding":            {s: state.State{On: true, Until: after}, endAtUntil: true, want: true},
		"no until, binding":               {s: state.State{On: true}, endAtUntil: true, want: true},
		"window now, binding":             {s: state.State{On: true, Start: before, Until: after}, endAtUntil: true, want: true},
		"window ahead, binding":           {s: state.State{On: true, Start: after, Until: after.Add(time.Hour)}, endAtUntil: true, want: false},
		"start after until, binding":      {s: state.State{On: true, Start: before, Until: before.Add(-time.Hour)}, endAtUntil: true, want: false},
		"start after until, not binding":  {s: state.State{On: true, Start: before, Until: before.Add(-time.Hour)}, want: true},
		"other zone, same instant passed": {s: state.State{On: true, Start: now.In(time.FixedZone("x", -5*3600))}, want: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got := tc.s.ActiveAt(now, tc.endAtUntil); got != tc.want {
				t.Errorf("ActiveAt(now, %v) = %v, want %v", tc.endAtUntil, got, tc.want)
			}
		})
	}
}

func TestJSON(t *testing.T) {
	t.Parallel()
	zone := time.FixedZone("UTC+2", 2*3600)
	tests := map[string]struct {
		s    state.State
		want string
	}{
		"zero": {
			s:    state.State{},
			want: `{"on":false,"message":"","reason":"","changed_by":""}`,
		},
		"every field": {
			s: state.State{
				On: true, Message: "m", Reason: "r", ChangedBy: "b",
				Until:     time.Date(2030, 1, 2, 3, 4, 5, 0, zone),
				Start:     time.Date(2030, 1, 2, 1, 0, 0, 500, time.UTC),
				ChangedAt: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
			},
			want: `{"on":true,"message":"m","until":"2030-01-02T03:04:05+02:00","start":"2030-01-02T01:00:00.0000005Z",` +
				`"reason":"r","changed_by":"b","changed_at":"2030-01-01T00:00:00Z"}`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b, err := state.Encode(tc.s)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if string(b) != tc.want {
				t.Errorf("Encode:\ngot  %s\nwant %s", b, tc.want)
			}
			// The status endpoint marshals State directly; it must agree.
			j, err := json.Marshal(tc.s)
			if err != nil {
				t.Fatalf("json.Marshal: %v", err)
			}
			if string(j) != tc.want {
				t.Errorf("json.Marshal:\ngot  %s\nwant %s", j, tc.want)
			}
			got, err := state.Decode(b)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !got.Equal(tc.s) {
				t.Errorf("Decode(Encode(s)):\ngot  %+v\nwant %+v", got, tc.s)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in      string
		want    state.State
		wantErr string // empty: no error
	}{
		"minimal":           {in: `{"on":true}`, want: state.State{On: true}},
		"surrounding space": {in: " \n{\"on\":true}\n", want: state.State{On: true}},
		"unknown field":     {in: `{"on":true,"from_the_future":1}`, want: state.State{On: true}},
		"empty object":      {in: `{}`, want: state.State{}},
		// Exactly what the version before scopes wrote (Encode of its State): it must read as
		// the whole site's switch, with no scope on.
		"written before scopes": {
			in: `{"on":true,"message":"Upgrading","until":"2026-11-26T18:00:00Z","reason":"db","changed_by":"ops@host","changed_at":"2026-11-26T16:00:00Z"}`,
			want: state.State{On: true, Message: "Upgrading", Until: time.Date(2026, 11, 26, 18, 0, 0, 0, time.UTC),
				Reason: "db", ChangedBy: "ops@host", ChangedAt: time.Date(2026, 11, 26, 16, 0, 0, 0, time.UTC)},
		},
		"empty":            {in: "", wantErr: "empty"},
		"blank":            {in: " \n\t", wantErr: "empty"},
		"null":             {in: "null", wantErr: "not a JSON object"},
		"array":            {in: `[{"on":true}]`, wantErr: "not a JSON object"},
		"string":           {in: `"on"`, wantErr: "not a JSON object"},
		"truncated":        {in: `{"on":tr`, wantErr: "decode state"},
		"trailing garbage": {in: `{"on":true}x`, wantErr: "decode state"},
		"two objects":      {in: `{"on":true}{"on":false}`, wantErr: "decode state"},
		"wrong type":       {in: `{"on":"yes"}`, wantErr: "decode state"},
		"bad time":         {in: `{"on":true,"until":"tomorrow"}`, wantErr: "decode state"},
		"too big":          {in: `{"message":"` + strings.Repeat("x", state.MaxEncodedSize) + `"}`, wantErr: "limit"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := state.Decode([]byte(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Decode: got error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode: got error %v, want nil", err)
			}
			if !got.Equal(tc.want) {
				t.Errorf("Decode: got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestScopesStayReadableByTheOlderVersion pins the stored form: the whole site's switch keeps its
// top-level keys, so an instance of the version before scopes reads it during a rolling upgrade, and
// the scopes sit under a key that version ignores.
func TestScopesStayReadableByTheOlderVersion(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 26, 16, 0, 0, 0, time.UTC)
	s := state.State{On: true, Message: "all", ChangedAt: at}.WithScope("api", state.Scope{On: true, Message: "API", ChangedAt: at})
	b, err := state.Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"on":true,"message":"all","reason":"","changed_by":"","changed_at":"2026-11-26T16:00:00Z","scopes":{"api":{"on":true,"message":"API","changed_at":"2026-11-26T16:00:00Z"}}}`
	if string(b) != want {
		t.Errorf("Encode:\ngot  %s\nwant %s", b, want)
	}
	// The older version's State: the fields it had, nothing else.
	var old struct {
		On      bool   `json:"on"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(b, &old); err != nil || !old.On || old.Message != "all" {
		t.Errorf("the older version reads %+v, %v; want on with message \"all\"", old, err)
	}
}

func TestWithScope(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 26, 16, 0, 0, 0, time.UTC)
	base := state.State{On: true, Message: "all"}.WithScope("api", state.Scope{On: true, Message: "API"})
	tests := map[string]struct {
		name    string
		sc      state.Scope
		wantOn  bool
		wantAPI bool
		wantWeb bool
	}{
		"one scope on keeps the others":  {name: "web", sc: state.Scope{On: true}, wantOn: true, wantAPI: true, wantWeb: true},
		"one scope off keeps the others": {name: "api", sc: state.Scope{On: false, ChangedAt: at}, wantOn: true},
		"the whole site on keeps scopes": {name: "", sc: state.Scope{On: true, Message: "x"}, wantOn: true, wantAPI: true},
		"the whole site off ends scopes": {name: "", sc: state.Scope{On: false, ChangedBy: "ops", ChangedAt: at}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got := base.WithScope(tc.name, tc.sc)
			if got.On != tc.wantOn || got.Scopes["api"].On != tc.wantAPI || got.Scopes["web"].On != tc.wantWeb {
				t.Errorf("WithScope(%q, on=%v): got site %v, api %v, web %v; want %v, %v, %v", tc.name, tc.sc.On,
					got.On, got.Scopes["api"].On, got.Scopes["web"].On, tc.wantOn, tc.wantAPI, tc.wantWeb)
			}
			if !base.Scopes["api"].On || base.Scopes["web"].On {
				t.Errorf("WithScope modified the state it was called on: %+v", base.Scopes)
			}
		})
	}
}

func TestCheckScope(t *testing.T) {
	t.Parallel()
	known := []string{"api", "checkout"}
	if err := state.CheckScope("", known); err != nil {
		t.Errorf(`CheckScope("") = %v, want nil (the whole site)`, err)
	}
	if err := state.CheckScope("api", known); err != nil {
		t.Errorf(`CheckScope("api") = %v, want nil`, err)
	}
	err := state.CheckScope("apx", known)
	if err == nil || !strings.Contains(err.Error(), `unknown scope "apx"; known scopes are: api, checkout`) {
		t.Errorf(`CheckScope("apx") = %v, want an error listing api, checkout`, err)
	}
	if err := state.CheckScope("api", nil); err == nil || !strings.Contains(err.Error(), "names no scopes") {
		t.Errorf(`CheckScope with no known scopes = %v, want one saying there are none`, err)
	}
}

func TestEncodeTooBig(t *testing.T) {
	t.Parallel()
	_, err := state.Encode(state.State{Message: strings.Repeat("x", state.MaxEncodedSize)})
	if err == nil || !strings.Contains(err.Error(), "shorten the message") {
		t.Errorf("Encode of an oversized message: got %v, want an error saying to shorten it", err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, seed := range []string{
		`{"on":true,"message":"m","until":"2030-01-02T03:04:05+02:00","start":"2030-01-02T01:00:00Z","reason":"r","changed_by":"b","changed_at":"2030-01-01T00:00:00Z"}`,
		`{}`, `null`, `[]`, ``, `{"on":1}`, `{"until":""}`, `{"on":true}garbage`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := state.Decode(b)
		if err != nil {
			return
		}
		// Whatever decodes must survive a trip through the stored form.
		enc, err := state.Encode(s)
		if err != nil {
			// Only the size limit may refuse, and JSON escaping can grow a
			// message past it.
			if !strings.Contains(err.Error(), "limit") {
				t.Fatalf("Encode of a decoded state: %v", err)
			}
			return
		}
		again, err := state.Decode(enc)
		if err != nil {
			t.Fatalf("Decode(Encode(%+v)): %v", s, err)
		}
		if !again.Equal(s) {
			t.Fatalf("round trip changed the state:\ngot  %+v\nwant %+v", again, s)
		}
	})
}
