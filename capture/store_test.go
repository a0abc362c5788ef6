package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/tenant"
)

func TestDecide(t *testing.T) {
	f := newFixture(t, "KE")
	tests := []struct {
		name  string
		t     tenant.Tenant
		optIn bool
		want  bool
	}{
		{"off", tenantWith("t", tenant.CaptureOff, "KE", 30), true, false},
		{"empty mode is off", tenantWith("t", "", "KE", 30), true, false},
		{"opt-in without opting in", tenantWith("t", tenant.CaptureOptIn, "KE", 30), false, false},
		{"opt-in, opted in", tenantWith("t", tenant.CaptureOptIn, "KE", 30), true, true},
		{"on", tenantWith("t", tenant.CaptureOn, "KE", 30), false, true},
		{"on, home not pinned", tenantWith("t", tenant.CaptureOn, "", 30), false, true},
		{"on, other home", tenantWith("t", tenant.CaptureOn, "NG", 30), false, false},
		{"on, zero retention", tenantWith("t", tenant.CaptureOn, "KE", 0), false, false},
		{"unknown mode", tenantWith("t", "always", "KE", 30), true, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, reason := f.s.Decide(tc.t, tc.optIn)
			if got != tc.want || reason == "" {
				t.Errorf("Decide = %v, %q; want %v with a reason", got, reason, tc.want)
			}
		})
	}
}

// fakeCaller is a gate's caller with a principal, which it puts in the
// request's context, as package access's do.
type fakeCaller struct{ p *tenant.Principal }

func (fakeCaller) Sees(string) bool                                       { return true }
func (fakeCaller) Use(context.Context, string, string) error              { return nil }
func (fakeCaller) Admit(context.Context, api.Admission) (api.Pass, error) { return nil, nil }
func (c fakeCaller) Context(ctx context.Context) context.Context {
	if c.p == nil {
		return ctx
	}
	return tenant.WithPrincipal(ctx, c.p)
}

// TestCaptureModes offers requests to the API hook, as the server does
// after each generation, and counts what lands in the database.
func TestCaptureModes(t *testing.T) {
	tests := []struct {
		name        string
		node        string
		capture     string
		home        string
		optIns      []bool
		wantStored  []int // indexes of the requests that must be stored
		wantDropped int64
	}{
		{"off stores nothing", "KE", tenant.CaptureOff, "KE", []bool{false, true, true}, nil, 0},
		{"opt-in stores flagged only", "KE", tenant.CaptureOptIn, "KE", []bool{false, true, false, true}, []int{1, 3}, 0},
		{"on stores all", "KE", tenant.CaptureOn, "KE", []bool{false, true, false}, []int{0, 1, 2}, 0},
		{"non-home node stores nothing", "NG", tenant.CaptureOn, "KE", []bool{false, true}, nil, 2},
		{"non-home node, opt-in", "NG", tenant.CaptureOptIn, "KE", []bool{false, true}, nil, 1},
		{"node without jurisdiction stores nothing for a pinned tenant", "", tenant.CaptureOn, "KE", []bool{true}, nil, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.node)
			ctx := context.Background()
			h := NewHook(f.s)
			c := fakeCaller{&tenant.Principal{Tenant: tenantWith("t1", tc.capture, tc.home, 30), Key: tenant.Key{ID: "k1"}}}
			for i, optIn := range tc.optIns {
				in := interaction(fmt.Sprintf("resp-%d", i), "")
				err := h.Capture(c.Context(ctx), c, api.CaptureInput{ResponseID: in.ResponseID, Model: in.Model, Endpoint: in.Endpoint, OptIn: optIn,
					Messages: []api.CaptureMessage{{Role: "user", Content: in.Messages[1].Content}}, Output: in.Output})
				if err != nil {
					t.Fatalf("request %d: Capture: %v", i, err)
				}
			}
			recs, err := f.s.List(ctx, "t1", Filter{})
			if err != nil && !errors.Is(err, ErrKeyDeleted) {
				t.Fatal(err)
			}
			var got []int
			for _, r := range recs {
				var i int
				fmt.Sscanf(r.ResponseID, "resp-%d", &i)
				got = append(got, i)
				if r.KeyID != "k1" {
					t.Errorf("record %s has key id %q, want k1", r.ResponseID, r.KeyID)
				}
			}
			if !slices.Equal(got, tc.wantStored) {
				t.Errorf("stored requests %v, want %v", got, tc.wantStored)
			}
			var n int
			f.d.QueryRow(`SELECT count(*) FROM capture_record`).Scan(&n)
			if n != len(tc.wantStored) {
				t.Errorf("%d rows in capture_record, want %d", n, len(tc.wantStored))
			}
			if c := f.s.Counts(); c.Dropped != tc.wantDropped || c.Saved != int64(len(tc.wantStored)) {
				t.Errorf("counts %+v, want %d dropped, %d saved", c, tc.wantDropped, len(tc.wantStored))
			}
		})
	}
	// A caller without a tenant (local mode) is never captured.
	f := newFixture(t, "KE")
	if err := NewHook(f.s).Capture(context.Background(), fakeCaller{}, api.CaptureInput{ResponseID: "r", OptIn: true}); err != nil {
		t.Fatal(err)
	}
	if c := f.s.Counts(); c.Saved != 0 {
		t.Errorf("local mode saved %d", c.Saved)
	}
}

