package pii

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
)

// Value generators for the labelled set. Each returns a realistic spelling of
// a valid identifier (checksums computed, not copied) or, for distractors, a
// non-identifier built to look like one.

type gen struct{ r *rand.Rand }

func (g gen) pick(xs ...string) string { return xs[g.r.IntN(len(xs))] }

func (g gen) digits(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + g.r.IntN(10))
	}
	return string(b)
}

// nz returns n digits whose first is not 0.
func (g gen) nz(n int) string { return strconv.Itoa(1+g.r.IntN(9)) + g.digits(n-1) }

func grouped(d string, sizes []int, sep string) string {
	var parts []string
	for _, n := range sizes {
		if len(d) <= n {
			break
		}
		parts = append(parts, d[:n])
		d = d[n:]
	}
	if d != "" {
		parts = append(parts, d)
	}
	return strings.Join(parts, sep)
}

func luhnDigit(d string) string {
	for c := byte('0'); c <= '9'; c++ {
		if luhn(d + string(c)) {
			return string(c)
		}
	}
	panic("unreachable")
}

var (
	firstNames = []string{"john", "mary", "wanjiru", "otieno", "chinedu", "ngozi", "thabo", "lerato", "priya", "arjun", "joao", "ana", "lucas", "marie", "pierre", "hans", "sophie", "amina", "kwame", "fatima", "josé", "müller", "zoë"}
	lastNames  = []string{"smith", "kamau", "okafor", "nkosi", "sharma", "silva", "dupont", "schmidt", "mwangi", "adeyemi", "patel", "santos", "martin", "achieng", "dlamini"}
	domains    = []string{"gmail.com", "yahoo.co.uk", "safaricom.co.ke", "empresa.com.br", "hospital.org", "mail.ng", "orange.fr", "web.de", "outlook.com", "uct.ac.za", "infosys.co.in", "example.io", "clinique-santé.fr", "kcb.co.ke"}
)

func (g gen) email() string {
	f, l := g.pick(firstNames...), g.pick(lastNames...)
	local := g.pick(f+"."+l, f+"_"+l+strconv.Itoa(g.r.IntN(99)), f[:1]+l, f+"+orders", l+"."+f+strconv.Itoa(1970+g.r.IntN(40)), strings.ToUpper(f[:1])+f[1:]+"."+strings.ToUpper(l[:1])+l[1:])
	return local + "@" + g.pick(domains...)
}

