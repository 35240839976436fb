package page

import "testing"

func TestReadableOn(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, accent, bg string
		same             bool // already readable: unchanged
	}{
		{"default blue on white", DefaultAccent, lightCard, true},
		{"yellow on white", "#facc15", lightCard, false},
		{"white on white", "#fff", lightCard, false},
		{"teal on dark", "#0d9488", darkCard, false},
		{"navy on dark", "#1e3a8a", darkCard, false},
		{"black on dark", "#000000", darkCard, false},
		{"pale on dark", "#e0f2fe", darkCard, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := readableOn(tt.accent, tt.bg)
			c, ok := parseHex(got)
			b, _ := parseHex(tt.bg)
			if !ok {
				t.Fatalf("readableOn(%s, %s) = %q, not a colour", tt.accent, tt.bg, got)
			}
			if r := contrast(c, b); r < 4.5 {
				t.Errorf("readableOn(%s, %s) = %s with contrast %.2f, want at least 4.5", tt.accent, tt.bg, got, r)
			}
			a, _ := parseHex(tt.accent)
			if tt.same && toHex(a) != got {
				t.Errorf("readableOn(%s, %s) = %s, want it unchanged", tt.accent, tt.bg, got)
			}
		})
	}
}

// TestPaletteContrast keeps the built-in page's colours at WCAG AA: 4.5:1 for text, in both
// schemes. The values mirror templates/page.html.
func TestPaletteContrast(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, fg, bg string }{
		{"light text", "#14171c", "#ffffff"},
		{"light message", "#3b424d", "#ffffff"},
		{"light muted on card", "#5a626e", "#ffffff"},
		{"light muted on panel", "#5a626e", "#f3f4f6"},
		{"light overdue", "#14171c", "#fcf5e3"},
		{"dark text", "#eceef1", darkCard},
		{"dark message", "#c9ced6", darkCard},
		{"dark muted on card", "#9ea6b2", darkCard},
		{"dark muted on panel", "#9ea6b2", "#0e1116"},
		{"dark overdue", "#eceef1", "#2a2415"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, _ := parseHex(tt.fg)
			b, _ := parseHex(tt.bg)
			if r := contrast(f, b); r < 4.5 {
				t.Errorf("%s on %s: got contrast %.2f, want at least 4.5", tt.fg, tt.bg, r)
			}
		})
	}
}
