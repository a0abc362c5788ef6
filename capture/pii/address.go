package pii

import "strings"

// Street addresses are a house number joined to a street name: "221B Baker
// Street", "12, Ngong Road", "15 rue de la Paix", "Rua das Flores, nº 45",
// "Avenida Paulista 1578", and postal boxes ("P.O. Box 4521-00100", "S.L.P.
// 123", "B.P. 1234", "Caixa Postal 88"). A street named without a number
// (Kenyatta Avenue, Moi Avenue) is a place, not somebody's address.

var (
	// streetSuffix ends an English street name.
	streetSuffix = wordSet(`street st road rd avenue ave lane ln drive dr way close crescent court ct boulevard blvd highway hwy place pl terrace grove gardens square sq parkway crescent mews row walk`)
	// streetPrefix starts a French, Portuguese or Swahili street name.
	streetPrefixFR = wordSet(`rue avenue av boulevard bd allée allee impasse place chemin route quai cours square`)
	streetPrefixPT = wordSet(`rua r avenida av travessa praça praca largo alameda estrada rodovia`)
	// addrParticle may sit between the words of a street name.
	addrParticle = wordSet(`de la du des d' da das do dos e of the wa ya`)
)

func wordSet(s string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(s) {
		m[w] = true
	}
	return m
}

// findAddresses emits the address forms above.
func findAddresses(text string, add func(string, int, int)) {
	findPOBoxes(text, add)
	for i := 0; i < len(text); i++ {
		c := text[i]
		if i > 0 && (isAlnum(text[i-1]) || text[i-1] == '_') {
			continue
		}
		switch {
		case isDigit(c):
			if e := numberFirst(text, i); e > 0 {
				add(TypeAddress, i, e)
				i = e - 1
				continue
			}
			for i+1 < len(text) && isDigit(text[i+1]) {
				i++
			}
		case c == 'R' || c == 'A' || c == 'T' || c == 'P' || c == 'L' || c == 'E':
			if e := streetFirst(text, i); e > 0 {
				add(TypeAddress, i, e)
				i = e - 1
			}
		}
	}
}

// houseNumber reads "12", "221B", "3 bis", "12-14" at i and returns its end.
func houseNumber(text string, i int) int {
	p := i
	for p < len(text) && isDigit(text[p]) && p-i < 5 {
		p++
	}
	if p == i || p < len(text) && isDigit(text[p]) {
		return -1
	}
	if p+1 < len(text) && text[p] == '-' && isDigit(text[p+1]) {
		p++
		for p < len(text) && isDigit(text[p]) {
			p++
		}
	}
	if p < len(text) && isAlpha(text[p]) && (p+1 >= len(text) || !isAlnum(text[p+1])) {
		p++ // 221B
	}
	for _, s := range []string{" bis", " ter"} {
		if strings.HasPrefix(text[p:], s) {
			p += len(s)
		}
	}
	return p
}

// streetWords reads up to max words of a street name from p: capitalised
// words and particles, ending on a capitalised word. It returns the end of
// the last capitalised word (0 when none) and the lower-cased words.
func streetWords(text string, p, max int, words *[8]string) (int, int) {
	end, n := 0, 0
	for k := 0; k < max && n < len(words); k++ {
		ws, we := wordAt(text, p)
		if ws != p || we == ws {
			break
		}
		w := strings.ToLower(text[ws:we])
		caps := upperFirst(text[ws:we])
		if !caps && !addrParticle[w] && !strings.HasPrefix(w, "d'") {
			break
		}
		words[n] = w
		n++
		if caps || strings.HasPrefix(w, "d'") && we-ws > 2 {
			end = we
		}
		if we+1 >= len(text) || text[we] != ' ' {
			break
		}
		p = we + 1
	}
	return end, n
}

