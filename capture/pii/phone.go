package pii

import (
	"slices"
	"strings"
)

// isPhone judges a numeric run as a telephone number; see the package
// comment for the accepted forms.
func isPhone(text string, r *numRun) bool {
	if r.badParen {
		return false
	}
	d := r.digits
	l := r.lens()
	slashes := 0
	for _, s := range r.seps {
		slashes += strings.Count(s, "/")
	}
	g0 := text[r.groups[0].s:r.groups[0].e]
	// 00CC needs separators or a phone word: a bare 00... is usually a
	// zero-padded reference.
	if r.plus || (strings.HasPrefix(g0, "00") && !r.groups[0].paren && (len(l) > 1 || hasContext(text, r.start, phoneWords))) {
		return slashes == 0 && intlPhone(text, r)
	}
	if slashes > 0 {
		// German style 030/1234567: one slash after a trunk-0 area code.
		return slashes == 1 && len(l) == 2 && r.seps[0] == "/" && d[0] == '0' && d[1] != '0' &&
			l[0] >= 3 && l[0] <= 5 && len(d) >= 9 && len(d) <= 12
	}
	if d[0] == '0' && d[1] != '0' && trunkPhone(r, l) {
		return true
	}
	if nanpShape(r, l) || brazilShape(r, l) || indiaShape(r, l) {
		return true
	}
	if len(l) == 1 && mobileCC(d) {
		return true // 254722333444: a mobile behind its country code, '+' left out
	}
	if len(l) == 1 && len(d) >= 10 && len(d) <= 13 && (hasContext(text, r.start, phoneWords) || hasContext(text, r.start, numberWords)) {
		if len(d) == 10 && (d[0] >= '6' || nanpValid(d)) {
			return true
		}
		if cc := callingCode(d); cc != "" && nsnOK(cc, d[len(cc):]) {
			return true // 254712345678: the code without '+', common in M-Pesa messages
		}
	}
	return false
}

// intlPhone: +CC or 00CC, a code from the E.164 list that does not straddle a
// separator, an optional "(0)" trunk hint, and a national number whose length
// fits the country.
func intlPhone(text string, r *numRun) bool {
	d := r.digits
	gi := 0
	first := text[r.groups[0].s:r.groups[0].e]
	if !r.plus {
		d = d[2:]
		if first == "00" {
			if len(r.groups) < 2 {
				return false
			}
			gi = 1
			first = text[r.groups[1].s:r.groups[1].e]
		} else {
			first = first[2:]
		}
	}
	if d == "" || d[0] == '0' {
		return false
	}
	cc := callingCode(d)
	if cc == "" || len(first) < len(cc) {
		return false
	}
	nsn := d[len(cc):]
	// "+44 (0)20 ...": drop the parenthesised trunk 0 right after the code.
	if len(first) == len(cc) && gi+1 < len(r.groups) {
		g := r.groups[gi+1]
		if g.paren && text[g.s:g.e] == "0" {
			nsn = nsn[1:]
		}
	}
	if nsn == "" {
		return false
	}
	return nsnOK(cc, nsn)
}

// trunkPhone: a national number with a trunk 0 (0712 345 678, 020 7946 0958,
// 06 12 34 56 78, (011) 555 1234): 10-11 digits when written plain, 9-12 when
// grouped behind an area or mobile prefix of 2-5 digits.
func trunkPhone(r *numRun, l []int) bool {
	n := len(r.digits)
	if len(l) == 1 {
		return n == 10 || n == 11
	}
	if n < 9 || n > 12 || l[0] < 2 || l[0] > 6 {
		return false
	}
	// One separator style after the prefix (06 12 34 56 78, 01.23.45.67.89);
	// 052.733.934-23 mixes them and is a CPF-shaped code.
	for _, s := range r.seps[1:] {
		if s != r.seps[len(r.seps)-1] {
			return false
		}
	}
	if len(r.seps) > 1 && r.seps[0] != r.seps[1] && !strings.HasPrefix(r.seps[0], ")") {
		return false
	}
	for _, x := range l[1:] {
		if x < 2 {
			return false
		}
	}
	return true
}

func nanpValid(d string) bool { return len(d) == 10 && d[0] >= '2' && d[3] >= '2' }

