package pii

// Numeric national ids. Each takes a whole numRun (see numrun.go) and checks
// its shape first, then its checksum or, when the scheme has none, a context
// word before it.

// isAadhaar: 12 digits, plain or 4-4-4, first digit 2-9, Verhoeff check. A
// plain 12-digit number after a phone word that reads as country code plus
// national number ("M-Pesa: 254712345678") is left to the phone detector,
// since one in ten such numbers passes Verhoeff by chance.
func isAadhaar(text string, r *numRun) bool {
	d := r.digits
	if r.plus || r.hasParen() || len(d) != 12 || d[0] < '2' {
		return false
	}
	l := r.lens()
	if !(len(l) == 1 || lensEq(l, 4, 4, 4) && r.sepsAll(" ", "-")) {
		return false
	}
	ctx := contextPos(text, r.start, aadhaarWords)
	if len(l) == 1 && (contextPos(text, r.start, phoneWords) > ctx || ctx < 0 && mobileCC(d)) {
		if cc := callingCode(d); cc != "" && nsnOK(cc, d[len(cc):]) {
			return false
		}
	}
	// Right after "Aadhaar" a number that fails the check is a mistyped
	// Aadhaar, and eleven of its twelve digits are still the person's.
	return verhoeff(d) || ctx >= 0 && !objectBefore(text, r.start)
}

// isCPF: 11 digits as ###.###.###-## or plain, two mod-11 check digits.
func isCPF(r *numRun) bool {
	if r.plus || r.hasParen() {
		return false
	}
	l := r.lens()
	if !(len(l) == 1 || lensEq(l, 3, 3, 3, 2) && r.seps[0] == "." && r.seps[1] == "." && r.seps[2] == "-") {
		return false
	}
	return validCPF(r.digits)
}

// isCNPJ: 14 digits as ##.###.###/####-## or plain, two mod-11 check digits.
func isCNPJ(r *numRun) bool {
	if r.plus || r.hasParen() {
		return false
	}
	l := r.lens()
	if !(len(l) == 1 || lensEq(l, 2, 3, 3, 4, 2) && r.seps[0] == "." && r.seps[1] == "." && r.seps[2] == "/" && r.seps[3] == "-") {
		return false
	}
	return validCNPJ(r.digits)
}

// isZAID: 13 digits YYMMDD SSSS C A Z, plain or 6-4-3 with spaces: a real
// date, citizenship C of 0 (citizen), 1 (resident) or 2 (refugee), Luhn
// over all 13 digits.
func isZAID(r *numRun) bool {
	d := r.digits
	if r.plus || r.hasParen() || len(d) != 13 {
		return false
	}
	if l := r.lens(); !(len(l) == 1 || lensEq(l, 6, 4, 3) && r.sepsAll(" ")) {
		return false
	}
	if !validYYMMDD(d[:6]) || d[10] > '2' {
		return false
	}
	return luhn(d)
}

func validYYMMDD(s string) bool {
	m := atoiSmall(s[2:4])
	day := atoiSmall(s[4:6])
	if m < 1 || m > 12 || day < 1 {
		return false
	}
	days := [13]int{0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	return day <= days[m]
}

// isSSN: US social security number. ###-##-#### is taken on its own; the
// spaced or plain forms only after a context word. Area 000, 666 and 900-999,
// group 00 and serial 0000 are never issued.
func isSSN(text string, r *numRun) bool {
	d := r.digits
	if r.plus || r.hasParen() || len(d) != 9 {
		return false
	}
	l := r.lens()
	dashed := lensEq(l, 3, 2, 4) && r.sepsAll("-")
	if !dashed && !(len(l) == 1 || lensEq(l, 3, 2, 4) && r.sepsAll(" ")) {
		return false
	}
	area := atoiSmall(d[:3])
	if area == 0 || area == 666 || area >= 900 || d[3:5] == "00" || d[5:] == "0000" {
		return false
	}
	return dashed || hasContext(text, r.start, ssnWords)
}

// isKEID: Kenyan national id card number, 7 or 8 digits. There is no check
// digit, so a context word ("ID no", "kitambulisho", ...) is required.
func isKEID(text string, r *numRun) bool {
	d := r.digits
	if r.plus || r.hasParen() || len(r.groups) != 1 || len(d) < 7 || len(d) > 8 || d[0] == '0' {
		return false
	}
	return hasContext(text, r.start, kenyaWords)
}

// isNIN: Nigerian National Identification Number, 11 digits with no public
// check digit: context-gated ("NIN", "NIMC").
func isNIN(text string, r *numRun) bool {
	if r.plus || r.hasParen() || len(r.groups) != 1 || len(r.digits) != 11 {
		return false
	}
	return hasContext(text, r.start, ninWords)
}

// isBVN: Nigerian Bank Verification Number, 11 digits starting 22,
// context-gated ("BVN").
func isBVN(text string, r *numRun) bool {
	d := r.digits
	if r.plus || r.hasParen() || len(r.groups) != 1 || len(d) != 11 || d[:2] != "22" {
		return false
	}
	return hasContext(text, r.start, bvnWords)
}
