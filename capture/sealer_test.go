package capture

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/flywheel/dataset"
	"github.com/hearth-ai/hearth/tenant"
)

// recordSource is a dataset.Source over the capture store, as the CLI's.
type recordSource struct{ s *Store }

func (r recordSource) Interactions(ctx context.Context, tenantID string) ([]dataset.Interaction, error) {
	recs, err := r.s.List(ctx, tenantID, Filter{WithFeedback: true})
	if err != nil {
		return nil, err
	}
	var out []dataset.Interaction
	for _, rec := range recs {
		in := dataset.Interaction{ResponseID: rec.ResponseID, Output: rec.Output}
		for _, m := range rec.Messages {
			in.Messages = append(in.Messages, dataset.Message{Role: m.Role, Content: m.Content})
		}
		for _, fb := range rec.Feedback {
			in.Thumb = fb.Thumb
		}
		out = append(out, in)
	}
	return out, nil
}

var sealTopics = []string{"the rainy season in Nairobi", "how to plant maize", "a story about a brave girl",
	"fixing a bicycle chain", "the history of the Swahili coast", "cooking ugali", "why the sky is blue"}

// captureRated saves and thumbs up one interaction per topic, each holding
// the marker word.
func captureRated(t *testing.T, f *fixture, ten tenant.Tenant) {
	t.Helper()
	ctx := context.Background()
	for i, topic := range sealTopics {
		id := fmt.Sprintf("%s-resp-%d", ten.ID, i)
		in := Interaction{ResponseID: id, Model: "m", Messages: []Message{
			{Role: "system", Content: "You are a " + marker + " assistant."},
			{Role: "user", Content: "Tell me about " + topic + ", please."}},
			Output: "Here is a careful answer about " + topic + ", with details for a curious reader."}
		if err := f.s.Save(ctx, ten, in); err != nil {
			t.Fatal(err)
		}
		if err := f.s.Feedback(ctx, ten.ID, Feedback{ResponseID: id, Thumb: 1}); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDatasetsSealedUnderTenantKey builds datasets from captured records
// with the capture store's Sealer: no plaintext reaches the database, and
// shredding one tenant's key leaves its dataset unreadable while the other
// tenant's stays readable.
func TestDatasetsSealedUnderTenantKey(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "KE")
	ds, err := dataset.Open(ctx, f.d, f.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	ds.SetSealer(f.s.Sealer())
	t1, t2 := tenantWith("t1", tenant.CaptureOn, "KE", 30), tenantWith("t2", tenant.CaptureOn, "KE", 30)
	for _, ten := range []tenant.Tenant{t1, t2} {
		captureRated(t, f, ten)
		v, err := ds.Build(ctx, recordSource{f.s}, ten.ID, "support", dataset.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(v.Train) + len(v.Eval); n != len(sealTopics) {
			t.Fatalf("%s: built %d examples, want %d", ten.ID, n, len(sealTopics))
		}
	}
	var sealed, plain int
	f.d.QueryRow(`SELECT count(*) FILTER (WHERE sealed = 1), count(*) FILTER (WHERE sealed = 0) FROM dataset_examples`).Scan(&sealed, &plain)
	if sealed != 2*len(sealTopics) || plain != 0 {
		t.Errorf("%d sealed and %d plain example rows; want %d sealed", sealed, plain, 2*len(sealTopics))
	}
	if bytes.Contains(rawFiles(t, f.dir), []byte(marker)) {
		t.Fatal("the marker is in the database files: something is stored in plaintext")
	}
	var out bytes.Buffer
	if n, err := ds.Export(ctx, "t1", "support", 0, "all", &out); err != nil || n != len(sealTopics) || !strings.Contains(out.String(), marker) {
		t.Fatalf("export before shredding = %d, %v", n, err)
	}

	if err := f.s.DeleteTenantKey(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	_, exportErr := ds.Export(ctx, "t1", "support", 0, "all", io.Discard)
	_, statsErr := ds.Stats(ctx, "t1", "support", 0)
	_, getErr := ds.Get(ctx, "t1", "support", 0)
	for name, err := range map[string]error{"export": exportErr, "stats": statsErr, "get": getErr} {
		if !errors.Is(err, ErrKeyDeleted) || !strings.Contains(err.Error(), "the tenant's data key has been deleted") {
			t.Errorf("%s after shredding: %v; want ErrKeyDeleted, said plainly", name, err)
		}
	}
	if bytes.Contains(rawFiles(t, f.dir), []byte(marker)) {
		t.Error("the marker is in the database files after shredding")
	}
	out.Reset()
	if n, err := ds.Export(ctx, "t2", "support", 0, "all", &out); err != nil || n != len(sealTopics) || !strings.Contains(out.String(), marker) {
		t.Errorf("the other tenant's export after t1 was shredded = %d, %v", n, err)
	}
	// t1's next dataset gets a new key and reads; the shredded one stays
	// unreadable. Sealing never creates a key (it runs in the dataset's
	// write transaction): EnsureKey does.
	if _, err := ds.Import(ctx, "t1", "fresh", strings.NewReader(`{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}`+"\n")); err == nil || !strings.Contains(err.Error(), "no live data key") {
		t.Errorf("import with no live key: %v; want an error naming EnsureKey", err)
	}
	if err := f.s.EnsureKey(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	if _, err := ds.Import(ctx, "t1", "fresh", strings.NewReader(`{"messages":[{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}`+"\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := ds.Get(ctx, "t1", "fresh", 0); err != nil {
		t.Errorf("t1's dataset sealed under its new key: %v", err)
	}
}

// TestSealerReadsLegacyRows: examples written before the store had a
// Sealer (plaintext, sealed = 0) still read once it has one.
func TestSealerReadsLegacyRows(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "KE")
	t1 := tenantWith("t1", tenant.CaptureOn, "KE", 30)
	captureRated(t, f, t1)
	old, err := dataset.Open(ctx, f.d, f.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Build(ctx, recordSource{f.s}, "t1", "legacy", dataset.Options{}); err != nil {
		t.Fatal(err)
	}
	ds, err := dataset.Open(ctx, f.d, f.clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	ds.SetSealer(f.s.Sealer())
	if _, err := ds.Build(ctx, recordSource{f.s}, "t1", "legacy", dataset.Options{}); err != nil {
		t.Fatal(err)
	}
	for v := 1; v <= 2; v++ {
		var out bytes.Buffer
		if n, err := ds.Export(ctx, "t1", "legacy", v, "all", &out); err != nil || n != len(sealTopics) || !strings.Contains(out.String(), marker) {
			t.Errorf("v%d (sealed: %v) = %d, %v", v, v == 2, n, err)
		}
	}
}

// TestSealerBadInput: damaged or foreign bytes get an error, not a panic
// or garbage.
func TestSealerBadInput(t *testing.T) {
	f := newFixture(t, "KE")
	x := f.s.Sealer()
	if err := f.s.EnsureKey(context.Background(), "t1"); err != nil {
		t.Fatal(err)
	}
	good, err := x.Seal("t1", []byte("text"), []byte("row 1"))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := x.Open("t1", good, []byte("row 1")); err != nil || string(got) != "text" {
		t.Fatalf("round trip = %q, %v", got, err)
	}
	flipped := bytes.Clone(good)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name, tenant string
		sealed, aad  []byte
		want         string
	}{
		{"empty", "t1", nil, []byte("row 1"), "empty"},
		{"unknown version", "t1", append([]byte{9}, good[1:]...), []byte("row 1"), "version 9"},
		{"truncated header", "t1", good[:3], []byte("row 1"), "malformed key id"},
		{"other row", "t1", good, []byte("row 2"), "does not open"},
		{"other tenant", "t2", good, []byte("row 1"), "deleted"},
		{"flipped bit", "t1", flipped, []byte("row 1"), "does not open"},
		{"short box", "t1", good[:len(good)-20], []byte("row 1"), "does not open"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := x.Open(tc.tenant, tc.sealed, tc.aad)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open = %q, %v; want an error saying %q", got, err, tc.want)
			}
		})
	}
	if _, err := x.Seal("", []byte("x"), nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("Seal with no tenant: %v", err)
	}
}