func TestSaveNotHomeIsDropped(t *testing.T) {
	f := newFixture(t, "NG")
	err := f.s.Save(context.Background(), tenantWith("t1", tenant.CaptureOn, "KE", 30), interaction("r1", ""))
	if !errors.Is(err, ErrNotHome) || !errors.Is(err, ErrNoForwarder) {
		t.Fatalf("Save on a non-home node: %v, want ErrNotHome and ErrNoForwarder", err)
	}
	if c := f.s.Counts(); c.Dropped != 1 || c.Saved != 0 {
		t.Errorf("counts %+v, want 1 dropped, 0 saved", c)
	}
	if _, err := os.Stat(filepath.Join(f.dir, KeyFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a node that stored nothing created a master key: %v", err)
	}
}

// rawFiles returns every byte the database keeps on disk.
func rawFiles(t *testing.T, dir string) []byte {
	t.Helper()
	var all []byte
	for _, name := range []string{"hearth.db", "hearth.db-wal"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		all = append(all, b...)
	}
	return all
}

func TestStoredScrubbedAndEncrypted(t *testing.T) {
	f := newFixture(t, "KE")
	ctx := context.Background()
	tn := tenantWith("t1", tenant.CaptureOn, "KE", 30)
	if err := f.s.Save(ctx, tn, interaction("r1", plantEmail)); err != nil {
		t.Fatal(err)
	}
	if err := f.s.Feedback(ctx, "t1", Feedback{ResponseID: "r1", Thumb: -1, Correction: "Write to " + plantEmail + " " + marker}); err != nil {
		t.Fatal(err)
	}
	raw := rawFiles(t, f.dir)
	digits := func(s string) string {
		return strings.Map(func(r rune) rune { return map[bool]rune{true: r, false: -1}[r >= '0' && r <= '9'] }, s)
	}
	for _, s := range []string{plantEmail, plantPhone, plantCard, plantIBAN, digits(plantCard), "712345678", marker, "<EMAIL_1>", "EMAIL", "helpful", "temperature"} {
		if bytes.Contains(raw, []byte(s)) {
			t.Errorf("the database files contain %q", s)
		}
	}
	info, err := os.Stat(filepath.Join(f.dir, KeyFileName))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("master key mode %v, want 0600", perm)
	}

	rec, err := f.s.Get(ctx, "t1", "r1")
	if err != nil {
		t.Fatal(err)
	}
	wantUser := "Mail <EMAIL_1> or call <PHONE_1>; my card is <CARD_1>."
	if got := rec.Messages[1].Content; got != wantUser {
		t.Errorf("user message %q, want %q", got, wantUser)
	}
	if got, want := rec.Messages[0].Content, "You are a helpful "+marker+" assistant."; got != want {
		t.Errorf("system message %q, want %q", got, want)
	}
	// One session: the e-mail in the output keeps its placeholder.
	if got, want := rec.Output, "I will write to <EMAIL_1> and charge <IBAN_1>."; got != want {
		t.Errorf("output %q, want %q", got, want)
	}
	if got := rec.Params["stop"].([]any)[0]; got != "from <EMAIL_1>" {
		t.Errorf("params.stop %q, want the scrubbed stop", got)
	}
	if rec.EndUser != "<EMAIL_1>" {
		t.Errorf("end user %q, want it scrubbed", rec.EndUser)
	}
	// E-mail: user message, output, stop sequence, end user.
	wantCounts := map[string]int{"EMAIL": 4, "PHONE": 1, "CARD": 1, "IBAN": 1}
	for typ, n := range wantCounts {
		if rec.Scrubbed[typ] != n {
			t.Errorf("scrubbed[%s] = %d, want %d (all: %v)", typ, rec.Scrubbed[typ], n, rec.Scrubbed)
		}
	}
	if len(rec.Feedback) != 1 || rec.Feedback[0].Thumb != -1 || rec.Feedback[0].Correction != "Write to <EMAIL_1> "+marker {
		t.Errorf("feedback %+v", rec.Feedback)
	}
	if want := f.clock.Now().Add(30 * 24 * time.Hour); !rec.Expires.Equal(want) {
		t.Errorf("expires %v, want %v", rec.Expires, want)
	}
	// The audit log hears of the save and the feedback, never the text.
	a := f.audit.JSON(t)
	for _, s := range []string{plantEmail, marker, "<EMAIL_1>", "helpful"} {
		if strings.Contains(a, s) {
			t.Errorf("audit records contain %q", s)
		}
	}
	if got := f.audit.Reasons(); !slices.Equal(got, []string{"save", "feedback"}) {
		t.Errorf("audit reasons %v, want [save feedback]", got)
	}
}

