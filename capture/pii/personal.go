package pii

import "strings"

// Identifiers of people written with letters and digits: the Kenyan KRA PIN
// and passport numbers; and dates of birth.

var (
	passportWords = []string{"passport", "passport no", "passport number", "pasipoti", "passeport", "passaporte", "pasaporte", "travel document", "n° de passeport"}
	dobWords      = []string{"born", "birth", "date of birth", "dob", "d.o.b", "birthday", "birthdate", "né", "née", "né(e)", "naissance", "nascido", "nascida", "nascimento", "nasc", "alizaliwa", "nilizaliwa", "kuzaliwa", "amezaliwa", "umri"}
	// notDOBWords, nearer the date than a birth word, make it another date.
	notDOBWords = []string{"appointment", "due", "expires", "expiry", "expiring", "issued", "issue", "visit", "delivered", "paid", "deadline", "rendez-vous", "vencimento", "validade", "expira", "emitido", "délivré", "échéance", "miadi", "malipo", "booked", "scheduled", "registered", "since", "on leave", "admitted", "discharged"}
)

// findAlnumIDs takes upper-case letter-and-digit words: a KRA PIN (A or P,
// nine digits, a letter; no public check digit, but the shape is specific
// enough on its own) anywhere, and a passport number (one or two letters
// then six to eight digits, or the French 12AB34567) after a passport word.
func findAlnumIDs(text string, en map[string]bool, add func(string, int, int)) {
	i := 0
	for i < len(text) {
		c := text[i]
		if !(c >= 'A' && c <= 'Z' || isDigit(c)) || i > 0 && (isAlnum(text[i-1]) || text[i-1] == '_') {
			i++
			continue
		}
		j := i
		letters, digits := 0, 0
		for j < len(text) && (text[j] >= 'A' && text[j] <= 'Z' || isDigit(text[j])) {
			if isDigit(text[j]) {
				digits++
			} else {
				letters++
			}
			j++
		}
		if j < len(text) && (isAlnum(text[j]) || text[j] == '_') || letters == 0 || digits == 0 {
			for j < len(text) && (isAlnum(text[j]) || text[j] == '_') {
				j++
			}
			i = j
			continue
		}
		w := text[i:j]
		switch {
		case en[TypeKRAPIN] && len(w) == 11 && (w[0] == 'A' || w[0] == 'P') && letters == 2 && isAlpha(w[10]):
			add(TypeKRAPIN, i, j)
		case en[TypePassport] && passportShape(w) && hasContext(text, i, passportWords):
			add(TypePassport, i, j)
		}
		i = j
	}
}

