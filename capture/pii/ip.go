package pii

import (
	"net/netip"
	"strings"
)

// findIPv4 takes dotted quads with octets 0-255 and no leading zeros. A quad
// that continues with another ".digit" or is glued to letters (v1.2.3.4) is a
// version number, not an address.
func findIPv4(text string, add func(string, int, int)) {
	for i := 0; i < len(text); i++ {
		if !isDigit(text[i]) || (i > 0 && (isAlnum(text[i-1]) || text[i-1] == '.' || text[i-1] == '_')) {
			continue
		}
		p := i
		ok := true
		for oct := 0; oct < 4 && ok; oct++ {
			if oct > 0 {
				if p >= len(text) || text[p] != '.' {
					ok = false
					break
				}
				p++
			}
			q := p
			for q < len(text) && isDigit(text[q]) && q-p < 4 {
				q++
			}
			n := q - p
			if n == 0 || n > 3 || (n > 1 && text[p] == '0') || atoiSmall(text[p:q]) > 255 {
				ok = false
				break
			}
			p = q
		}
		// A port (:8080) or a list comma may follow; another ".digit" may not.
		if ok && !(p+1 < len(text) && text[p] == '.' && isDigit(text[p+1])) && !(p < len(text) && (isAlnum(text[p]) || text[p] == '_')) {
			add(TypeIP, i, p)
		}
		for i < len(text) && (isDigit(text[i]) || text[i] == '.') {
			i++
		}
	}
}

// findIPv6 grows a run of hex digits, colons and dots around each colon and
// lets netip decide; times (12:30:45) and MAC addresses do not parse as IPv6.
func findIPv6(text string, add func(string, int, int)) {
	i := 0
	for i < len(text) {
		k := strings.IndexByte(text[i:], ':')
		if k < 0 {
			return
		}
		c := i + k
		s := c
		for s > 0 && (isHex(text[s-1]) || text[s-1] == ':') {
			s--
		}
		e := c
		for e < len(text) && (isHex(text[e]) || text[e] == ':' || text[e] == '.') {
			e++
		}
		i = e
		if e == c+1 && s == c { // a lone colon
			continue
		}
		for e > s && text[e-1] == '.' {
			e--
		}
		if e-s >= 2 && text[e-1] == ':' && text[e-2] != ':' {
			e--
		}
		if e-s >= 2 && text[s] == ':' && text[s+1] != ':' {
			s++
		}
		if (s > 0 && (isAlnum(text[s-1]) || text[s-1] == '_')) || (e < len(text) && (isAlnum(text[e]) || text[e] == '_')) {
			continue
		}
		cand := text[s:e]
		if strings.Count(cand, ":") < 2 || !strings.ContainsAny(cand, "0123456789") {
			continue
		}
		groups := 0
		for _, g := range strings.Split(cand, ":") {
			if g != "" {
				groups++
			}
		}
		if groups < 2 {
			continue
		}
		a, err := netip.ParseAddr(cand)
		if err != nil || !a.Is6() || a.Zone() != "" {
			continue
		}
		add(TypeIP, s, e)
	}
}

func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func isAlpha(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) || c >= 0x80 }

func atoiSmall(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		n = n*10 + int(s[i]-'0')
	}
	return n
}
