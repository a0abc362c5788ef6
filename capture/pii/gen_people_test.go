package pii

import (
	"fmt"
	"strconv"
	"strings"
)

// Generators for the personal types: names, dates of birth, passports,
// addresses, KRA PINs. The name lists are the test's own: about a fifth of
// them are not in the scrubber's lexicon, so that recall measures the
// context rules too, not only the lexicon.

var (
	testGiven = map[string][]string{
		"en": {"John", "Mary", "Sarah", "David", "Emily", "Michael", "Rebecca", "Thomas", "Hannah", "George", "Eleanor", "Oscar", "Imogen", "Declan"},
		"ea": {"Wanjiru", "Otieno", "Achieng", "Kamau", "Amina", "Baraka", "Njeri", "Kipchoge", "Mwajuma", "Zuberi", "Nafula", "Chebet", "Wambui", "Makena", "Jelagat", "Mutheu"},
		"wa": {"Chinedu", "Ngozi", "Kwame", "Aminata", "Emeka", "Funmilayo", "Kofi", "Yetunde", "Oluchi", "Segun"},
		"fr": {"Jean-Pierre", "Marie", "Sébastien", "Élodie", "François", "Camille", "Thierry", "Nathalie", "Gaëlle", "Aurélien"},
		"pt": {"João", "Ana", "Gonçalo", "Mariana", "Luís", "Beatriz", "Thiago", "Conceição", "Ivone", "Anselmo"},
	}
	testSurname = map[string][]string{
		"en": {"Smith", "Johnson", "Taylor", "Brown", "Walker", "Thompson", "Fitzgerald", "Whitaker", "Pemberton"},
		"ea": {"Odhiambo", "Kamau", "Mwangi", "Wambui", "Kiprono", "Otieno", "Njoroge", "Wekesa", "Mramba", "Kibaki", "Chepkwony"},
		"wa": {"Okafor", "Adeyemi", "Mensah", "Diallo", "Nwosu", "Okonkwo", "Boateng", "Ezeani"},
		"fr": {"Dupont", "Lefebvre", "Moreau", "Girard", "Durand", "Rousseau", "Tremblay"},
		"pt": {"Silva", "Santos", "Ferreira", "Oliveira", "Gonçalves", "da Silva", "Pimentel", "Albuquerque"},
	}
	cultures = []string{"en", "ea", "wa", "fr", "pt"}
)

// name returns "Given Surname", from one culture or (one time in five) a
// mix, as names are in Nairobi or Lagos.
func (g gen) name() string {
	c := cultures[g.r.IntN(len(cultures))]
	c2 := c
	if g.r.IntN(5) == 0 {
		c2 = cultures[g.r.IntN(len(cultures))]
	}
	gv, sn := testGiven[c], testSurname[c2]
	return gv[g.r.IntN(len(gv))] + " " + sn[g.r.IntN(len(sn))]
}

var monthNames = map[string][]string{
	"en": {"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"},
	"fr": {"janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"},
	"pt": {"janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro", "outubro", "novembro", "dezembro"},
	"sw": {"Januari", "Februari", "Machi", "Aprili", "Mei", "Juni", "Julai", "Agosti", "Septemba", "Oktoba", "Novemba", "Desemba"},
}

func (g gen) dob() string {
	y, m, d := 1940+g.r.IntN(66), 1+g.r.IntN(12), 1+g.r.IntN(28)
	switch g.r.IntN(7) {
	case 0:
		return fmt.Sprintf("%02d/%02d/%d", d, m, y)
	case 1:
		return fmt.Sprintf("%d-%02d-%02d", y, m, d)
	case 2:
		return fmt.Sprintf("%d %s %d", d, monthNames["en"][m-1], y)
	case 3:
		return fmt.Sprintf("%s %d, %d", monthNames["en"][m-1], d, y)
	case 4:
		return fmt.Sprintf("%d %s %d", d, monthNames["fr"][m-1], y)
	case 5:
		return fmt.Sprintf("%d de %s de %d", d, monthNames["pt"][m-1], y)
	}
	return fmt.Sprintf("%d %s %d", d, monthNames["sw"][m-1], y)
}

func (g gen) passport() string {
	switch g.r.IntN(5) {
	case 0:
		return g.pick("A", "B", "C", "K") + g.digits(7)
	case 1:
		return g.pick("AK", "BK", "CK") + g.digits(7)
	case 2:
		return g.digits(2) + g.pick("AB", "CV", "FR", "KX") + g.digits(5)
	case 3:
		return g.pick("FA", "GB", "YB", "CZ") + g.digits(6)
	}
	return g.nz(9)
}

func (g gen) kraPIN() string {
	return g.pick("A", "A", "P") + "0" + g.digits(8) + string(rune('A'+g.r.IntN(26)))
}

func (g gen) address() string {
	n := strconv.Itoa(1 + g.r.IntN(400))
	switch g.r.IntN(7) {
	case 0:
		return n + " " + g.pick("Ngong Road", "Kenyatta Avenue", "Moi Avenue", "Baker Street", "Oxford Road", "Waiyaki Way", "Adeola Odeku Street", "Church Lane", "Riverside Drive")
	case 1:
		return n + g.pick("A", "B", "") + " " + g.pick("Kimathi Street", "Mama Ngina Street", "Victoria Island Road", "Allen Avenue", "Lenana Road", "Park Lane")
	case 2:
		return n + " " + g.pick("rue de la Paix", "rue Victor Hugo", "avenue Jean Jaurès", "boulevard Saint-Michel", "rue des Lilas", "allée des Tilleuls", "place de la République")
	case 3:
		return g.pick("Rua das Flores", "Rua Augusta", "Avenida Paulista", "Rua do Ouro", "Avenida da Liberdade", "Travessa do Carmo") + g.pick(", ", " ", ", nº ") + n
	case 4:
		return "P.O. Box " + strconv.Itoa(100+g.r.IntN(9000)) + g.pick("-00100", "-00200", "-40100", "")
	case 5:
		return g.pick("S.L.P. ", "B.P. ", "Caixa Postal ") + strconv.Itoa(10+g.r.IntN(5000))
	}
	return n + ", " + g.pick("Ngong Road", "Thika Road", "Mombasa Road", "Jogoo Road")
}

// fill replaces {{TYPE}} and {{TYPE:literal}} markers in a line, writing the
// text to b and recording the spans.
func (b *builder) fill(g gen, line string) {
	for {
		i := strings.Index(line, "{{")
		if i < 0 {
			break
		}
		j := strings.Index(line[i:], "}}") + i
		b.b.WriteString(line[:i])
		typ, val, lit := strings.Cut(line[i+2:j], ":")
		if !lit {
			val, _ = g.value(typ)
		}
		start := b.b.Len()
		b.b.WriteString(val)
		b.spans = append(b.spans, Span{Type: typ, Start: start, End: start + len(val), Value: val})
		line = line[j+2:]
	}
	b.b.WriteString(line)
}