func TestFeedback(t *testing.T) {
	f := newFixture(t, "KE")
	ctx := context.Background()
	if err := f.s.Save(ctx, tenantWith("t1", tenant.CaptureOn, "KE", 30), interaction("r1", "")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		tenant string
		fb     Feedback
		want   error
	}{
		{"thumbs up", "t1", Feedback{ResponseID: "r1", Thumb: 1}, nil},
		{"one star", "t1", Feedback{ResponseID: "r1", Rating: 1}, nil},
		{"stars", "t1", Feedback{ResponseID: "r1", Rating: 5, Tags: []string{"accurate"}}, nil},
		{"correction without rating", "t1", Feedback{ResponseID: "r1", Correction: "better"}, nil},
		{"another tenant", "t2", Feedback{ResponseID: "r1", Rating: 1}, ErrNotFound},
		{"unknown response", "t1", Feedback{ResponseID: "nope", Rating: 1}, ErrNotFound},
		{"rating 0 alone", "t1", Feedback{ResponseID: "r1"}, ErrInvalid},
		{"rating 6", "t1", Feedback{ResponseID: "r1", Rating: 6}, ErrInvalid},
		{"rating -1", "t1", Feedback{ResponseID: "r1", Rating: -1}, ErrInvalid},
		{"thumb 2", "t1", Feedback{ResponseID: "r1", Thumb: 2}, ErrInvalid},
		{"no response id", "t1", Feedback{Rating: 1}, ErrInvalid},
		{"empty tag", "t1", Feedback{ResponseID: "r1", Rating: 1, Tags: []string{" "}}, ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := f.s.Feedback(ctx, tc.tenant, tc.fb)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("Feedback: %v, want %v", err, tc.want)
			}
		})
	}
	// Another tenant learns nothing: same error as for an id nobody has.
	_, errOther := f.s.Get(ctx, "t2", "r1")
	_, errNone := f.s.Get(ctx, "t2", "never")
	if !errors.Is(errOther, ErrNotFound) || !errors.Is(errNone, ErrNotFound) {
		t.Errorf("Get by another tenant: %v; unknown id: %v", errOther, errNone)
	}
	rec, err := f.s.Get(ctx, "t1", "r1")
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Feedback) != 4 {
		t.Errorf("%d feedback entries, want 4", len(rec.Feedback))
	}
	recs, err := f.s.List(ctx, "t1", Filter{WithFeedback: true})
	if err != nil || len(recs) != 1 {
		t.Errorf("List(WithFeedback) = %d records, %v; want 1", len(recs), err)
	}
}

