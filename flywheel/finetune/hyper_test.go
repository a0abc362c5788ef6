package finetune

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestHyperDefaults(t *testing.T) {
	h := Hyper{}.WithDefaults()
	want := Hyper{Rank: 16, Alpha: 32, Targets: []string{"q", "k", "v", "o"}, Epochs: 3, LR: 2e-4, Batch: 4, Seq: 512, Clip: 1, CheckpointEvery: 50}
	if !slices.Equal(h.Targets, want.Targets) {
		t.Errorf("targets %v", h.Targets)
	}
	h.Targets, want.Targets = nil, nil
	if !reflect.DeepEqual(h, want) {
		t.Errorf("defaults %+v\nwant %+v", h, want)
	}
	// Set fields are kept, and the defaults' slice is not shared.
	g := Hyper{Rank: 8, Targets: []string{"down"}, Clip: -1}.WithDefaults()
	if g.Rank != 8 || !slices.Equal(g.Targets, []string{"down"}) || g.Clip != -1 {
		t.Errorf("%+v", g)
	}
	d := Hyper{}.WithDefaults()
	d.Targets[0] = "x"
	if DefaultTargets[0] != "q" {
		t.Error("WithDefaults shares DefaultTargets")
	}
	if c := (Hyper{Clip: -1}).WithDefaults().trainConfig(10); c.Clip != 0 || c.Steps != 10 || c.MinLR != DefaultLR/10 {
		t.Errorf("train config %+v", c)
	}
}

func TestHyperValidate(t *testing.T) {
	for _, tc := range []struct {
		h    Hyper
		want string // "" for valid
	}{
		{Hyper{}, ""},
		{Hyper{Targets: Kinds}, ""},
		{Hyper{Rank: -1}, "rank -1"},
		{Hyper{Rank: maxRank + 1}, "rank 4097"},
		{Hyper{Alpha: -2}, "alpha -2"},
		{Hyper{Dropout: 0.5}, ""},
		{Hyper{Dropout: -0.1}, "dropout"},
		{Hyper{Epochs: -1}, "epochs -1"},
		{Hyper{LR: 2}, "lr 2"},
		{Hyper{Batch: -3}, "batch -3"},
		{Hyper{Seq: 1}, "seq 1"},
		{Hyper{Warmup: -1}, "warmup -1"},
		{Hyper{WeightDecay: -1}, "weight_decay -1"},
		{Hyper{Targets: []string{"attn"}}, `target "attn"`},
		{Hyper{Targets: []string{"up", "up"}}, `target "up" given twice`},
	} {
		err := tc.h.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.h, err, tc.want)
		}
	}
}
