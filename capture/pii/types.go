package pii

// Type names, used in placeholders (<EMAIL_1>) and in Finding.Type.
const (
	TypeEmail   = "EMAIL"
	TypePhone   = "PHONE"
	TypeCard    = "CARD"
	TypeIBAN    = "IBAN"
	TypeIP      = "IP"
	TypeAadhaar = "ID_IN_AADHAAR"
	TypeCPF     = "ID_BR_CPF"
	TypeCNPJ    = "ID_BR_CNPJ"
	TypeZAID    = "ID_ZA_ID"
	TypeKEID    = "ID_KE_ID"
	TypeNIN     = "ID_NG_NIN"
	TypeBVN     = "ID_NG_BVN"
	TypeSSN     = "ID_US_SSN"
	TypeNINO    = "ID_GB_NINO"
	TypeKRAPIN  = "ID_KE_KRA_PIN"

	TypeName     = "NAME"
	TypeDOB      = "DOB"
	TypePassport = "PASSPORT"
	TypeAddress  = "ADDRESS"
)

// packTypes maps a national-id pack (ISO 3166 alpha-2) to the types it enables.
var packTypes = map[string][]string{
	"IN": {TypeAadhaar},
	"BR": {TypeCPF, TypeCNPJ},
	"ZA": {TypeZAID},
	"KE": {TypeKEID, TypeKRAPIN},
	"NG": {TypeNIN, TypeBVN},
	"US": {TypeSSN},
	"GB": {TypeNINO},
}

// baseTypes are always available, independent of packs.
var baseTypes = []string{TypeEmail, TypePhone, TypeCard, TypeIBAN, TypeIP, TypeName, TypeDOB, TypePassport, TypeAddress}

// AllTypes lists every type the package knows, base types first.
func AllTypes() []string {
	out := append([]string(nil), baseTypes...)
	for _, p := range Packs() {
		out = append(out, packTypes[p]...)
	}
	return out
}

// Packs lists the national-id packs in a fixed order.
func Packs() []string { return []string{"IN", "BR", "ZA", "KE", "NG", "US", "GB"} }

// Priority at equal span length: higher wins.
var typePriority = map[string]int{
	TypeKEID: 90, TypeNIN: 90, TypeBVN: 91, TypeSSN: 85,
	TypeCNPJ: 80, TypeCPF: 80, TypeZAID: 80, TypeAadhaar: 80, TypeNINO: 80,
	TypeIBAN: 75, TypeEmail: 75, TypeIP: 72, TypeCard: 70, TypePhone: 50,
	TypeKRAPIN: 88, TypePassport: 86, TypeDOB: 60, TypeAddress: 45, TypeName: 40,
}

// Finding is one replaced identifier. Start and End are byte offsets into the
// text given to Scrub.
type Finding struct {
	Type        string
	Start, End  int
	Placeholder string
}

// Result is the scrubbed text and what was replaced, in text order.
type Result struct {
	Text  string
	Found []Finding
}
