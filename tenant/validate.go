package tenant

import (
	"fmt"
	"slices"
	"strings"

	"github.com/hearth-ai/hearth/store"
)

// Bounds on names and zones: short enough for logs, table cells and URLs.
const (
	maxNameLen = 64
	maxZoneLen = 32
)

// Bounds on a policy. Retention is bounded because it becomes a
// time.Duration (about 292 years at most) added to the capture time: an
// unbounded count of days wraps around to an expiry in the past, and the
// sweep then deletes what the tenant meant to keep. The list bounds keep a
// policy a policy (there are 249 ISO 3166-1 codes, and a node serves a
// handful of models), not a way to make every request and every validation
// walk an arbitrarily long list.
const (
	MaxRetentionDays = 36500 // 100 years
	MaxAllowedModels = 1000
	MaxJurisdictions = 300
)

// invalid wraps ErrInvalid with a message.
func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// ReservedName is the tenant a node with no tenants serves keyless
// requests as (in its usage, audit records and captures); a real tenant
// of that name would be mistaken for it, so none may take it.
const ReservedName = "local"

// ValidateName checks a tenant or key name: 1 to 64 of a-z, 0-9, '-' and
// '_', starting with a letter or digit (so it never reads as a flag), and
// not starting with "tnt_", which tenant IDs use.
func ValidateName(what, s string) error {
	switch {
	case s == "":
		return invalid("%s name is empty", what)
	case len(s) > maxNameLen:
		return invalid("%s name %q is longer than %d characters", what, s, maxNameLen)
	}
	for _, r := range s {
		if r >= 0x80 || !isLowerAlnum(byte(r)) && r != '-' && r != '_' {
			hint := ""
			if r >= 'A' && r <= 'Z' {
				hint = fmt.Sprintf(" (names are lower case: %q)", strings.ToLower(s))
			}
			return invalid("%s name %q has character %q; allowed: a-z, 0-9, '-', '_'%s", what, s, r, hint)
		}
	}
	switch {
	case !isLowerAlnum(s[0]):
		return invalid("%s name %q must start with a letter or digit", what, s)
	case strings.HasPrefix(s, tenantIDPrefix):
		return invalid("%s name %q must not start with %q (tenant ids do)", what, s, tenantIDPrefix)
	}
	return nil
}

// ValidateJurisdiction checks a jurisdiction: an ISO 3166-1 alpha-2 code
// ("KE") or an operator zone ("KE-NBO", "EU"): upper-case letters and
// digits in parts joined by single '-', starting with a letter, 2 to 32
// characters.
func ValidateJurisdiction(j string) error {
	switch {
	case j == "":
		return invalid("empty jurisdiction")
	case len(j) < 2 || len(j) > maxZoneLen:
		return invalid("jurisdiction %q must be 2 to %d characters (an ISO 3166-1 alpha-2 code like \"KE\" or a zone like \"KE-NBO\")", j, maxZoneLen)
	case j != strings.ToUpper(j):
		return invalid("jurisdiction %q must be upper case (%q)", j, strings.ToUpper(j))
	case j[0] < 'A' || j[0] > 'Z':
		return invalid("jurisdiction %q must start with a letter", j)
	case strings.HasSuffix(j, "-") || strings.Contains(j, "--"):
		return invalid("jurisdiction %q has an empty part between '-'", j)
	}
	for _, r := range j {
		if !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return invalid("jurisdiction %q has character %q; allowed: A-Z, 0-9, '-'", j, r)
		}
	}
	return nil
}

// Validate checks a policy and returns it in canonical form: capture "off"
// when empty, model names lower case, no duplicates (first occurrence
// kept, in order).
func (p Policy) Validate() (Policy, error) {
	out := p
	// The lengths are checked before anything is walked, so an oversized
	// list costs one comparison.
	switch {
	case len(p.AllowedModels) > MaxAllowedModels:
		return p, invalid("allowed models: %d listed, more than the %d a policy may list", len(p.AllowedModels), MaxAllowedModels)
	case len(p.Jurisdictions) > MaxJurisdictions:
		return p, invalid("jurisdictions: %d listed, more than the %d a policy may list", len(p.Jurisdictions), MaxJurisdictions)
	}
	out.AllowedModels = nil
	seen := make(map[string]bool, len(p.AllowedModels))
	for _, m := range p.AllowedModels {
		if _, err := store.NormalizeName(m); err != nil {
			return p, fmt.Errorf("%w: allowed model: %v", ErrInvalid, err)
		}
		m = strings.ToLower(m)
		if !seen[m] {
			seen[m] = true
			out.AllowedModels = append(out.AllowedModels, m)
		}
	}
	out.Jurisdictions = nil
	clear(seen)
	for _, j := range p.Jurisdictions {
		if err := ValidateJurisdiction(j); err != nil {
			return p, err
		}
		if !seen[j] {
			seen[j] = true
			out.Jurisdictions = append(out.Jurisdictions, j)
		}
	}
	if p.Home != "" {
		if err := ValidateJurisdiction(p.Home); err != nil {
			return p, fmt.Errorf("home: %w", err)
		}
		if len(out.Jurisdictions) > 0 && !seen[p.Home] {
			return p, invalid("home %q is not one of the processing jurisdictions %s: data would rest where it may not be processed",
				p.Home, strings.Join(out.Jurisdictions, ","))
		}
	}
	switch p.Capture {
	case "":
		out.Capture = CaptureOff
	case CaptureOff, CaptureOptIn, CaptureOn:
	default:
		return p, invalid("capture %q must be one of %q, %q, %q", p.Capture, CaptureOff, CaptureOptIn, CaptureOn)
	}
	switch {
	case p.RetentionDays < 0:
		return p, invalid("retention days %d is negative", p.RetentionDays)
	case p.RetentionDays > MaxRetentionDays:
		return p, invalid("retention days %d is more than the maximum of %d (100 years)", p.RetentionDays, MaxRetentionDays)
	}
	return out, nil
}

// Validate checks that no limit is negative.
func (l Limits) Validate() error {
	switch {
	case l.RequestsPerMinute < 0:
		return invalid("requests per minute %d is negative (0 means unlimited)", l.RequestsPerMinute)
	case l.TokensPerMinute < 0:
		return invalid("tokens per minute %d is negative (0 means unlimited)", l.TokensPerMinute)
	case l.MonthlyTokens < 0:
		return invalid("monthly tokens %d is negative (0 means unlimited)", l.MonthlyTokens)
	}
	return nil
}

// ParseScope checks one scope name.
func ParseScope(s string) (Scope, error) {
	if slices.Contains(Scopes, Scope(s)) {
		return Scope(s), nil
	}
	return "", invalid("scope %q must be one of inference, feedback, admin", s)
}

// validateScopes checks scopes and returns them without duplicates, in
// the order of Scopes.
func validateScopes(in []Scope) ([]Scope, error) {
	var out []Scope
	for _, s := range in {
		if _, err := ParseScope(string(s)); err != nil {
			return nil, err
		}
	}
	for _, s := range Scopes {
		if slices.Contains(in, s) {
			out = append(out, s)
		}
	}
	return out, nil
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
