package tenant

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestCreateTenantInvalid(t *testing.T) {
	s, _ := openFile(t, "", newClock())
	ok := Tenant{Name: "acme"}
	long := strings.Repeat("a", 65)
	tests := []struct {
		name string
		edit func(*Tenant)
		want string // in the message
	}{
		{"empty name", func(t *Tenant) { t.Name = "" }, "name is empty"},
		{"upper case", func(t *Tenant) { t.Name = "Acme" }, `names are lower case: "acme"`},
		{"upper case inside", func(t *Tenant) { t.Name = "aCme" }, `names are lower case: "acme"`},
		{"space", func(t *Tenant) { t.Name = "ac me" }, `character ' '`},
		{"dot", func(t *Tenant) { t.Name = "ac.me" }, `character '.'`},
		{"slash", func(t *Tenant) { t.Name = "a/b" }, `character '/'`},
		{"leading dash", func(t *Tenant) { t.Name = "-acme" }, "must start with"},
		{"unicode", func(t *Tenant) { t.Name = "açme" }, "character 'ç'"},
		{"too long", func(t *Tenant) { t.Name = long }, "longer than 64"},
		{"id-like", func(t *Tenant) { t.Name = "tnt_x" }, "tenant ids"},
		{"reserved", func(t *Tenant) { t.Name = "local" }, `tenant name "local" is reserved`},
		{"lower-case jurisdiction", func(t *Tenant) { t.Policy.Jurisdictions = []string{"ke"} }, `must be upper case ("KE")`},
		{"one-letter jurisdiction", func(t *Tenant) { t.Policy.Jurisdictions = []string{"K"} }, "2 to 32"},
		{"empty jurisdiction", func(t *Tenant) { t.Policy.Jurisdictions = []string{"KE", ""} }, "empty jurisdiction"},
		{"jurisdiction with a space", func(t *Tenant) { t.Policy.Jurisdictions = []string{"K E"} }, `character ' '`},
		{"jurisdiction with comma", func(t *Tenant) { t.Policy.Jurisdictions = []string{"KE,NG"} }, `character ','`},
		{"jurisdiction trailing dash", func(t *Tenant) { t.Policy.Jurisdictions = []string{"KE-"} }, "empty part"},
		{"jurisdiction double dash", func(t *Tenant) { t.Policy.Jurisdictions = []string{"KE--NBO"} }, "empty part"},
		{"jurisdiction digit first", func(t *Tenant) { t.Policy.Jurisdictions = []string{"9K"} }, "start with a letter"},
		{"home outside jurisdictions", func(t *Tenant) { t.Policy.Jurisdictions = []string{"KE", "NG"}; t.Policy.Home = "EU" }, `home "EU" is not one of`},
		{"bad home", func(t *Tenant) { t.Policy.Home = "kenya" }, "home: "},
		{"capture", func(t *Tenant) { t.Policy.Capture = "yes" }, `capture "yes" must be one of`},
		{"capture case", func(t *Tenant) { t.Policy.Capture = "On" }, `capture "On"`},
		{"retention", func(t *Tenant) { t.Policy.RetentionDays = -1 }, "retention days -1"},
		// Days that overflow time.Duration used to be kept, and turned into
		// an expiry in the past: the sweep deleted the tenant's captures.
		{"retention past the bound", func(t *Tenant) { t.Policy.RetentionDays = MaxRetentionDays + 1 }, "retention days 36501 is more than the maximum of 36500"},
		{"retention a million days", func(t *Tenant) { t.Policy.RetentionDays = 1_000_000 }, "retention days 1000000 is more than"},
		{"retention 2^62 days", func(t *Tenant) { t.Policy.RetentionDays = 1 << 62 }, "retention days 4611686018427387904 is more than"},
		{"too many models", func(t *Tenant) { t.Policy.AllowedModels = numbered("m", MaxAllowedModels+1) }, "allowed models: 1001 listed, more than the 1000"},
		{"too many jurisdictions", func(t *Tenant) { t.Policy.Jurisdictions = zones(MaxJurisdictions + 1) }, "jurisdictions: 301 listed, more than the 300"},
		{"model with space", func(t *Tenant) { t.Policy.AllowedModels = []string{"llama 3"} }, "allowed model"},
		{"model with comma", func(t *Tenant) { t.Policy.AllowedModels = []string{"a,b"} }, "allowed model"},
		{"model empty", func(t *Tenant) { t.Policy.AllowedModels = []string{""} }, "allowed model"},
		{"rpm", func(t *Tenant) { t.Limits.RequestsPerMinute = -1 }, "requests per minute -1"},
		{"tpm", func(t *Tenant) { t.Limits.TokensPerMinute = -5 }, "tokens per minute -5"},
		{"monthly", func(t *Tenant) { t.Limits.MonthlyTokens = -1 }, "monthly tokens -1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tn := ok
			tc.edit(&tn)
			_, err := s.CreateTenant(context.Background(), tn)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v; want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %q; want it to mention %q", err, tc.want)
			}
		})
	}
	if n, _ := s.CountTenants(context.Background()); n != 0 {
		t.Errorf("%d tenants after only invalid creates; want 0", n)
	}
}

