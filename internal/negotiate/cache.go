package negotiate

import (
	"strings"
	"sync"
	"sync/atomic"
)

// maxCached bounds each header cache; real traffic comes from a small set of clients, so a few
// hundred distinct header values cover it, and a flood of random ones cannot grow memory.
const maxCached = 512

// cache remembers the answer for each header value seen. Readers never lock: the map is replaced,
// not changed, when an entry is added, and it stops growing at maxCached.
type cache[V any] struct {
	mu sync.Mutex // serialises writers
	m  atomic.Pointer[map[string]V]
}

func (c *cache[V]) get(k string) (V, bool) {
	if m := c.m.Load(); m != nil {
		v, ok := (*m)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

// maxKey bounds the header values remembered: real Accept and Accept-Language headers are far
// shorter, and a full cache of long ones would hold megabytes.
const maxKey = 256

func (c *cache[V]) put(k string, v V) {
	if len(k) > maxKey || c.len() >= maxCached {
		return // checked before locking, so a full cache costs misses nothing but the lookup
	}
	k = strings.Clone(k) // the caller's string may point into a connection's buffer
	c.mu.Lock()
	defer c.mu.Unlock()
	var old map[string]V
	if p := c.m.Load(); p != nil {
		old = *p
	}
	if len(old) >= maxCached {
		return
	}
	next := make(map[string]V, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[k] = v
	c.m.Store(&next)
}

func (c *cache[V]) len() int {
	if p := c.m.Load(); p != nil {
		return len(*p)
	}
	return 0
}

// Formats chooses formats like Accept, remembering the answer for each header value.
type Formats struct {
	def   Format
	cache cache[Format]
}

// NewFormats returns a chooser with def as the default format.
func NewFormats(def Format) *Formats { return &Formats{def: def} }

// Choose is Accept(header, def), from the cache when the header was seen before.
func (f *Formats) Choose(header string) Format {
	if header == "" {
		return f.def
	}
	if v, ok := f.cache.get(header); ok {
		return v
	}
	v := Accept(header, f.def)
	f.cache.put(header, v)
	return v
}
