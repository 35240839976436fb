package clientaddr

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// FuzzClientAddr: the client address is either none or a valid address that is the peer's or
// written in X-Forwarded-For; from an untrusted peer it is always the peer's own; and when it comes
// from the header, every hop to its right is a trusted proxy.
func FuzzClientAddr(f *testing.F) {
	f.Add("10.0.0.1:1", "203.0.113.7, 10.2.2.2", "")
	f.Add("198.51.100.1:1", "203.0.113.7", "")
	f.Add("10.0.0.1:1", "203.0.113.7, nonsense", "10.9.9.9")
	f.Add("[::ffff:10.0.0.1]:1", "[2001:db8::1]:443,::ffff:10.1.1.1", "")
	f.Add("[fe80::1%eth0]:1", "fe80::2%lo", "1.2.3.4:80, 10.0.0.3")
	f.Add("nonsense", "203.0.113.7", "")
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fe80::/10")}
	f.Fuzz(func(t *testing.T, remote, xff1, xff2 string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{}}
		for _, v := range []string{xff1, xff2} {
			if v != "" {
				r.Header.Add("X-Forwarded-For", v)
			}
		}
		got := Of(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), trusted)
		var peer netip.Addr
		if ap, err := netip.ParseAddrPort(remote); err == nil {
			peer = ap.Addr().Unmap().WithZone("")
		}
		if !peer.IsValid() {
			if got.IsValid() {
				t.Fatalf("no peer address in %q, yet the client is %v", remote, got)
			}
			return
		}
		if !In(trusted, peer) {
			if got != peer {
				t.Fatalf("untrusted peer %v: got %v, want the peer itself (X-Forwarded-For %q %q)", peer, got, xff1, xff2)
			}
			return
		}
		if !got.IsValid() || got == peer {
			return
		}
		if got.Zone() != "" || got.Is4In6() {
			t.Fatalf("got %v: want a plain address", got)
		}
		// Written in the header, and everything to its right trusted.
		var hops []string
		for _, v := range []string{xff1, xff2} {
			for h := range strings.SplitSeq(v, ",") {
				if h = strings.TrimSpace(h); h != "" {
					hops = append(hops, h)
				}
			}
		}
		for i := len(hops) - 1; i >= 0; i-- {
			a, ok := ParseHop(hops[i])
			if !ok {
				t.Fatalf("got %v past the unreadable hop %q", got, hops[i])
			}
			if a == got {
				return
			}
			if !In(trusted, a) {
				t.Fatalf("got %v past the untrusted hop %v", got, a)
			}
		}
		t.Fatalf("got %v, which is neither the peer %v nor in X-Forwarded-For %q %q", got, peer, xff1, xff2)
	})
}

// FuzzRouteServiceTarget: a forwarded URL is accepted only when it is http or https, has no user

func TestOfAllocatesNothing(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	xff := []string{"203.0.113.7, 10.1.2.3", "10.0.0.9"}
	var got netip.Addr
	if n := testing.AllocsPerRun(100, func() { got = Of("10.0.0.1:5000", xff, trusted) }); n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
	if got != netip.MustParseAddr("203.0.113.7") {
		t.Errorf("Of = %v, want 203.0.113.7", got)
	}
}