func TestEraseUser(t *testing.T) {
	var hooked []string
	var hookErr error // what the hook answers
	f := newFixture(t, "KE", func(c *Config) {
		c.OnErase = func(_ context.Context, tenantID string, ids []string) error {
			hooked = append(hooked, tenantID+":"+strings.Join(ids, ","))
			return hookErr
		}
	})
	ctx := context.Background()
	t1 := tenantWith("t1", tenant.CaptureOn, "KE", 30)
	t2 := tenantWith("t2", tenant.CaptureOn, "KE", 30)
	for _, s := range []struct {
		t          tenant.Tenant
		id, user   string
		withRating bool
	}{{t1, "a1", "alice", true}, {t1, "a2", "alice", false}, {t1, "b1", "bob", false}, {t2, "x1", "alice", false}} {
		if err := f.s.Save(ctx, s.t, interaction(s.id, s.user)); err != nil {
			t.Fatal(err)
		}
		if s.withRating {
			if err := f.s.Feedback(ctx, s.t.ID, Feedback{ResponseID: s.id, Rating: 1}); err != nil {
				t.Fatal(err)
			}
		}
	}
	n, err := f.s.EraseUser(ctx, "t1", "alice")
	if err != nil || n != 2 {
		t.Fatalf("EraseUser = %d, %v; want 2", n, err)
	}
	if len(hooked) != 1 || (hooked[0] != "t1:a1,a2" && hooked[0] != "t1:a2,a1") {
		t.Errorf("OnErase calls %v, want one for t1 with a1 and a2", hooked)
	}
	for _, c := range []struct {
		tenant, id string
		want       error
	}{{"t1", "a1", ErrNotFound}, {"t1", "a2", ErrNotFound}, {"t1", "b1", nil}, {"t2", "x1", nil}} {
		if _, err := f.s.Get(ctx, c.tenant, c.id); !errors.Is(err, c.want) || (c.want == nil) != (err == nil) {
			t.Errorf("Get(%s, %s) after erasing alice of t1: %v, want %v", c.tenant, c.id, err, c.want)
		}
	}
	var fbRows int
	f.d.QueryRow(`SELECT count(*) FROM capture_feedback`).Scan(&fbRows)
	if fbRows != 0 {
		t.Errorf("%d feedback rows left after erasing their response", fbRows)
	}
	// The end-user id is not stored in the clear.
	if raw := rawFiles(t, f.dir); bytes.Contains(raw, []byte("alice")) {
		t.Error("the database files contain the end-user id")
	}
	if n, err := f.s.EraseResponse(ctx, "t1", "b1"); n != 1 || err != nil {
		t.Errorf("EraseResponse = %d, %v; want 1", n, err)
	}
	if n, err := f.s.EraseResponse(ctx, "t1", "x1"); n != 0 || err != nil {
		t.Errorf("EraseResponse of another tenant's response = %d, %v; want 0", n, err)
	}
	if len(hooked) != 2 || hooked[1] != "t1:b1" {
		t.Errorf("OnErase calls %v", hooked)
	}
	if _, err := f.s.EraseUser(ctx, "t1", ""); !errors.Is(err, ErrInvalid) {
		t.Errorf("EraseUser with no user: %v, want ErrInvalid", err)
	}
	// A hook's failure is reported, after the rows are gone.
	hookErr = errors.New("dataset offline")
	if n, err := f.s.EraseUser(ctx, "t2", "alice"); n != 1 || err == nil || !strings.Contains(err.Error(), "dataset offline") {
		t.Errorf("EraseUser with a failing hook = %d, %v", n, err)
	}
}

