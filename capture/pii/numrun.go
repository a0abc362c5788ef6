package pii

import (
	"slices"
	"strings"
)

// A numRun is a maximal stretch of digit groups joined by single separators
// (space, dash, dot, slash, parentheses), optionally led by '+'. Every
// numeric detector judges the whole run: judging sub-runs would let a
// 16-digit number that fails Luhn yield a 12-digit "Aadhaar" inside it.
type numRun struct {
	start, end int
	plus       bool
	badParen   bool
	groups     []group
	seps       []string // seps[i] joins groups[i] and groups[i+1]
	digits     string
}

type group struct {
	s, e  int // byte offsets in the text
	paren bool
}

func (r *numRun) lens() []int {
	l := make([]int, len(r.groups))
	for i, g := range r.groups {
		l[i] = g.e - g.s
	}
	return l
}

// sepsAll reports whether every separator equals one of the given ones and
// all separators are the same.
func (r *numRun) sepsAll(allowed ...string) bool {
	if len(r.seps) == 0 {
		return true
	}
	first := r.seps[0]
	ok := false
	for _, a := range allowed {
		if first == a {
			ok = true
		}
	}
	if !ok {
		return false
	}
	for _, s := range r.seps {
		if s != first {
			return false
		}
	}
	return true
}

func (r *numRun) hasParen() bool {
	for _, g := range r.groups {
		if g.paren {
			return true
		}
	}
	return false
}

// lensEq reports whether a run's group lengths a are exactly b.
func lensEq(a []int, b ...int) bool { return slices.Equal(a, b) }

const maxRunGroups = 12

// scanRun reads a run starting at i (a digit, '+' or '(') into r, reusing its
// slices. It returns nil when the run is not a candidate, and always the
// index to continue scanning from.
func scanRun(text string, i int, r *numRun) (*numRun, int) {
	*r = numRun{start: i, groups: r.groups[:0], seps: r.seps[:0]}
	ndig := 0
	p := i
	depth := 0
	if text[p] == '(' {
		depth++
		p++
	}
	if p < len(text) && text[p] == '+' {
		r.plus = true
		p++
	}
	if p < len(text) && text[p] == '(' && depth == 0 {
		depth++
		p++
	}
	if p >= len(text) || !isDigit(text[p]) {
		return nil, i + 1
	}
	for {
		s := p
		for p < len(text) && isDigit(text[p]) {
			p++
		}
		ndig += p - s
		r.groups = append(r.groups, group{s, p, depth > 0})
		q := p
		for q < len(text) && q-p < 3 && strings.IndexByte(" -./()", text[q]) >= 0 {
			q++
		}
		// Take the longest valid separator that is followed by a digit.
		took := false
		for k := q; k > p; k-- {
			sep := text[p:k]
			// A double space is tolerated only inside a +CC number, where it is
			// a typing slip; elsewhere it separates table columns.
			if k < len(text) && isDigit(text[k]) && (validSep(sep) || sep == "  " && r.plus) {
				nd := depth + strings.Count(sep, "(") - strings.Count(sep, ")")
				if nd < 0 || nd > 1 {
					break
				}
				depth = nd
				r.seps = append(r.seps, sep)
				p = k
				took = true
				break
			}
		}
		if !took || len(r.groups) > maxRunGroups {
			break
		}
	}
	r.end = p
	if depth > 0 && r.end < len(text) && text[r.end] == ')' {
		r.end++
		depth--
	}
	r.badParen = depth != 0
	next := r.end
	if len(r.groups) > maxRunGroups {
		// Skip the rest of a long table of numbers.
		for next < len(text) && (isDigit(text[next]) || strings.IndexByte(" -./()", text[next]) >= 0) {
			next++
		}
		return nil, next
	}
	if ndig < 7 || ndig > 19 {
		// Too short or too long for any identifier judged here; only the
		// slash split in judgeRun needs the digits, and its parts are shorter.
		if ndig < 7 || !strings.Contains(text[r.start:r.end], "/") {
			return nil, next
		}
	}
	r.digits = digitsOf(text[r.start:r.end])
	return r, next
}

func validSep(s string) bool {
	switch s {
	case " ", "-", ".", "/", "(", ")", ") ", ")-", ").", " (", "-(", ") -":
		return true
	}
	return false
}

