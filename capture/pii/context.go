package pii

import "strings"

// contextWindow is how many bytes before a number are searched for a context
// word; identifiers without a checksum are only taken after such a word.
const contextWindow = 48

var (
	kenyaWords   = []string{"national id", "id no", "id number", "id card", "id", "kitambulisho", "huduma namba", "huduma number", "kipande"}
	ninWords     = []string{"nin", "national identification number", "national identity number", "nimc"}
	aadhaarWords = []string{"aadhaar", "aadhar", "uid", "uidai", "e-kyc", "kyc"}
	bvnWords     = []string{"bvn", "bank verification number"}
	ssnWords     = []string{"ssn", "social security", "ss#", "ss no"}
	phoneWords   = []string{"phone", "tel", "telephone", "call", "mobile", "mob", "cell", "whatsapp", "sms", "contact", "simu", "piga", "m-pesa", "mpesa", "téléphone", "tél", "portable", "appelez", "joindre", "telefone", "celular", "ligue", "ligar", "contato", "fone"}
	// numberWords also announce a phone number, but not strongly enough to
	// outrank an Aadhaar word ("my Aadhaar number is ...").
	numberWords = []string{"number", "namba", "nambari", "numéro", "número", "numero", "reach", "text", "ring", "dial", "zap", "wa.me"}
	notPersonID = map[string]bool{
		"order": true, "invoice": true, "transaction": true, "txn": true, "ticket": true, "customer": true,
		"account": true, "tracking": true, "reference": true, "ref": true, "session": true, "user": true,
		"product": true, "request": true, "employee": true, "patient": true, "booking": true, "case": true,
		"member": true, "device": true, "client": true, "payment": true, "merchant": true, "receipt": true,
		"shipment": true, "job": true, "task": true, "staff": true, "student": true, "item": true, "batch": true,
		"claim": true, "policy": true, "message": true, "file": true, "record": true, "sku": true,
	}
)

// hasContext reports whether one of words appears, as whole words, in the
// same line shortly before start. The bare word "id" does not count when an
// object noun precedes it ("order id", "patient ID").
func hasContext(text string, start int, words []string) bool {
	return contextPos(text, start, words) >= 0
}

// contextPos is hasContext returning where the last matching word starts
// (an offset into text), or -1, so that two kinds of context can be ranked by
// which is nearer the number.
func contextPos(text string, start int, words []string) int {
	best := -1
	lo := start - contextWindow
	if lo < 0 {
		lo = 0
	}
	w := text[lo:start]
	if nl := strings.LastIndexByte(w, '\n'); nl >= 0 {
		lo += nl + 1
		w = w[nl+1:]
	}
	w = asciiLower(w) // keeps byte offsets; non-ASCII letters must match as written
	for _, k := range words {
		from := 0
		for {
			j := strings.Index(w[from:], k)
			if j < 0 {
				break
			}
			j += from
			from = j + 1
			if j > 0 && isWordByte(w[j-1]) {
				continue
			}
			if e := j + len(k); e < len(w) && isWordByte(w[e]) {
				continue
			}
			if k == "id" && notPersonID[wordBefore(w, j)] {
				continue
			}
			if lo+j > best {
				best = lo + j
			}
		}
	}
	return best
}

func isWordByte(c byte) bool { return isAlpha(c) || c >= 0x80 }

// wordBefore returns the word that ends before index j, skipping spaces and
// punctuation.
func wordBefore(w string, j int) string {
	e := j
	for e > 0 && !isWordByte(w[e-1]) {
		e--
	}
	s := e
	for s > 0 && isWordByte(w[s-1]) {
		s--
	}
	return w[s:e]
}

// objectWords name things that carry numbers but are not people: a bare
// number right after one of them ("Waybill 738776438040", "EAN 6828...") is
// that thing's number even when a checksum happens to pass.
var objectWords = map[string]bool{
	"order": true, "invoice": true, "transaction": true, "txn": true, "ticket": true, "account": true,
	"tracking": true, "reference": true, "ref": true, "session": true, "product": true, "request": true,
	"booking": true, "case": true, "device": true, "payment": true, "receipt": true, "shipment": true,
	"job": true, "task": true, "item": true, "batch": true, "claim": true, "policy": true, "message": true,
	"file": true, "record": true, "sku": true, "waybill": true, "awb": true, "parcel": true,
	"consignment": true, "serial": true, "imei": true, "isbn": true, "ean": true, "barcode": true,
	"meter": true, "model": true, "part": true, "application": true, "protocol": true, "protocolo": true,
	"voucher": true, "catalogue": true, "catalog": true, "pedido": true, "commande": true, "facture": true,
	"nota": true, "dossier": true, "build": true, "version": true, "page": true, "pages": true,
}

var fillerWords = map[string]bool{"no": true, "nr": true, "num": true, "number": true, "n°": true, "nº": true, "is": true, "was": true, "de": true, "ya": true, "the": true}

// objectBefore reports whether the nearest meaningful word before start, on
// the same line, is one of objectWords.
func objectBefore(text string, start int) bool {
	lo := start - 40
	if lo < 0 {
		lo = 0
	}
	w := text[lo:start]
	if nl := strings.LastIndexByte(w, '\n'); nl >= 0 {
		w = w[nl+1:]
	}
	w = asciiLower(w)
	j := len(w)
	for k := 0; k < 4; k++ {
		word := wordBefore(w, j)
		if word == "" {
			return false
		}
		if !fillerWords[word] {
			return objectWords[word]
		}
		j = strings.LastIndex(w[:j], word)
	}
	return false
}

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
