package negotiate

import (
	"testing"
)

func TestAcceptRealClients(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		accept string
		want   Format
	}{
		{"curl", "*/*", Text},
		{"wget", "*/*", Text},
		{"missing header (Go, okhttp)", "", Text},
		{"Chrome navigation", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7", HTML},
		{"Firefox navigation", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/png,image/svg+xml,*/*;q=0.8", HTML},
		{"Safari navigation", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", HTML},
		{"Edge navigation", "text/html,application/xhtml+xml,application/xml;q=0.9,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7", HTML},
		{"Googlebot", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", HTML},
		{"Bingbot", "text/html, application/xhtml+xml, application/xml;q=0.9, */*;q=0.8", HTML},
		{"python-requests", "*/*", Text},
		{"Java HttpURLConnection default", "text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2", HTML},
		{"okhttp with json", "application/json", JSON},
		{"axios", "application/json, text/plain, */*", JSON},
		{"fetch asking for JSON", "application/json", JSON},
		{"problem JSON", "application/problem+json", ProblemJSON},
		{"problem JSON preferred over JSON", "application/json;q=0.9, application/problem+json", ProblemJSON},
		{"JSON preferred by q", "application/problem+json;q=0.5, application/json", JSON},
		{"vendor +json type", "application/vnd.github+json", ProblemJSON},
		{"JSON:API", "application/vnd.api+json", ProblemJSON},
		{"application wildcard", "application/*", ProblemJSON},
		{"text wildcard", "text/*", Text},
		{"plain text", "text/plain", Text},
		{"HTTPie default", "application/json, */*;q=0.5", JSON},
		{"Prometheus blackbox", "text/plain;version=0.0.4;q=0.9,*/*;q=0.1", Text},
		{"feed reader", "application/rss+xml, application/atom+xml, application/xml;q=0.9", Text},
		{"image request", "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8", Text},
		{"html refused", "text/html;q=0, */*", Text},
		{"only html refused", "text/html;q=0", Text},
		{"malformed", "garbage;;;", Text},
		{"malformed q", "text/html;q=abc", Text},
		{"q above one", "text/html;q=1.5, text/plain", Text},
		{"uppercase", "TEXT/HTML", HTML},
		{"spaces and params", " text/html ; level=1 ; q=0.8 , application/json ; q=0.7", HTML},
		{"client order breaks ties", "text/plain, text/html", Text},
		{"specific beats wildcard", "text/*;q=0.2, text/html;q=0.9, application/json;q=0.5", HTML},
		{"more specific range sets q", "text/*;q=1, text/html;q=0", Text},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Accept(tt.accept, Text); got != tt.want {
				t.Errorf("Accept(%q) = %v, want %v", tt.accept, got, tt.want)
			}
		})
	}
}

func TestAcceptDefaultApplies(t *testing.T) {
	t.Parallel()
	for _, def := range []Format{HTML, JSON, ProblemJSON, Text} {
		for _, h := range []string{"", "*/*", "image/png", "x"} {
			if got := Accept(h, def); got != def {
				t.Errorf("Accept(%q, %v) = %v, want the default %v", h, def, got, def)
			}
		}
	}
}

func TestParseQ(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		want int
		ok   bool
	}{
		"1": {1000, true}, "1.0": {1000, true}, "1.000": {1000, true}, "0": {0, true}, "0.5": {500, true},
		".2": {200, true}, "0.001": {1, true}, "1.5": {0, false}, "2": {0, false}, "0.1234": {0, false},
		"": {0, false}, "a": {0, false}, "0.x": {0, false},
	}
	for in, tt := range tests {
		got, ok := parseQ(in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseQ(%q) = %d, %v; want %d, %v", in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestFormatNames(t *testing.T) {
	t.Parallel()
	for _, f := range []Format{HTML, JSON, ProblemJSON, Text} {
		got, ok := ParseFormat(f.String())
		if !ok || got != f {
			t.Errorf("ParseFormat(%q) = %v, %v; want %v", f.String(), got, ok, f)
		}
		if f.ContentType() == "" {
			t.Errorf("%v has no content type", f)
		}
	}
	if _, ok := ParseFormat("xml"); ok {
		t.Error("ParseFormat(xml) succeeded; want failure")
	}
}

func TestAcceptAllocatesNothing(t *testing.T) {
	h := "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
	if n := testing.AllocsPerRun(100, func() { Accept(h, Text) }); n != 0 {
		t.Errorf("Accept allocated %v times per call, want 0", n)
	}
}

func FuzzAccept(f *testing.F) {
	for _, s := range []string{"", "*/*", "text/html;q=0.9", "application/json, text/plain, */*", "*; q=.2", "a/b;q=1;x=y,,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		got := Accept(h, HTML)
		if got == Unknown {
			t.Fatalf("Accept(%q) = Unknown; it must always choose a format", h)
		}
		// Asking explicitly for one offer, first, must give it.
		if want := Accept("application/json,"+h, HTML); want != JSON && want != ProblemJSON {
			t.Fatalf("Accept(application/json,%q) = %v, want JSON or problem JSON", h, want)
		}
	})
}
