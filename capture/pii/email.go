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