// numberFirst: "221B Baker Street", "12, Ngong Road", "15 rue de la Paix".
func numberFirst(text string, i int) int {
	p := houseNumber(text, i)
	if p < 0 {
		return -1
	}
	if strings.HasPrefix(text[p:], ", ") {
		p += 2
	} else if p < len(text) && text[p] == ' ' {
		p++
	} else {
		return -1
	}
	ws, we := wordAt(text, p)
	if ws != p {
		return -1
	}
	first := strings.ToLower(text[ws:we])
	if streetPrefixFR[first] {
		q := we
		if q < len(text) && text[q] == '.' {
			q++
		}
		if q+1 >= len(text) || text[q] != ' ' {
			return -1
		}
		var words [8]string
		if end, _ := streetWords(text, q+1, 6, &words); end > 0 {
			return end
		}
		return -1
	}
	// English: capitalised words, then a street suffix.
	end := -1
	for k := 0; k < 5; k++ {
		ws, we := wordAt(text, p)
		if ws != p || !upperFirst(text[ws:we]) {
			break
		}
		w := strings.ToLower(text[ws:we])
		if k > 0 && streetSuffix[w] {
			end = we
			if we < len(text) && text[we] == '.' && (w == "st" || w == "rd" || w == "ave" || w == "dr" || w == "blvd") {
				end++
			}
			break
		}
		if we+1 >= len(text) || text[we] != ' ' {
			break
		}
		p = we + 1
	}
	return end
}

// streetFirst: "Rua das Flores, nº 45", "Avenida Paulista 1578", "Av. Brasil, 500".
func streetFirst(text string, i int) int {
	ws, we := wordAt(text, i)
	if ws != i || we-ws > 9 || !inFolded(streetPrefixPT, text[ws:we]) {
		return -1
	}
	p := we
	if p < len(text) && text[p] == '.' {
		p++
	}
	if p+1 >= len(text) || text[p] != ' ' {
		return -1
	}
	var words [8]string
	end, _ := streetWords(text, p+1, 6, &words)
	if end <= 0 {
		return -1
	}
	p = end
	if strings.HasPrefix(text[p:], ",") {
		p++
	}
	if p < len(text) && text[p] == ' ' {
		p++
	}
	for _, s := range []string{"nº ", "n.º ", "n° ", "no. ", "nº", "n.º", "n°", "número ", "numero ", "n. "} {
		if strings.HasPrefix(text[p:], s) {
			p += len(s)
			break
		}
	}
	if p >= len(text) || !isDigit(text[p]) {
		return -1
	}
	q := p
	for q < len(text) && isDigit(text[q]) && q-p < 5 {
		q++
	}
	if q < len(text) && (isDigit(text[q]) || isAlpha(text[q]) && q+1 < len(text) && isAlnum(text[q+1])) {
		return -1
	}
	// A year or a price is not a house number: "Rua Augusta em 1990" does
	// not reach here (only particles join), and four digits after a comma
	// stay a house number.
	return q
}

// findPOBoxes: "P.O. Box 4521-00100", "PO Box 12", "S.L.P. 123", "SLP 123",
// "B.P. 1234", "BP 1234", "Caixa Postal 88".
func findPOBoxes(text string, add func(string, int, int)) {
	for _, lab := range []string{"P.O. Box", "P. O. Box", "PO Box", "P.O.Box", "P.O BOX", "P.O. BOX", "PO BOX", "S.L.P.", "S.L.P", "SLP", "B.P.", "BP", "Caixa Postal"} {
		from := 0
		for {
			k := strings.Index(text[from:], lab)
			if k < 0 {
				break
			}
			s := from + k
			from = s + len(lab)
			if s > 0 && (isAlnum(text[s-1]) || text[s-1] == '.') {
				continue
			}
			p := s + len(lab)
			if p < len(text) && text[p] == ' ' {
				p++
			}
			q := p
			for q < len(text) && isDigit(text[q]) && q-p < 7 {
				q++
			}
			if q-p < 1 || q < len(text) && isAlnum(text[q]) {
				continue
			}
			if q+1 < len(text) && text[q] == '-' && isDigit(text[q+1]) {
				r := q + 1
				for r < len(text) && isDigit(text[r]) && r-q < 7 {
					r++
				}
				q = r
			}
			if q < len(text) && text[q] == '/' {
				continue // BP 120/80 is a blood pressure
			}
			add(TypeAddress, s, q)
		}
	}
}

// inFolded looks w up in m with its ASCII letters lower-cased, without
// allocating (the []byte-to-string conversion in a map index does not).
func inFolded(m map[string]bool, w string) bool {
	var buf [16]byte
	if len(w) > len(buf) {
		return m[strings.ToLower(w)]
	}
	b := buf[:len(w)]
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		b[i] = c
	}
	return m[string(b)]
}
