package reqlog

import (
	"cmp"
	"hash/maphash"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/maintpage/maintpage/internal/clientaddr"
)

// sampler keeps one in N per path class (the path's first segment): the first of each class is
// always kept, so a rarely hit path is not sampled away. Each class has a counter of its own in a
// fixed table (4 KiB), so that a client inventing paths cannot grow it; only once the table is
// crowded around a class's place (about a hundred classes in use) does a new class share the
// counter of the class at its place.
type sampler struct {
	slots [256]sampleSlot
}

type sampleSlot struct {
	class atomic.Pointer[string] // set once
	n     atomic.Uint64
}

const sampleProbe = 32

func (s *sampler) keep(path string, every int) bool {
	class := pathClass(path)
	if len(class) > topKey {
		class = class[:topKey]
	}
	h := hash(class)
	home := &s.slots[h%uint64(len(s.slots))]
	for p := range uint64(sampleProbe) {
		sl := &s.slots[(h+p)%uint64(len(s.slots))]
		k := sl.class.Load()
		if k == nil {
			nk := strings.Clone(class) // once per class: the path points into a request's buffer
			if !sl.class.CompareAndSwap(nil, &nk) {
				k = sl.class.Load()
			} else {
				k = &nk
			}
		}
		if *k == class {
			home = sl
			break
		}
	}
	return (home.n.Add(1)-1)%uint64(every) == 0
}

// pathClass is the path up to its second slash: "/api/v1/x" → "/api", "/" → "/".
func pathClass(p string) string {
	for i := 1; i < len(p); i++ {
		if p[i] == '/' {
			return p[:i]
		}
	}
	return p
}

var seed = maphash.MakeSeed()

func hash[K string | []byte](k K) uint64 {
	switch k := any(k).(type) {
	case string:
		return maphash.String(seed, k)
	case []byte:
		return maphash.Bytes(seed, k)
	}
	panic("unreachable")
}

// summary counts requests between two summary lines. Requests are spread over shards by their
// peer, each with its own lock, so that connections on different cores rarely wait for each other;
// a request is counted whole in one shard, so every line's counts add up.
type summary struct {
	shards  [4]shard
	trusted []netip.Prefix // proxies whose X-Forwarded-For names the client
	next    atomic.Uint64  // spreads Conns over the shards
}

type shard struct {
	// connsMu guards conns, the connections counting into this shard (see Conn); it is taken
	// before a Conn's mu, which is taken before mu.
	connsMu sync.Mutex
	conns   *Conn

	mu          sync.Mutex
	final       bool     // the last summary has taken this shard: nothing more may be counted in it
	peers       [16]peer // the networks of recent peers: parsing an address costs more than the rest
	requests    uint64
	maintenance uint64
	status      [600]uint64 // by status code; 0 holds anything outside 100–599
	formats     [len(formatNames)]uint64
	paths       topTable
	networks    topTable
}

var formatNames = [...]string{"html", "json", "problem+json", "text", "other"}

func formatIndex(f string) int {
	switch f {
	case "html":
		return 0
	case "json":
		return 1
	case "problem+json":
		return 2
	case "text":
		return 3
	}
	return 4
}

func newSummary(trusted []netip.Prefix) *summary { return &summary{trusted: trusted} }

// peer is a peer's address, whether it is a trusted proxy, and its network's key; ok is false for
// an address that does not parse.
type peer struct {
	n       uint8
	addr    [64]byte
	trusted bool
	a       netip.Addr // unmapped, without zone; valid when ok
	key     [17]byte
	ok      bool
}

// add counts e; it returns false, counting nothing, once the last summary is taken.
func (s *summary) add(e *Entry) bool {
	h := hash(e.Remote)
	sh := &s.shards[h%uint64(len(s.shards))]
	sh.mu.Lock()
	if sh.final {
		sh.mu.Unlock()
		return false
	}
	p := &sh.peers[h/uint64(len(s.shards))%uint64(len(sh.peers))]
	if int(p.n) != len(e.Remote) || string(p.addr[:p.n]) != e.Remote {
		p.n = uint8(copy(p.addr[:], e.Remote))
		p.ok, p.trusted = false, false
		if ap, err := netip.ParseAddrPort(e.Remote); err == nil {
			p.a = ap.Addr().Unmap().WithZone("")
			p.key, p.ok = network(p.a)
			p.trusted = clientaddr.In(s.trusted, p.a)
		}
	}
	key, hasNet := p.key, p.ok
	if p.trusted {
		// Behind a trusted proxy the client is in X-Forwarded-For, and differs from request to request.
		// The peer is parsed and checked above: walk only the header.
		key, hasNet = network(clientaddr.Behind(p.a, e.Forwarded, s.trusted))
	}
	sh.requests++
	if e.Maintenance {
		sh.maintenance++
		sh.formats[formatIndex(e.Format)]++
	}
	sh.status[statusIndex(e.Status)]++
	sh.paths.add(e.Path)
	if hasNet {
		add(&sh.networks, key[:])
	}
	sh.mu.Unlock()
	return true
}

// addRun counts n plain maintenance answers alike (a Conn's run) in sh; it returns false, counting
// nothing, once the last summary is taken.
func (sh *shard) addRun(r *run, n uint64) bool {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.final {
		return false
	}
	sh.requests += n
	sh.maintenance += n
	sh.status[r.statusIndex] += n
	sh.formats[r.formatIndex] += n
	addN(&sh.paths, r.path[:r.pathLen], r.pathCut, n)
	if r.hasNet {
		addN(&sh.networks, r.net[:], false, n)
	}
	return true
}

