package clientaddr

import (
	"net/netip"
	"strings"
)

// Of is the address of the client: the peer (remote, host:port), unless the peer is a trusted
// proxy; then X-Forwarded-For (xff, its header lines in order) is walked from the right, past every
// trusted hop, to the first address that is not trusted. An unreadable entry ends the walk with no
// address, since whatever is left of it was written by someone we do not trust. It allocates
// nothing for addresses that parse.
func Of(remote string, xff []string, trusted []netip.Prefix) netip.Addr {
	ap, err := netip.ParseAddrPort(remote)
	if err != nil {
		return netip.Addr{}
	}
	addr := ap.Addr().Unmap().WithZone("")
	if !In(trusted, addr) {
		return addr
	}
	return Behind(addr, xff, trusted)
}

// Behind is Of for a peer already known to be a trusted proxy (proxy, unmapped and without zone):
// the walk of xff alone, for a caller that has parsed and checked the peer once.
func Behind(proxy netip.Addr, xff []string, trusted []netip.Prefix) netip.Addr {
	addr := proxy
	for i := len(xff) - 1; i >= 0; i-- {
		line := xff[i]
		for line != "" {
			part := line
			if j := strings.LastIndexByte(line, ','); j >= 0 {
				part, line = line[j+1:], line[:j]
			} else {
				line = ""
			}
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			a, ok := ParseHop(part)
			if !ok {
				return netip.Addr{}
			}
			if !In(trusted, a) {
				return a
			}
			addr = a
		}
	}
	return addr // every hop is trusted: the leftmost is the client
}

// ParseHop reads one X-Forwarded-For entry: an address, possibly with a port.
func ParseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap().WithZone(""), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), true
	}
	return netip.Addr{}, false
}

// In reports whether a is in one of ps.
func In(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
