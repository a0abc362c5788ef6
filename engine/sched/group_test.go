package sched

import (
	"testing"

	"github.com/hearth-ai/hearth/engine/model"
)

func TestGroupByAdapter(t *testing.T) {
	a, b, c := new(model.Adapter), new(model.Adapter), new(model.Adapter)
	names := map[*model.Adapter]string{nil: "-", a: "a", b: "b", c: "c"}
	for _, tc := range []struct {
		in   []*model.Adapter
		want string
	}{
		{nil, ""},
		{[]*model.Adapter{a}, "a0"},
		{[]*model.Adapter{a, b, a, nil, b, a, c, nil}, "a0a2a5b1b4-3-7c6"},
		{[]*model.Adapter{nil, a, nil, a}, "-0-2a1a3"},
		{[]*model.Adapter{a, a, b, b}, "a0a1b2b3"},
	} {
		es := make([]entry, len(tc.in))
		for i, ad := range tc.in {
			// The request's identity rides along in its prompt position.
			es[i] = entry{r: &request{prefilled: i}, seq: model.Seq{Adapter: ad}}
		}
		groupByAdapter(es)
		got := ""
		for _, e := range es {
			got += names[e.seq.Adapter] + string(rune('0'+e.r.prefilled))
		}
		if got != tc.want {
			t.Errorf("groupByAdapter(%v) = %s; want %s", tc.in, got, tc.want)
		}
	}
}
