package pii

// luhn reports whether the digit string passes the Luhn (mod 10) check used by
// payment cards and South African ids.
func luhn(d string) bool {
	sum, dbl := 0, false
	for i := len(d) - 1; i >= 0; i-- {
		n := int(d[i] - '0')
		if dbl {
			n *= 2
			if n > 9 {
				n -= 9
			}
		}
		sum += n
		dbl = !dbl
	}
	return len(d) > 0 && sum%10 == 0
}

// Verhoeff tables: d is the Cayley table of the dihedral group D5, p the
// position permutation (1 5 8 9 4 2 7 0)(3 6) applied i times.
var verhoeffD = [10][10]uint8{
	{0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
	{1, 2, 3, 4, 0, 6, 7, 8, 9, 5},
	{2, 3, 4, 0, 1, 7, 8, 9, 5, 6},
	{3, 4, 0, 1, 2, 8, 9, 5, 6, 7},
	{4, 0, 1, 2, 3, 9, 5, 6, 7, 8},
	{5, 9, 8, 7, 6, 0, 4, 3, 2, 1},
	{6, 5, 9, 8, 7, 1, 0, 4, 3, 2},
	{7, 6, 5, 9, 8, 2, 1, 0, 4, 3},
	{8, 7, 6, 5, 9, 3, 2, 1, 0, 4},
	{9, 8, 7, 6, 5, 4, 3, 2, 1, 0},
}

var verhoeffP = [8][10]uint8{
	{0, 1, 2, 3, 4, 5, 6, 7, 8, 9},
	{1, 5, 7, 6, 2, 8, 3, 0, 9, 4},
	{5, 8, 0, 3, 7, 9, 6, 1, 4, 2},
	{8, 9, 1, 6, 0, 4, 3, 5, 2, 7},
	{9, 4, 5, 3, 1, 2, 6, 8, 7, 0},
	{4, 2, 8, 6, 5, 7, 3, 9, 0, 1},
	{2, 7, 9, 3, 8, 0, 6, 4, 1, 5},
	{7, 0, 4, 6, 9, 1, 3, 2, 5, 8},
}

var verhoeffInv = [10]uint8{0, 4, 3, 2, 1, 5, 6, 7, 8, 9}

// verhoeff reports whether d (check digit last) passes the Verhoeff check.
func verhoeff(d string) bool {
	var c uint8
	for i := 0; i < len(d); i++ {
		c = verhoeffD[c][verhoeffP[i%8][d[len(d)-1-i]-'0']]
	}
	return len(d) > 0 && c == 0
}

// verhoeffDigit returns the check digit to append to d.
func verhoeffDigit(d string) byte {
	var c uint8
	for i := 0; i < len(d); i++ {
		c = verhoeffD[c][verhoeffP[(i+1)%8][d[len(d)-1-i]-'0']]
	}
	return '0' + verhoeffInv[c]
}

// mod11Digit is the Brazilian CPF/CNPJ check digit: weighted sum mod 11,
// remainder below 2 gives 0, otherwise 11 - remainder.
func mod11Digit(d string, weights []int) byte {
	sum := 0
	for i, w := range weights {
		sum += int(d[i]-'0') * w
	}
	r := sum % 11
	if r < 2 {
		return '0'
	}
	return byte('0' + 11 - r)
}

var (
	cpfW1  = []int{10, 9, 8, 7, 6, 5, 4, 3, 2}
	cpfW2  = []int{11, 10, 9, 8, 7, 6, 5, 4, 3, 2}
	cnpjW1 = []int{5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2}
	cnpjW2 = []int{6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2}
)

func allSame(d string) bool {
	for i := 1; i < len(d); i++ {
		if d[i] != d[0] {
			return false
		}
	}
	return true
}

// validCPF checks the 11 digits of a CPF: two mod-11 check digits; numbers of
// one repeated digit pass the arithmetic but are not issued.
func validCPF(d string) bool {
	return len(d) == 11 && !allSame(d) && d[9] == mod11Digit(d, cpfW1) && d[10] == mod11Digit(d, cpfW2)
}

// validCNPJ checks the 14 digits of a CNPJ the same way with its own weights.
func validCNPJ(d string) bool {
	return len(d) == 14 && !allSame(d) && d[12] == mod11Digit(d, cnpjW1) && d[13] == mod11Digit(d, cnpjW2)
}

// mod97 reports whether an IBAN (upper-case, no spaces) passes ISO 7064
// MOD 97-10: the first four characters moved to the end, letters as 10..35,
// the whole read as a number leaves remainder 1.
func mod97(iban string) bool {
	if len(iban) < 5 {
		return false
	}
	r := 0
	feed := func(c byte) bool {
		switch {
		case isDigit(c):
			r = (r*10 + int(c-'0')) % 97
		case c >= 'A' && c <= 'Z':
			r = (r*100 + int(c-'A'+10)) % 97
		default:
			return false
		}
		return true
	}
	for i := 4; i < len(iban); i++ {
		if !feed(iban[i]) {
			return false
		}
	}
	for i := 0; i < 4; i++ {
		if !feed(iban[i]) {
			return false
		}
	}
	return r == 1
}
