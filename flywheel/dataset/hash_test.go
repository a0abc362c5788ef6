package dataset

import "testing"

func TestContentHash(t *testing.T) {
	ex := func(split, id, answer string) Example {
		return Example{Split: split, ResponseID: id, Messages: []Message{{Role: "user", Content: "q"}, {Role: "assistant", Content: answer}}}
	}
	base := Version{Train: []Example{ex(Train, "r1", "a"), ex(Train, "r2", "b")}, Eval: []Example{ex(Eval, "r3", "c")}}
	want := base.ContentHash()
	if len(want) != 64 {
		t.Fatalf("hash %q; want 64 hex digits", want)
	}
	same := Version{Name: "other", Version: 9, Train: base.Train, Eval: base.Eval}
	if got := same.ContentHash(); got != want {
		t.Errorf("same examples under another name hash %s; want %s", got, want)
	}
	for _, tc := range []struct {
		name string
		v    Version
	}{
		{"an example removed", Version{Train: base.Train[:1], Eval: base.Eval}},
		{"an answer changed", Version{Train: []Example{ex(Train, "r1", "a"), ex(Train, "r2", "B")}, Eval: base.Eval}},
		{"examples reordered", Version{Train: []Example{base.Train[1], base.Train[0]}, Eval: base.Eval}},
		{"lineage changed", Version{Train: []Example{ex(Train, "r1", "a"), ex(Train, "r9", "b")}, Eval: base.Eval}},
		{"split moved", Version{Train: base.Train, Eval: []Example{ex(Train, "r3", "c")}}},
		{"text moved between messages", Version{Train: []Example{{Split: Train, ResponseID: "r1", Messages: []Message{{Role: "user", Content: "qa"}, {Role: "assistant"}}}, base.Train[1]}, Eval: base.Eval}},
		{"empty", Version{}},
	} {
		if got := tc.v.ContentHash(); got == want {
			t.Errorf("%s: hash unchanged", tc.name)
		}
	}
}
