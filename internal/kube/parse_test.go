package kube

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParseRef(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		in      string
		bare    bool
		want    Ref
		wantErr string
	}{
		"ingress":           {in: "ingress/shop", want: Ref{Ingress, "shop"}},
		"ing alias":         {in: "ing/shop", want: Ref{Ingress, "shop"}},
		"plural with group": {in: "ingresses.networking.k8s.io/shop", want: Ref{Ingress, "shop"}},
		"httproute":         {in: "HTTPRoute/shop-v2", want: Ref{HTTPRoute, "shop-v2"}},
		"svc":               {in: "svc/shop", want: Ref{Service, "shop"}},
		"bare with -l":      {in: "services", bare: true, want: Ref{Kind: Service}},
		"unknown kind":      {in: "deployment/shop", wantErr: "use ingress, httproute or service"},
		"no name":           {in: "ingress", wantErr: "give KIND/NAME"},
		"empty name":        {in: "ingress/", wantErr: "give KIND/NAME"},
		"bad name":          {in: "ingress/Shop_1", wantErr: "not a valid object name"},
		"name with -l":      {in: "ingress/shop", bare: true, wantErr: "with -l give kinds only"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseRef(tc.in, tc.bare)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseRef(%q) error = %v, want %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseRef(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestPointers(t *testing.T) {
	t.Parallel()
	obj := map[string]any{}
	if err := json.Unmarshal([]byte(`{"spec":{"rules":[{"a/b":{"x~y":1}}],"selector":{"app":"shop"}}}`), &obj); err != nil {
		t.Fatal(err)
	}
	p := pointer("spec", "rules", 0, "a/b", "x~y")
	if p != "/spec/rules/0/a~1b/x~0y" {
		t.Fatalf("pointer = %q", p)
	}
	if v, ok := getAt(obj, p); !ok || v != float64(1) {
		t.Fatalf("getAt(%s) = %v, %v", p, v, ok)
	}
	if err := setAt(obj, p, int64(2)); err != nil {
		t.Fatal(err)
	}
	if v, _ := getAt(obj, p); v != int64(2) {
		t.Errorf("after setAt: %v", v)
	}
	if err := setAt(obj, "/spec/selector", nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := getAt(obj, "/spec/selector"); ok {
		t.Error("setAt nil did not delete")
	}
	for _, bad := range []string{"/spec/rules/1/x", "/spec/rules/-1/x", "/spec/nope/x", "/spec/rules/0/a~1b/x~0y/deeper"} {
		if err := setAt(obj, bad, 1); err == nil {
			t.Errorf("setAt(%s) succeeded", bad)
		}
	}
}

func TestParseSavedRefusesWhatItCannotRead(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"not json":       `maintenance`,
		"other version":  `{"v":2,"fields":[{"at":"/spec","was":null,"now":null}]}`,
		"no fields":      `{"v":1,"who":"x"}`,
		"bad pointer":    `{"v":1,"fields":[{"at":"spec","was":null,"now":null}]}`,
		"unknown fields": `{"v":1,"fields":[{"at":"/spec","was":null,"now":null}],"extra":1}`,
	}
	for name, raw := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := ParseSaved(raw); err == nil || !strings.Contains(err.Error(), AnnotationSaved) {
				t.Errorf("ParseSaved(%s) = %v, want an error naming the annotation", raw, err)
			}
		})
	}
	ok := `{"v":1,"when":"2026-12-01T10:00:00Z","who":"alice","why":"db","maintenance":"maintpage:80","fields":[{"at":"/spec/selector","was":{"app":"shop"},"now":{"app":"maintpage"}}]}`
	s, err := ParseSaved(ok)
	if err != nil || s.Who != "alice" || s.Why != "db" || len(s.Fields) != 1 {
		t.Errorf("ParseSaved(valid) = %+v, %v", s, err)
	}
}

// FuzzParseSaved feeds the annotation parser what a cluster may hold: it must not panic, and what
// it accepts must survive a round trip.
func FuzzParseSaved(f *testing.F) {
	f.Add(`{"v":1,"when":"2026-12-01T10:00:00Z","who":"alice","maintenance":"m:80","fields":[{"at":"/spec/rules/0/backendRefs","was":[{"name":"a","port":80,"weight":9}],"now":[]}]}`)
	f.Add(`{"v":1,"fields":[{"at":"/","was":null,"now":1}]}`)
	f.Add(`{}`)
	f.Fuzz(func(t *testing.T, raw string) {
		s, err := ParseSaved(raw)
		if err != nil {
			return
		}
		enc, err := s.encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ParseSaved(enc); err != nil {
			t.Fatalf("re-encoded value refused: %v\n%s", err, enc)
		}
		for _, fl := range s.Fields {
			obj := map[string]any{"spec": map[string]any{}}
			_, _ = getAt(obj, fl.At)
			_ = setAt(obj, fl.At, nil)
		}
	})
}
