package pii

import (
	"bytes"
	"encoding/json"
	"flag"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/set.jsonl from the generator")

const setPath = "testdata/set.jsonl"

// Span is one planted identifier in a labelled sample.
type Span struct {
	Type  string `json:"type"`
	Start int    `json:"start"`
	End   int    `json:"end"`
	Value string `json:"value"`
}

// Sample is one line of testdata/set.jsonl.
type Sample struct {
	ID          int      `json:"id"`
	Text        string   `json:"text"`
	Spans       []Span   `json:"spans"`
	Distractors []string `json:"distractors,omitempty"` // kinds of distractor sentences in the text
}

// tmpl is a sentence around one identifier; ctx marks sentences with a
// context word right before it, required by the context-gated forms.
type tmpl struct {
	text string
	ctx  bool
}

var templates = map[string][]tmpl{
	TypeEmail:   {{"Send the statement to %s, please.", false}, {"Barua pepe yangu ni %s.", false}, {"Écrivez-moi à %s pour le devis.", false}, {"Meu e-mail é %s, obrigado.", false}, {"cc: %s", false}, {"The patient's daughter (%s) asked for the results.", false}},
	TypePhone:   {{"Call me on %s after 5pm.", true}, {"WhatsApp: %s", true}, {"Nipigie simu %s kesho.", true}, {"Appelez-moi au %s.", true}, {"Meu celular é %s.", true}, {"M-Pesa: send to %s.", true}, {"You can reach the clinic at %s.", false}, {"Nambari yangu ni %s.", false}, {"Mon numéro : %s.", false}, {"Next of kin: {{NAME:Jane}}, %s.", false}, {"Fale comigo no %s.", false}},
	TypeCard:    {{"My card %s was declined at checkout.", false}, {"Kadi yangu %s imekataliwa.", false}, {"Ma carte %s a été refusée.", false}, {"Cartão %s bloqueado.", false}, {"Please refund to %s.", false}},
	TypeIBAN:    {{"Please transfer the deposit to %s.", false}, {"IBAN: %s", false}, {"Virement sur le compte %s effectué.", false}, {"Transferência para %s concluída.", false}},
	TypeIP:      {{"Login from %s was blocked.", false}, {"Server %s is not responding.", false}, {"Connexion depuis %s refusée.", false}, {"Acesso do IP %s negado.", false}, {"Client [%s] timed out.", false}},
	TypeAadhaar: {{"Aadhaar: %s", false}, {"My Aadhaar number is %s, please update KYC.", false}, {"Please verify %s for the e-KYC.", false}, {"UID %s linked to the account.", false}},
	TypeCPF:     {{"CPF %s", false}, {"Meu CPF é %s.", false}, {"CPF do titular: %s, conta corrente.", false}, {"Please confirm %s on the form.", false}},
	TypeCNPJ:    {{"CNPJ %s", false}, {"Nota emitida para a empresa de CNPJ %s.", false}, {"Fornecedor %s cadastrado.", false}},
	TypeZAID:    {{"ID number %s", false}, {"My ID is %s and my policy lapsed.", false}, {"SA ID: %s.", false}, {"Patient %s admitted to casualty.", false}},
	TypeKEID:    {{"ID no. %s", true}, {"My national ID is %s.", true}, {"Namba ya kitambulisho ni %s.", true}, {"ID number: %s, please reset my PIN.", true}, {"Kitambulisho changu %s kimepotea.", true}},
	TypeNIN:     {{"My NIN is %s.", true}, {"NIN: %s", true}, {"Please link NIN %s to my line.", true}},
	TypeBVN:     {{"BVN %s", true}, {"My BVN is %s, account frozen.", true}, {"Bank verification number: %s.", true}},
	TypeSSN:     {{"SSN %s on file.", true}, {"Social security number %s.", true}, {"The W-2 shows %s.", false}},
	TypeNINO:    {{"NI number %s", false}, {"National Insurance: %s.", false}, {"My NINO is %s.", false}},
	TypeName: {{"Please ask %s to call the clinic back.", false}, {"Habari, jina langu ni %s.", false}, {"Je m'appelle %s et j'ai rendez-vous.", false},
		{"Meu nome é %s, sou cliente desde 2019.", false}, {"Dr. %s will see you at ten.", false}, {"Regards,\n%s", false},
		{"Mpe %s ujumbe huu kesho.", false}, {"%s paid the deposit yesterday.", false}, {"Bonjour, ici Mme %s.", false}, {"A Sra. %s pediu a segunda via.", false}},
	TypeDOB: {{"Date of birth: %s.", false}, {"Born on %s in Kisumu.", false}, {"DOB %s, female.", false}, {"Alizaliwa tarehe %s.", false},
		{"Née le %s à Lyon.", false}, {"Data de nascimento: %s.", false}},
	TypePassport: {{"Passport no. %s expires next year.", true}, {"My passport number is %s.", true}, {"Namba ya pasipoti %s.", true},
		{"Passeport n° %s.", true}, {"Passaporte %s, emitido em Lisboa.", true}},
	TypeAddress: {{"Deliver to %s, second floor.", false}, {"I live at %s.", false}, {"Anwani yangu ni %s.", false}, {"J'habite au %s.", false},
		{"Moro na %s.", false}, {"Send the cheque to %s, Nairobi.", false}},
	TypeKRAPIN: {{"KRA PIN %s", false}, {"My KRA PIN is %s, for the tax return.", false}, {"PIN ya KRA: %s.", false}},
}

// perType is how many sentences with each type the set plants; phones get more
// because they come in many more shapes.
var perType = map[string]int{TypePhone: 160, TypeEmail: 50, TypeCard: 50, TypeIBAN: 45, TypeIP: 50}

const distractorOnly = 260

func (g gen) value(typ string) (string, bool) {
	switch typ {
	case TypeEmail:
		return g.email(), false
	case TypePhone:
		return g.phone()
	case TypeCard:
		return g.card(), false
	case TypeIBAN:
		return g.iban(), false
	case TypeIP:
		if g.r.IntN(2) == 0 {
			return g.ipv4(), false
		}
		return g.ipv6(), false
	case TypeAadhaar:
		return g.aadhaar(), false
	case TypeCPF:
		return g.cpf(), false
	case TypeCNPJ:
		return g.cnpj(), false
	case TypeZAID:
		return g.zaid(), false
	case TypeKEID:
		return g.nz(7 + g.r.IntN(2)), true
	case TypeNIN:
		return g.nz(11), true
	case TypeBVN:
		return "22" + g.digits(9), true
	case TypeSSN:
		return g.ssn()
	case TypeNINO:
		return g.nino(), false
	case TypeName:
		return g.name(), false
	case TypeDOB:
		return g.dob(), false
	case TypePassport:
		return g.passport(), true
	case TypeAddress:
		return g.address(), false
	case TypeKRAPIN:
		return g.kraPIN(), false
	}
	panic("no generator for " + typ)
}

// builder assembles a sample text and records where values land.
type builder struct {
	b     strings.Builder
	spans []Span
	kinds []string
}

func (b *builder) sep(g gen) {
	if b.b.Len() > 0 {
		b.b.WriteString(g.pick(" ", " ", "\n"))
	}
	b.b.WriteString(g.pick("", "", "", "Customer: ", "Agent: ", "Mteja: ", "Patient: ", "Client : ", "Cliente: "))
}

func (b *builder) plant(g gen, typ string) {
	v, needCtx := g.value(typ)
	var ts []tmpl
	for _, t := range templates[typ] {
		if t.ctx || !needCtx {
			ts = append(ts, t)
		}
	}
	t := ts[g.r.IntN(len(ts))].text
	i := strings.Index(t, "%s")
	b.sep(g)
	b.fill(g, t[:i])
	start := b.b.Len()
	b.b.WriteString(v)
	b.spans = append(b.spans, Span{Type: typ, Start: start, End: start + len(v), Value: v})
	b.fill(g, t[i+2:])
}

func (b *builder) distract(g gen) {
	k, s := g.distractor()
	b.sep(g)
	b.fill(g, s)
	b.kinds = append(b.kinds, k)
}

// generateSet builds the labelled set from a fixed seed.
func generateSet() []Sample {
	g := gen{rand.New(rand.NewPCG(7, 2026))}
	var out []Sample
	emit := func(b *builder) {
		out = append(out, Sample{ID: len(out) + 1, Text: b.b.String(), Spans: b.spans, Distractors: b.kinds})
	}
	types := AllTypes()
	for _, typ := range types {
		n := perType[typ]
		if n == 0 {
			n = 40
		}
		for k := 0; k < n; k++ {
			var b builder
			for j := g.r.IntN(2); j > 0; j-- {
				b.distract(g)
			}
			b.plant(g, typ)
			if g.r.IntN(3) == 0 {
				b.plant(g, types[g.r.IntN(len(types))])
			}
			for j := g.r.IntN(3); j > 0; j-- {
				b.distract(g)
			}
			emit(&b)
		}
	}
	for k := 0; k < distractorOnly; k++ {
		var b builder
		for j := 1 + g.r.IntN(3); j > 0; j-- {
			b.distract(g)
		}
		emit(&b)
	}
	return out
}

func encodeSet(set []Sample) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, s := range set {
		if err := enc.Encode(s); err != nil {
			panic(err)
		}
	}
	return buf.Bytes()
}

func loadSet(t testing.TB) []Sample {
	t.Helper()
	data, err := os.ReadFile(setPath)
	if err != nil {
		t.Fatalf("read labelled set: %v (regenerate with go test -run TestGenerateSet -update)", err)
	}
	var set []Sample
	for i, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var s Sample
		if err := json.Unmarshal(line, &s); err != nil {
			t.Fatalf("%s line %d: %v", setPath, i+1, err)
		}
		set = append(set, s)
	}
	return set
}

// TestGenerateSet rewrites the set with -update; otherwise it checks that the
// committed data is what the generator produces and that every span is exact.
func TestGenerateSet(t *testing.T) {
	data := encodeSet(generateSet())
	if *update {
		if err := os.WriteFile(setPath, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(setPath)
	if err != nil {
		t.Fatalf("read %s: %v", setPath, err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("%s differs from the generator's output; run go test -run TestGenerateSet -update", setPath)
	}
	for _, s := range loadSet(t) {
		for _, sp := range s.Spans {
			if s.Text[sp.Start:sp.End] != sp.Value {
				t.Errorf("sample %d: span %d-%d is %q, labelled %q", s.ID, sp.Start, sp.End, s.Text[sp.Start:sp.End], sp.Value)
			}
		}
	}
}