// phone returns a phone number and whether it needs a context word (bare
// digit strings without a trunk 0 or '+').
func (g gen) phone() (string, bool) {
	switch g.r.IntN(10) {
	case 0: // Kenya
		m := g.pick("7", "1") + g.digits(8)
		switch g.r.IntN(5) {
		case 0:
			return "+254 " + grouped(m, []int{3, 3}, " "), false
		case 1:
			return "+254" + m, false
		case 2:
			return "0" + grouped(m, []int{3, 3}, " "), false
		case 3:
			return "0" + m, false
		default:
			return "254" + m, true
		}
	case 1: // Nigeria
		m := g.pick("803", "806", "813", "705", "809", "902", "816") + g.digits(7)
		switch g.r.IntN(4) {
		case 0:
			return "+234 " + grouped(m, []int{3, 3}, " "), false
		case 1:
			return "0" + grouped(m, []int{3, 3}, " "), false
		case 2:
			return "+234-" + grouped(m, []int{3, 3}, "-"), false
		default:
			return "0" + m, false
		}
	case 2: // South Africa
		m := g.pick("82", "83", "72", "61", "11", "21") + g.digits(7)
		switch g.r.IntN(4) {
		case 0:
			return "+27 " + grouped(m, []int{2, 3}, " "), false
		case 1:
			return "0" + grouped(m, []int{2, 3}, " "), false
		case 2:
			return "(0" + m[:2] + ") " + grouped(m[2:], []int{3}, " "), false
		default:
			return "0" + m, false
		}
	case 3: // India
		m := strconv.Itoa(6+g.r.IntN(4)) + g.digits(9)
		switch g.r.IntN(5) {
		case 0:
			return "+91 " + grouped(m, []int{5}, " "), false
		case 1:
			return "+91-" + m, false
		case 2:
			return grouped(m, []int{5}, " "), false
		case 3:
			return "0" + grouped(m, []int{5}, " "), false
		default:
			return m, true
		}
	case 4: // Brazil
		ddd := strconv.Itoa(11 + g.r.IntN(88-10)) // 11..88
		for strings.Contains(ddd, "0") {
			ddd = strconv.Itoa(11 + g.r.IntN(78))
		}
		mob := "9" + g.digits(4)
		rest := g.digits(4)
		switch g.r.IntN(4) {
		case 0:
			return "(" + ddd + ") " + mob + "-" + rest, false
		case 1:
			return "+55 " + ddd + " " + mob + "-" + rest, false
		case 2:
			return "(" + ddd + ") " + strconv.Itoa(2+g.r.IntN(4)) + g.digits(3) + "-" + rest, false
		default:
			return "+55 (" + ddd + ") " + mob + "-" + rest, false
		}
	case 5: // United Kingdom
		switch g.r.IntN(4) {
		case 0:
			return "+44 20 " + g.nz(4) + " " + g.digits(4), false
		case 1:
			return "+44 (0)20 " + g.nz(4) + " " + g.digits(4), false
		case 2:
			return "020 " + g.nz(4) + " " + g.digits(4), false
		default:
			return "07" + g.digits(3) + " " + g.digits(6), false
		}
	case 6: // United States
		a := strconv.Itoa(2+g.r.IntN(8)) + g.digits(2)
		e := strconv.Itoa(2+g.r.IntN(8)) + g.digits(2)
		s := g.digits(4)
		switch g.r.IntN(6) {
		case 0:
			return "(" + a + ") " + e + "-" + s, false
		case 1:
			return a + "-" + e + "-" + s, false
		case 2:
			return a + "." + e + "." + s, false
		case 3:
			return "+1 " + a + " " + e + " " + s, false
		case 4:
			return "+1-" + a + "-" + e + "-" + s, false
		default:
			return "1-" + a + "-" + e + "-" + s, false
		}
	case 7: // Germany
		switch g.r.IntN(4) {
		case 0:
			return "+49 30 " + g.nz(8), false
		case 1:
			return "030 " + g.nz(8), false
		case 2:
			return "0151 " + g.digits(8), false
		default:
			return "+49 151 " + g.digits(8), false
		}
	case 8: // France
		p := []string{g.digits(2), g.digits(2), g.digits(2), g.digits(2)}
		first := g.pick("1", "6", "7", "4")
		switch g.r.IntN(3) {
		case 0:
			return "+33 " + first + " " + strings.Join(p, " "), false
		case 1:
			return "0" + first + " " + strings.Join(p, " "), false
		default:
			return "0" + first + "." + strings.Join(p, "."), false
		}
	default: // elsewhere, international form
		cc := g.pick("256", "255", "233", "250", "351", "34", "61", "971")
		n := nsnLength[cc][0]
		return "+" + cc + " " + grouped(g.nz(n), []int{3, 3}, " "), false
	}
}

func (g gen) card() string {
	var d string
	var sizes []int
	switch g.r.IntN(8) {
	case 0, 1:
		d = "4" + g.digits(14)
	case 2:
		d = strconv.Itoa(51+g.r.IntN(5)) + g.digits(13)
	case 3:
		d = strconv.Itoa(2221+g.r.IntN(500)) + g.digits(11)
	case 4:
		d = g.pick("34", "37") + g.digits(12)
		sizes = []int{4, 6}
	case 5:
		d = "6011" + g.digits(11)
	case 6:
		d = "50610" + strconv.Itoa(g.r.IntN(10)) + g.digits(9) // Verve
	default:
		d = "3" + strconv.Itoa(528+g.r.IntN(62)) + g.digits(11) // JCB
	}
	d += luhnDigit(d)
	if sizes == nil {
		sizes = []int{4, 4, 4}
	}
	switch g.r.IntN(3) {
	case 0:
		return d
	case 1:
		return grouped(d, sizes, " ")
	default:
		return grouped(d, sizes, "-")
	}
}

var ibanCountries = []string{"DE", "GB", "FR", "ES", "IT", "NL", "BE", "CH", "PT", "PL", "SA", "AE", "NO", "IE", "BR", "TR", "MU"}

func ibanCheck(cc, bban string) string {
	for k := 2; k <= 98; k++ {
		s := fmt.Sprintf("%s%02d%s", cc, k, bban)
		if mod97(s) {
			return s
		}
	}
	panic("no check digits")
}

func (g gen) ibanCompact() string {
	cc := g.pick(ibanCountries...)
	n := ibanLength[cc] - 4
	var bban string
	switch cc {
	case "GB", "IE":
		bban = g.pick("WEST", "NWBK", "BARC", "AIBK", "MIDL") + g.digits(n-4)
	case "NL":
		bban = g.pick("ABNA", "INGB", "RABO") + g.digits(n-4)
	case "BR":
		bban = g.digits(n-2) + "P1"
	default:
		bban = g.digits(n)
	}
	return ibanCheck(cc, bban)
}

