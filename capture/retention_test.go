package capture

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/tenant"
)

// TestHugeRetentionKeepsData: a retention too long for time.Duration (a
// tenant row written before the policy bound existed) must not turn into
// an expiry in the past or a sweep cutoff in the future: the captures kept
// under the old 30-day policy and the new ones both stay, and the new ones
// expire no later than the 100-year bound.
func TestHugeRetentionKeepsData(t *testing.T) {
	for _, days := range []int{1_000_000, 1 << 62, tenant.MaxRetentionDays + 1} {
		t.Run(strconv.Itoa(days), func(t *testing.T) {
			before := tenantWith("t1", tenant.CaptureOn, "KE", 30)
			after := tenantWith("t1", tenant.CaptureOn, "KE", days)
			f := newFixture(t, "KE", func(c *Config) { c.Tenants = fixedTenants{after} })
			ctx := context.Background()
			if err := f.s.Save(ctx, before, interaction("r-old", "")); err != nil {
				t.Fatal(err)
			}
			f.clock.Add(time.Hour)
			if err := f.s.Save(ctx, after, interaction("r-new", "")); err != nil {
				t.Fatal(err)
			}
			now := f.clock.Now()
			rec, err := f.s.Get(ctx, "t1", "r-new")
			if err != nil {
				t.Fatal(err)
			}
			if limit := now.Add(tenant.MaxRetentionDays * 24 * time.Hour); !rec.Expires.Equal(limit) {
				t.Errorf("retention of %d days: expiry %s; want %s (the %d-day bound)", days, rec.Expires, limit, tenant.MaxRetentionDays)
			}
			f.clock.Add(24 * time.Hour)
			if n, err := f.s.Sweep(ctx); err != nil || n != 0 {
				t.Errorf("retention of %d days: Sweep deleted %d (%v); want 0", days, n, err)
			}
			for _, id := range []string{"r-old", "r-new"} {
				if _, err := f.s.Get(ctx, "t1", id); err != nil {
					t.Errorf("retention of %d days: %s after the sweep: %v", days, id, err)
				}
			}
		})
	}
}
