package capture

import (
	"context"
	"testing"

	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/tenant"
)

// TestHookWants: the hook tells the API, before any body is kept, what
// the caller's policy may capture; only what the policy can never keep
// is CaptureNever, so a node that cannot store a wanted interaction
// still counts it as dropped.
func TestHookWants(t *testing.T) {
	h := NewHook(newFixture(t, "KE").s)
	for _, tc := range []struct {
		name string
		c    api.Caller
		want api.CaptureWant
	}{
		{"local mode", fakeCaller{}, api.CaptureNever},
		{"capture on", fakeCaller{&tenant.Principal{Tenant: tenantWith("t1", tenant.CaptureOn, "KE", 30)}}, api.CaptureAlways},
		{"opt-in", fakeCaller{&tenant.Principal{Tenant: tenantWith("t1", tenant.CaptureOptIn, "KE", 30)}}, api.CaptureIfAsked},
		{"off", fakeCaller{&tenant.Principal{Tenant: tenantWith("t1", tenant.CaptureOff, "KE", 30)}}, api.CaptureNever},
		{"unset", fakeCaller{&tenant.Principal{Tenant: tenantWith("t1", "", "KE", 30)}}, api.CaptureNever},
		{"on, retention 0", fakeCaller{&tenant.Principal{Tenant: tenantWith("t1", tenant.CaptureOn, "KE", 0)}}, api.CaptureNever},
		{"on, another home", fakeCaller{&tenant.Principal{Tenant: tenantWith("t1", tenant.CaptureOn, "NG", 30)}}, api.CaptureAlways},
	} {
		if got := h.Wants(tc.c.Context(context.Background()), tc.c); got != tc.want {
			t.Errorf("%s: Wants = %d; want %d", tc.name, got, tc.want)
		}
	}
}
