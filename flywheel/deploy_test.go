package flywheel

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/hearth-ai/hearth/flywheel/dataset"
	"github.com/hearth-ai/hearth/flywheel/registry"
	"github.com/hearth-ai/hearth/flywheel/rollout"
)

// TestVersionsResolve: a rollout's candidate is one of the tenant's
// active adapters for the deployment's base. A retired version (which
// the registry still hands out by NAME@VERSION) is refused as unknown:
// serving refuses it, so deployed, its arm would answer 404.
func TestVersionsResolve(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.capture(t, 4, nil)
	dv := f.build(t)
	examples := append(append([]dataset.Example{}, dv.Train...), dv.Eval...)
	for _, name := range []string{"support", "old"} {
		tr := Trained{Name: name, Adapter: trainAdapter(t, examples, 1), Base: registry.Base{Name: "stories260k"}, BasePath: stories,
			Dataset: registry.DatasetRef{Name: dv.Name, Version: dv.Version, Hash: dv.ContentHash()}, Threads: 1}
		if _, _, err := f.s.RegisterAdapter(ctx, f.ten, tr); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.s.Adapters.Retire(ctx, f.ten.ID, "old", 1); err != nil {
		t.Fatal(err)
	}
	v := &Versions{Stores: f.s, BasePath: func(name string) (string, error) {
		if name == "stories260k" {
			return stories, nil
		}
		return "", fmt.Errorf("no model %q", name)
	}}
	for _, c := range []struct {
		name, want string
		err        error
	}{
		{"stories260k:support", "stories260k:support@1", nil},
		{"stories260k:support@1", "stories260k:support@1", nil},
		{"stories260k", "stories260k", nil},
		{"stories260k:old@1", "", registry.ErrNotFound},
		{"stories260k:old", "", registry.ErrNotFound},
		{"stories260k:support@2", "", registry.ErrNotFound},
		{"stories260k:nosuch", "", registry.ErrNotFound},
		{"other:support", "", rollout.ErrInvalid},
	} {
		got, err := v.Resolve(ctx, f.ten.ID, "stories260k", c.name)
		if got != c.want || (c.err == nil) != (err == nil) || (c.err != nil && !errors.Is(err, c.err)) {
			t.Errorf("Resolve(%s) = %q, %v; want %q, %v", c.name, got, err, c.want, c.err)
		}
	}
}
