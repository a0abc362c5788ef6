package dataset

import (
	"context"
	"errors"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestBuildKeepsTheRightOnes(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	set := newSynth(t)
	if len(set.all) < 300 {
		t.Fatalf("synthetic set has %d interactions; want a few hundred", len(set.all))
	}
	v, err := s.Build(ctx, Static(set.all), "tnt_a", "support", synthOptions)
	if err != nil {
		t.Fatal(err)
	}
	if v.Report != set.want {
		t.Errorf("report\n got %+v\nwant %+v", v.Report, set.want)
	}
	if v.Version != 1 || v.Origin != OriginBuild || v.Options == nil || v.Options.MinRating != 4 || v.Options.NearDup != 0.8 || v.Options.EvalFraction != 0.1 {
		t.Errorf("version %d origin %s options %+v; want 1, build, resolved defaults", v.Version, v.Origin, v.Options)
	}
	got := map[string]Example{}
	for _, e := range append(append([]Example(nil), v.Train...), v.Eval...) {
		if _, dup := got[e.ResponseID]; dup {
			t.Errorf("response %s twice", e.ResponseID)
		}
		got[e.ResponseID] = e
	}
	if len(got) != len(set.keep) {
		t.Errorf("%d examples; want %d", len(got), len(set.keep))
	}
	for id := range set.keep {
		if _, ok := got[id]; !ok {
			t.Errorf("%s was dropped; want kept", id)
		}
	}
	for id := range got {
		if !set.keep[id] {
			t.Errorf("%s was kept; want dropped", id)
		}
	}
	// The originals of planted duplicates stay, the copies go.
	for dup, orig := range set.dupOf {
		if _, ok := got[orig]; !ok {
			t.Errorf("original %s of %s dropped", orig, dup)
		}
	}
	// Corrections replace the answer and count as good.
	for id, e := range got {
		in := set.byID[id]
		last := e.Messages[len(e.Messages)-1]
		wantAnswer := in.Output
		if strings.HasPrefix(id, "corr-") {
			wantAnswer = in.Correction
			if !e.Corrected || e.Rating > 2 {
				t.Errorf("%s: corrected %v rating %d; want corrected with its low rating kept", id, e.Corrected, e.Rating)
			}
		}
		if last.Role != "assistant" || last.Content != wantAnswer {
			t.Errorf("%s: last message %+v; want the assistant saying %.30q", id, last, wantAnswer)
		}
		if len(e.Messages) != len(in.Messages)+1 {
			t.Errorf("%s: %d messages; want the prompt's %d and the answer", id, len(e.Messages), len(in.Messages))
		}
		if e.Lang != set.langOf[id] {
			t.Errorf("%s: language %s; want %s", id, e.Lang, set.langOf[id])
		}
	}
	// Lineage is every kept response id.
	var wantLineage []string
	for id := range set.keep {
		wantLineage = append(wantLineage, id)
	}
	slices.Sort(wantLineage)
	if !slices.Equal(v.Lineage, wantLineage) {
		t.Errorf("lineage has %d ids; want the %d kept", len(v.Lineage), len(wantLineage))
	}
	// The split is near EvalFraction.
	frac := float64(len(v.Eval)) / float64(len(got))
	if math.Abs(frac-0.1) > 0.05 {
		t.Errorf("eval fraction %.3f (%d of %d); want about 0.1", frac, len(v.Eval), len(got))
	}
	if v.TrainCount != len(v.Train) || v.EvalCount != len(v.Eval) {
		t.Errorf("counts %d/%d; want %d/%d", v.TrainCount, v.EvalCount, len(v.Train), len(v.Eval))
	}
}

func TestBuildFilters(t *testing.T) {
	set := newSynth(t)
	tests := []struct {
		name    string
		opts    Options
		kept    int
		check   func(r Report) bool
		explain string
	}{
		{"swahili only", Options{MinChars: 40, MaxChars: 2000, Languages: []string{"sw"}}, set.wantLang["sw"],
			func(r Report) bool { return r.WrongLanguage == set.want.Kept-set.wantLang["sw"]+25 },
			"wrong language counts every other kept one and the 25 duplicates"},
		{"french and german", Options{MinChars: 40, MaxChars: 2000, Languages: []string{"fr", "DE"}}, set.wantLang["fr"] + set.wantLang["de"],
			func(r Report) bool { return r.Kept == set.wantLang["fr"]+set.wantLang["de"] }, ""},
		{"neutral kept at min rating 3", Options{MinChars: 40, MaxChars: 2000, MinRating: 3}, 240,
			func(r Report) bool { return r.LowRating == 40 }, "only the 40 bad ones are too low"},
		{"no length bounds", Options{}, 236,
			func(r Report) bool { return r.TooShort == 0 && r.TooLong == 0 && r.ExactDuplicates == 14 },
			"the 5 short ones collapse to 1 (exact copies), the 5 long ones stay"},
		{"exact only", Options{MinChars: 40, MaxChars: 2000, NearDup: 1}, 245,
			func(r Report) bool { return r.NearDuplicates == 0 && r.ExactDuplicates == 10 },
			"at threshold 1 the paraphrases stay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts, err := tt.opts.resolve()
			if err != nil {
				t.Fatal(err)
			}
			examples, r := assemble(set.all, opts)
			if len(examples) != tt.kept || r.Kept != tt.kept || !tt.check(r) {
				t.Errorf("kept %d, report %+v; want %d kept (%s)", len(examples), r, tt.kept, tt.explain)
			}
		})
	}
}