func TestValidPolicies(t *testing.T) {
	tests := []struct {
		name string
		in   Policy
		want Policy
	}{
		{"empty", Policy{}, Policy{Capture: "off"}},
		{"zones", Policy{Jurisdictions: []string{"KE-NBO", "EU", "KE", "KE"}, Home: "KE-NBO", Capture: "opt-in", RetentionDays: 30},
			Policy{Jurisdictions: []string{"KE-NBO", "EU", "KE"}, Home: "KE-NBO", Capture: "opt-in", RetentionDays: 30}},
		{"home without jurisdictions", Policy{Home: "NG", Capture: "on"}, Policy{Home: "NG", Capture: "on"}},
		{"models", Policy{AllowedModels: []string{"Llama3:8B", "stories260k", "stories260k"}},
			Policy{AllowedModels: []string{"llama3:8b", "stories260k"}, Capture: "off"}},
		{"longest retention", Policy{RetentionDays: MaxRetentionDays}, Policy{Capture: "off", RetentionDays: MaxRetentionDays}},
		{"most models, each twice", Policy{AllowedModels: append(numbered("M", MaxAllowedModels/2), numbered("m", MaxAllowedModels/2)...)},
			Policy{AllowedModels: numbered("m", MaxAllowedModels/2), Capture: "off"}},
		{"most jurisdictions", Policy{Jurisdictions: zones(MaxJurisdictions), Home: zones(MaxJurisdictions)[MaxJurisdictions-1]},
			Policy{Jurisdictions: zones(MaxJurisdictions), Home: zones(MaxJurisdictions)[MaxJurisdictions-1], Capture: "off"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.in.Validate()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got.AllowedModels, ",") != strings.Join(tc.want.AllowedModels, ",") ||
				strings.Join(got.Jurisdictions, ",") != strings.Join(tc.want.Jurisdictions, ",") ||
				got.Home != tc.want.Home || got.Capture != tc.want.Capture || got.RetentionDays != tc.want.RetentionDays {
				t.Errorf("got %+v; want %+v", got, tc.want)
			}
		})
	}
}

func TestAllows(t *testing.T) {
	p := Policy{AllowedModels: []string{"llama3", "qwen:0.5b"}, Jurisdictions: []string{"KE", "EU"}}
	models := []struct {
		model string
		want  bool
	}{
		{"llama3", true}, {"llama3:8b", true}, {"LLAMA3:latest", true}, {"qwen:0.5b", true},
		{"qwen", false}, {"qwen:7b", false}, {"mistral", false}, {"bad name", false},
	}
	for _, m := range models {
		if got := p.AllowsModel(m.model); got != m.want {
			t.Errorf("AllowsModel(%q) = %v; want %v", m.model, got, m.want)
		}
	}
	if !(Policy{}).AllowsModel("anything") {
		t.Error("an empty list refuses a model; want all allowed")
	}
	for j, want := range map[string]bool{"KE": true, "EU": true, "NG": false, "KE-NBO": false, "ke": false} {
		if got := p.AllowsJurisdiction(j); got != want {
			t.Errorf("AllowsJurisdiction(%q) = %v; want %v", j, got, want)
		}
	}
}