// boundaryOK rejects runs that are part of something larger: glued to letters
// or digits, after '#' or a currency sign, continuing a decimal or thousands
// group (1,234.56), a time (12:30), a range or a code (INV-2024-0042).
func boundaryOK(text string, start, end int) bool {
	if start > 0 {
		p := text[start-1]
		if isAlnum(p) || p == '_' || strings.IndexByte("#@$&=", p) >= 0 {
			return false
		}
		if start > 1 {
			pp := text[start-2]
			if strings.IndexByte(".-/", p) >= 0 && (isAlnum(pp) || pp == '_') && text[start] != '+' {
				return false
			}
			if (p == ',' || p == ':') && isDigit(pp) {
				return false
			}
		}
	}
	if end < len(text) {
		n := text[end]
		if isAlnum(n) || n == '_' || strings.IndexByte("%@", n) >= 0 {
			return false
		}
		if end+1 < len(text) {
			nn := text[end+1]
			if strings.IndexByte(",.:", n) >= 0 && isDigit(nn) {
				return false
			}
			if strings.IndexByte("-/", n) >= 0 && (isAlnum(nn) || nn == '_') {
				return false
			}
		}
	}
	return true
}

// findNumbers scans numeric runs and offers each to the enabled detectors.
func findNumbers(text string, en map[string]bool, add func(string, int, int)) {
	var buf numRun
	i := 0
	for i < len(text) {
		c := text[i]
		if !isDigit(c) && c != '+' && c != '(' {
			i++
			continue
		}
		r, next := scanRun(text, i, &buf)
		if next <= i {
			next = i + 1
		}
		if r != nil && boundaryOK(text, r.start, r.end) {
			judgeRun(text, r, en, add)
		}
		i = next
	}
}

func judgeRun(text string, r *numRun, en map[string]bool, add func(string, int, int)) {
	if judgeWhole(text, r, en, add) {
		return
	}
	// "0722 123 456/0733 456 789": two numbers joined by a slash. Judge the
	// parts when the whole is nothing.
	from := 0
	for i, s := range r.seps {
		if s == "/" {
			judgeWhole(text, r.sub(text, from, i), en, add)
			from = i + 1
		}
	}
	if from > 0 {
		judgeWhole(text, r.sub(text, from, len(r.groups)-1), en, add)
	}
}

// sub is the run of groups a..b.
func (r *numRun) sub(text string, a, b int) *numRun {
	s := &numRun{start: r.groups[a].s, end: r.groups[b].e, groups: r.groups[a : b+1], seps: r.seps[a:b]}
	if a == 0 {
		s.start, s.plus = r.start, r.plus
	}
	for _, g := range s.groups {
		if g.paren {
			s.badParen = true // a paren pair cut in half; keep it simple
		}
	}
	s.digits = digitsOf(text[s.start:s.end])
	return s
}

// judgeWhole offers the run to every enabled detector and reports whether
// any took it.
func judgeWhole(text string, r *numRun, en map[string]bool, add func(string, int, int)) bool {
	d := r.digits
	if len(d) < 7 || len(d) > 19 {
		return false
	}
	took := false
	// A bare number after "waybill", "EAN", "policy number"... belongs to
	// that object; '+' phone numbers and context-gated ids are exempt.
	object := (len(r.groups) == 1 || !r.plus) && objectBefore(text, r.start)
	emit := func(typ string, ok func() bool) {
		if en[typ] && ok() {
			s, e := r.start, r.end
			// "(+1 931 981 0619)": the parentheses around the whole
			// number belong to the sentence.
			if typ == TypePhone && text[s] == '(' && text[e-1] == ')' && strings.Count(text[s:e], "(") == 1 && strings.Count(text[s:e], ")") == 1 {
				s, e = s+1, e-1
			}
			add(typ, s, e)
			took = true
		}
	}
	plainObject := object && len(r.groups) == 1
	emit(TypeCard, func() bool { return !plainObject && isCard(r) })
	emit(TypeAadhaar, func() bool { return !plainObject && isAadhaar(text, r) })
	emit(TypeCPF, func() bool { return !plainObject && isCPF(r) })
	emit(TypeCNPJ, func() bool { return !plainObject && isCNPJ(r) })
	emit(TypeZAID, func() bool { return !plainObject && isZAID(r) })
	emit(TypeSSN, func() bool { return isSSN(text, r) })
	emit(TypeKEID, func() bool { return isKEID(text, r) })
	emit(TypeNIN, func() bool { return isNIN(text, r) })
	emit(TypeBVN, func() bool { return isBVN(text, r) })
	emit(TypePassport, func() bool {
		return len(r.groups) == 1 && len(d) <= 9 && !r.plus && hasContext(text, r.start, passportWords)
	})
	// A mobile number keeps its shape after "record:", "ref" or "account":
	// 0722 000 111 or 254722000111 is somebody's phone whatever precedes it.
	emit(TypePhone, func() bool { return (!(object && !r.plus) || mobileShape(r)) && isPhone(text, r) })
	return took
}
