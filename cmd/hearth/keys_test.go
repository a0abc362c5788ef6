package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/tenant"
)

func TestKeysCLI(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	setClock(t, func() time.Time { return now })

	mustRun(t, dir, "tenants", "create", "kra")
	mustRun(t, dir, "tenants", "create", "afya")
	out, errOut := mustRun(t, dir, "keys", "create", "--tenant", "kra", "--name", "ci", "--scopes", "inference,feedback", "--expires", "30d", "--rpm", "5")
	secret := strings.TrimSpace(out)
	if !strings.HasPrefix(secret, "hk_") || len(secret) != 55 || strings.Count(out, "\n") != 1 {
		t.Fatalf("stdout %q; want the secret alone", out)
	}
	if !strings.Contains(errOut, "cannot be shown again") || !strings.Contains(errOut, "scopes inference,feedback") ||
		!strings.Contains(errOut, secret[3:11]) || strings.Contains(errOut, secret) {
		t.Errorf("stderr %q; want the warning, scopes and prefix, not the secret", errOut)
	}
	s := openTenantDir(t, dir)
	ctx := context.Background()
	p, err := s.Authenticate(ctx, secret)
	if err != nil || p.Tenant.Name != "kra" || p.Key.Name != "ci" || !p.Key.Expires.Equal(now.Add(30*24*time.Hour)) ||
		p.Key.Limits.RequestsPerMinute != 5 || !p.Has(tenant.ScopeFeedback) || p.Has(tenant.ScopeAdmin) {
		t.Fatalf("the CLI's key authenticates as %+v, %v", p, err)
	}

	// --json holds the secret too; an admin key gets a note.
	out, errOut = mustRun(t, dir, "keys", "create", "--tenant", "afya", "--scopes", "admin", "--json")
	var created struct {
		Secret string     `json:"secret"`
		Key    tenant.Key `json:"key"`
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil || !strings.HasPrefix(created.Secret, "hk_") || !created.Key.Has(tenant.ScopeAdmin) {
		t.Errorf("--json: %s, %v", out, err)
	}
	if !strings.Contains(errOut, "admin key manages every tenant") {
		t.Errorf("stderr %q; want the admin note", errOut)
	}
	mustRun(t, dir, "keys", "create", "--tenant", "kra")

	out, _ = mustRun(t, dir, "keys", "list", "--tenant", "kra")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 3 || !strings.Contains(lines[1], "ci") ||
		!strings.Contains(lines[1], secret[3:11]+"...") || !strings.Contains(lines[1], "active") || !strings.Contains(lines[2], "never") {
		t.Errorf("keys list:\n%s", out)
	}
	if strings.Contains(out, secret[11:]) {
		t.Error("keys list shows the secret")
	}
	var keys []tenant.Key
	out, _ = mustRun(t, dir, "keys", "list", "--tenant", "kra", "--json")
	if err := json.Unmarshal([]byte(out), &keys); err != nil || len(keys) != 2 || keys[0].Prefix != secret[3:11] {
		t.Fatalf("keys list --json: %v\n%s", err, out)
	}

	// Revoke: refused at once through the server's store.
	out, _ = mustRun(t, dir, "keys", "revoke", keys[0].ID)
	if want := "revoked key " + keys[0].ID + " (" + keys[0].Prefix + "...) of tenant kra\n"; out != want {
		t.Errorf("revoke printed %q; want %q", out, want)
	}
	if _, err := s.Authenticate(ctx, secret); !errors.Is(err, tenant.ErrRevoked) {
		t.Errorf("after keys revoke: %v", err)
	}
	if out, _ := mustRun(t, dir, "keys", "list", "--tenant", "kra"); !strings.Contains(out, "revoked") {
		t.Errorf("list after revoke:\n%s", out)
	}

	// Expiry on the CLI's clock.
	setClock(t, func() time.Time { return now.Add(31 * 24 * time.Hour) })
	out, _ = mustRun(t, dir, "keys", "create", "--tenant", "kra", "--expires", "1h")
	s2 := openTenantDir(t, dir) // on the moved clock
	if _, err := s2.Authenticate(ctx, strings.TrimSpace(out)); err != nil {
		t.Errorf("fresh key with an hour to live: %v", err)
	}
	setClock(t, func() time.Time { return now.Add(31*24*time.Hour + time.Hour) })
	if _, err := s2.Authenticate(ctx, strings.TrimSpace(out)); !errors.Is(err, tenant.ErrExpired) {
		t.Errorf("key an hour later: %v; want ErrExpired", err)
	}
}

func TestKeysCLIErrors(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, dir, "tenants", "create", "kra")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"keys", "create"}, `required flag(s) "tenant" not set`},
		{[]string{"keys", "create", "--tenant", "nobody"}, `no tenant "nobody"`},
		{[]string{"keys", "create", "--tenant", "kra", "--scopes", "inference,root"}, `--scopes: tenant: invalid: scope "root"`},
		{[]string{"keys", "create", "--tenant", "kra", "--expires", "soon"}, `--expires: "soon" is neither`},
		{[]string{"keys", "create", "--tenant", "kra", "--expires", "-1h"}, "not positive"},
		{[]string{"keys", "create", "--tenant", "kra", "--expires", "2020-01-01"}, "not in the future"},
		{[]string{"keys", "create", "--tenant", "kra", "--expires", "0001-01-01"}, "not in the future"},
		{[]string{"keys", "create", "--tenant", "kra", "--expires", "213504d"}, "more than 100 years"},
		{[]string{"keys", "create", "--tenant", "kra", "--name", "CI"}, `key name "CI"`},
		{[]string{"keys", "create", "--tenant", "kra", "--tpm", "-3"}, "tokens per minute -3"},
		{[]string{"keys", "list"}, `required flag(s) "tenant" not set`},
		{[]string{"keys", "list", "--tenant", "nobody"}, `no tenant "nobody"`},
		{[]string{"keys", "revoke", "key_nothere"}, `no key "key_nothere"`},
		{[]string{"keys", "revoke"}, "accepts 1 arg"},
	}
	for _, tc := range tests {
		out, _, err := runTenants(t, dir, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("hearth %s: %v; want an error with %q", strings.Join(tc.args, " "), err, tc.want)
		}
		if strings.Contains(out, "hk_") {
			t.Errorf("hearth %s printed a secret despite failing", strings.Join(tc.args, " "))
		}
	}
}

