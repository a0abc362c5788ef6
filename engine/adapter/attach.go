package adapter

import (
	"fmt"

	"github.com/hearth-ai/hearth/engine/model"
)

// Use is an adapter to attach with the user's scale for it: 1 for
// llama.cpp's --lora, the given SCALE for --lora-scaled (0 turns it off).
type Use struct {
	*Adapter
	Scale float32
}

// Attach returns a model that shares base's weights and adds the adapters'
// updates to its projections; base itself is unchanged. Updates of several
// adapters on one projection add up, as in llama.cpp. Each adapter must be
// for base's architecture, and each of its tensors for a projection base
// has, of the same shape.
func Attach(base *model.Transformer, uses ...Use) (*model.Transformer, error) {
	set, err := merge(base, uses)
	if err != nil {
		return nil, err
	}
	m, err := base.WithLoRA(set)
	if err != nil {
		return nil, fmt.Errorf("adapter: attach: %w", err)
	}
	return m, nil
}

// Build checks the adapters against base as Attach does and returns their
// updates, added up, as a model.Adapter: what one sequence of a batch runs
// with (model.Seq.Adapter) while the others run with theirs, over the same
// base weights.
func Build(base *model.Transformer, uses ...Use) (*model.Adapter, error) {
	set, err := merge(base, uses)
	if err != nil {
		return nil, err
	}
	a, err := base.NewAdapter(set)
	if err != nil {
		return nil, fmt.Errorf("adapter: build: %w", err)
	}
	return a, nil
}

// merge checks uses against base and returns their scaled updates by base
// weight name, several on one projection summed into one.
func merge(base *model.Transformer, uses []Use) (map[string]*model.LoRA, error) {
	projections := map[string]*model.Linear{}
	for _, p := range base.Projections() {
		projections[p.Name] = p.Linear
	}
	// Base weights that exist but that Hearth does not adapt.
	other := map[string]bool{}
	if base.Embed != nil {
		other[base.Embed.Name] = true
	}
	if base.Output != nil {
		other[base.Output.Name] = true
	}

	parts := map[string][]*model.LoRA{}
	for _, u := range uses {
		a := u.Adapter
		if a == nil {
			return nil, fmt.Errorf("adapter: attach: nil adapter")
		}
		if a.Arch != base.Arch {
			return nil, fmt.Errorf("adapter: %s: %w: adapter for architecture %q, base is %q", a.Source, ErrMismatch, a.Arch, base.Arch)
		}
		if u.Scale-u.Scale != 0 { // NaN or infinite, as nonFinite tests
			return nil, fmt.Errorf("adapter: %s: scale %v", a.Source, u.Scale)
		}
		for _, name := range sortedNames(a.LoRA) {
			l := a.LoRA[name]
			lin, ok := projections[name]
			switch {
			case !ok && other[name]:
				return nil, fmt.Errorf("adapter: %s: tensor %s%s: LoRA on %s is not supported (Hearth adapts the block projections only)", a.Source, name, suffixA, name)
			case !ok:
				return nil, fmt.Errorf("adapter: %s: tensor %s%s: %w: the base has no weight %s", a.Source, name, suffixA, ErrMismatch, name)
			}
			in, out := lin.W.Cols, lin.W.Rows
			if l.Rank <= 0 || len(l.A) != l.Rank*in || len(l.B) != out*l.Rank {
				return nil, fmt.Errorf("adapter: %s: tensors %s: %w: lora_a [%d, %d] and lora_b [%d, %d], the base weight is [%d, %d]",
					a.Source, name, ErrMismatch, len(l.A)/max(l.Rank, 1), l.Rank, l.Rank, len(l.B)/max(l.Rank, 1), in, out)
			}
			if u.Scale == 0 {
				continue
			}
			s := *l
			s.Scale *= u.Scale
			parts[name] = append(parts[name], &s)
		}
	}
	set := make(map[string]*model.LoRA, len(parts))
	for name, ls := range parts {
		set[name] = sum(ls, projections[name].W.Cols)
	}
	return set, nil
}

// sum merges updates of one projection into one of the summed rank:
// sum_i s_i B_i (A_i x) = [B_1 ... B_n] ([s_1 A_1; ...; s_n A_n] x). One
// update is returned as it is.
func sum(ls []*model.LoRA, in int) *model.LoRA {
	if len(ls) == 1 {
		return ls[0]
	}
	rank := 0
	for _, l := range ls {
		rank += l.Rank
	}
	out := len(ls[0].B) / ls[0].Rank
	m := &model.LoRA{Rank: rank, Scale: 1, A: make([]float32, 0, rank*in), B: make([]float32, out*rank)}
	col := 0
	for _, l := range ls {
		for _, v := range l.A {
			m.A = append(m.A, l.Scale*v)
		}
		for o := 0; o < out; o++ {
			copy(m.B[o*rank+col:], l.B[o*l.Rank:(o+1)*l.Rank])
		}
		col += l.Rank
	}
	return m
}

// Resolver finds the adapter a name stands for: a file path, or a name a
// registry keeps (NAME[@VERSION]).
type Resolver interface {
	Resolve(name string) (*Adapter, error)
}

// Files is the Resolver that reads every name as a file path.
type Files struct{}

// Resolve reads the adapter file name.
func (Files) Resolve(name string) (*Adapter, error) { return Read(name) }
