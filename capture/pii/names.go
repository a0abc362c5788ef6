package pii

import (
	"bytes"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Person names are found by a lexicon with context rules rather than a
// statistical model; doc.go says why. A name is a run of capitalised words
// ("Amina Odhiambo", "João da Silva", "Jean-Pierre N'Diaye") that one of
// these signals makes a person's:
//   - a title before it (Dr., Mrs., Bi., Bw., Mme, Sr., Sra., Mzee...);
//   - a cue that says a name follows: "my name is", "jina langu ni",
//     "naitwa", "je m'appelle", "meu nome é", "me chamo", "chamo-me", and
//     labels such as "Name:", "Jina:", "Nom :", "Nome:";
//   - a weaker cue (greetings, sign-offs, role labels such as "Patient:",
//     "Customer:", "Mteja:") together with a lexicon word or a second
//     capitalised word;
//   - the lexicon alone: a known given name, or two known names in a row.
// Given names that are also words (Grace, Baraka, Amani) count alone only
// away from a sentence start; those that are also months, places or brands
// (May, Victoria, Jordan) only next to a surname, title or cue. A run next
// to a street or organisation word (Kenyatta Avenue, Moi University, Rua
// Augusta, São Paulo) is not a person.

type nameFlag uint16

const (
	fGiven nameFlag = 1 << iota
	fSurname
	fAmbWord    // a given name that is also a common word
	fAmbPlace   // a given name (or a place) that is also a month, place or brand
	fTitle      // Dr, Mrs, Bi, Mme, Sra...
	fParticle   // de, da, dos, van, wa, bin...: lower case inside a name
	fStop       // a common capitalised word that is never part of a name
	fOrg        // Avenue, Hospital, University...: the run names a place or body
	fPlacePre   // São, Santa, Lake, Mount, Rue, Rua...: what follows is a place
	fCueLabel   // Name:, Jina:, Nom:, Nome:
	fCueRole    // Patient:, Customer:, Mteja:, Next of kin:
	fCueGreet   // Dear, Hi, Habari, Bonjour, Olá; Regards, Asante, Cordialement
	fCueEndWord // last word of a declaration such as "my name is"
	fCueWeak    // last word of "I am", "this is", "je suis", "eu sou", "mimi ni"
)

const nameMask = fGiven | fSurname | fAmbWord | fAmbPlace

var lexicon = func() map[string]nameFlag {
	m := map[string]nameFlag{}
	set := func(list string, f nameFlag) {
		for _, w := range strings.Fields(list) {
			m[w] |= f
		}
	}
	for _, l := range []string{givenEnglish, givenEastAfrican, givenWestAfrican, givenFrench, givenLusophone, givenIndian} {
		set(l, fGiven)
	}
	set(surnames, fSurname)
	set(ambiguousWords, fAmbWord)
	set(ambiguousPlaces, fAmbPlace)
	set(`dr dr.ª dra mr mrs ms miss mx prof sir dame bi bw bwana bibi mzee mme mlle madame monsieur m sr sra srta senhor senhora dona dom doutor doutora eng hon rev fr pastor bishop sheikh imam mwalimu daktari mhe mheshimiwa ndugu professor professora professeur maître mama baba lady lord`, fTitle)
	set(`de da das do dos du des della di van von der den wa bin binti bint ibn al el la le e y`, fParticle)
	set(stopWords, fStop)
	set(orgWords, fOrg)
	set(`são sao santa santo saint sainte st san lake mount mt port porto fort cape cabo ilha île ile lac mont rio ziwa mlima rue rua avenida av avenue boulevard bd travessa praça praca largo alameda estrada rodovia barabara mtaa university universidade université hospital hôpital hopital hospitali escola école ecole lycée lycee collège college colégio colegio chuo shule clinique clínica clinica banco banque benki kanisa church igreja église eglise msikiti mosque hotel`, fPlacePre)
	set(`name jina nom nome names`, fCueLabel)
	set(`patient paciente mgonjwa customer client cliente mteja kin contact attn from to signed assinado signé signe witness shahidi mother father mama baba guardian tutor mlezi`, fCueRole)
	set(`dear hi hello hey habari hujambo jambo bonjour salut bonsoir olá ola oi caro cara prezado prezada cher chère chere mpendwa regards thanks sincerely cheers asante cordialement merci atenciosamente abraços abracos obrigado obrigada beijos best`, fCueGreet)
	set(`is ni naitwa ninaitwa m'appelle appelle nomme est é e chamo chamo-me`, fCueEndWord)
	set(`i'm am this suis sou mimi it's`, fCueWeak)
	return m
}()

// stopWords are capitalised words that start sentences or name things, in
// the four languages the corpus covers; none of them is part of a name.
const stopWords = `the this that these those a an i my your his her our their we you he she it they me us them please call thanks thank hello hi yes no ok okay sorry today tomorrow yesterday tonight now then when where what who why how which if but and or so also just not do does did is are was were be been have has had can could would should will shall may might must let lets send pay get give tell ask see check note update kindly sent received dear team all everyone everybody anyone someone nobody customer customers client clients patient patients doctor nurse agent support admin user users staff manager sir madam mr mrs ms dr world friend friends family guys folks there here good great fine well new old next last first second balance account order invoice payment amount total number phone email card id ref ticket case date time price reply message info information details subject re fwd fw note notes warning error success failed done pending urgent important attention
monday tuesday wednesday thursday friday saturday sunday february march september october november december jan feb mar apr jun jul aug sep sept oct nov dec
habari asante karibu tafadhali ndiyo ndio hapana sawa mimi wewe yeye sisi nyinyi wao leo kesho jana mteja daktari mgonjwa nipigie piga tuma naomba nina nimetuma nimepokea pole samahani shikamoo salamu kwa na ya wa za la ni kwenye hii hiyo huyu yule yako yangu zenu gani lini wapi nini nani kwa sababu lakini pia bado tayari jumatatu jumanne jumatano alhamisi ijumaa jumamosi jumapili januari februari machi aprili mei juni julai agosti septemba oktoba novemba desemba shilingi pesa malipo akaunti simu namba nambari ujumbe barua
le la les un une je tu il elle nous vous ils elles mon ma mes ton ta tes son sa ses notre votre leur ce cette ces bonjour bonsoir merci oui non madame monsieur pour avec dans sur chez sans mais donc car alors puis aussi très bien voici voilà lundi mardi mercredi jeudi vendredi samedi dimanche janvier février fevrier mars avril mai juin juillet août aout septembre octobre novembre décembre decembre veuillez pouvez merci cordialement salut rendez-vous facture commande compte numéro numero téléphone telephone
o os as um uma eu ele ela nós nos vocês voces eles elas meu minha meus minhas seu sua seus suas olá ola obrigado obrigada sim não nao senhor senhora por favor com para em no na nas ao aos pelo pela mas então entao também tambem muito bom boa segunda terça terca quarta quinta sexta sábado sabado domingo janeiro fevereiro março marco abril maio junho julho agosto setembro outubro novembro dezembro prezado prezada atenciosamente conta pedido número telefone celular cartão cartao
tell ask reach remind inform contact meet email text message mpe mwambie mpigie mwulize muulize mtumie mjulishe waambie mwone mlipe dites demandez appelez envoyez prévenez prevenez diga pergunte ligue avise mande fale
whatsapp mpesa m-pesa safaricom airtel telkom equity kcb mtn glo orange vodacom google apple microsoft android iphone samsung toyota nissan isuzu coca-cola facebook instagram twitter tiktok youtube uber bolt jumia amazon netflix visa mastercard paypal ok`

// orgWords after (or inside) a run of capitalised words make it a place or
// an organisation, not a person.
const orgWords = `street st road rd avenue ave lane ln drive way close crescent court boulevard blvd highway hwy terrace grove gardens square parkway hospital hospitals clinic university college school academy institute airport stadium bank ltd limited plc inc corp corporation company co group foundation trust church cathedral mosque temple market mall centre center plaza house towers tower hall park bridge estate county district province region city town village river lake mountain hotel lodge restaurant cafe pharmacy supermarket primary secondary high international national memorial stores motors brothers sacco ministry council assembly party club fc united
hôpital hopital université universite école ecole lycée lycee collège clinique pharmacie banque gare église eglise mairie société societe
universidade escola colégio colegio clínica clinica farmácia farmacia banco igreja estação estacao bairro cidade
hospitali shule chuo benki duka soko kanisa msikiti kaunti`

// nameToken is one word of a possible name.
type nameToken struct {
	s, e  int // the word, without a trailing possessive 's
	flags nameFlag
	caps  bool // first letter upper case
}

// wordAt reads the word starting at or after i: letters with inner
// apostrophes and hyphens. It returns s == e == len(text) at the end.
func wordAt(text string, i int) (s, e int) {
	for i < len(text) {
		c := text[i]
		if c < 0x80 {
			if isAlpha(c) {
				break
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(text[i:])
		if unicode.IsLetter(r) {
			break
		}
		i += n
	}
	s = i
	for i < len(text) {
		c := text[i]
		if c < 0x80 {
			if isAlpha(c) {
				i++
				continue
			}
			if (c == '\'' || c == '-') && i+1 < len(text) && i > s && letterAt(text, i+1) {
				i++
				continue
			}
			break
		}
		r, n := utf8.DecodeRuneInString(text[i:])
		if unicode.IsLetter(r) || unicode.Is(unicode.Mn, r) {
			i += n
			continue
		}
		if r == '’' && i+n < len(text) && i > s && letterAt(text, i+n) {
			i += n
			continue
		}
		break
	}
	return s, i
}

func letterAt(text string, i int) bool {
	if c := text[i]; c < 0x80 {
		return isAlpha(c)
	}
	r, _ := utf8.DecodeRuneInString(text[i:])
	return unicode.IsLetter(r)
}

func upperFirst(w string) bool {
	if w == "" {
		return false
	}
	if c := w[0]; c < 0x80 {
		return c >= 'A' && c <= 'Z'
	}
	r, _ := utf8.DecodeRuneInString(w)
	return unicode.IsUpper(r)
}

// lookup returns the lexicon flags of word w (any case). Hyphenated words
// are names when every part is ("Jean-Pierre"), places when the first part
// is a place prefix ("Saint-Louis").
func lookup(w string) nameFlag {
	var buf [48]byte
	if len(w) > 40 {
		return 0
	}
	b := buf[:0]
	for i := 0; i < len(w); {
		c := w[i]
		if c < 0x80 {
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			b = append(b, c)
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(w[i:])
		if r == '’' {
			r = '\''
		}
		b = utf8.AppendRune(b, unicode.ToLower(r))
		i += n
	}
	if f, ok := lexicon[string(b)]; ok {
		return f
	}
	// French elision: l'avenue, d'Almeida.
	if len(b) > 3 && (b[0] == 'l' || b[0] == 'd') && b[1] == '\'' {
		if f, ok := lexicon[string(b[2:])]; ok {
			return f
		}
	}
	if bytes.IndexByte(b, '-') < 0 {
		return 0
	}
	var all nameFlag = fGiven | fSurname
	first := true
	for part := range strings.SplitSeq(string(b), "-") {
		f := lexicon[part]
		if first && f&fPlacePre != 0 {
			return fAmbPlace | fStop
		}
		first = false
		if f&(fGiven|fSurname) == 0 {
			return 0
		}
		if f&fGiven == 0 {
			all &^= fGiven
		}
		if f&fSurname == 0 {
			all &^= fSurname
		}
	}
	if all == 0 {
		return fGiven // a mix of given names and surnames: still a name
	}
	return all
}

// token builds the nameToken for the word text[s:e].
func token(text string, s, e int) nameToken {
	w := text[s:e]
	if n := len(w); n > 2 && (w[n-2:] == "'s" || w[n-2:] == "'S") {
		e -= 2
	} else if n > 4 && w[n-4:] == "’s" {
		e -= 4
	}
	return nameToken{s: s, e: e, flags: lookup(text[s:e]), caps: upperFirst(w)}
}

// glued reports whether the word at s..e touches a digit, '_' or '<', as in
// a placeholder (<NAME_1>) or a code (ABC123): not a word of prose.
func glued(text string, s, e int) bool {
	if s > 0 {
		if c := text[s-1]; isDigit(c) || c == '_' || c == '<' || c == '@' || c == '/' {
			return true
		}
	}
	if e < len(text) {
		if c := text[e]; isDigit(c) || c == '_' || c == '>' || c == '@' {
			return true
		}
	}
	return false
}

// ring remembers the last few words before the current one.
type ring struct {
	w    [4][2]int
	n    int
	head int // index of the newest word
}

func (r *ring) push(s, e int) {
	r.head = (r.head + 1) & 3
	r.w[r.head] = [2]int{s, e}
	if r.n < 4 {
		r.n++
	}
}

// back returns the k-th word before (0 is the nearest), or ok false.
func (r *ring) back(k int) (s, e int, ok bool) {
	if k >= r.n {
		return 0, 0, false
	}
	w := r.w[(r.head-k)&3]
	return w[0], w[1], true
}

// maxRun bounds the capitalised words read as one candidate name.
const maxRun = 6

// nameRun is a run of capitalised words (with lower-case particles between
// them) read from one position.
type nameRun struct {
	t   [maxRun]nameToken
	n   int
	end int // where scanning continues
}

// readRun reads capitalised words joined by single spaces, by ". " after a
// title or an initial, and by particles (de, da, wa, van...) followed by a
// capitalised word. A possessive ends the run.
func readRun(text string, s, e int, r *nameRun) {
	r.n = 0
	r.t[0] = token(text, s, e)
	r.n = 1
	r.end = e
	for r.n < maxRun {
		last := r.t[r.n-1]
		if last.e != r.end { // possessive stripped
			return
		}
		p := r.end
		switch {
		case p+1 < len(text) && text[p] == ' ':
			p++
		case p+2 < len(text) && text[p] == '.' && text[p+1] == ' ' && (last.flags&fTitle != 0 || last.e-last.s == 1):
			p += 2
		default:
			return
		}
		ns, ne := wordAt(text, p)
		if ns != p || glued(text, ns, ne) {
			return
		}
		tok := token(text, ns, ne)
		if !tok.caps {
			if tok.flags&fParticle == 0 || r.n+1 >= maxRun {
				return
			}
			// A particle joins only when a capitalised word follows it.
			q := ne
			if q+1 >= len(text) || text[q] != ' ' {
				return
			}
			ws, we := wordAt(text, q+1)
			if ws != q+1 || glued(text, ws, we) || !upperFirst(text[ws:we]) {
				return
			}
			r.t[r.n] = tok
			r.n++
			r.t[r.n] = token(text, ws, we)
			r.n++
			r.end = we
			continue
		}
		r.t[r.n] = tok
		r.n++
		r.end = ne
	}
}

// cue kinds, strongest first.
const (
	cueNone = iota
	cueWeak
	cueRole
	cueGreet
	cueDeclare
)

// objectNames are words before "name:" that make it something's name.
var objectNames = map[string]bool{"file": true, "user": true, "company": true, "product": true, "domain": true, "model": true,
	"brand": true, "business": true, "host": true, "app": true, "project": true, "street": true, "device": true, "network": true,
	"wifi": true, "account": true, "display": true, "screen": true, "kampuni": true, "fichier": true, "arquivo": true, "empresa": true}

func lowerWord(text string, s, e int) string {
	w := text[s:e]
	for i := 0; i < len(w); i++ {
		if c := w[i]; c >= 'A' && c <= 'Z' || c >= 0x80 {
			return strings.ToLower(w)
		}
	}
	return w
}

// cueBefore classifies the words before position at.
func cueBefore(text string, p *ring, at int) int {
	s0, e0, ok := p.back(0)
	if !ok {
		return cueNone
	}
	sep := text[e0:at]
	if len(sep) > 8 {
		return cueNone
	}
	f := lookup(text[s0:e0])
	w := func(k int) string {
		s, e, ok := p.back(k)
		if !ok {
			return ""
		}
		return lowerWord(text, s, e)
	}
	colon := strings.Count(sep, ":") == 1 && strings.Trim(sep, " :") == ""
	spaces := onlySpace(sep)
	switch {
	case f&fCueLabel != 0 && colon:
		if objectNames[w(1)] {
			return cueNone
		}
		return cueDeclare
	case f&fCueRole != 0 && (colon || spaces && (w(0) == "signed" || w(0) == "assinado" || w(0) == "signé")):
		return cueRole
	case f&fCueGreet != 0 && strings.Trim(sep, " ,\n\r") == "" && strings.Count(sep, "\n") <= 1:
		return cueGreet
	case f&fCueEndWord != 0 && spaces:
		switch w(0) {
		case "is":
			if w(1) == "name" && (w(2) == "my" || w(2) == "whose") {
				return cueDeclare
			}
			if w(1) == "this" {
				return cueWeak
			}
		case "ni":
			if w(1) == "langu" && w(2) == "jina" {
				return cueDeclare
			}
			if w(1) == "mimi" {
				return cueWeak
			}
		case "naitwa", "ninaitwa", "m'appelle", "s'appelle", "chamo-me":
			return cueDeclare
		case "nomme":
			if w(1) == "me" {
				return cueDeclare
			}
		case "est":
			if w(1) == "nom" {
				return cueDeclare
			}
		case "é", "e":
			if w(1) == "nome" {
				return cueDeclare
			}
		case "chamo":
			if w(1) == "me" {
				return cueDeclare
			}
		}
	case f&fCueWeak != 0 && spaces:
		switch w(0) {
		case "i'm", "it's":
			return cueWeak
		case "am":
			if w(1) == "i" {
				return cueWeak
			}
		case "suis":
			if w(1) == "je" {
				return cueWeak
			}
		case "sou":
			return cueWeak
		}
	}
	return cueNone
}

// sentenceStart reports whether the word at s begins a sentence or line.
func sentenceStart(text string, p *ring, s int) bool {
	_, pe, ok := p.back(0)
	if !ok {
		return true
	}
	return strings.ContainsAny(text[pe:s], ".!?\n:;\"“«(")
}

// placeBefore reports whether a place or street word comes right before s,
// maybe with particles between ("rue de la Paix", "Rua das Flores").
func placeBefore(text string, p *ring, s int) bool {
	at := s
	for k := 0; k < 3; k++ {
		ws, we, ok := p.back(k)
		if !ok || !onlySpace(text[we:at]) {
			return false
		}
		f := lookup(text[ws:we])
		if f&fPlacePre != 0 {
			return true
		}
		if f&fParticle == 0 {
			return false
		}
		at = ws
	}
	return false
}

// judgeRun decides whether a run is a person's name and returns its span
// (start -1 when it is not).
func (r *nameRun) judge(text string, prev *ring) (int, int) {
	p := *prev
	toks := r.t[:r.n]
	// Peel cue and stop words off the front ("Dear", "Patient", "Thanks"):
	// they are context for what follows.
	for len(toks) > 0 && toks[0].flags&(fStop|fCueGreet|fCueRole|fCueLabel|fCueWeak|fCueEndWord) != 0 &&
		toks[0].flags&(fGiven|fSurname|fTitle|fPlacePre) == 0 {
		p.push(toks[0].s, toks[0].e)
		toks = toks[1:]
	}
	if len(toks) == 0 || toks[0].flags&fPlacePre != 0 && toks[0].flags&fTitle == 0 || placeBefore(text, &p, toks[0].s) {
		return -1, 0
	}
	for _, t := range toks {
		if t.flags&fOrg != 0 && t.flags&(fGiven|fSurname) == 0 {
			return -1, 0 // Kenyatta Avenue, Moi University
		}
	}
	// Titles.
	titled := false
	for len(toks) > 1 && toks[0].flags&fTitle != 0 {
		titled = true
		toks = toks[1:]
	}
	if len(toks) == 0 || toks[0].flags&fTitle != 0 && !titled {
		return -1, 0
	}
	// Cut at the first stop word or pure place after the first name word.
	for k := 1; k < len(toks); k++ {
		f := toks[k].flags
		if f&(fStop|fCueRole|fCueLabel|fCueGreet) != 0 && f&(fGiven|fSurname|fTitle) == 0 || f&fAmbPlace != 0 && f&(fGiven|fSurname) == 0 || f&fParticle != 0 && k == len(toks)-1 {
			toks = toks[:k]
			break
		}
	}
	if toks[0].flags&fStop != 0 && toks[0].flags&(fGiven|fSurname) == 0 || toks[0].flags&fParticle != 0 {
		return -1, 0
	}
	span := func() (int, int) { return toks[0].s, toks[len(toks)-1].e }
	if titled {
		return span()
	}
	// An unknown capitalised word opening a sentence before a given name
	// is the sentence's verb or adverb: "Reach Gonçalo Silva", "Nilimwona
	// Baraka".
	if len(toks) >= 2 && toks[0].flags&nameMask == 0 && toks[1].flags&fGiven != 0 && sentenceStart(text, &p, toks[0].s) {
		p.push(toks[0].s, toks[0].e)
		toks = toks[1:]
	}
	f0 := toks[0].flags
	lex := func(t nameToken) bool { return t.flags&(fGiven|fSurname) != 0 && t.flags&fAmbPlace == 0 }
	hasLex := false
	for _, t := range toks {
		if lex(t) || t.flags&fAmbWord != 0 {
			hasLex = true
		}
	}
	switch cueBefore(text, &p, toks[0].s) {
	case cueDeclare:
		return span()
	case cueGreet:
		if hasLex || len(toks) >= 2 {
			return span()
		}
		if e := toks[0].e; e >= len(text) || strings.IndexByte(",!\n", text[e]) >= 0 {
			if f0&fAmbPlace == 0 {
				return span()
			}
		}
		return -1, 0
	case cueRole:
		if hasLex {
			return span()
		}
		if e := toks[0].e; e >= len(text) || strings.IndexByte(",!\n", text[e]) >= 0 {
			if f0&fAmbPlace == 0 {
				return span()
			}
		}
		return -1, 0
	case cueWeak:
		if f0&(fGiven|fAmbWord|fAmbPlace) != 0 {
			return span()
		}
	}
	second := len(toks) >= 2 && lex(toks[1])
	switch {
	case f0&fAmbPlace != 0:
		if second {
			return span()
		}
	case f0&fAmbWord != 0:
		if second || len(toks) == 1 && !sentenceStart(text, &p, toks[0].s) {
			return span()
		}
	case f0&fGiven != 0:
		return span()
	case f0&fSurname != 0:
		if second {
			return span()
		}
	default:
		for _, t := range toks[1:] {
			if lex(t) {
				return span()
			}
		}
	}
	return -1, 0
}

// lowerRun reads lower-case lexicon names from s ("john kamau") and returns
// where they end, or s when the first word is not a name.
func lowerRun(text string, s int) int {
	end := s
	p := s
	for k := 0; k < 4; k++ {
		ws, we := wordAt(text, p)
		if ws != p || glued(text, ws, we) || lookup(text[ws:we])&(fGiven|fSurname) == 0 {
			break
		}
		end = we
		if we+1 >= len(text) || text[we] != ' ' {
			break
		}
		p = we + 1
	}
	return end
}

// findNames scans the words of text and emits person names.
func findNames(text string, add func(string, int, int)) {
	var prev ring
	var run nameRun
	i := 0
	for i < len(text) {
		s, e := wordAt(text, i)
		if s >= len(text) {
			return
		}
		i = e
		if !upperFirst(text[s:e]) {
			// A lower-case name counts only right after a declaration
			// ("my name is john kamau").
			if ps, pe, ok := prev.back(0); ok && isCueEnd(text[ps:pe]) && onlySpace(text[pe:s]) &&
				cueBefore(text, &prev, s) == cueDeclare {
				if end := lowerRun(text, s); end > s && !glued(text, s, e) {
					add(TypeName, s, end)
					i = end
				}
			}
			prev.push(s, e)
			continue
		}
		if glued(text, s, e) {
			prev.push(s, e)
			continue
		}
		readRun(text, s, e, &run)
		if a, b := run.judge(text, &prev); a >= 0 {
			add(TypeName, a, b)
		}
		for _, t := range run.t[:run.n] {
			prev.push(t.s, t.e)
		}
		i = run.end
	}
}

// isCueEnd is a fast test for the last word of a declaration ("my name
// is", "jina langu ni", "je m'appelle", "meu nome é", "me chamo"), run on
// every lower-case word's predecessor.
func isCueEnd(w string) bool {
	switch w {
	case "is", "Is", "ni", "Ni", "naitwa", "ninaitwa", "Naitwa", "Ninaitwa", "m'appelle", "s'appelle", "nomme", "est", "é", "e", "chamo", "chamo-me", "Chamo-me":
		return true
	}
	return false
}

func onlySpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] != ' ' {
			return false
		}
	}
	return len(s) > 0
}