func TestParseKeyExpiry(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"720h", now.Add(720 * time.Hour)},
		{"90m", now.Add(90 * time.Minute)},
		{"30d", now.Add(30 * 24 * time.Hour)},
		{"2027-01-01", time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)},
		{"2027-01-01T12:30", time.Date(2027, 1, 1, 12, 30, 0, 0, time.UTC)},
		{"2027-01-01T12:30:00+03:00", time.Date(2027, 1, 1, 9, 30, 0, 0, time.UTC)},
	}
	for _, tc := range tests {
		got, err := parseKeyExpiry(tc.in, now)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("parseKeyExpiry(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	bad := []struct{ in, want string }{
		{"0h", "not positive"},
		{"-2d", "not positive"},
		{"xd", "not a whole number of days"},
		{"d", "not a whole number of days"},
		{"1.5d", "not a whole number of days"},
		{"tomorrow", "is neither"},
		{"2027-13-01", "is neither"},
		// The zero time is what the store reads as "never".
		{"0001-01-01", "not in the future"},
		{"0001-01-01T00:00:00Z", "not in the future"},
		// Days times 24h used to wrap: 213504d came out 25 minutes away.
		{"213504d", "more than 100 years"},
		{"36501d", "more than 100 years"},
		{"99999999999999999999d", "more than 100 years"},
		{"2562047h", "more than 100 years"},
		{"2127-01-01", "more than 100 years"},
	}
	for _, tc := range bad {
		if got, err := parseKeyExpiry(tc.in, now); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseKeyExpiry(%q) = %v, %v; want an error with %q", tc.in, got, err, tc.want)
		}
	}
	if got, err := parseKeyExpiry("36500d", now); err != nil || !got.Equal(now.Add(tenant.MaxKeyLifetime)) {
		t.Errorf("parseKeyExpiry(36500d) = %v, %v; want 100 years from now", got, err)
	}
}
