package dataset

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestRemoveResponsesAlongLineage(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	set := newSynth(t)
	for i := 0; i < 2; i++ {
		if _, err := s.Build(ctx, Static(set.all), "tnt_a", "support", synthOptions); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Build(ctx, Static(set.all), "tnt_a", "swahili", Options{Languages: []string{"sw"}}); err != nil {
		t.Fatal(err)
	}
	// The same responses in another tenant must survive.
	if _, err := s.Build(ctx, Static(set.all), "tnt_b", "support", synthOptions); err != nil {
		t.Fatal(err)
	}
	// An imported version (no lineage) must survive too.
	var buf bytes.Buffer
	s.Export(ctx, "tnt_a", "support", 1, "all", &buf)
	if _, err := s.Import(ctx, "tnt_a", "support", &buf); err != nil {
		t.Fatal(err)
	}
	// Erase a user's responses: two English (in support v1, v2), one
	// Swahili (in all three datasets), one never kept, one unknown.
	gone := []string{"good-en-005", "corr-03", "good-sw-010", "bad-01", "no-such-response", ""}
	n, err := s.RemoveResponses(ctx, "tnt_a", gone)
	if err != nil {
		t.Fatal(err)
	}
	if n != 3+3+1 {
		t.Errorf("removed %d examples; want 7 (3 in each support build, 1 in swahili)", n)
	}
	for _, tc := range []struct {
		tenant, name string
		version      int
		removed      int
		size         int
	}{
		{"tnt_a", "support", 1, 3, 227},
		{"tnt_a", "support", 2, 3, 227},
		{"tnt_a", "support", 3, 0, 230}, // the import
		{"tnt_a", "swahili", 1, 1, 39},
		{"tnt_b", "support", 1, 0, 230},
	} {
		v, err := s.Get(ctx, tc.tenant, tc.name, tc.version)
		if err != nil {
			t.Fatal(err)
		}
		if v.Removed != tc.removed || len(v.Train)+len(v.Eval) != tc.size {
			t.Errorf("%s %s v%d: removed %d, %d examples; want %d, %d", tc.tenant, tc.name, tc.version, v.Removed, len(v.Train)+len(v.Eval), tc.removed, tc.size)
		}
		if tc.tenant == "tnt_a" {
			for _, id := range gone[:3] {
				if slices.Contains(v.Lineage, id) {
					t.Errorf("%s v%d still derives from %s", tc.name, tc.version, id)
				}
			}
		}
		var out bytes.Buffer
		s.Export(ctx, tc.tenant, tc.name, tc.version, "all", &out)
		if tc.tenant == "tnt_a" && tc.name == "support" && tc.version < 3 &&
			strings.Contains(out.String(), set.byID["corr-03"].Correction) {
			t.Errorf("%s v%d export still holds the erased correction", tc.name, tc.version)
		}
	}
	st, _ := s.Stats(ctx, "tnt_a", "support", 1)
	if st.Removed != 3 || st.Splits["all"].Examples != 227 {
		t.Errorf("stats after erasure: removed %d, %d examples", st.Removed, st.Splits["all"].Examples)
	}
	if n, err := s.RemoveResponses(ctx, "tnt_a", gone); n != 0 || err != nil {
		t.Errorf("second erasure: %d, %v; want 0", n, err)
	}
	if _, err := s.RemoveResponses(ctx, "", gone); !errors.Is(err, ErrInvalid) {
		t.Errorf("no tenant: %v; want ErrInvalid", err)
	}
}

func TestRemoveManyResponses(t *testing.T) {
	// More ids than one statement may bind.
	ctx := context.Background()
	s, _ := openStore(t)
	set := newSynth(t)
	if _, err := s.Build(ctx, Static(set.all), "tnt_a", "support", synthOptions); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, 0, 40000)
	for i := 0; i < 40000; i++ {
		ids = append(ids, "x"+itoa(i))
	}
	for id := range set.keep {
		ids = append(ids, id)
	}
	n, err := s.RemoveResponses(ctx, "tnt_a", ids)
	if err != nil || n != 230 {
		t.Errorf("removed %d, %v; want 230", n, err)
	}
}

func TestTenantIsolation(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	set := newSynth(t)
	if _, err := s.Build(ctx, Static(set.all), "tnt_a", "private", synthOptions); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Build(ctx, Static(set.all[:100]), "tnt_b", "own", synthOptions); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, "tnt_b", "private", 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("tenant b got a's dataset: %v", err)
	}
	if _, err := s.Export(ctx, "tnt_b", "private", 1, "all", &bytes.Buffer{}); !errors.Is(err, ErrNotFound) {
		t.Errorf("tenant b exported a's dataset: %v", err)
	}
	if _, err := s.Stats(ctx, "tnt_b", "private", 0); !errors.Is(err, ErrNotFound) {
		t.Errorf("tenant b read a's stats: %v", err)
	}
	lb, _ := s.List(ctx, "tnt_b")
	if len(lb) != 1 || lb[0].Name != "own" || lb[0].TenantID != "tnt_b" {
		t.Errorf("tenant b lists %+v; want only its own", lb)
	}
	// The same name in two tenants is two datasets with their own versions.
	v, err := s.Build(ctx, Static(set.all[:100]), "tnt_b", "private", synthOptions)
	if err != nil || v.Version != 1 {
		t.Errorf("tenant b's private: %v, %v; want its own version 1", v, err)
	}
	la, _ := s.List(ctx, "tnt_a")
	if len(la) != 1 || la[0].TrainCount+la[0].EvalCount != 230 {
		t.Errorf("tenant a lists %+v", la)
	}
}
