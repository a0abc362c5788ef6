package access

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/internal/testclock"
	"github.com/hearth-ai/hearth/internal/testfixture"
	"github.com/hearth-ai/hearth/metering"
	"github.com/hearth-ai/hearth/tenant"
)

// fakeTenants knows one tenant and no key: every key is refused.
type fakeTenants struct{}

func (fakeTenants) Authenticate(_ context.Context, secret string) (*tenant.Principal, error) {
	if !strings.HasPrefix(secret, tenant.SecretPrefix) {
		return nil, fmt.Errorf("%w: malformed API key: it must start with %q", tenant.ErrUnauthenticated, tenant.SecretPrefix)
	}
	return nil, fmt.Errorf("%w: unknown API key", tenant.ErrUnauthenticated)
}
func (fakeTenants) CountTenants(context.Context) (int, error) { return 1, nil }
func (fakeTenants) GetTenant(context.Context, string) (tenant.Tenant, error) {
	return tenant.Tenant{}, tenant.ErrNotFound
}

type fakeMeter struct{}

func (fakeMeter) Admit(context.Context, *tenant.Principal, int) (*metering.Ticket, error) {
	return nil, nil
}

func newDenialGate(t *testing.T) (*Gate, *testfixture.Audit, *testclock.Clock) {
	t.Helper()
	a, clk := &testfixture.Audit{}, testclock.New(time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC))
	g, err := New(Config{Tenants: fakeTenants{}, Meter: fakeMeter{}, Audit: a, Node: "node-1", Jurisdiction: "KE", Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		g.authDenials.stop()
		g.denials.stop()
	})
	return g, a, clk
}

func refused(t *testing.T, g *Gate, addr, key string) {
	t.Helper()
	r := httptest.NewRequest("POST", "/v1/chat/completions", nil)
	r.RemoteAddr = addr
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	if _, err := g.Authenticate(r); err == nil {
		t.Fatal("Authenticate accepted a bad key")
	}
}

// TestDenialsFoldedPerAddress: a flood of bad keys from one address costs
// the log one record at once and one per window after, carrying the
// count; never the secret.
func TestDenialsFoldedPerAddress(t *testing.T) {
	g, a, clk := newDenialGate(t)
	secret := tenant.SecretPrefix + strings.Repeat("abcdefg2", 6) + "wxyz"
	for i := range 1000 {
		refused(t, g, fmt.Sprintf("203.0.113.7:%d", 40000+i), secret)
	}
	recs := a.Take()
	if len(recs) != 1 {
		t.Fatalf("%d records for the first minute's 1000 refusals from one address; want 1 (the first)", len(recs))
	}
	r := recs[0]
	want := map[string]string{"remote_addr": "203.0.113.7", "denials": "1", "path": "/v1/chat/completions", "key_prefix": "abcdefg2"}
	for k, v := range want {
		if r.Detail[k] != v {
			t.Errorf("first record detail %s = %q; want %q", k, r.Detail[k], v)
		}
	}
	if r.Kind != audit.KindRequest || r.Decision != "deny" || r.Reason != "auth: unknown API key" || r.Node != "node-1" || r.Jurisdiction != "KE" || r.Tenant != "" {
		t.Errorf("first record %+v", r)
	}

	// Another address is recorded on its own, at once.
	refused(t, g, "198.51.100.2:5555", "not-a-key")
	if recs := a.Take(); len(recs) != 1 || recs[0].Detail["remote_addr"] != "198.51.100.2" || recs[0].Detail["key_prefix"] != "" ||
		!strings.Contains(recs[0].Reason, "malformed") {
		t.Errorf("second address: %+v", recs)
	}

	// Nothing more until the window ends; then the 999 folded ones.
	clk.Add(30 * time.Second)
	g.FlushDenials()
	if recs := a.Take(); len(recs) != 0 {
		t.Errorf("flush before the window ended wrote %+v", recs)
	}
	clk.Add(31 * time.Second)
	g.FlushDenials()
	recs = a.Take()
	if len(recs) != 1 || recs[0].Detail["denials"] != "999" || recs[0].Detail["since"] == "" || recs[0].Detail["key_prefix"] != "abcdefg2" {
		t.Fatalf("after the window: %+v; want one record of 999 denials", recs)
	}
	// Refusals go on: folded into the window the flush started.
	for range 5 {
		refused(t, g, "203.0.113.7:1", "")
	}
	if recs := a.Take(); len(recs) != 0 {
		t.Errorf("refusals in the next window recorded at once: %+v", recs)
	}
	clk.Add(DenialWindow)
	// A later refusal from anyone closes ended windows too.
	refused(t, g, "192.0.2.9:1", "")
	recs = a.Take()
	var folded, fresh int
	for _, r := range recs {
		switch {
		case r.Detail["remote_addr"] == "203.0.113.7" && r.Detail["denials"] == "5" && r.Reason == "auth: no API key":
			folded++
		case r.Detail["remote_addr"] == "192.0.2.9" && r.Detail["denials"] == "1":
			fresh++
		}
	}
	if folded != 1 || fresh != 1 || len(recs) != 2 {
		t.Errorf("records %+v; want the 5 folded ones and the new address's first", recs)
	}
	// A window that ended quiet is forgotten: the next refusal is
	// recorded at once.
	clk.Add(2 * DenialWindow)
	g.FlushDenials()
	a.Take()
	refused(t, g, "203.0.113.7:2", secret)
	if recs := a.Take(); len(recs) != 1 || recs[0].Detail["denials"] != "1" {
		t.Errorf("after a quiet window: %+v; want one immediate record", recs)
	}
	for _, r := range append(recs, a.Take()...) {
		b, _ := json.Marshal(r)
		if strings.Contains(string(b), secret[11:]) {
			t.Errorf("a record holds the secret: %s", b)
		}
	}
}