func TestDeleteTenantKey(t *testing.T) {
	f := newFixture(t, "KE")
	ctx := context.Background()
	t1 := tenantWith("t1", tenant.CaptureOn, "KE", 30)
	for _, id := range []string{"r1", "r2"} {
		if err := f.s.Save(ctx, t1, interaction(id, "")); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.s.Save(ctx, tenantWith("t2", tenant.CaptureOn, "KE", 30), interaction("r1", "")); err != nil {
		t.Fatal(err)
	}
	var wrapped []byte
	f.d.QueryRow(`SELECT wrapped FROM capture_key WHERE tenant_id = 't1'`).Scan(&wrapped)
	if len(wrapped) == 0 {
		t.Fatal("no wrapped key for t1")
	}
	if err := f.s.DeleteTenantKey(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Get(ctx, "t1", "r1"); !errors.Is(err, ErrKeyDeleted) {
		t.Errorf("Get after DeleteTenantKey: %v, want ErrKeyDeleted", err)
	}
	if _, err := f.s.List(ctx, "t1", Filter{}); !errors.Is(err, ErrKeyDeleted) {
		t.Errorf("List after DeleteTenantKey: %v, want ErrKeyDeleted", err)
	}
	if err := f.s.Feedback(ctx, "t1", Feedback{ResponseID: "r1", Rating: 1}); !errors.Is(err, ErrKeyDeleted) {
		t.Errorf("Feedback after DeleteTenantKey: %v, want ErrKeyDeleted", err)
	}
	// The rows are still there, and no key in the database or the master
	// key file opens them: not the master key used as a data key, nor the
	// other tenant's key.
	var n int
	f.d.QueryRow(`SELECT count(*) FROM capture_record WHERE tenant_id = 't1'`).Scan(&n)
	if n != 2 {
		t.Errorf("%d t1 rows left, want 2 (unreadable)", n)
	}
	var sealed []byte
	f.d.QueryRow(`SELECT sealed FROM capture_record WHERE tenant_id = 't1' AND response_id = 'r1'`).Scan(&sealed)
	master, err := f.s.master.get(false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open(master, sealed, recordAAD("t1", "r1")); err == nil {
		t.Error("the master key opens a record")
	}
	other, err := f.s.liveKey(ctx, "t2", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open(other.aead, sealed, recordAAD("t1", "r1")); err == nil {
		t.Error("another tenant's key opens a record")
	}
	if bytes.Contains(rawFiles(t, f.dir), wrapped) {
		t.Error("the deleted wrapped key is still in the database files")
	}
	// The other tenant is untouched; t1's next capture gets a new key.
	if _, err := f.s.Get(ctx, "t2", "r1"); err != nil {
		t.Errorf("t2 after t1's key deletion: %v", err)
	}
	if err := f.s.Save(ctx, t1, interaction("r3", "")); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Get(ctx, "t1", "r3"); err != nil {
		t.Errorf("t1's new capture: %v", err)
	}
	if recs, err := f.s.List(ctx, "t1", Filter{}); err != nil || len(recs) != 1 {
		t.Errorf("List mixing shredded and new records = %d, %v; want the 1 readable", len(recs), err)
	}
	if err := f.s.DeleteTenantKey(ctx, "nobody"); !errors.Is(err, ErrNotFound) {
		t.Errorf("DeleteTenantKey of a tenant without a key: %v, want ErrNotFound", err)
	}
	if got := f.audit.Reasons(); !slices.Contains(got, "shred") {
		t.Errorf("audit reasons %v, want a shred", got)
	}
}

type fixedTenants []tenant.Tenant

func (ts fixedTenants) ListTenants(context.Context) ([]tenant.Tenant, error) { return ts, nil }

func TestSweep(t *testing.T) {
	short := tenantWith("short", tenant.CaptureOn, "KE", 1)
	long := tenantWith("long", tenant.CaptureOn, "KE", 10)
	shrunk := tenantWith("shrunk", tenant.CaptureOn, "KE", 10)
	now := fixedTenants{short, long, tenantWith("shrunk", tenant.CaptureOn, "KE", 2)}
	f := newFixture(t, "KE", func(c *Config) { c.Tenants = now })
	ctx := context.Background()
	for _, tn := range []tenant.Tenant{short, long, shrunk} {
		if err := f.s.Save(ctx, tn, interaction("r-"+tn.ID, "")); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		advance time.Duration
		want    int
		left    []string
	}{
		{23 * time.Hour, 0, []string{"long", "short", "shrunk"}},
		{2 * time.Hour, 1, []string{"long", "shrunk"}}, // 25h: past short's day
		{24 * time.Hour, 1, []string{"long"}},          // 49h: past shrunk's current 2 days
		{7 * 24 * time.Hour, 0, []string{"long"}},      // 9 days 1h
		{24 * time.Hour, 1, nil},                       // 10 days 1h
	}
	for i, st := range steps {
		f.clock.Add(st.advance)
		n, err := f.s.Sweep(ctx)
		if err != nil || n != st.want {
			t.Errorf("step %d: Sweep = %d, %v; want %d", i, n, err, st.want)
		}
		var left []string
		rows, _ := f.d.Query(`SELECT tenant_id FROM capture_record ORDER BY tenant_id`)
		for rows.Next() {
			var id string
			rows.Scan(&id)
			left = append(left, id)
		}
		rows.Close()
		if !slices.Equal(left, st.left) {
			t.Errorf("step %d: records of %v left, want %v", i, left, st.left)
		}
	}
}

func TestExportAndFilters(t *testing.T) {
	f := newFixture(t, "KE")
	ctx := context.Background()
	tn := tenantWith("t1", tenant.CaptureOn, "KE", 30)
	start := f.clock.Now()
	for i, model := range []string{"a", "b", "a"} {
		in := interaction("r"+string(rune('0'+i)), "")
		in.Model = model
		if err := f.s.Save(ctx, tn, in); err != nil {
			t.Fatal(err)
		}
		f.clock.Add(time.Hour)
	}
	tests := []struct {
		name string
		f    Filter
		want int
	}{
		{"all", Filter{}, 3},
		{"model", Filter{Model: "a"}, 2},
		{"since", Filter{Since: start.Add(time.Hour)}, 2},
		{"until", Filter{Until: start.Add(time.Hour)}, 1},
		{"window", Filter{Since: start.Add(30 * time.Minute), Until: start.Add(90 * time.Minute)}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			n, err := f.s.Export(ctx, "t1", &buf, tc.f)
			if err != nil || n != tc.want {
				t.Fatalf("Export = %d, %v; want %d", n, err, tc.want)
			}
			if lines := strings.Count(buf.String(), "\n"); lines != tc.want {
				t.Errorf("%d lines, want %d", lines, tc.want)
			}
			if tc.want > 0 && !strings.Contains(buf.String(), `"<EMAIL_1>`) && !strings.Contains(buf.String(), "<EMAIL_1>") {
				t.Errorf("export lacks the scrubbed text: %s", buf.String())
			}
			if strings.Contains(buf.String(), plantEmail) {
				t.Error("export contains the planted e-mail")
			}
		})
	}
	if _, err := f.s.List(ctx, "t1", Filter{Since: start, Until: start}); !errors.Is(err, ErrInvalid) {
		t.Errorf("empty window: %v, want ErrInvalid", err)
	}
}

// Concurrent first captures of a tenant agree on one data key.
func TestConcurrentFirstSaves(t *testing.T) {
	f := newFixture(t, "KE")
	ctx := context.Background()
	tn := tenantWith("t1", tenant.CaptureOn, "KE", 30)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- f.s.Save(ctx, tn, interaction(fmt.Sprintf("r%d", i), ""))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var keys int
	f.d.QueryRow(`SELECT count(*) FROM capture_key WHERE tenant_id = 't1'`).Scan(&keys)
	if keys != 1 {
		t.Errorf("%d keys for one tenant, want 1", keys)
	}
	if recs, err := f.s.List(ctx, "t1", Filter{}); err != nil || len(recs) != 16 {
		t.Errorf("List = %d records, %v; want 16", len(recs), err)
	}
	if err := f.s.Save(ctx, tn, interaction("r0", "")); !errors.Is(err, ErrInvalid) {
		t.Errorf("saving a response id twice: %v, want ErrInvalid", err)
	}
}
