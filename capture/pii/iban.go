package pii

// ibanLength is the IBAN length per country from the SWIFT IBAN registry
// (plus the few experimental ones in common use).
var ibanLength = map[string]int{
	"AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22,
	"BH": 22, "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24,
	"DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18,
	"FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27,
	"GT": 28, "HN": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26,
	"IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20,
	"LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
	"MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24,
	"PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
	"SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25,
	"SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
	"YE": 30,
}

// findIBANs looks for a country code and two check digits at a word start,
// then collects exactly the country's length of letters and digits, allowing
// single spaces between them (print format groups of four), and checks mod 97.
func findIBANs(text string, add func(string, int, int)) {
	for i := 0; i+4 <= len(text); i++ {
		if !isAlpha(text[i]) || !isAlpha(text[i+1]) || !isDigit(text[i+2]) || !isDigit(text[i+3]) {
			continue
		}
		if i > 0 && (isAlnum(text[i-1]) || text[i-1] == '_') {
			continue
		}
		cc := [2]byte{upper(text[i]), upper(text[i+1])}
		n, ok := ibanLength[string(cc[:])] // no allocation for a map key conversion
		if !ok {
			continue
		}
		var arr [40]byte
		buf := append(arr[:0], cc[0], cc[1], text[i+2], text[i+3])
		p := i + 4
		for len(buf) < n && p < len(text) {
			c := text[p]
			switch {
			case isDigit(c) || isAlpha(c):
				buf = append(buf, upper(c))
				p++
			case c == ' ' && p+1 < len(text) && (isDigit(text[p+1]) || isAlpha(text[p+1])) && text[p-1] != ' ':
				p++
			default:
				p = len(text) + 1 // stop: the string is too short
			}
		}
		if len(buf) != n || p > len(text) {
			continue
		}
		if p < len(text) && (isAlnum(text[p]) || text[p] == '_') {
			continue
		}
		if ck := string(buf[2:4]); ck == "00" || ck == "01" || ck == "99" || !mod97(string(buf)) {
			continue
		}
		add(TypeIBAN, i, p)
		i = p - 1
	}
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}
