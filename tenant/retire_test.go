package tenant

import (
	"context"
	"testing"
)

// The policy's retire_erased_adapters survives every way a tenant is read
// back: by name, in the list, after an update, and with a key's principal.
func TestRetireErasedAdaptersStored(t *testing.T) {
	ctx := context.Background()
	s, _ := openFile(t, "", newClock())
	ten := mustTenant(t, s, Tenant{Name: "acme", Policy: Policy{RetireErasedAdapters: true}})
	secret, _ := mustKey(t, s, ten.ID, KeyOptions{})
	reads := []struct {
		name string
		read func() (Tenant, error)
	}{
		{"get", func() (Tenant, error) { return s.GetTenant(ctx, "acme") }},
		{"list", func() (Tenant, error) {
			l, err := s.ListTenants(ctx)
			if err != nil || len(l) != 1 {
				return Tenant{}, err
			}
			return l[0], nil
		}},
		{"authenticate", func() (Tenant, error) {
			p, err := s.Authenticate(ctx, secret)
			if err != nil {
				return Tenant{}, err
			}
			return p.Tenant, nil
		}},
	}
	for _, want := range []bool{true, false} {
		if !want {
			if _, err := s.UpdateTenant(ctx, "acme", func(t *Tenant) error { t.Policy.RetireErasedAdapters = false; return nil }); err != nil {
				t.Fatal(err)
			}
		}
		for _, r := range reads {
			got, err := r.read()
			if err != nil {
				t.Fatalf("%s: %v", r.name, err)
			}
			if got.Policy.RetireErasedAdapters != want {
				t.Errorf("%s: retire_erased_adapters %v; want %v", r.name, got.Policy.RetireErasedAdapters, want)
			}
		}
	}
}
