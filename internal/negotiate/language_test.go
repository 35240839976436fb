package negotiate

import (
	"testing"
	"unsafe"
)

func TestLanguagesMatch(t *testing.T) {
	t.Parallel()
	l, err := NewLanguages([]string{"en", "de", "fr", "es", "ja"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		header string
		want   int
	}{
		{"", 0},
		{"de-DE,de;q=0.9,en;q=0.8", 1},
		{"de-CH", 1},
		{"fr-CA,fr;q=0.9", 2},
		{"es-419,es;q=0.9", 3},
		{"ja,en-US;q=0.9", 4},
		{"pt-BR,pt;q=0.9", 0},
		{"en-GB", 0},
		{"*", 0},
		{"garbage;;;q=x", 0},
		{"nl, de;q=0.5", 1},
	}
	for _, tt := range tests {
		for range 2 { // the second call is answered from the cache
			if got := l.Match(tt.header); got != tt.want {
				t.Errorf("Match(%q) = %d, want %d", tt.header, got, tt.want)
			}
		}
	}
}

func TestLanguagesCacheIsBounded(t *testing.T) {
	t.Parallel()
	l, err := NewLanguages([]string{"en", "de"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range maxCached * 2 {
		l.Match("de;q=0." + string(rune('1'+i%9)) + ", x-" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676%26)))
	}
	if n := l.cache.len(); n > maxCached {
		t.Errorf("cache holds %d entries, want at most %d", n, maxCached)
	}
}

func TestNewLanguagesErrors(t *testing.T) {
	t.Parallel()
	if _, err := NewLanguages(nil); err == nil {
		t.Error("NewLanguages(nil) succeeded, want an error")
	}
	if _, err := NewLanguages([]string{"en", "not a tag!"}); err == nil {
		t.Error("NewLanguages with a bad tag succeeded, want an error")
	}
}

func FuzzLanguages(f *testing.F) {
	l, err := NewLanguages([]string{"en", "de", "ja"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add("de-DE,de;q=0.9")
	f.Add("*;q=0")
	f.Fuzz(func(t *testing.T, h string) {
		if i := l.Match(h); i < 0 || i > 2 {
			t.Fatalf("Match(%q) = %d, out of range", h, i)
		}
	})
}

func TestFormatsCache(t *testing.T) {
	t.Parallel()
	f := NewFormats(Text)
	for range 2 {
		if got := f.Choose("application/json"); got != JSON {
			t.Errorf("Choose(application/json) = %v, want JSON", got)
		}
		if got := f.Choose(""); got != Text {
			t.Errorf("Choose(\"\") = %v, want the default", got)
		}
	}
	for i := range maxCached * 2 {
		f.Choose("text/html;q=0." + string(rune('1'+i%9)) + ", x/y" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)))
	}
	if n := f.cache.len(); n > maxCached {
		t.Errorf("cache holds %d entries, want at most %d", n, maxCached)
	}
}

func TestCacheKeepsItsOwnCopyOfKeys(t *testing.T) {
	t.Parallel()
	f := NewFormats(Text)
	// The fast path passes strings that point into a connection's buffer, reused for the next request.
	buf := []byte("application/json")
	if got := f.Choose(unsafe.String(&buf[0], len(buf))); got != JSON {
		t.Fatalf("Choose = %v, want JSON", got)
	}
	copy(buf, "text/html;q=1,xx")
	if got := f.Choose("application/json"); got != JSON {
		t.Errorf("after the caller's buffer changed, Choose(application/json) = %v, want JSON", got)
	}
	for k, v := range *f.cache.m.Load() {
		if want := Accept(k, Text); v != want {
			t.Errorf("the cache holds %q → %v, but that header means %v: a key changed under it", k, v, want)
		}
	}
}
