package pii

import "strings"

// callingCodes are the assigned ITU-T E.164 country calling codes. The set is
// prefix-free, so reading one, two, then three digits finds the code.
var callingCodes = func() map[string]bool {
	m := map[string]bool{}
	list := "1 7 20 27 30 31 32 33 34 36 39 40 41 43 44 45 46 47 48 49 51 52 53 54 55 56 57 58 " +
		"60 61 62 63 64 65 66 81 82 84 86 90 91 92 93 94 95 98 " +
		"211 212 213 216 218 220 221 222 223 224 225 226 227 228 229 230 231 232 233 234 235 236 237 238 " +
		"239 240 241 242 243 244 245 246 247 248 249 250 251 252 253 254 255 256 257 258 260 261 262 263 " +
		"264 265 266 267 268 269 290 291 297 298 299 350 351 352 353 354 355 356 357 358 359 370 371 372 " +
		"373 374 375 376 377 378 379 380 381 382 383 385 386 387 389 420 421 423 500 501 502 503 504 505 " +
		"506 507 508 509 590 591 592 593 594 595 596 597 598 599 670 672 673 674 675 676 677 678 679 680 " +
		"681 682 683 685 686 687 688 689 690 691 692 800 808 850 852 853 855 856 870 878 880 881 882 883 " +
		"886 888 960 961 962 963 964 965 966 967 968 970 971 972 973 974 975 976 977 992 993 994 995 996 998"
	for _, c := range strings.Fields(list) {
		m[c] = true
	}
	return m
}()

// nsnLength is the national significant number length range (digits after
// the country code, without trunk prefix) for countries we see most. Others
// get 7 to 15 minus the code length, the E.164 maximum.
var nsnLength = map[string][2]int{
	"1": {10, 10}, "7": {10, 10}, "20": {9, 10}, "27": {9, 9}, "31": {9, 9}, "33": {9, 9},
	"34": {9, 9}, "39": {6, 11}, "44": {9, 10}, "49": {6, 13}, "52": {10, 10}, "55": {10, 11},
	"61": {9, 9}, "62": {8, 12}, "63": {10, 10}, "81": {9, 10}, "86": {10, 11}, "91": {10, 10},
	"92": {9, 10}, "212": {9, 9}, "233": {9, 9}, "234": {8, 10}, "250": {9, 9}, "254": {9, 9},
	"255": {9, 9}, "256": {9, 9}, "351": {9, 9}, "880": {10, 10}, "966": {9, 9}, "971": {8, 9},
}

// callingCode returns the country code that d starts with, or "".
func callingCode(d string) string {
	for n := 1; n <= 3 && n <= len(d); n++ {
		if callingCodes[d[:n]] {
			return d[:n]
		}
	}
	return ""
}

func nsnOK(cc, nsn string) bool {
	lo, hi := 7, 15-len(cc)
	if r, ok := nsnLength[cc]; ok {
		lo, hi = r[0], r[1]
	}
	if len(nsn) < lo || len(nsn) > hi {
		return false
	}
	// Only Italy keeps the leading 0 after the country code.
	if nsn[0] == '0' && cc != "39" {
		return false
	}
	if cc == "1" { // NANP: area code and exchange start 2-9
		return nsn[0] >= '2' && nsn[3] >= '2'
	}
	return true
}