func TestKeyOptionsInvalid(t *testing.T) {
	c := newClock()
	s, _ := openFile(t, "", c)
	mustTenant(t, s, Tenant{Name: "acme"})
	tests := []struct {
		name string
		o    KeyOptions
		want string
	}{
		{"scope", KeyOptions{Scopes: []Scope{"inference", "root"}}, `scope "root"`},
		{"name", KeyOptions{Name: "CI Bot"}, "key name"},
		{"past expiry", KeyOptions{Expires: c.Now().Add(-time.Second)}, "not in the future"},
		{"now expiry", KeyOptions{Expires: c.Now()}, "not in the future"},
		{"zero-era expiry", KeyOptions{Expires: time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC)}, "not in the future"},
		// Past 2262 the database's nanosecond timestamps wrap.
		{"expiry past the lifetime", KeyOptions{Expires: c.Now().Add(MaxKeyLifetime + time.Second)}, "more than 100 years away"},
		{"expiry in 9999", KeyOptions{Expires: time.Date(9999, 12, 31, 0, 0, 0, 0, time.UTC)}, "more than 100 years away"},
		{"limits", KeyOptions{Limits: Limits{TokensPerMinute: -1}}, "tokens per minute -1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := s.CreateKey(context.Background(), "acme", tc.o)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v; want ErrInvalid mentioning %q", err, tc.want)
			}
		})
	}
	if _, _, err := s.CreateKey(context.Background(), "nobody", KeyOptions{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("key for an unknown tenant: %v; want ErrNotFound", err)
	}
	if keys, _ := s.ListKeys(context.Background(), "acme"); len(keys) != 0 {
		t.Errorf("%d keys after only invalid creates; want 0", len(keys))
	}
}

// numbered returns n model names prefix0 .. prefix<n-1>.
func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

// zones returns n distinct valid zones: AA, AB, ... then AA-1, AB-1, ...
func zones(n int) []string {
	out := make([]string, n)
	for i := range out {
		z := string(rune('A'+i/26%26)) + string(rune('A'+i%26))
		if i >= 26*26 {
			z += "-" + strconv.Itoa(i/(26*26))
		}
		out[i] = z
	}
	return out
}

// TestPolicyListBounds: the 60,000 models of the report (5.4 s of
// quadratic de-duplication, then accepted) are refused at once, naming the
// list, before any entry is walked.
func TestPolicyListBounds(t *testing.T) {
	for _, p := range []Policy{
		{AllowedModels: numbered("model-", 60_000)},
		{Jurisdictions: zones(80_000)},
	} {
		start := time.Now()
		_, err := p.Validate()
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "listed, more than") {
			t.Fatalf("%d models, %d jurisdictions: %v; want ErrInvalid naming the list", len(p.AllowedModels), len(p.Jurisdictions), err)
		}
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("refusing %d models, %d jurisdictions took %s", len(p.AllowedModels), len(p.Jurisdictions), d)
		}
	}
}

// TestRetentionDuration: the days become time without overflow, clamped
// to the bound whatever the stored value.
func TestRetentionDuration(t *testing.T) {
	day := 24 * time.Hour
	for days, want := range map[int]time.Duration{
		-5: 0, 0: 0, 1: day, 30: 30 * day, MaxRetentionDays: MaxRetentionDays * day,
		MaxRetentionDays + 1: MaxRetentionDays * day, 1_000_000: MaxRetentionDays * day, 1 << 62: MaxRetentionDays * day,
	} {
		if got := (Policy{RetentionDays: days}).Retention(); got != want {
			t.Errorf("Retention of %d days = %s; want %s", days, got, want)
		}
	}
}
