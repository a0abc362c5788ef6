package pii

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// findEmails anchors on each '@' and grows the local part to the left and the
// domain to the right; a scan per '@' is cheaper than a regular expression over
// the whole text and handles Unicode letters directly.
func findEmails(text string, add func(string, int, int)) {
	from := 0
	for {
		k := strings.IndexByte(text[from:], '@')
		if k < 0 {
			return
		}
		at := from + k
		from = at + 1
		start := at
		for start > 0 && at-start < 256 {
			r, n := utf8.DecodeLastRuneInString(text[:start])
			if !localRune(r) {
				break
			}
			start -= n
		}
		// Quotes and dots around an address belong to the sentence.
		for start < at && strings.IndexByte(".'-+", text[start]) >= 0 {
			start++
		}
		local := text[start:at]
		if local == "" || len(local) > 64 || local[len(local)-1] == '.' || strings.Contains(local, "..") {
			continue
		}
		end := at + 1
		for end < len(text) && end-at < 256 {
			r, n := utf8.DecodeRuneInString(text[end:])
			if !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '.') {
				break
			}
			end += n
		}
		for end > at+1 && (text[end-1] == '.' || text[end-1] == '-') {
			end--
		}
		if !validDomain(text[at+1 : end]) {
			continue
		}
		add(TypeEmail, start, end)
		from = end
	}
}

func localRune(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._%+-'", r)
}

// validDomain wants at least two labels, no empty label, no label starting or
// ending with '-', and an alphabetic top-level label of two or more letters.
func validDomain(d string) bool {
	labels := strings.Split(d, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
	}
	tld := labels[len(labels)-1]
	if utf8.RuneCountInString(tld) < 2 {
		return false
	}
	for _, r := range tld {
		if !unicode.IsLetter(r) {
			return false
		}
	}
	return true
}

// findObfuscatedEmails takes addresses written to dodge harvesters:
// "JOHN(at)example(dot)com", "jane [at] mail [dot] co [dot] ke",
// "john.doe{at}gmail.com", and the spelled-out "otieno at gmail dot com"
// (only with " dot " and a known top-level label, since " at " alone is an
// ordinary word).
func findObfuscatedEmails(text string, add func(string, int, int)) {
	from := 0
	for from < len(text) {
		k := strings.IndexAny(text[from:], "([{")
		if k < 0 {
			break
		}
		b := from + k
		from = b + 1
		if b+4 > len(text) || !strings.EqualFold(text[b+1:b+3], "at") || text[b+3] != closing(text[b]) {
			continue
		}
		s := localBefore(text, b)
		if s < 0 {
			continue
		}
		if e := domainAfter(text, b+4, false); e > 0 {
			add(TypeEmail, s, e)
			from = e
		}
	}
	for _, at := range []string{" at ", " AT "} {
		findSpelledEmails(text, at, add)
	}
}

// findSpelledEmails takes "otieno at gmail dot com", at being " at " or
// " AT ".
func findSpelledEmails(text, at string, add func(string, int, int)) {
	from := 0
	for {
		k := strings.Index(text[from:], at)
		if k < 0 {
			return
		}
		a := from + k
		from = a + 4
		s := localBefore(text, a+1)
		if s < 0 {
			continue
		}
		if e := domainAfter(text, a+4, true); e > 0 {
			add(TypeEmail, s, e)
			from = e
		}
	}
}

func closing(c byte) byte {
	switch c {
	case '(':
		return ')'
	case '[':
		return ']'
	}
	return '}'
}

// localBefore returns where the local part ending before position b starts
// (one optional space between), or -1.
func localBefore(text string, b int) int {
	e := b
	if e > 0 && text[e-1] == ' ' {
		e--
	}
	s := e
	for s > 0 && e-s < 64 && (isAlnum(text[s-1]) || strings.IndexByte("._%+-", text[s-1]) >= 0) && text[s-1] < 0x80 {
		s--
	}
	for s < e && strings.IndexByte(".-+", text[s]) >= 0 {
		s++
	}
	if s == e || text[e-1] == '.' {
		return -1
	}
	return s
}

// knownTLD are the top-level labels accepted after a spelled-out " dot ".
var knownTLD = wordSet(`com org net edu gov info io co ke tz ug rw ng gh za in uk fr br pt ao mz sn ci cm de us ca au`)

// domainAfter reads labels joined by ".", "(dot)", "[dot]", "{dot}" (or, when
// spelled, " dot ") from p and returns the end of the last label when there
// are two or more and the last is alphabetic, or -1.
func domainAfter(text string, p int, spelled bool) int {
	if !spelled && p < len(text) && text[p] == ' ' {
		p++
	}
	labels, end := 0, -1
	var last string
	for labels < 10 {
		q := p
		for q < len(text) && q-p < 63 && (isAlpha(text[q]) || isDigit(text[q]) || text[q] == '-') {
			q++
		}
		if q == p {
			break
		}
		labels++
		last = text[p:q]
		end = q
		// the separator to the next label
		next := -1
		switch {
		case spelled && strings.HasPrefix(strings.ToLower(text[q:min(q+5, len(text))]), " dot "):
			next = q + 5
		case !spelled && q < len(text) && text[q] == '.' && q+1 < len(text) && isAlnum(text[q+1]):
			next = q + 1
		case !spelled:
			r := q
			if r < len(text) && text[r] == ' ' {
				r++
			}
			if r+5 <= len(text) && strings.IndexByte("([{", text[r]) >= 0 && strings.EqualFold(text[r+1:r+4], "dot") && text[r+4] == closing(text[r]) {
				r += 5
				if r < len(text) && text[r] == ' ' {
					r++
				}
				next = r
			}
		}
		if next < 0 {
			break
		}
		p = next
	}
	if labels < 2 || len(last) < 2 {
		return -1
	}
	for i := 0; i < len(last); i++ {
		if !isAlpha(last[i]) {
			return -1
		}
	}
	if spelled && !knownTLD[strings.ToLower(last)] {
		return -1
	}
	return end
}

// deobfuscate maps an obfuscated address (lower case) to its plain
// spelling, so that both share a placeholder.
func deobfuscate(v string) string {
	if strings.IndexByte(v, '@') >= 0 {
		return v
	}
	r := strings.NewReplacer("(at)", "@", "[at]", "@", "{at}", "@", " at ", "@", "(dot)", ".", "[dot]", ".", "{dot}", ".", " dot ", ".")
	return strings.ReplaceAll(r.Replace(v), " ", "")
}
