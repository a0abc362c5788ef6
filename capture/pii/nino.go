package pii

import "strings"

// findNINOs finds UK National Insurance numbers: two prefix letters, six
// digits (optionally in pairs separated by single spaces) and a suffix A-D.
// The first letter is never D, F, I, Q, U or V; the second never D, F, I, O,
// Q, U or V; the prefixes BG, GB, KN, NK, NT, TN and ZZ are not allocated.
// Only upper case is accepted: lower-case runs of this shape are mostly words.
func findNINOs(text string, add func(string, int, int)) {
	for i := 0; i+9 <= len(text); i++ {
		a, b := text[i], text[i+1]
		if a < 'A' || a > 'Z' || b < 'A' || b > 'Z' || !isDigit(text[i+2]) && text[i+2] != ' ' {
			continue
		}
		if i > 0 && (isAlnum(text[i-1]) || text[i-1] == '_') {
			continue
		}
		if strings.IndexByte("DFIQUV", a) >= 0 || strings.IndexByte("DFIOQUV", b) >= 0 {
			continue
		}
		switch text[i : i+2] {
		case "BG", "GB", "KN", "NK", "NT", "TN", "ZZ":
			continue
		}
		end, ok := ninoTail(text, i+2)
		if !ok {
			continue
		}
		add(TypeNINO, i, end)
		i = end - 1
	}
}

// ninoTail reads "123456C" or " 12 34 56 C" starting at p.
func ninoTail(text string, p int) (int, bool) {
	spaced := p < len(text) && text[p] == ' '
	for pair := 0; pair < 3; pair++ {
		if spaced {
			if p >= len(text) || text[p] != ' ' {
				return 0, false
			}
			p++
		}
		if p+2 > len(text) || !isDigit(text[p]) || !isDigit(text[p+1]) {
			return 0, false
		}
		p += 2
	}
	if spaced {
		if p >= len(text) || text[p] != ' ' {
			return 0, false
		}
		p++
	}
	if p >= len(text) || text[p] < 'A' || text[p] > 'D' {
		return 0, false
	}
	p++
	if p < len(text) && (isAlnum(text[p]) || text[p] == '_') {
		return 0, false
	}
	return p, true
}
