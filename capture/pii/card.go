package pii

// isCard: 13-19 digits, plain or in the printed groupings (4-4-4-4, 4-6-5
// for Amex, 4-6-4 for Diners, fours with a short tail for 13 and 19 digits)
// joined by one kind of separator, an issuer prefix of a known scheme with a
// length that scheme issues, and the Luhn check.
func isCard(r *numRun) bool {
	d := r.digits
	if r.plus || r.hasParen() || len(d) < 13 || len(d) > 19 || !r.sepsAll(" ", "-") {
		return false
	}
	l := r.lens()
	if len(l) > 1 && !lensEq(l, 4, 6, 5) && !lensEq(l, 4, 6, 4) {
		for i, n := range l {
			if i < len(l)-1 && n != 4 || i == len(l)-1 && (n < 1 || n > 4) {
				return false
			}
		}
	}
	return schemeLength(d) && luhn(d)
}

// schemeLength reports whether d's issuer identification number belongs to a
// major scheme that issues cards of len(d) digits.
func schemeLength(d string) bool {
	n := len(d)
	p2 := atoiSmall(d[:2])
	p3 := atoiSmall(d[:3])
	p4 := atoiSmall(d[:4])
	p6 := atoiSmall(d[:6])
	switch {
	case d[0] == '4': // Visa
		return n == 13 || n == 16 || n == 19
	case p2 >= 51 && p2 <= 55, p4 >= 2221 && p4 <= 2720: // Mastercard
		return n == 16
	case p4 >= 2200 && p4 <= 2204: // Mir
		return n >= 16 && n <= 19
	case p2 == 34 || p2 == 37: // American Express
		return n == 15
	case p3 >= 300 && p3 <= 305, p2 == 36, p2 == 38, p2 == 39: // Diners Club
		return n >= 14 && n <= 19
	case p4 >= 3528 && p4 <= 3589: // JCB
		return n >= 16 && n <= 19
	case p6 >= 506099 && p6 <= 506198, p6 >= 650002 && p6 <= 650027: // Verve (Nigeria)
		return n == 16 || n == 18 || n == 19
	case p4 == 6011, p3 >= 644 && p3 <= 649, p2 == 65: // Discover (65 shared with RuPay)
		return n >= 16 && n <= 19
	case p2 == 62: // UnionPay
		return n >= 16 && n <= 19
	case p2 == 60, p2 == 81, p2 == 82, p3 == 508, p3 == 353, p3 == 356: // RuPay
		return n == 16
	case p2 == 50, p2 >= 56 && p2 <= 69: // Maestro
		return n >= 13 && n <= 19
	}
	return false
}
