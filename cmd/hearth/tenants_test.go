package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/tenant"
)

// runTenants executes the CLI in-process with the data directory dir and
// returns stdout, stderr and the error.
func runTenants(t *testing.T, dir string, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := testRoot(strings.NewReader(""), &out, &errOut)
	root.SetArgs(append(args, "--data-dir", dir))
	err := root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

// mustRun is runTenants that fails the test on an error.
func mustRun(t *testing.T, dir string, args ...string) (string, string) {
	t.Helper()
	out, errOut, err := runTenants(t, dir, args...)
	if err != nil {
		t.Fatalf("hearth %s: %v (stderr %q)", strings.Join(args, " "), err, errOut)
	}
	return out, errOut
}

// openTenantDir opens the tenant store the CLI wrote, as a server would.
func openTenantDir(t *testing.T, dir string) *tenant.Store {
	t.Helper()
	d, s := openTenantDB(t, dir, func() time.Time { return testNow() })
	t.Cleanup(func() { d.Close() })
	return s
}

// openTenantDB opens dir's database and its tenant store on the clock now
// (nil: the time now); closing the database is the caller's.
func openTenantDB(t *testing.T, dir string, now func() time.Time) (*db.DB, *tenant.Store) {
	t.Helper()
	d, err := db.OpenDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	s, err := tenant.Open(context.Background(), d, now)
	if err != nil {
		d.Close()
		t.Fatal(err)
	}
	return d, s
}

func TestTenantsCLI(t *testing.T) {
	dir := t.TempDir()
	out, errOut := mustRun(t, dir, "tenants", "list")
	if out != "" || !strings.Contains(errOut, "no tenants") {
		t.Errorf("empty list: stdout %q, stderr %q", out, errOut)
	}
	out, _ = mustRun(t, dir, "tenants", "create", "kra", "--models", "llama3,qwen:0.5b", "--jurisdictions", "KE,KE-NBO",
		"--home", "KE", "--capture", "opt-in", "--retention-days", "30", "--rpm", "60", "--tpm", "10000", "--monthly-tokens", "5000000")
	if !strings.HasPrefix(out, "created tenant kra (tnt_") {
		t.Errorf("create printed %q", out)
	}
	mustRun(t, dir, "tenants", "create", "afya")

	out, _ = mustRun(t, dir, "tenants", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[1], "afya") || !strings.HasPrefix(lines[2], "kra") {
		t.Fatalf("list:\n%s", out)
	}
	for _, want := range []string{"llama3,qwen:0.5b", "KE,KE-NBO", "opt-in", "30 days", "10000", "5000000", "enabled"} {
		if !strings.Contains(lines[2], want) {
			t.Errorf("list row %q lacks %q", lines[2], want)
		}
	}
	if !strings.Contains(lines[1], "all") || !strings.Contains(lines[1], "any") || !strings.Contains(lines[1], "unlimited") {
		t.Errorf("defaults row %q; want all models, any jurisdiction, unlimited", lines[1])
	}

	var list []tenant.Tenant
	out, _ = mustRun(t, dir, "tenants", "list", "--json")
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 2 {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	var kra tenant.Tenant
	out, _ = mustRun(t, dir, "tenants", "show", "kra", "--json")
	if err := json.Unmarshal([]byte(out), &kra); err != nil {
		t.Fatal(err)
	}
	want := tenant.Policy{AllowedModels: []string{"llama3", "qwen:0.5b"}, Jurisdictions: []string{"KE", "KE-NBO"}, Home: "KE", Capture: "opt-in", RetentionDays: 30}
	if strings.Join(kra.Policy.AllowedModels, ",") != strings.Join(want.AllowedModels, ",") || kra.Policy.Home != "KE" ||
		kra.Policy.Capture != "opt-in" || kra.Limits != (tenant.Limits{RequestsPerMinute: 60, TokensPerMinute: 10000, MonthlyTokens: 5000000}) {
		t.Errorf("show --json = %+v", kra)
	}
	out, _ = mustRun(t, dir, "tenants", "show", kra.ID) // by id
	for _, want := range []string{"name:", "kra", "jurisdictions:", "KE,KE-NBO", "monthly tokens:", "5000000", "keys:", "0 active"} {
		if !strings.Contains(out, want) {
			t.Errorf("show lacks %q:\n%s", want, out)
		}
	}

	// Update changes only what is given; --models "" clears the list.
	mustRun(t, dir, "tenants", "update", "kra", "--tpm", "20000", "--models", "")
	out, _ = mustRun(t, dir, "tenants", "show", "kra", "--json")
	var up tenant.Tenant
	json.Unmarshal([]byte(out), &up)
	if up.Limits.TokensPerMinute != 20000 || up.Limits.RequestsPerMinute != 60 || len(up.Policy.AllowedModels) != 0 ||
		up.Policy.Home != "KE" || up.ID != kra.ID {
		t.Errorf("after update: %+v", up)
	}
	mustRun(t, dir, "tenants", "update", "afya", "--rename", "afya-ke")

	// Disable and enable.
	s := openTenantDir(t, dir)
	ctx := context.Background()
	secret, _, err := s.CreateKey(ctx, "kra", tenant.KeyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := mustRun(t, dir, "tenants", "disable", "kra"); out != "tenant kra disabled\n" {
		t.Errorf("disable printed %q", out)
	}
	if _, err := s.Authenticate(ctx, secret); !errors.Is(err, tenant.ErrDisabled) {
		t.Errorf("key of a tenant disabled by the CLI: %v", err)
	}
	if out, _ := mustRun(t, dir, "tenants", "list"); !strings.Contains(out, "disabled") {
		t.Errorf("list does not show the disabled tenant:\n%s", out)
	}
	mustRun(t, dir, "tenants", "enable", "kra")
	if _, err := s.Authenticate(ctx, secret); err != nil {
		t.Errorf("key after enable: %v", err)
	}

	// rm deletes the tenant and its key.
	if out, _ := mustRun(t, dir, "tenants", "rm", "kra"); out != "deleted tenant kra and its 1 keys\n" {
		t.Errorf("rm printed %q", out)
	}
	if _, err := s.Authenticate(ctx, secret); !errors.Is(err, tenant.ErrUnauthenticated) {
		t.Errorf("key of a removed tenant: %v", err)
	}
	out, _ = mustRun(t, dir, "tenants", "list", "--json")
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 || list[0].Name != "afya-ke" {
		t.Errorf("after rm: %+v, %v", list, err)
	}
}

func TestTenantsCLIErrors(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, dir, "tenants", "create", "kra", "--jurisdictions", "KE")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"tenants", "create", "Bad"}, `tenant name "Bad"`},
		{[]string{"tenants", "create", "kra"}, `already exists: tenant "kra"`},
		{[]string{"tenants", "create", "x", "--jurisdictions", "ke"}, `jurisdiction "ke" must be upper case ("KE")`},
		{[]string{"tenants", "create", "x", "--jurisdictions", "KE", "--home", "NG"}, `home "NG" is not one of`},
		{[]string{"tenants", "create", "x", "--capture", "yes"}, `capture "yes" must be one of`},
		{[]string{"tenants", "create", "x", "--rpm", "-1"}, "requests per minute -1 is negative"},
		{[]string{"tenants", "create", "x", "--retention-days", "-2"}, "retention days -2"},
		{[]string{"tenants", "create", "x", "--retention-days", "1000000"}, "retention days 1000000 is more than the maximum of 36500 (100 years)"},
		{[]string{"tenants", "update", "kra", "--retention-days", "4611686018427387904"}, "retention days 4611686018427387904 is more than"},
		{[]string{"tenants", "create", "x", "--monthly-tokens", "lots"}, `invalid argument "lots"`},
		{[]string{"tenants", "create"}, "accepts 1 arg"},
		{[]string{"tenants", "show", "nobody"}, `no tenant "nobody"`},
		{[]string{"tenants", "update", "kra"}, "nothing to change"},
		{[]string{"tenants", "update", "kra", "--home", "NG"}, `home "NG"`},
		{[]string{"tenants", "update", "nobody", "--rpm", "1"}, `no tenant "nobody"`},
		{[]string{"tenants", "rm", "nobody"}, `no tenant "nobody"`},
		{[]string{"tenants", "disable", "nobody"}, `no tenant "nobody"`},
	}
	for _, tc := range tests {
		_, _, err := runTenants(t, dir, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("hearth %s: %v; want an error with %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
	var list []tenant.Tenant
	out, _ := mustRun(t, dir, "tenants", "list", "--json")
	if json.Unmarshal([]byte(out), &list); len(list) != 1 || list[0].Policy.Home != "" {
		t.Errorf("after failed commands: %+v; want kra unchanged only", list)
	}
}
