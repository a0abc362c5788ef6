package pii

import (
	"fmt"
	"sort"
	"strings"
	"testing"
)

type score struct{ tp, fp, fn int }

func (s score) precision() float64 {
	if s.tp+s.fp == 0 {
		return 1
	}
	return float64(s.tp) / float64(s.tp+s.fp)
}

func (s score) recall() float64 {
	if s.tp+s.fn == 0 {
		return 1
	}
	return float64(s.tp) / float64(s.tp+s.fn)
}

// evaluate scores detections against the labels: a detection counts only
// when its span and type both match a planted identifier exactly.
func evaluate(t *testing.T, s *Scrubber, set []Sample) (map[string]*score, score, []string) {
	per := map[string]*score{}
	get := func(typ string) *score {
		if per[typ] == nil {
			per[typ] = &score{}
		}
		return per[typ]
	}
	var all score
	var errs []string
	for _, smp := range set {
		want := map[[2]int]string{}
		for _, sp := range smp.Spans {
			want[[2]int{sp.Start, sp.End}] = sp.Type
		}
		got := map[[2]int]string{}
		for _, f := range s.Detect(smp.Text) {
			got[[2]int{f.Start, f.End}] = f.Type
		}
		for k, typ := range want {
			if got[k] == typ {
				get(typ).tp++
				all.tp++
			} else {
				get(typ).fn++
				all.fn++
				errs = append(errs, fmt.Sprintf("miss %s %q in sample %d (got %q)", typ, smp.Text[k[0]:k[1]], smp.ID, got[k]))
			}
		}
		for k, typ := range got {
			if want[k] != typ {
				get(typ).fp++
				all.fp++
				errs = append(errs, fmt.Sprintf("false %s %q in sample %d: %q", typ, smp.Text[k[0]:k[1]], smp.ID, smp.Text))
			}
		}
	}
	return per, all, errs
}

var structured = map[string]bool{TypeEmail: true, TypeCard: true, TypeIBAN: true, TypeIP: true, TypeAadhaar: true, TypeCPF: true, TypeZAID: true}

func TestPrecisionRecall(t *testing.T) {
	set := loadSet(t)
	if len(set) < 500 {
		t.Fatalf("labelled set has %d samples, want >= 500", len(set))
	}
	s := mustNew(t, Config{})
	per, all, errs := evaluate(t, s, set)
	var types []string
	for typ := range per {
		types = append(types, typ)
	}
	sort.Strings(types)
	var tab strings.Builder
	fmt.Fprintf(&tab, "\n%-14s %5s %4s %4s %9s %7s\n", "type", "TP", "FP", "FN", "precision", "recall")
	for _, typ := range types {
		sc := per[typ]
		fmt.Fprintf(&tab, "%-14s %5d %4d %4d %9.4f %7.4f\n", typ, sc.tp, sc.fp, sc.fn, sc.precision(), sc.recall())
	}
	fmt.Fprintf(&tab, "%-14s %5d %4d %4d %9.4f %7.4f\n", "overall", all.tp, all.fp, all.fn, all.precision(), all.recall())
	t.Log(tab.String())
	for i, e := range errs {
		if i == 40 {
			t.Logf("... %d more", len(errs)-40)
			break
		}
		t.Log(e)
	}
	for _, typ := range types {
		sc := per[typ]
		switch {
		case structured[typ] && sc.recall() < 0.99:
			t.Errorf("%s recall %.4f, want >= 0.99", typ, sc.recall())
		case typ == TypePhone && sc.recall() < 0.97:
			t.Errorf("%s recall %.4f, want >= 0.97", typ, sc.recall())
		}
	}
	if all.precision() < 0.95 {
		t.Errorf("overall precision %.4f, want >= 0.95", all.precision())
	}
	for _, typ := range AllTypes() {
		if per[typ] == nil || per[typ].tp+per[typ].fn == 0 {
			t.Errorf("no planted %s in the set", typ)
		}
	}
}

// TestNoLeaks checks that no planted identifier survives scrubbing, neither as
// written nor as its bare digits/characters.
func TestNoLeaks(t *testing.T) {
	s := mustNew(t, Config{})
	leaks := 0
	for _, smp := range loadSet(t) {
		out := s.Scrub(smp.Text).Text
		compactOut := strings.NewReplacer(" ", "", "-", "", ".", "", "(", "", ")", "", "/", "").Replace(out)
		for _, sp := range smp.Spans {
			compact := strings.NewReplacer(" ", "", "-", "", ".", "", "(", "", ")", "", "/", "").Replace(sp.Value)
			if strings.Contains(out, sp.Value) || (len(compact) >= 7 && strings.Contains(compactOut, compact)) {
				leaks++
				if leaks <= 20 {
					t.Errorf("sample %d: %s %q survives in %q", smp.ID, sp.Type, sp.Value, out)
				}
			}
		}
	}
	if leaks > 20 {
		t.Errorf("%d leaks in all", leaks)
	}
}
