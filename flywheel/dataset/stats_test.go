package dataset

import (
	"context"
	"testing"
)

func TestStats(t *testing.T) {
	ctx := context.Background()
	s, _ := openStore(t)
	set := newSynth(t)
	v, err := s.Build(ctx, Static(set.all), "tnt_a", "support", synthOptions)
	if err != nil {
		t.Fatal(err)
	}
	st, err := s.Stats(ctx, "tnt_a", "support", 0)
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != 1 || st.Splits[Train].Examples != len(v.Train) || st.Splits[Eval].Examples != len(v.Eval) || st.Splits["all"].Examples != 230 {
		t.Errorf("splits %+v; want %d train, %d eval", st.Splits, len(v.Train), len(v.Eval))
	}
	lo, hi, sum := 1<<30, 0, 0
	ratings := map[string]int{}
	for _, e := range append(v.Train, v.Eval...) {
		lo, hi, sum = min(lo, e.Chars), max(hi, e.Chars), sum+e.Chars
		ratings[itoa(e.Rating)]++
	}
	all := st.Splits["all"]
	if all.MinChars != lo || all.MaxChars != hi || all.AvgChars != float64(sum)/230 || lo < 40 || hi > 2000 {
		t.Errorf("chars %+v; want min %d max %d avg %.1f within [40, 2000]", all, lo, hi, float64(sum)/230)
	}
	for lang, n := range set.wantLang {
		if st.Languages[lang] != n {
			t.Errorf("%s: %d examples; want %d", lang, st.Languages[lang], n)
		}
	}
	if st.Corrected != 20 || st.Ratings["unrated"] != 0 || st.Ratings["5"]+st.Ratings["4"] != 210 || st.Ratings["1"]+st.Ratings["2"] != 20 {
		t.Errorf("ratings %v, corrected %d; want 210 at 4-5, the 20 corrected at 1-2", st.Ratings, st.Corrected)
	}
	if st.Report.ExactDuplicates != 10 || st.Report.NearDuplicates != 15 || st.Report.LowRating != 50 {
		t.Errorf("report %+v", st.Report)
	}
}
