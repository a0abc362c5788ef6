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
		lead *model.Adapter
		want string
	}{
		{nil, nil, ""},
		{nil, a, ""},
		{[]*model.Adapter{a}, nil, "a0"},
		{[]*model.Adapter{a, b, a, nil, b, a, c, nil}, nil, "a0a2a5b1b4-3-7c6"},
		{[]*model.Adapter{nil, a, nil, a}, nil, "-0-2a1a3"},
		{[]*model.Adapter{a, a, b, b}, nil, "a0a1b2b3"},
		{[]*model.Adapter{a, b, nil, b, c}, b, "b1b3a0-2c4"},
		{[]*model.Adapter{a, nil}, c, "a0-1"},
	} {
		es := make([]entry, len(tc.in))
		for i, ad := range tc.in {
			// The request's identity rides along in its prompt position.
			es[i] = entry{r: &request{prefilled: i}, seq: model.Seq{Adapter: ad}}
		}
		groupByAdapter(es, tc.lead)
		got := ""
		for _, e := range es {
			got += names[e.seq.Adapter] + string(rune('0'+e.r.prefilled))
		}
		if got != tc.want {
			t.Errorf("groupByAdapter(%v, %v) = %s; want %s", tc.in, names[tc.lead], got, tc.want)
		}
	}
}
