package tenant

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestResolve(t *testing.T) {
	ctx := context.Background()
	s, _ := openFile(t, "", newClock())
	kra := mustTenant(t, s, Tenant{Name: "kra"})
	gone := mustTenant(t, s, Tenant{Name: "gone"})
	if _, err := s.DeleteTenant(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		arg      string
		wantID   string
		wantName string
		wantGone bool
		wantErr  error
	}{
		{"kra", kra.ID, "kra", false, nil},
		{kra.ID, kra.ID, "kra", false, nil},
		{gone.ID, gone.ID, "", true, nil},
		{"gone", "", "", false, ErrNotFound}, // a name is not kept after deletion
		{"nobody", "", "", false, ErrNotFound},
	} {
		got, isGone, err := s.Resolve(ctx, c.arg)
		if c.wantErr != nil {
			if !errors.Is(err, c.wantErr) {
				t.Errorf("Resolve(%q) = %+v, %v, %v; want %v", c.arg, got, isGone, err, c.wantErr)
			}
			continue
		}
		if err != nil || got.ID != c.wantID || got.Name != c.wantName || isGone != c.wantGone {
			t.Errorf("Resolve(%q) = %+v, %v, %v; want id %s, name %q, gone %v", c.arg, got, isGone, err, c.wantID, c.wantName, c.wantGone)
		}
	}
}

func TestKeyStatus(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		k    Key
		want string
	}{
		{Key{}, "active"},
		{Key{Expires: now.Add(time.Second)}, "active"},
		{Key{Expires: now}, "expired"},
		{Key{Revoked: now.Add(-time.Hour)}, "revoked"},
		{Key{Revoked: now.Add(-time.Hour), Expires: now.Add(-2 * time.Hour)}, "revoked"},
	} {
		if got := c.k.Status(now); got != c.want {
			t.Errorf("%+v.Status = %q; want %q", c.k, got, c.want)
		}
	}
}
