package negotiate

import (
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/text/language"
)

// maxCached bounds the Accept-Language cache; headers come from a small set of browsers, so a few
// hundred distinct values cover real traffic, and a flood of random ones cannot grow memory.
const maxCached = 512

// Languages chooses among a fixed list of languages; the first one is the default.
type Languages struct {
	tags    []language.Tag
	matcher language.Matcher
	mu      sync.Mutex                     // serialises cache writers
	cache   atomic.Pointer[map[string]int] // copy-on-write: readers never lock
}

// NewLanguages builds a chooser for the given BCP 47 tags; the first is the default.
func NewLanguages(tags []string) (*Languages, error) {
	if len(tags) == 0 {
		return nil, fmt.Errorf("no languages: give at least one, such as \"en\"")
	}
	l := &Languages{}
	for _, s := range tags {
		t, err := language.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("language %q: %w (use a BCP 47 tag such as \"en\" or \"pt-BR\")", s, err)
		}
		l.tags = append(l.tags, t)
	}
	l.matcher = language.NewMatcher(l.tags)
	empty := map[string]int{}
	l.cache.Store(&empty)
	return l, nil
}

// Match returns the index of the language an Accept-Language header asks for, or 0 (the default).
func (l *Languages) Match(header string) int {
	if len(l.tags) == 1 || header == "" {
		return 0
	}
	if i, ok := (*l.cache.Load())[header]; ok {
		return i
	}
	i := l.match(header)
	l.mu.Lock()
	old := *l.cache.Load()
	if len(old) < maxCached {
		next := make(map[string]int, len(old)+1)
		for k, v := range old {
			next[k] = v
		}
		next[header] = i
		l.cache.Store(&next)
	}
	l.mu.Unlock()
	return i
}

func (l *Languages) match(header string) int {
	prefs, _, err := language.ParseAcceptLanguage(header)
	if err != nil || len(prefs) == 0 {
		return 0
	}
	_, i, conf := l.matcher.Match(prefs...)
	if conf == language.No {
		return 0
	}
	return i
}
