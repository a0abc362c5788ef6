// Package pii finds personal identifiers in free text and replaces them with
// typed placeholders such as <EMAIL_1> or <ID_IN_AADHAAR_2>, so that captured
// prompts and outputs can be stored without the identifiers in them.
//
// Detection is rule based and pure Go: every type has a cheap candidate scan
// followed by a validation step (checksums, length tables, date rules), because
// a pattern alone cannot tell a card number from an order number.
//
// Decisions worth knowing:
//   - E-mail addresses need a dotted domain with an alphabetic top-level label,
//     so "user@localhost" and "@handles" are not replaced. Unicode letters are
//     accepted in the local part and the domain.
//   - Phone numbers are accepted in international form (+CC or 00CC, with the
//     country code checked against the E.164 code list and the national number
//     length against a per-country table), in national form with a trunk 0
//     (KE, NG, ZA, IN, GB, DE, FR, ...), in the NANP shapes (415) 555-0132 and
//     415-555-0132, the Brazilian (11) 98765-4321 and the Indian 98765 43210.
//     A bare run of 10-13 digits without a trunk 0 or + is a phone only when a
//     word such as "phone", "call", "simu" or "whatsapp" precedes it.
//   - Identifiers without a checksum (Kenya national id, Nigeria NIN and BVN, a
//     bare 9-digit US SSN) are replaced only when a context word ("ID no",
//     "NIN", "BVN", "SSN", ...) appears shortly before them; "order id" and
//     similar do not count. Context is looked for before the number only.
//   - Digits glued to letters (INV4111111111111111) or continuing a number
//     (1,234.56, v1.2.3.4) are never taken: an identifier must stand alone.
//   - A bare number right after a word naming an object ("waybill", "EAN",
//     "policy number", "order", "protocolo", ...) is that object's number and
//     is not taken as a checksummed id or a national-format phone.
//   - Checksums bound false positives on bare random digits from below: about
//     10% of random 12-digit numbers (first digit 2-9) pass Verhoeff and read
//     as Aadhaar, 1% of 11-digit ones pass the CPF check, 2-4% of 13-19 digit
//     ones carry a card prefix and pass Luhn (TestRandomNumbers logs this).
//     Grouped forms (4-4-4, ###.###.###-##) are much safer than bare ones.
//   - Not handled: numbers spelled with words, obfuscated e-mail ("john [at]
//     gmail [dot] com"), Kenyan mobiles without trunk 0 or +254 ("712 345
//     678"), the alphanumeric CNPJ format, masked numbers (0722xxx456, which
//     are left as they are).
//   - Where two detections overlap, the longer wins; at equal length the more
//     specific type wins (context-gated id > checksummed id > card > phone).
//
// A Scrubber is safe for concurrent use. A Session numbers placeholders across
// several texts (the prompt and the output of one interaction) and is not.
package pii
