package finetune

import (
	"fmt"
	"io"

	"github.com/hearth-ai/hearth/engine/adapter"
	"github.com/hearth-ai/hearth/engine/model"
	"github.com/hearth-ai/hearth/internal/atomicfile"
)

// writeAdapter writes the trained updates as a llama.cpp LoRA adapter of
// net's architecture, atomically and readable by its owner alone (engine/adapter's encoding), so a file at
// path is always a whole adapter. Every update must be of a projection of
// the base.
func writeAdapter(path string, net *model.Transformer, alpha float64, set map[string]*model.LoRA) error {
	n := 0
	for _, p := range net.Projections() {
		if set[p.Name] != nil {
			n++
		}
	}
	if n != len(set) {
		return fmt.Errorf("finetune: %d of the %d trained updates match no projection of the base", len(set)-n, len(set))
	}
	a := &adapter.Adapter{Arch: net.Arch, Alpha: float32(alpha), LoRA: set}
	// Owner-only: an adapter trained on a tenant's data is that data.
	return atomicfile.WriteFunc(path, 0o600, func(w io.Writer) error {
		if err := a.Write(w); err != nil {
			return fmt.Errorf("finetune: %w", err)
		}
		return nil
	})
}
