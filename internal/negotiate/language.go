package negotiate

import (
	"fmt"

	"golang.org/x/text/language"
)

// Languages chooses among a fixed list of languages; the first one is the default.
type Languages struct {
	tags    []language.Tag
	matcher language.Matcher
	cache   cache[int]
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
	return l, nil
}

// Match returns the index of the language an Accept-Language header asks for, or 0 (the default).
func (l *Languages) Match(header string) int {
	if len(l.tags) == 1 || header == "" {
		return 0
	}
	if i, ok := l.cache.get(header); ok {
		return i
	}
	i := l.match(header)
	l.cache.put(header, i)
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