func TestBuildEmptyAndInvalid(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	unrated := Static{{ResponseID: "r1", Messages: []Message{{"user", "hello there friend"}}, Output: "hi, how are you today?"}}
	_, err := s.Build(ctx, unrated, "tnt_a", "d", Options{})
	if !errors.Is(err, ErrEmpty) || !strings.Contains(err.Error(), "1 unrated") {
		t.Errorf("build of nothing good: %v; want ErrEmpty saying why", err)
	}
	if l, _ := s.List(ctx, "tnt_a"); len(l) != 0 {
		t.Errorf("a failed build left %d versions", len(l))
	}
	for _, tt := range []struct {
		name, tenant, ds string
		opts             Options
	}{
		{"min rating", "t", "d", Options{MinRating: 6}},
		{"negative min chars", "t", "d", Options{MinChars: -1}},
		{"min above max", "t", "d", Options{MinChars: 50, MaxChars: 10}},
		{"near dup above 1", "t", "d", Options{NearDup: 1.5}},
		{"near dup NaN", "t", "d", Options{NearDup: math.NaN()}},
		{"eval fraction 1", "t", "d", Options{EvalFraction: 1}},
		{"negative eval", "t", "d", Options{EvalFraction: -0.1}},
		{"unknown language", "t", "d", Options{Languages: []string{"xx"}}},
		{"no tenant", "", "d", Options{}},
		{"bad name", "t", "../etc", Options{}},
		{"empty name", "t", "", Options{}},
	} {
		if _, err := s.Build(ctx, unrated, tt.tenant, tt.ds, tt.opts); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v; want ErrInvalid", tt.name, err)
		}
	}
	if _, err := s.Build(ctx, nil, "t", "d", Options{}); !errors.Is(err, ErrInvalid) {
		t.Errorf("nil source: %v; want ErrInvalid", err)
	}
}

func TestSplitDeterministic(t *testing.T) {
	const n = 20000
	eval := 0
	for i := 0; i < n; i++ {
		id := "resp_" + itoa(i)
		a, b := splitOf(id, 42, 0.1), splitOf(id, 42, 0.1)
		if a != b {
			t.Fatalf("%s split %s then %s", id, a, b)
		}
		if a == Eval {
			eval++
		}
	}
	if frac := float64(eval) / n; math.Abs(frac-0.1) > 0.006 {
		t.Errorf("eval fraction %.4f over %d ids; want 0.1 +- 0.006", frac, n)
	}
	// Another seed gives another split.
	moved := 0
	for i := 0; i < 2000; i++ {
		if splitOf(itoa(i), 1, 0.5) != splitOf(itoa(i), 2, 0.5) {
			moved++
		}
	}
	if moved < 800 || moved > 1200 {
		t.Errorf("%d of 2000 changed split with the seed; want about half", moved)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestVersionsAndStableSplit(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	set := newSynth(t)
	v1, err := s.Build(ctx, Static(set.all), "tnt_a", "support", synthOptions)
	if err != nil {
		t.Fatal(err)
	}
	// More data arrives; the second build keeps old responses in their split.
	more := append(Static(nil), set.all...)
	more = append(more, Interaction{ResponseID: "late-1", Messages: []Message{{"user", "What time does the clinic open on Saturdays and holidays?"}},
		Output: "On Saturdays the clinic opens at nine and closes at one; it is closed on public holidays.", Thumb: 1})
	v2, err := s.Build(ctx, more, "tnt_a", "support", synthOptions)
	if err != nil {
		t.Fatal(err)
	}
	if v1.Version != 1 || v2.Version != 2 {
		t.Fatalf("versions %d, %d; want 1, 2", v1.Version, v2.Version)
	}
	if len(v2.Lineage) != len(v1.Lineage)+1 {
		t.Errorf("v2 lineage %d; want v1's %d + 1", len(v2.Lineage), len(v1.Lineage))
	}
	split1 := map[string]string{}
	for _, e := range append(v1.Train, v1.Eval...) {
		split1[e.ResponseID] = e.Split
	}
	for _, e := range append(v2.Train, v2.Eval...) {
		if old, ok := split1[e.ResponseID]; ok && old != e.Split {
			t.Errorf("%s moved from %s to %s between versions", e.ResponseID, old, e.Split)
		}
	}
	// Another seed moves some.
	v3, err := s.Build(ctx, Static(set.all), "tnt_a", "support", Options{MinChars: 40, MaxChars: 2000, Seed: 99})
	if err != nil {
		t.Fatal(err)
	}
	if v3.Version != 3 || v3.Options.Seed != 99 {
		t.Errorf("v3: version %d seed %d", v3.Version, v3.Options.Seed)
	}
	same := true
	for _, e := range v3.Eval {
		if split1[e.ResponseID] != Eval {
			same = false
		}
	}
	if same {
		t.Error("seed 99 gave the same eval split as seed 0")
	}
	list, err := s.List(ctx, "tnt_a")
	if err != nil || len(list) != 3 || list[2].Version != 3 || list[0].TrainCount+list[0].EvalCount != 230 {
		t.Errorf("list: %+v, %v", list, err)
	}
	got, err := s.Get(ctx, "tnt_a", "support", 0)
	if err != nil || got.Version != 3 {
		t.Errorf("latest: %v, %v; want version 3", got, err)
	}
	if _, err := s.Get(ctx, "tnt_a", "support", 4); !errors.Is(err, ErrNotFound) {
		t.Errorf("version 4: %v; want ErrNotFound", err)
	}
}
