package flywheel

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/capture"
	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/flywheel/dataset"
	"github.com/hearth-ai/hearth/flywheel/registry"
	"github.com/hearth-ai/hearth/internal/testfixture"
	"github.com/hearth-ai/hearth/tenant"
)

// fixture is a node's data directory with one tenant whose policy captures
// everything, homed where the stores are opened.
type fixture struct {
	dir string
	d   *db.DB
	s   *Stores
	ten tenant.Tenant
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{dir: t.TempDir()}
	var err error
	if f.d, err = db.OpenDir(f.dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.d.Close() })
	ts, err := tenant.Open(ctx, f.d, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ts.Close() })
	if f.ten, err = ts.CreateTenant(ctx, tenant.Tenant{Name: "acme", Policy: tenant.Policy{
		Jurisdictions: []string{"KE"}, Home: "KE", Capture: "on", RetentionDays: 30}}); err != nil {
		t.Fatal(err)
	}
	if f.s, err = Open(ctx, f.d, f.dir, Options{Jurisdiction: "KE", Tenants: ts}); err != nil {
		t.Fatal(err)
	}
	return f
}

// capture saves n interactions of end users user-0 and user-1 in turn,
// rating those whose index rated says (nil: all, with a thumbs-up).
func (f *fixture) capture(t *testing.T, n int, rated func(i int) bool) {
	t.Helper()
	ctx := context.Background()
	for i := range n {
		id := fmt.Sprintf("chatcmpl-%02d", i)
		in := capture.Interaction{ResponseID: id, TenantID: f.ten.ID, EndUser: fmt.Sprintf("user-%d", i%2), Model: "stories260k",
			Messages: []capture.Message{{Role: "user", Content: fmt.Sprintf("Question number %d about planting maize in the long rains", i)}},
			Output:   fmt.Sprintf("Answer number %d: plant after the first heavy rain, two seeds a hole, and weed twice.", i), Time: time.Now()}
		if err := f.s.Capture.Save(ctx, f.ten, in); err != nil {
			t.Fatal(err)
		}
		if rated != nil && !rated(i) {
			continue
		}
		if err := f.s.Capture.Feedback(ctx, f.ten.ID, capture.Feedback{ResponseID: id, Thumb: 1}); err != nil {
			t.Fatal(err)
		}
	}
}

// build builds dataset "support" from the capture source; the tenant's
// data key must exist first, as the CLI ensures.
func (f *fixture) build(t *testing.T) *dataset.Version {
	t.Helper()
	ctx := context.Background()
	if err := f.s.Capture.EnsureKey(ctx, f.ten.ID); err != nil {
		t.Fatal(err)
	}
	v, err := f.s.Datasets.Build(ctx, f.s.Source(), f.ten.ID, "support", dataset.Options{NearDup: 1})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (f *fixture) examples(t *testing.T) (int, error) {
	t.Helper()
	var buf bytes.Buffer
	return f.s.Datasets.Export(context.Background(), f.ten.ID, "support", 0, "all", &buf)
}

func TestEraseReachesDatasets(t *testing.T) {
	for _, tc := range []struct {
		name  string
		erase func(*capture.Store, string) (int, error)
		want  int // examples left of 6
	}{
		{"user", func(s *capture.Store, tid string) (int, error) {
			return s.EraseUser(context.Background(), tid, "user-0")
		}, 3},
		{"response", func(s *capture.Store, tid string) (int, error) {
			return s.EraseResponse(context.Background(), tid, "chatcmpl-01")
		}, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.capture(t, 6, nil)
			if v := f.build(t); len(v.Train)+len(v.Eval) != 6 {
				t.Fatalf("built %d examples; want 6", len(v.Train)+len(v.Eval))
			}
			if _, err := tc.erase(f.s.Capture, f.ten.ID); err != nil {
				t.Fatal(err)
			}
			n, err := f.examples(t)
			if err != nil || n != tc.want {
				t.Errorf("after the erasure the dataset exports %d examples (%v); want %d", n, err, tc.want)
			}
		})
	}
}

func TestShredLeavesDatasetsUnreadable(t *testing.T) {
	f := newFixture(t)
	f.capture(t, 4, nil)
	f.build(t)
	if n, err := f.examples(t); err != nil || n != 4 {
		t.Fatalf("before the shred: %d examples, %v", n, err)
	}
	// Sealed at rest: the example text is not in the database file.
	b, err := os.ReadFile(filepath.Join(f.dir, db.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, []byte("two seeds a hole")) {
		t.Error("the database holds an example's text in the clear")
	}
	if err := f.s.Capture.DeleteTenantKey(context.Background(), f.ten.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := f.examples(t); err == nil {
		t.Errorf("after the shred the dataset exports %d examples; want an error", n)
	}
}

func TestSourceYieldsRatedInteractions(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, err := f.s.Source().Interactions(ctx, f.ten.ID); !errors.Is(err, ErrNoFeedback) {
		t.Errorf("no captures: %v; want ErrNoFeedback", err)
	}
	f.capture(t, 5, func(i int) bool { return i%2 == 0 })
	ins, err := f.s.Source().Interactions(ctx, f.ten.ID)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, in := range ins {
		ids = append(ids, in.ResponseID)
		if in.Thumb != 1 || len(in.Messages) != 1 || in.Messages[0].Role != "user" || !strings.HasPrefix(in.Output, "Answer number") {
			t.Errorf("interaction %+v; want a rated user question and its answer", in)
		}
	}
	if got, want := strings.Join(ids, ","), "chatcmpl-00,chatcmpl-02,chatcmpl-04"; got != want {
		t.Errorf("source yields %s; want the rated %s", got, want)
	}
	if ins, err := f.s.Source().Interactions(ctx, "tnt_other"); !errors.Is(err, ErrNoFeedback) {
		t.Errorf("another tenant: %d interactions, %v; want ErrNoFeedback", len(ins), err)
	}
}

// An erasure reaches the adapters trained on the erased data (they are
// marked), and a shred leaves them unreadable.
func TestEraseMarksAdaptersAndShredSealsThem(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.capture(t, 4, nil)
	f.build(t)
	meta := registry.Meta{Base: registry.Base{Name: "stories260k", Digest: strings.Repeat("0f", 32)}, Dataset: registry.DatasetRef{Name: "support"}}
	if _, err := f.s.Adapters.Create(ctx, f.ten, "support-lora", meta, testfixture.AdapterFile(t, "llama", 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.s.Capture.EraseResponse(ctx, f.ten.ID, "chatcmpl-02"); err != nil {
		t.Fatal(err)
	}
	v, err := f.s.Adapters.Get(ctx, f.ten.ID, "support-lora", 1)
	if err != nil || !v.ErasedData || v.State != registry.StateActive {
		t.Errorf("after the erasure: %+v, %v; want marked erased, still active (the policy does not retire)", v, err)
	}
	if _, _, err := f.s.Adapters.Open(ctx, f.ten.ID, "support-lora", 1); err != nil {
		t.Fatalf("before the shred: %v", err)
	}
	if err := f.s.Capture.DeleteTenantKey(ctx, f.ten.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.s.Adapters.Open(ctx, f.ten.ID, "support-lora", 1); !errors.Is(err, capture.ErrKeyDeleted) {
		t.Errorf("after the shred: %v; want ErrKeyDeleted", err)
	}
}