// passportShape: L{1,2}D{6,8} or DDLLDDDDD.
func passportShape(w string) bool {
	n := 0
	for n < len(w) && isAlpha(w[n]) {
		n++
	}
	if n >= 1 && n <= 2 {
		d := len(w) - n
		return d >= 6 && d <= 8 && allDigits(w[n:])
	}
	return len(w) == 9 && allDigits(w[:2]) && isAlpha(w[2]) && isAlpha(w[3]) && allDigits(w[4:])
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

// months maps month names and abbreviations in English, French, Portuguese
// and Swahili to their number.
var months = func() map[string]int {
	m := map[string]int{}
	for i, l := range []string{
		"january jan janvier janeiro januari jan.",
		"february feb février fevrier fevereiro februari fev fév",
		"march mar mars março marco machi",
		"april apr avril abril aprili avr",
		"may mai maio mei",
		"june jun juin junho juni",
		"july jul juillet julho julai juil",
		"august aug août aout agosto agosti ago",
		"september sep sept septembre setembro septemba set",
		"october oct octobre outubro oktoba out",
		"november nov novembre novembro novemba",
		"december dec décembre decembre dezembro desemba dez déc",
	} {
		for _, w := range strings.Fields(l) {
			m[w] = i + 1
		}
	}
	return m
}()

// findDOBs takes dates (31/12/1990, 1990-12-31, 12 March 1990, March 12,
// 1990, 12 de março de 1990) with a birth word shortly before and no other
// kind of date word nearer: an appointment date is not personal data.
func findDOBs(text string, add func(string, int, int)) {
	for i := 0; i < len(text); i++ {
		if !isDigit(text[i]) || i > 0 && (isAlnum(text[i-1]) || text[i-1] == '_' || text[i-1] == '/' || text[i-1] == '.' || text[i-1] == '-') {
			continue
		}
		start, end := parseDate(text, i)
		if end <= 0 {
			for i < len(text) && isDigit(text[i]) {
				i++
			}
			continue
		}
		if b := contextPos(text, start, dobWords); b >= 0 && b > contextPos(text, start, notDOBWords) {
			add(TypeDOB, start, end)
		}
		i = end - 1
	}
}

// parseDate reads a date at i (a digit) and returns its span; the start can
// be before i when a month name leads ("March 12, 1990").
func parseDate(text string, i int) (int, int) {
	num := func(p, lo, hi int) (int, int) {
		q := p
		for q < len(text) && isDigit(text[q]) && q-p < hi {
			q++
		}
		if q-p < lo || q < len(text) && isDigit(text[q]) {
			return -1, p
		}
		return atoiSmall(text[p:q]), q
	}
	okYear := func(y int) bool { return y >= 1900 && y <= 2035 }
	okDay := func(d, m int) bool { return m >= 1 && m <= 12 && d >= 1 && d <= 31 }
	tail := func(q int) bool {
		return q >= len(text) || !(isAlnum(text[q]) || text[q] == '_') && !(q+1 < len(text) && strings.IndexByte("/.-", text[q]) >= 0 && isDigit(text[q+1]))
	}
	a, p := num(i, 1, 4)
	if a < 0 {
		return -1, 0
	}
	// Numeric forms.
	if p < len(text) && strings.IndexByte("/.-", text[p]) >= 0 {
		sep := text[p]
		b, q := num(p+1, 1, 2)
		if b >= 0 && q < len(text) && text[q] == sep {
			if c, r := num(q+1, 2, 4); c >= 0 && tail(r) {
				switch {
				case p-i == 4 && r-q-1 == 2 && okYear(a) && okDay(c, b): // 1990-12-31
					return i, r
				case p-i <= 2 && r-q-1 == 4 && okYear(c) && (okDay(a, b) || okDay(b, a)):
					return i, r
				}
			}
		}
		return -1, 0
	}
	if p-i > 2 || a < 1 || a > 31 {
		return -1, 0
	}
	// "12 March 1990", "12th of March 1990", "12 de março de 1990".
	q := p
	for _, suf := range []string{"st", "nd", "rd", "th", "er", "º", "°"} {
		if strings.HasPrefix(text[q:], suf) {
			q += len(suf)
			break
		}
	}
	if m, r := monthAt(text, q); m > 0 {
		if y, s := yearAfter(text, r); y > 0 && okYear(y) {
			return i, s
		}
	}
	// "March 12, 1990": a month name right before.
	if i >= 2 && text[i-1] == ' ' {
		ws := i - 1
		for ws > 0 && (isAlpha(text[ws-1]) || text[ws-1] >= 0x80 || text[ws-1] == '.') {
			ws--
		}
		if m := months[strings.ToLower(strings.TrimSuffix(text[ws:i-1], "."))]; m > 0 && ws < i-1 {
			if y, s := yearAfter(text, q); y > 0 && okYear(y) {
				return ws, s
			}
		}
	}
	return -1, 0
}

// monthAt reads " March", " of March", " de março" at p.
func monthAt(text string, p int) (int, int) {
	for _, pre := range []string{" of ", " de ", " ", "-"} {
		if !strings.HasPrefix(text[p:], pre) {
			continue
		}
		ws := p + len(pre)
		we := ws
		for we < len(text) && (isAlpha(text[we]) || text[we] >= 0x80) {
			we++
		}
		if we > ws && we-ws <= 10 {
			if m := months[strings.ToLower(text[ws:we])]; m > 0 {
				if we < len(text) && text[we] == '.' {
					we++
				}
				return m, we
			}
		}
	}
	return 0, p
}

// yearAfter reads ", 1990", " 1990", " de 1990", "-1990" at p.
func yearAfter(text string, p int) (int, int) {
	for _, pre := range []string{", ", " de ", " ", "-", ","} {
		if !strings.HasPrefix(text[p:], pre) {
			continue
		}
		q := p + len(pre)
		r := q
		for r < len(text) && isDigit(text[r]) {
			r++
		}
		if r-q == 4 && (r >= len(text) || !isAlnum(text[r])) {
			return atoiSmall(text[q:r]), r
		}
	}
	return 0, p
}
