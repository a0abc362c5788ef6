package pii

import "strings"

// contextWindow is how many bytes before a number are searched for a context
// word; identifiers without a checksum are only taken after such a word.
const contextWindow = 48

var (
	kenyaWords  = []string{"national id", "id no", "id number", "id card", "id", "kitambulisho", "huduma namba", "huduma number", "kipande"}
	ninWords    = []string{"nin", "national identification number", "national identity number", "nimc"}
	bvnWords    = []string{"bvn", "bank verification number"}
	ssnWords    = []string{"ssn", "social security", "ss#", "ss no"}
	phoneWords  = []string{"phone", "tel", "telephone", "call", "mobile", "mob", "cell", "whatsapp", "sms", "contact", "simu", "piga", "m-pesa", "mpesa", "téléphone", "tél", "portable", "appelez", "joindre", "telefone", "celular", "ligue", "ligar", "contato", "fone"}
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
	lo := start - contextWindow
	if lo < 0 {
		lo = 0
	}
	w := text[lo:start]
	if nl := strings.LastIndexByte(w, '\n'); nl >= 0 {
		w = w[nl+1:]
	}
	w = strings.ToLower(w)
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
			return true
		}
	}
	return false
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