// statusIndex is a status's counter: 0 holds anything outside 100–599.
func statusIndex(st int) int {
	if st < 100 || st >= 600 {
		return 0
	}
	return st
}

// network is the client's network as a table key: a /24 for IPv4, a /48 for IPv6 (the last byte
// says which).
func network(a netip.Addr) (key [17]byte, ok bool) {
	if !a.IsValid() {
		return key, false
	}
	bits := 48
	if a.Is4() {
		bits = 24
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return key, false
	}
	*(*[16]byte)(key[:16]) = p.Addr().As16()
	key[16] = byte(bits)
	return key, true
}

func networkString(k string) string {
	a := netip.AddrFrom16([16]byte([]byte(k[:16])))
	if k[16] == 24 {
		a = a.Unmap()
	}
	return netip.PrefixFrom(a, int(k[16])).String()
}

// totals is one summary line's counts.
type totals struct {
	requests, maintenance uint64
	status, formats       []slog.Attr
	paths, networks       []slog.Attr
}

// topN is how many paths and networks a summary line names.
const topN = 5

// take returns the counts since the last take and starts counting afresh; after the final take,
// nothing more is counted (add and addRun return false).
func (s *summary) take(final bool) totals {
	var t totals
	var status [600]uint64
	var formats [len(formatNames)]uint64
	paths, networks := map[string]uint64{}, map[string]uint64{}
	for i := range s.shards {
		sh := &s.shards[i]
		// The connections' runs first, into their shard, so that this take has them.
		sh.connsMu.Lock()
		for c := sh.conns; c != nil; c = c.next {
			c.mu.Lock()
			if n := c.n.Swap(0); n > 0 {
				sh.addRun(&c.run, n) // not final yet: only this take sets final, below
			}
			c.mu.Unlock()
		}
		sh.connsMu.Unlock()
		sh.mu.Lock()
		sh.final = final
		t.requests += sh.requests
		t.maintenance += sh.maintenance
		for st, n := range sh.status {
			status[st] += n
		}
		for f, n := range sh.formats {
			formats[f] += n
		}
		sh.paths.drain(paths)
		sh.networks.drain(networks)
		sh.requests, sh.maintenance, sh.status, sh.formats = 0, 0, [600]uint64{}, [len(formatNames)]uint64{}
		sh.mu.Unlock()
	}
	for st, n := range status {
		if n > 0 {
			name := strconv.Itoa(st)
			if st == 0 {
				name = "other"
			}
			t.status = append(t.status, slog.Uint64(name, n))
		}
	}
	for f, n := range formats {
		if n > 0 {
			t.formats = append(t.formats, slog.Uint64(formatNames[f], n))
		}
	}
	t.paths = top(paths, func(k string) string { return k })
	t.networks = top(networks, networkString)
	return t
}

func top(m map[string]uint64, name func(string) string) []slog.Attr {
	type kv struct {
		k string
		n uint64
	}
	all := make([]kv, 0, len(m))
	for k, n := range m {
		all = append(all, kv{k, n})
	}
	slices.SortFunc(all, func(a, b kv) int {
		if c := cmp.Compare(b.n, a.n); c != 0 {
			return c
		}
		return cmp.Compare(a.k, b.k)
	})
	var out []slog.Attr
	for _, e := range all[:min(topN, len(all))] {
		out = append(out, slog.Uint64(name(e.k), e.n))
	}
	return out
}

// topTable finds the most frequent keys in fixed memory: an open-addressed table where a new key,
// when its neighbourhood is full, takes the place of the least counted one there and inherits its
// count ("space-saving", Metwally et al. 2005), so that a frequent key is never pushed out by many
// rare ones. Counts are exact until some neighbourhood of topProbe slots overflows; after that a
// count may be too high, never too low.
type topTable struct {
	slots [topSlots]topSlot
}

const (
	topSlots = 256
	topProbe = 8
	topKey   = 64 // longer keys are cut
)

type topSlot struct {
	n    uint64
	klen uint8
	cut  bool // the key was longer than topKey
	key  [topKey]byte
}

func add[K string | []byte](t *topTable, k K) {
	cut := len(k) > topKey
	if cut {
		k = k[:topKey]
	}
	addN(t, k, cut, 1)
}

// addN counts k n times; k is at most topKey bytes, cut says whether it was cut to that.
func addN[K string | []byte](t *topTable, k K, cut bool, n uint64) {
	h := hash(k)
	least := -1
	for p := uint64(0); p < topProbe; p++ {
		i := int((h + p) % topSlots)
		s := &t.slots[i]
		if s.n == 0 {
			s.klen, s.cut = uint8(copy(s.key[:], k)), cut
			s.n = n
			return
		}
		if int(s.klen) == len(k) && s.cut == cut && string(s.key[:s.klen]) == string(k) {
			s.n += n
			return
		}
		if least < 0 || s.n < t.slots[least].n {
			least = i
		}
	}
	s := &t.slots[least]
	s.klen, s.cut = uint8(copy(s.key[:], k)), cut
	s.n += n
}

func (t *topTable) add(k string) { add(t, k) }

func (t *topTable) drain(into map[string]uint64) {
	for i := range t.slots {
		s := &t.slots[i]
		if s.n > 0 {
			k := string(s.key[:s.klen])
			if s.cut {
				k += "…"
			}
			into[k] += s.n
			s.n = 0
		}
	}
}
