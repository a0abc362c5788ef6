package capture

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/tenant"
)

// homeForwarder is a Forwarder straight into another node's store, as the
// fabric adapter is after the network: the tenant is looked up there by
// name, and the home node's answer comes back.
type homeForwarder struct {
	home    *Store
	tenants map[string]tenant.Tenant // the home node's tenants by name
	err     error                    // when set, the home cannot be reached
}

func (h *homeForwarder) Forward(ctx context.Context, t tenant.Tenant, f Forwarded) (string, error) {
	if h.err != nil {
		return "", h.err
	}
	return "node-ng", h.home.SaveForwarded(ctx, "node-ke", h.tenants[t.Name], f)
}

func (h *homeForwarder) ForwardFeedback(ctx context.Context, t tenant.Tenant, fb Feedback) (Feedback, string, error) {
	if h.err != nil {
		return Feedback{}, "", h.err
	}
	ht, ok := h.tenants[t.Name]
	if !ok {
		return Feedback{}, "", fmt.Errorf("%w: no tenant %s at home", ErrNotFound, t.Name)
	}
	got, err := h.home.FeedbackForwarded(ctx, "node-ke", ht, fb)
	return got, "node-ng", err
}

// TestForwardToHome: a KE node captures for a tenant whose home is NG; the
// record lands in the NG store under NG's tenant of the same name, sealed
// there, and nothing is kept in KE.
func TestForwardToHome(t *testing.T) {
	ctx := context.Background()
	ng := newFixture(t, "NG")
	// The same tenant has different ids on the two nodes.
	keAcme, ngAcme := tenantWith("t-ke", tenant.CaptureOn, "NG", 30), tenantWith("t-ng", tenant.CaptureOn, "NG", 7)
	ngAcme.Name = keAcme.Name
	fwd := &homeForwarder{home: ng.s, tenants: map[string]tenant.Tenant{keAcme.Name: ngAcme}}
	ke := newFixture(t, "KE", func(c *Config) { c.Forwarder = fwd })

	if ok, reason := ke.s.Decide(keAcme, false); !ok || reason != "forward to NG" {
		t.Errorf("Decide on KE = %v %q; want true, forward to NG", ok, reason)
	}
	in := interaction("r1", plantEmail)
	in.KeyID = "k-ke"
	if err := ke.s.Save(ctx, keAcme, in); err != nil {
		t.Fatalf("Save on KE: %v", err)
	}
	rec, err := ng.s.Get(ctx, "t-ng", "r1")
	if err != nil {
		t.Fatalf("Get on NG: %v", err)
	}
	if rec.TenantID != "t-ng" || rec.KeyID != "k-ke" || rec.Model != "stories260k" || len(rec.Messages) != 2 {
		t.Errorf("NG record %+v; want tenant t-ng, key k-ke, 2 messages", rec.Interaction)
	}
	if !strings.Contains(rec.Messages[1].Content, "<EMAIL_1>") || rec.EndUser != "<EMAIL_1>" || rec.Scrubbed["EMAIL"] == 0 {
		t.Errorf("NG record not scrubbed as the KE node scrubbed it: %+v", rec)
	}
	// NG's retention applies (7 days), not KE's (30).
	if want := rec.Time.AddDate(0, 0, 7); !rec.Expires.Equal(want) {
		t.Errorf("expires %v; want %v (NG's 7 days)", rec.Expires, want)
	}
	// No plaintext reaches NG's disk, and nothing at all is kept in KE.
	if raw := rawFiles(t, ng.dir); strings.Contains(string(raw), marker) || strings.Contains(string(raw), plantEmail) {
		t.Error("NG's database holds plaintext")
	}
	var n int
	ke.d.QueryRow(`SELECT count(*) FROM capture_record`).Scan(&n)
	if c := ke.s.Counts(); n != 0 || c.Saved != 0 || c.Forwarded != 1 || c.Dropped != 0 {
		t.Errorf("KE keeps %d rows, counts %+v; want 0 rows, 1 forwarded", n, c)
	}
	if c := ng.s.Counts(); c.Saved != 1 {
		t.Errorf("NG counts %+v; want 1 saved", c)
	}
	// Both sides audit: KE the forward (to which node), NG the save (from which node).
	if got := ke.audit.JSON(t); !strings.Contains(got, `"reason":"forward"`) || !strings.Contains(got, `"to_node":"node-ng"`) {
		t.Errorf("KE audit %s; want a forward to node-ng", got)
	}
	if got := ng.audit.JSON(t); !strings.Contains(got, `"reason":"save"`) || !strings.Contains(got, `"from_node":"node-ke"`) || strings.Contains(got, plantEmail) {
		t.Errorf("NG audit %s; want a save from node-ke, without the address", got)
	}

	// Erasure by the end user's id as the client knows it works at home,
	// though the id itself was scrubbed.
	if n, err := ng.s.EraseUser(ctx, "t-ng", plantEmail); err != nil || n != 1 {
		t.Errorf("EraseUser at NG = %d, %v; want 1", n, err)
	}

	// Home unreachable: dropped, counted, ErrNotHome naming the cause.
	fwd.err = errors.New("no NG node answers")
	err = ke.s.Save(ctx, keAcme, interaction("r2", ""))
	if !errors.Is(err, ErrNotHome) || !strings.Contains(err.Error(), "no NG node answers") {
		t.Errorf("Save with the home unreachable = %v; want ErrNotHome with the cause", err)
	}
	if c := ke.s.Counts(); c.Dropped != 1 || c.Forwarded != 1 {
		t.Errorf("KE counts %+v; want 1 dropped", c)
	}
}