// TestFlushAllDenials: at shutdown the counts of windows still open are
// recorded.
func TestFlushAllDenials(t *testing.T) {
	g, a, _ := newDenialGate(t)
	for range 4 {
		refused(t, g, "203.0.113.7:1", "")
	}
	refused(t, g, "203.0.113.8:1", "")
	a.Take()
	g.FlushAllDenials()
	recs := a.Take()
	if len(recs) != 1 || recs[0].Detail["remote_addr"] != "203.0.113.7" || recs[0].Detail["denials"] != "3" {
		t.Errorf("FlushAllDenials wrote %+v; want the 3 folded refusals of 203.0.113.7", recs)
	}
	g.FlushAllDenials()
	if recs := a.Take(); len(recs) != 0 {
		t.Errorf("second FlushAllDenials wrote %+v", recs)
	}
}

// TestDenialsBoundedAddresses: addresses beyond the tracked number are
// folded together, so the gate's memory and the log stay bounded.
func TestDenialsBoundedAddresses(t *testing.T) {
	g, a, clk := newDenialGate(t)
	for i := range maxFoldKeys + 100 {
		refused(t, g, fmt.Sprintf("10.%d.%d.%d:1", i>>16&255, i>>8&255, i&255), "")
	}
	if recs := a.Take(); len(recs) != maxFoldKeys+1 {
		t.Errorf("%d immediate records; want %d (one per tracked address and one for the rest)", len(recs), maxFoldKeys+1)
	}
	clk.Add(DenialWindow)
	g.FlushDenials()
	recs := a.Take()
	if len(recs) != 1 || recs[0].Detail["remote_addr"] != otherAddrs || recs[0].Detail["denials"] != "99" {
		t.Errorf("after the window: %+v; want the other addresses' 99", recs)
	}
	if n := len(g.authDenials.byKey); n > maxFoldKeys+1 {
		t.Errorf("%d addresses tracked", n)
	}
}

// TestAdminDenialsAudited: the admin API's 401s are recorded the same way.
func TestAdminDenialsAudited(t *testing.T) {
	g, a, _ := newDenialGate(t)
	h := g.Admin(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.Error("handler reached") }))
	for _, key := range []string{"", "hk_zzzzzzzz"} {
		r := httptest.NewRequest("GET", "/admin/v1/tenants", nil)
		r.RemoteAddr = "[2001:db8::1]:443"
		if key != "" {
			r.Header.Set("Authorization", "Bearer "+key)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusUnauthorized {
			t.Errorf("admin with key %q: %d", key, w.Code)
		}
	}
	recs := a.Take()
	if len(recs) != 1 || recs[0].Detail["remote_addr"] != "2001:db8::1" || recs[0].Detail["path"] != "/admin/v1/tenants" || recs[0].Reason != "auth: no API key" {
		t.Errorf("admin refusals: %+v; want one immediate record, the second folded", recs)
	}
}

func TestKeyPrefix(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"hk_abcdefgh" + strings.Repeat("a", 44), "abcdefgh"},
		{"hk_abcdefgh", "abcdefgh"},
		{"hk_abc", ""},
		{"hk_ABCDEFGH", ""},
		{"sk-abcdefghijkl", ""},
		{"hk_abcdefg1", ""},
	}
	for _, tc := range tests {
		if got := keyPrefix(tc.in); got != tc.want {
			t.Errorf("keyPrefix(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}
