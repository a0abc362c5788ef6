package tenant

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/db"
)

func TestTenantCRUD(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s, _ := openFile(t, "", c)
	in := Tenant{Name: "kra", Policy: Policy{AllowedModels: []string{"llama3"}, Jurisdictions: []string{"KE", "KE-NBO"}, Home: "KE",
		Capture: "opt-in", RetentionDays: 30}, Limits: Limits{RequestsPerMinute: 60, TokensPerMinute: 10000, MonthlyTokens: 5e6}}
	created := mustTenant(t, s, in)
	if !strings.HasPrefix(created.ID, "tnt_") || !created.Created.Equal(c.Now()) {
		t.Errorf("created id %q at %v; want tnt_... at %v", created.ID, created.Created, c.Now())
	}
	for _, key := range []string{"kra", created.ID} {
		got, err := s.GetTenant(ctx, key)
		if err != nil {
			t.Fatalf("get %s: %v", key, err)
		}
		if !reflect.DeepEqual(got, created) {
			t.Errorf("get %s = %+v; want %+v", key, got, created)
		}
	}
	if _, err := s.CreateTenant(ctx, Tenant{Name: "kra"}); !errors.Is(err, ErrExists) {
		t.Errorf("duplicate name: %v; want ErrExists", err)
	}
	if _, err := s.GetTenant(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown tenant: %v; want ErrNotFound", err)
	}
	// A name no tenant could have is not found, and not repeated whole.
	if _, err := s.GetTenant(ctx, strings.Repeat("x", 60000)); !errors.Is(err, ErrNotFound) || len(err.Error()) > 200 {
		t.Errorf("a 60,000-byte name: %.300v (%d bytes); want a short ErrNotFound", err, len(err.Error()))
	}
	mustTenant(t, s, Tenant{Name: "afya"})
	list, err := s.ListTenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Name != "afya" || list[1].Name != "kra" {
		t.Errorf("list = %v; want afya, kra", list)
	}
	if n, _ := s.CountTenants(ctx); n != 2 {
		t.Errorf("count = %d; want 2", n)
	}

	// Update: change policy and limits, and rename.
	up, err := s.UpdateTenant(ctx, "kra", func(t *Tenant) error {
		t.Name = "kra-ke"
		t.Policy.Capture = "on"
		t.Limits.MonthlyTokens = 0
		t.ID, t.Created = "tnt_forged", time.Time{} // ignored
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if up.ID != created.ID || !up.Created.Equal(created.Created) || up.Name != "kra-ke" || up.Policy.Capture != "on" || up.Limits.MonthlyTokens != 0 {
		t.Errorf("updated = %+v", up)
	}
	if got, _ := s.GetTenant(ctx, created.ID); !reflect.DeepEqual(got, up) {
		t.Errorf("stored after update = %+v; want %+v", got, up)
	}
	// Failed updates change nothing.
	failures := []struct {
		name string
		fn   func(*Tenant) error
		want error
	}{
		{"invalid", func(t *Tenant) error { t.Policy.Capture = "always"; t.Limits.RequestsPerMinute = 1; return nil }, ErrInvalid},
		{"home", func(t *Tenant) error { t.Policy.Home = "NG"; return nil }, ErrInvalid},
		{"rename onto another", func(t *Tenant) error { t.Name = "afya"; return nil }, ErrExists},
		{"fn error", func(t *Tenant) error { t.Disabled = true; return errSentinel }, errSentinel},
	}
	for _, f := range failures {
		if _, err := s.UpdateTenant(ctx, "kra-ke", f.fn); !errors.Is(err, f.want) {
			t.Errorf("%s: %v; want %v", f.name, err, f.want)
		}
		if got, _ := s.GetTenant(ctx, "kra-ke"); !reflect.DeepEqual(got, up) {
			t.Errorf("%s: stored = %+v; want unchanged %+v", f.name, got, up)
		}
	}
	if _, err := s.UpdateTenant(ctx, "nobody", func(*Tenant) error { return nil }); !errors.Is(err, ErrNotFound) {
		t.Errorf("update unknown: %v; want ErrNotFound", err)
	}

	// Delete takes the keys along.
	mustKey(t, s, "kra-ke", KeyOptions{})
	secret, _ := mustKey(t, s, "kra-ke", KeyOptions{})
	n, err := s.DeleteTenant(ctx, "kra-ke")
	if err != nil || n != 2 {
		t.Fatalf("delete = %d keys, %v; want 2, nil", n, err)
	}
	if _, err := s.GetTenant(ctx, created.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("get after delete: %v; want ErrNotFound", err)
	}
	if _, err := s.Authenticate(ctx, secret); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("key of a deleted tenant: %v; want ErrUnauthenticated", err)
	}
	var left int
	s.d.QueryRow(`SELECT count(*) FROM api_keys`).Scan(&left)
	if left != 0 {
		t.Errorf("%d keys left after deleting their tenant", left)
	}
	if _, err := s.DeleteTenant(ctx, "kra-ke"); !errors.Is(err, ErrNotFound) {
		t.Errorf("delete twice: %v; want ErrNotFound", err)
	}
}

var errSentinel = errors.New("caller refused")

// Concurrent read-modify-write updates from two Stores on one file all
// land: none is lost, none fails with "database is locked".
func TestConcurrentUpdates(t *testing.T) {
	ctx := context.Background()
	c := newClock()
	s1, path := openFile(t, "", c)
	s2, _ := openFile(t, path, c)
	mustTenant(t, s1, Tenant{Name: "acme"})
	const workers, each = 8, 10
	errs := make(chan error, workers*each)
	done := make(chan struct{})
	for w := range workers {
		go func() {
			defer func() { done <- struct{}{} }()
			s := s1
			if w%2 == 1 {
				s = s2
			}
			for range each {
				_, err := s.UpdateTenant(ctx, "acme", func(t *Tenant) error { t.Policy.RetentionDays++; return nil })
				if err != nil {
					errs <- fmt.Errorf("worker %d: %w", w, err)
				}
			}
		}()
	}
	for range workers {
		<-done
	}
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, _ := s1.GetTenant(ctx, "acme")
	if got.Policy.RetentionDays != workers*each {
		t.Errorf("retention after %d increments = %d", workers*each, got.Policy.RetentionDays)
	}
}

func TestOpenTwice(t *testing.T) {
	c := newClock()
	s, path := openFile(t, "", c)
	mustTenant(t, s, Tenant{Name: "acme"})
	s2, _ := openFile(t, path, c) // migrations already applied: a no-op
	if n, err := s2.CountTenants(context.Background()); n != 1 || err != nil {
		t.Errorf("count through a second store = %d, %v; want 1", n, err)
	}
	if _, err := Open(context.Background(), nil, nil); err == nil {
		t.Error("Open(nil) succeeded")
	}
}

// An in-memory database has a single connection: the write transactions
// must run on it without deadlocking against the pool.
func TestInMemory(t *testing.T) {
	ctx := context.Background()
	d, err := db.Open(":memory:")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s, err := Open(ctx, d, newClock().Now)
	if err != nil {
		t.Fatal(err)
	}
	mustTenant(t, s, Tenant{Name: "acme"})
	secret, k := mustKey(t, s, "acme", KeyOptions{})
	if _, err := s.UpdateTenant(ctx, "acme", func(t *Tenant) error { t.Limits.TokensPerMinute = 9; return nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.UpdateTenant(ctx, "acme", func(t *Tenant) error { return errSentinel }); !errors.Is(err, errSentinel) {
		t.Fatal(err)
	}
	p, err := s.Authenticate(ctx, secret)
	if err != nil || p.Tenant.Limits.TokensPerMinute != 9 {
		t.Fatalf("authenticate: %+v, %v", p, err)
	}
	s.RevokeKey(ctx, k.ID)
	if _, err := s.Authenticate(ctx, secret); !errors.Is(err, ErrRevoked) {
		t.Errorf("revoked: %v", err)
	}
	if n, err := s.DeleteTenant(ctx, "acme"); n != 1 || err != nil {
		t.Errorf("delete = %d, %v", n, err)
	}
}
