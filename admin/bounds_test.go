package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/tenant"
)

// jsonList is a JSON array of n strings made by item.
func jsonList(n int, item func(int) string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = `"` + item(i) + `"`
	}
	return "[" + strings.Join(parts, ",") + "]"
}

// TestOutOfRangeValues: the values of the red-team run that were accepted
// (and then deleted captures, made keys that wrap, or took seconds) are
// 400s naming the field, and change nothing.
func TestOutOfRangeValues(t *testing.T) {
	f := newFixture(t)
	admin, _ := f.key(t, "ops", tenant.ScopeAdmin)
	models := jsonList(60_000, func(i int) string { return fmt.Sprintf("m%d", i) })
	zones := jsonList(80_000, func(i int) string { return fmt.Sprintf("Z%c-%d", 'A'+i%26, i) })
	tests := []struct {
		method, path, body string
		code, msg          string
	}{
		// time.Duration(days)*24h overflowed: an expiry in 1842.
		{"PATCH", "/admin/v1/tenants/ops", `{"policy":{"retention_days":1000000}}`, "invalid_value", "retention days 1000000 is more than the maximum of 36500"},
		{"PATCH", "/admin/v1/tenants/ops", `{"policy":{"retention_days":4611686018427387904}}`, "invalid_value", "retention days 4611686018427387904"},
		{"POST", "/admin/v1/tenants", `{"name":"x","policy":{"retention_days":36501}}`, "invalid_value", "retention days 36501"},
		// Quadratic de-duplication: 5.4 s and 9.6 s, then accepted.
		{"POST", "/admin/v1/tenants", `{"name":"x","policy":{"allowed_models":` + models + `}}`, "invalid_value", "allowed models: 60000 listed, more than the 1000"},
		{"PATCH", "/admin/v1/tenants/ops", `{"policy":{"jurisdictions":` + zones + `}}`, "invalid_value", "jurisdictions: 80000 listed, more than the 300"},
		// Seconds times 1e9 overflowed: an expiry in 1734, or seconds away.
		{"POST", "/admin/v1/tenants/ops/keys", `{"expires_in":9223372037}`, "invalid_request", "expires_in must be a positive number of seconds up to 3153600000 (100 years), got 9223372037"},
		{"POST", "/admin/v1/tenants/ops/keys", `{"expires_in":18446744074}`, "invalid_request", "up to 3153600000"},
		{"POST", "/admin/v1/tenants/ops/keys", `{"expires_in":3153600001}`, "invalid_request", "up to 3153600000"},
		// The zero time is the store's "never".
		{"POST", "/admin/v1/tenants/ops/keys", `{"expires":"0001-01-01T00:00:00Z"}`, "invalid_request", "omit expires for a key that never expires"},
		{"POST", "/admin/v1/tenants/ops/keys", `{"expires":"0001-01-01T03:00:00+03:00"}`, "invalid_request", "omit expires"},
		{"POST", "/admin/v1/tenants/ops/keys", `{"expires":"0001-01-02T00:00:00Z"}`, "invalid_value", "not in the future"},
		{"POST", "/admin/v1/tenants/ops/keys", `{"expires":"9999-12-31T00:00:00Z"}`, "invalid_value", "more than 100 years away"},
	}
	for _, tc := range tests {
		start := time.Now()
		f.wantError(t, admin, tc.method, tc.path, tc.body, 400, "invalid_request_error", tc.code, tc.msg)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s %s (%d bytes): answered in %s", tc.method, tc.path, len(tc.body), d)
		}
	}
	if len(f.actions) != 0 {
		t.Errorf("refused requests recorded actions: %v", f.actions)
	}
	ops, err := f.store.GetTenant(context.Background(), "ops")
	if err != nil || ops.Policy.RetentionDays != 0 || len(ops.Policy.Jurisdictions) != 0 {
		t.Errorf("ops after refused patches: %+v, %v; want unchanged", ops.Policy, err)
	}
	if keys, _ := f.store.ListKeys(context.Background(), "ops"); len(keys) != 1 {
		t.Errorf("%d keys after refused creates; want the admin key only", len(keys))
	}

	// The bounds themselves are accepted, and mean what they say.
	var tn tenant.Tenant
	if status, _ := f.do(t, admin, "PATCH", "/admin/v1/tenants/ops", `{"policy":{"retention_days":36500}}`, &tn); status != 200 || tn.Policy.RetentionDays != 36500 {
		t.Errorf("retention of 36500 days: %d %+v", status, tn.Policy)
	}
	for _, body := range []string{`{"expires_in":3153600000}`, `{"expires":"` + now.Add(tenant.MaxKeyLifetime).Format(time.RFC3339) + `"}`} {
		var created createKeyResponse
		if status, _ := f.do(t, admin, "POST", "/admin/v1/tenants/ops/keys", body, &created); status != 201 {
			t.Fatalf("key with %s: status %d", body, status)
		}
		if !created.Key.Expires.Equal(now.Add(tenant.MaxKeyLifetime)) {
			t.Errorf("key with %s expires %s; want %s", body, created.Key.Expires, now.Add(tenant.MaxKeyLifetime))
		}
		// The expiry survives the database round trip (nanosecond
		// timestamps end in 2262).
		k, err := f.store.GetKey(context.Background(), created.Key.ID)
		if err != nil || !k.Expires.Equal(created.Key.Expires) {
			b, _ := json.Marshal(k)
			t.Errorf("stored key %s, %v; want expiry %s", b, err, created.Key.Expires)
		}
	}
}