func (g gen) iban() string {
	s := g.ibanCompact()
	if g.r.IntN(2) == 0 {
		return s
	}
	return grouped(s, []int{4, 4, 4, 4, 4, 4, 4}, " ")
}

func (g gen) ipv4() string {
	a := g.pick("10", "192", "172", "41", "105", "197", "8", "203", "154")
	return fmt.Sprintf("%s.%d.%d.%d", a, g.r.IntN(256), g.r.IntN(256), 1+g.r.IntN(254))
}

func (g gen) ipv6() string {
	var b [16]byte
	b[0], b[1] = 0x20, 0x01
	b[2], b[3] = byte(g.r.IntN(256)), byte(g.r.IntN(256))
	zeros := g.r.IntN(3)
	for i := 4; i < 16; i++ {
		if zeros > 0 && i >= 6 && i < 6+zeros*4 {
			continue
		}
		b[i] = byte(g.r.IntN(256))
	}
	a := netip.AddrFrom16(b)
	switch g.r.IntN(5) {
	case 0:
		return a.StringExpanded()
	case 1:
		return strings.ToUpper(a.String())
	case 2:
		return "fe80::" + strconv.FormatInt(int64(1+g.r.IntN(0xfff)), 16) + ":" + strconv.FormatInt(int64(g.r.IntN(0xffff)), 16)
	case 3:
		return "::ffff:" + g.ipv4()
	default:
		return a.String()
	}
}

func (g gen) aadhaarDigits() string {
	d := strconv.Itoa(2+g.r.IntN(8)) + g.digits(10)
	return d + string(verhoeffDigit(d))
}

func (g gen) aadhaar() string {
	d := g.aadhaarDigits()
	switch g.r.IntN(3) {
	case 0:
		return d
	case 1:
		return grouped(d, []int{4, 4}, " ")
	default:
		return grouped(d, []int{4, 4}, "-")
	}
}

func (g gen) cpf() string {
	d := g.digits(9)
	d += string(mod11Digit(d, cpfW1))
	d += string(mod11Digit(d, cpfW2))
	if allSame(d) {
		return g.cpf()
	}
	if g.r.IntN(3) == 0 {
		return d
	}
	return d[:3] + "." + d[3:6] + "." + d[6:9] + "-" + d[9:]
}

func (g gen) cnpj() string {
	d := g.nz(8) + "0001"
	d += string(mod11Digit(d, cnpjW1))
	d += string(mod11Digit(d, cnpjW2))
	if g.r.IntN(3) == 0 {
		return d
	}
	return d[:2] + "." + d[2:5] + "." + d[5:8] + "/" + d[8:12] + "-" + d[12:]
}

func (g gen) zaid() string {
	yy := g.r.IntN(100)
	mm := 1 + g.r.IntN(12)
	dd := 1 + g.r.IntN(28)
	d := fmt.Sprintf("%02d%02d%02d%s%d8", yy, mm, dd, g.digits(4), g.r.IntN(2))
	d += luhnDigit(d)
	if g.r.IntN(4) == 0 {
		return d[:6] + " " + d[6:10] + " " + d[10:]
	}
	return d
}

func (g gen) ssn() (string, bool) {
	area := 1 + g.r.IntN(899)
	if area == 666 {
		area = 667
	}
	grp := 1 + g.r.IntN(99)
	ser := 1 + g.r.IntN(9999)
	if g.r.IntN(4) == 0 {
		return fmt.Sprintf("%03d %02d %04d", area, grp, ser), true
	}
	return fmt.Sprintf("%03d-%02d-%04d", area, grp, ser), false
}

func (g gen) nino() string {
	const first, second = "ABCEGHJKLMNOPRSTWXYZ", "ABCEGHJKLMNPRSTWXYZ"
	for {
		p := string(first[g.r.IntN(len(first))]) + string(second[g.r.IntN(len(second))])
		switch p {
		case "BG", "GB", "KN", "NK", "NT", "TN", "ZZ":
			continue
		}
		d := g.digits(6)
		s := string("ABCD"[g.r.IntN(4)])
		if g.r.IntN(2) == 0 {
			return p + d + s
		}
		return p + " " + d[:2] + " " + d[2:4] + " " + d[4:] + " " + s
	}
}
