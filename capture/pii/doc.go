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
//   - A mobile keeps its shape after an object word: "record: 0722000111"
//     and "account 0722 000 111" are phones (a trunk-0 mobile prefix of KE,
//     NG, UK, FR or ZA in its usual grouping), and so is a mobile behind a
//     bare country code (254722333444, 2348031234567, 919876543210). NANP
//     numbers in the (555) 123-4567 and 555.123.4567 shapes are taken with
//     any exchange; bare ten-digit ones (2125550199, 9876543210) after a
//     word such as "number", "text", "namba", "numéro" as well as the phone
//     words. An Aadhaar right after its word is taken even when Verhoeff
//     fails (a mistyped Aadhaar is still eleven twelfths of one); without
//     the word the check is required.
//   - Person names: a lexicon of given names and surnames (English, East
//     African: Kikuyu, Luo, Luhya, Kalenjin, Kamba, Swahili and coastal;
//     West African; French; Lusophone; a few Indian) with context rules:
//     titles (Dr., Mrs., Bi., Bw., Mzee, Mme, M., Sr., Sra., Dona...),
//     declarations ("my name is", "jina langu ni", "naitwa", "je
//     m'appelle", "meu nome é", "me chamo", "chamo-me"), labels ("Name:",
//     "Jina:", "Nom :", "Nome:", and with a lexicon word "Patient:",
//     "Customer:", "Mteja:"), greetings and sign-offs, and runs of
//     capitalised words led by a known given name or holding a known name.
//     Names that are also words (Grace, Baraka, Amani) count alone only
//     inside a sentence; those that are also months, places or brands (May,
//     Victoria, Jordan) only with a surname, title or cue; a run next to a
//     street or organisation word (Kenyatta Avenue, Moi University, Rua
//     Augusta, São Paulo) is not a person. This was chosen over a small NER
//     model because the engine runs GGUF language models, not token
//     classifiers: a tagger would need its own weights, its own runtime and
//     a training set in Swahili we do not have, while the lexicon and rules
//     cost about 0.1 ms per 10 KB of prose, explainable line by line,
//     and can be extended by anyone who meets a name they miss. What they
//     miss: a name with no cue whose words are all outside the lexicon
//     ("Imogen Pemberton paid"), and single surnames ("Kamau said").
//   - Dates of birth are dates after a birth word (born, DOB, date of birth,
//     alizaliwa, tarehe ya kuzaliwa, né(e) le, date de naissance, nascido
//     em, data de nascimento) with no other date word (appointment, due,
//     vencimento, ...) nearer; other dates are left. Passport numbers (one
//     or two letters and 6-8 digits, the French 12AB34567, or 7-9 digits)
//     need a passport word. A KRA PIN (A or P, nine digits, a letter) is
//     taken on its shape. Street addresses need a house number ("221B Baker
//     Street", "12, Ngong Road", "15 rue de la Paix", "Rua das Flores, nº
//     45"); postal boxes (P.O. Box, S.L.P., B.P., Caixa Postal) are taken
//     too. Obfuscated e-mail ("JOHN(at)example(dot)com", "[at]", "{at}", and
//     "otieno at gmail dot com" with a known top-level label) shares the
//     placeholder of the same address written plainly.
//   - Not handled: numbers spelled with words, Kenyan mobiles without trunk
//     0 or +254 ("712 345 678"), the alphanumeric CNPJ format, masked
//     numbers (0722xxx456, which are left as they are).
//   - Where two detections overlap, the longer wins; at equal length the more
//     specific type wins (context-gated id > checksummed id > card > phone).
//
// A Scrubber is safe for concurrent use. A Session numbers placeholders across
// several texts (the prompt and the output of one interaction) and is not;
// its Numbering (digests of the values under the caller's key, never the
// values) lets a later text continue it with ResumeSession, and Reserve and
// Rebase keep numbers written by other sessions from colliding.
package pii