func TestSaveForwardedRefuses(t *testing.T) {
	ctx := context.Background()
	ng := newFixture(t, "NG")
	home := tenantWith("t1", tenant.CaptureOn, "NG", 30)
	rec := func(id string) Forwarded { return Forwarded{Record: Record{Interaction: interaction(id, "")}} }
	if err := ng.s.SaveForwarded(ctx, "node-ke", home, rec("ok")); err != nil {
		t.Fatalf("SaveForwarded: %v", err)
	}
	tests := []struct {
		name string
		t    tenant.Tenant
		f    Forwarded
		want error
	}{
		{"home elsewhere", tenantWith("t1", tenant.CaptureOn, "KE", 30), rec("a"), ErrNotHome},
		{"capture off here", tenantWith("t1", tenant.CaptureOff, "NG", 30), rec("b"), ErrNotAllowed},
		{"retention 0 here", tenantWith("t1", tenant.CaptureOn, "NG", 0), rec("c"), ErrNotAllowed},
		{"no response id", home, rec(""), ErrInvalid},
		{"no tenant id", tenant.Tenant{Name: "x", Policy: home.Policy}, rec("d"), ErrInvalid},
		{"already stored", home, rec("ok"), ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := ng.s.SaveForwarded(ctx, "node-ke", tt.t, tt.f); !errors.Is(err, tt.want) {
				t.Errorf("SaveForwarded = %v; want %v", err, tt.want)
			}
		})
	}
	if c := ng.s.Counts(); c.Saved != 1 {
		t.Errorf("counts %+v; want 1 saved", c)
	}
	// A sender that did not scrub is scrubbed here all the same.
	raw := rec("unscrubbed")
	if err := ng.s.SaveForwarded(ctx, "node-ke", home, raw); err != nil {
		t.Fatal(err)
	}
	got, err := ng.s.Get(ctx, "t1", "unscrubbed")
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprint(got.Messages, got.Output, got.Params); strings.Contains(s, plantEmail) || strings.Contains(s, "4111") || !strings.Contains(s, "<EMAIL_1>") {
		t.Errorf("unscrubbed forward stored as %s", s)
	}
}

