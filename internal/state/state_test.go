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
		"empty":             {in: "", wantErr: "empty"},
		"blank":             {in: " \n\t", wantErr: "empty"},
		"null":              {in: "null", wantErr: "not a JSON object"},
		"array":             {in: `[{"on":true}]`, wantErr: "not a JSON object"},
		"string":            {in: `"on"`, wantErr: "not a JSON object"},
		"truncated":         {in: `{"on":tr`, wantErr: "decode state"},
		"trailing garbage":  {in: `{"on":true}x`, wantErr: "decode state"},
		"two objects":       {in: `{"on":true}{"on":false}`, wantErr: "decode state"},
		"wrong type":        {in: `{"on":"yes"}`, wantErr: "decode state"},
		"bad time":          {in: `{"on":true,"until":"tomorrow"}`, wantErr: "decode state"},
		"too big":           {in: `{"message":"` + strings.Repeat("x", state.MaxEncodedSize) + `"}`, wantErr: "limit"},
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
