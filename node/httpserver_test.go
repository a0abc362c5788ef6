package node

import (
	"net"
	"testing"
)

// TestClientOf: the per-address connection cap counts a client, not an
// address it can vary: every loopback address is one machine, and an IPv6
// client varies the low 64 bits at will.
func TestClientOf(t *testing.T) {
	same := [][2]string{
		{"127.0.0.1", "127.8.9.10"},
		{"::1", "127.0.0.1"},
		{"2001:db8:1:2::1", "2001:db8:1:2:ffff:ffff:ffff:ffff"},
	}
	for _, p := range same {
		if a, b := clientOf(net.ParseIP(p[0])), clientOf(net.ParseIP(p[1])); a != b {
			t.Errorf("%s counts as %q and %s as %q; want one client", p[0], a, p[1], b)
		}
	}
	apart := [][2]string{
		{"10.0.0.1", "10.0.0.2"},
		{"2001:db8:1:2::1", "2001:db8:1:3::1"},
	}
	for _, p := range apart {
		if a, b := clientOf(net.ParseIP(p[0])), clientOf(net.ParseIP(p[1])); a == b {
			t.Errorf("%s and %s both count as %q; want two clients", p[0], p[1], a)
		}
	}
}