// TestFeedbackForwarded: feedback given on the KE node for a response kept
// in NG reaches the NG record; another tenant's is refused as not found,
// there as here. KE scrubbed the correction with a session of its own, so
// its <EMAIL_1> is renumbered on NG (<EMAIL_2>): NG cannot know it is the
// record's <EMAIL_1>, and must not say so.
func TestFeedbackForwarded(t *testing.T) {
	ctx := context.Background()
	ng := newFixture(t, "NG")
	ngAcme, ngOther := tenantWith("t-ng", tenant.CaptureOn, "NG", 30), tenantWith("t-ng-2", tenant.CaptureOn, "NG", 30)
	keAcme, keOther := tenantWith("t-ke", tenant.CaptureOn, "NG", 30), tenantWith("t-ke-2", tenant.CaptureOn, "NG", 30)
	ngAcme.Name, ngOther.Name = keAcme.Name, keOther.Name
	fwd := &homeForwarder{home: ng.s, tenants: map[string]tenant.Tenant{keAcme.Name: ngAcme, keOther.Name: ngOther}}
	ke := newFixture(t, "KE", func(c *Config) { c.Forwarder = fwd })
	if err := ke.s.Save(ctx, keAcme, interaction("r1", "")); err != nil {
		t.Fatal(err)
	}

	h := NewHook(ke.s)
	acme := fakeCaller{&tenant.Principal{Tenant: keAcme, Key: tenant.Key{ID: "k1", Scopes: []tenant.Scope{tenant.ScopeFeedback}}}}
	other := fakeCaller{&tenant.Principal{Tenant: keOther, Key: tenant.Key{ID: "k2", Scopes: []tenant.Scope{tenant.ScopeFeedback}}}}
	id, err := h.Feedback(acme.Context(ctx), acme, api.FeedbackInput{ResponseID: "r1", Thumb: -1, Correction: "Write to " + plantEmail + " instead."})
	if err != nil || !strings.HasPrefix(id, "fb_") {
		t.Fatalf("Feedback from KE = %q, %v", id, err)
	}
	rec, err := ng.s.Get(ctx, "t-ng", "r1")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Feedback) != 1 || rec.Feedback[0].ID != id || rec.Feedback[0].Thumb != -1 || rec.Feedback[0].KeyID != "k1" ||
		strings.Contains(rec.Feedback[0].Correction, plantEmail) || !strings.Contains(rec.Feedback[0].Correction, "<EMAIL_2>") {
		t.Errorf("NG record's feedback %+v; want the thumbs-down %s, scrubbed", rec.Feedback, id)
	}
	tests := []struct {
		name string
		c    fakeCaller
		in   api.FeedbackInput
		want error
	}{
		{"another tenant's response", other, api.FeedbackInput{ResponseID: "r1", Thumb: 1}, api.ErrResponseNotFound},
		{"unknown response", acme, api.FeedbackInput{ResponseID: "nope", Thumb: 1}, api.ErrResponseNotFound},
		{"invalid, refused before it leaves", acme, api.FeedbackInput{ResponseID: "r1", Rating: 9}, api.ErrInvalidFeedback},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := h.Feedback(tt.c.Context(ctx), tt.c, tt.in); !errors.Is(err, tt.want) {
				t.Errorf("Feedback = %v; want %v", err, tt.want)
			}
		})
	}
	if got := ke.audit.Reasons(); !slices.Contains(got, "feedback-forward") {
		t.Errorf("KE audit reasons %v; want a feedback-forward", got)
	}
	rec, _ = ng.s.Get(ctx, "t-ng", "r1")
	if len(rec.Feedback) != 1 {
		t.Errorf("NG record has %d feedback; want still 1", len(rec.Feedback))
	}

	// Feedback forwarded to a node that is not the tenant's home is refused.
	if _, err := ng.s.FeedbackForwarded(ctx, "node-ke", tenantWith("t-ng", tenant.CaptureOn, "KE", 30), Feedback{ResponseID: "r1", Thumb: 1}); !errors.Is(err, ErrNotHome) {
		t.Errorf("FeedbackForwarded off home = %v; want ErrNotHome", err)
	}
	// Without a forwarder a non-home node has no responses: not found.
	lone := newFixture(t, "KE")
	if _, err := NewHook(lone.s).Feedback(acme.Context(ctx), acme, api.FeedbackInput{ResponseID: "r1", Thumb: 1}); !errors.Is(err, api.ErrResponseNotFound) {
		t.Errorf("Feedback with no forwarder = %v; want ErrResponseNotFound", err)
	}
}