// nanpShape: (415) 555-0132, 415-555-0132, 415.555.0132, 415 555 0132 and the
// same behind "1-" or "1 ".
func nanpShape(r *numRun, l []int) bool {
	d := r.digits
	seps := r.seps
	if lensEq(l, 1, 3, 3, 4) && d[0] == '1' {
		d, l, seps = d[1:], l[1:], seps[1:]
	}
	if !lensEq(l, 3, 3, 4) || d[0] < '2' {
		return false
	}
	s1, s2 := seps[len(seps)-2], seps[len(seps)-1]
	// The area code decides; an exchange starting 0 or 1 (555-123-4567,
	// the fictional numbers people write) is accepted in the two shapes no
	// other number takes, (555) 123-4567 and 555.123.4567.
	if d[3] < '2' && !(s1 == ") " || s1 == ")" || s1 == "." && s2 == ".") {
		return false
	}
	switch {
	case s1 == ") " || s1 == ")":
		return s2 == "-" || s2 == " " || s2 == "."
	case s1 == s2:
		return s1 == "-" || s1 == "." || s1 == " "
	}
	return false
}

// brazilShape: (11) 98765-4321, 11 98765-4321, (21) 3456-7890: a two-digit
// area code without 0, a mobile starting 9 or a landline starting 2-5.
func brazilShape(r *numRun, l []int) bool {
	d := r.digits
	if !(lensEq(l, 2, 5, 4) || lensEq(l, 2, 4, 4)) || d[0] == '0' || d[1] == '0' {
		return false
	}
	if s := r.seps[0]; !(s == ") " || s == " " && !r.groups[0].paren) || (r.seps[1] != "-" && r.seps[1] != " ") {
		return false
	}
	if l[1] == 5 {
		return d[2] == '9'
	}
	return d[2] >= '2' && d[2] <= '5'
}

// indiaShape: 98765 43210, a ten-digit mobile starting 6-9 written 5-5.
func indiaShape(r *numRun, l []int) bool {
	return lensEq(l, 5, 5) && r.digits[0] >= '6' && !r.hasParen() && r.sepsAll(" ", "-")
}

// mobileShape reports whether the run reads as a mobile number on its own,
// whatever word precedes it: a national mobile with its trunk 0 (Kenya
// 07xx and 010x/011x, Nigeria 070/080/081/090/091, UK 07, France and South
// Africa 06/07/08) in its usual groupings, or written whole after a
// three-digit African or Portuguese country code without its '+'
// (254722333444: "ref 254722333444" is still a Kenyan mobile). A bare
// two-digit country-code form after an object word ("Reference
// 916126468406") stays that object's number: those collide with ordinary
// reference numbers far more often.
func mobileShape(r *numRun) bool {
	d := r.digits
	if r.plus {
		return true
	}
	if r.hasParen() {
		return false
	}
	if len(r.groups) == 1 && mobileCC(d) && !slices.Contains(twoDigitCCs, d[:2]) {
		return true
	}
	if l := r.lens(); d[0] == '0' && (len(l) == 1 || lensEq(l, 4, 3, 3) || lensEq(l, 4, 3, 4) || lensEq(l, 5, 6) || lensEq(l, 3, 3, 4) ||
		lensEq(l, 4, 6) || lensEq(l, 2, 2, 2, 2, 2) || lensEq(l, 3, 3, 3)) {
		switch len(d) {
		case 10:
			return d[1] == '7' || d[1] == '6' || d[1] == '8' && d[2] >= '2' || d[1] == '1' && (d[2] == '0' || d[2] == '1')
		case 11:
			return d[1] == '7' || d[1] >= '8' && (d[2] == '0' || d[2] == '1')
		}
		return false
	}
	return false
}

// twoDigitCCs are the two-digit country codes mobileCC knows; the others
// it knows have three digits.
var twoDigitCCs = []string{"27", "33", "44", "55", "91"}

// mobileCC: a bare country code followed by a mobile number of the right
// length: Kenya 254 7/1, Tanzania 255 6/7, Uganda 256 7, Rwanda 250 7,
// Nigeria 234 7/8/9 0/1, Ghana 233 2/5, South Africa 27 6/7/8, India 91 6-9,
// UK 44 7, France 33 6/7, Portugal 351 9, Brazil 55 + area + 9.
func mobileCC(d string) bool {
	has := func(p string, n int, next string) bool {
		return len(d) == n && strings.HasPrefix(d, p) && strings.IndexByte(next, d[len(p)]) >= 0
	}
	switch {
	case has("254", 12, "71"), has("255", 12, "67"), has("256", 12, "7"), has("250", 12, "7"),
		has("233", 12, "25"), has("27", 11, "678"), has("91", 12, "6789"), has("44", 12, "7"),
		has("33", 11, "67"), has("351", 12, "9"):
		return true
	case has("234", 13, "789"):
		return d[4] == '0' || d[4] == '1'
	case len(d) == 13 && strings.HasPrefix(d, "55"):
		return d[2] >= '1' && d[3] >= '1' && d[4] == '9'
	}
	return false
}
