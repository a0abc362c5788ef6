package flywheel

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/engine/adapter"
	"github.com/hearth-ai/hearth/flywheel/dataset"
	"github.com/hearth-ai/hearth/flywheel/finetune"
	"github.com/hearth-ai/hearth/flywheel/registry"
)

const stories = "../../shared/testdata/models/stories260K.gguf"

// trainAdapter trains a small adapter of stories260K on examples, its
// LoRA initialisation and data order seeded by seed.
func trainAdapter(t *testing.T, examples []dataset.Example, seed uint64) string {
	t.Helper()
	res, err := finetune.Run(context.Background(), finetune.Spec{BasePath: stories, Train: examples, Threads: 1, Dir: t.TempDir(),
		Hyper: finetune.Hyper{Rank: 2, Epochs: 1, Batch: 2, Seq: 128, LR: 1e-2, Seed: seed}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res.Adapter
}

// withArch writes a copy of the adapter in path claiming another
// architecture.
func withArch(t *testing.T, path, arch string) string {
	t.Helper()
	a, err := adapter.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	a.Arch = arch
	out := filepath.Join(t.TempDir(), arch+".gguf")
	if err := a.WriteFile(out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestRegisterAdapter(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.capture(t, 4, nil)
	dv := f.build(t)
	examples := append(append([]dataset.Example{}, dv.Train...), dv.Eval...)
	tr := Trained{Name: "support", Adapter: trainAdapter(t, examples, 1), Base: registry.Base{Name: "stories260k"}, BasePath: stories,
		Dataset: registry.DatasetRef{Name: dv.Name, Version: dv.Version, Hash: dv.ContentHash()}, Eval: examples[:2],
		Hyper: map[string]int{"rank": 2}, Metrics: Metrics{Steps: 3, Tokens: 300, TrainLoss: 2.5}, Threads: 1}
	v, rep, err := f.s.RegisterAdapter(ctx, f.ten, tr)
	if err != nil {
		t.Fatal(err)
	}
	want, err := registry.BaseOf("stories260k", stories)
	if err != nil {
		t.Fatal(err)
	}
	if v.Ref() != "support@1" || v.Base != want || v.Base.Arch != "llama" || v.Dataset.Hash != dv.ContentHash() || v.ErasedData {
		t.Errorf("registered %+v; want support@1 on %+v, dataset hash %s", v, want, dv.ContentHash())
	}
	if string(v.Hyper) != `{"rank":2}` {
		t.Errorf("hyper-parameters %s", v.Hyper)
	}
	if rep == nil || rep.Adapter == nil || rep.Examples != 2 || rep.Base.Loss == rep.Adapter.Loss {
		t.Fatalf("report %+v: want base and adapter, apart, on 2 examples", rep)
	}
	var m Metrics
	if err := json.Unmarshal(v.Metrics, &m); err != nil {
		t.Fatal(err)
	}
	if m.Steps != 3 || m.Tokens != 300 || m.TrainLoss != 2.5 || m.Eval == nil || m.Eval.Examples != 2 ||
		m.Eval.Base.Loss != rep.Base.Loss || m.Eval.Adapter.Loss != rep.Adapter.Loss || m.Eval.Adapter.Label != "adapter" {
		t.Errorf("metrics %s; report base %+v adapter %+v", v.Metrics, rep.Base, *rep.Adapter)
	}
	// The version resolves for its base, and for no other.
	a, got, err := f.s.Adapters.Adapter(ctx, f.ten.ID, "support", want)
	if err != nil || got.Version != 1 || a.Arch != "llama" || len(a.LoRA) == 0 {
		t.Errorf("Adapter(support) = %v, %+v, %v", a, got, err)
	}
	other := want
	other.Digest = strings.Repeat("0", 64)
	if _, _, err := f.s.Adapters.Adapter(ctx, f.ten.ID, "support@1", other); !errors.Is(err, registry.ErrBaseMismatch) {
		t.Errorf("Adapter for another base: %v, want ErrBaseMismatch", err)
	}
	// An erasure of one of the examples marks it along the dataset's lineage.
	if _, err := f.s.Capture.EraseResponse(ctx, f.ten.ID, dv.Lineage[0]); err != nil {
		t.Fatal(err)
	}
	if v, err := f.s.Adapters.Get(ctx, f.ten.ID, "support", 1); err != nil || !v.ErasedData {
		t.Errorf("after an erasure: %+v, %v; want ErasedData", v, err)
	}
	// The same file again (a command run again) is the version registered.
	again, rep, err := f.s.RegisterAdapter(ctx, f.ten, tr)
	if err != nil || rep != nil || again.Ref() != "support@1" {
		t.Errorf("registering the same adapter again: %+v, %v, %v; want support@1 and no evaluation", again, rep, err)
	}
	// Without eval examples there is no evaluation, and the given digest is
	// taken as it is.
	tr.Adapter, tr.Eval, tr.Base.Digest = trainAdapter(t, examples, 2), nil, "sha256:"+want.Digest
	v, rep, err = f.s.RegisterAdapter(ctx, f.ten, tr)
	if err != nil || rep != nil || v.Version != 2 || v.Base.Digest != want.Digest || strings.Contains(string(v.Metrics), `"eval"`) {
		t.Errorf("without eval examples: %+v, %v, %v", v, rep, err)
	}
}

// A run whose adapter cannot be registered leaves nothing registered.
func TestRegisterAdapterRefusals(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.capture(t, 4, nil)
	dv := f.build(t)
	trained := trainAdapter(t, dv.Train, 1)
	good := Trained{Name: "support", Adapter: trained, Base: registry.Base{Name: "stories260k"}, BasePath: stories,
		Dataset: registry.DatasetRef{Name: dv.Name, Version: dv.Version}, Eval: dv.Train[:1], Threads: 1}
	emptyFile := filepath.Join(t.TempDir(), "empty.gguf")
	if err := os.WriteFile(emptyFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*Trained)
		want string
	}{
		{"no name", func(tr *Trained) { tr.Name = "" }, "name"},
		{"bad name", func(tr *Trained) { tr.Name = "a/b" }, "adapter name"},
		{"missing adapter", func(tr *Trained) { tr.Adapter = "/nonexistent/adapter.gguf" }, "no such file"},
		{"empty adapter", func(tr *Trained) { tr.Adapter = emptyFile }, "empty.gguf"},
		{"a base model as the adapter", func(tr *Trained) { tr.Adapter = stories }, "not an adapter"},
		{"another architecture", func(tr *Trained) { tr.Adapter = withArch(t, trained, "qwen2") }, "qwen2"},
		{"missing base", func(tr *Trained) { tr.BasePath = "/nonexistent/base.gguf" }, "base.gguf"},
		{"bad digest", func(tr *Trained) { tr.Base.Digest, tr.Base.Arch = "sha256:beef", "llama" }, "digest"},
		{"an eval example without an answer", func(tr *Trained) {
			tr.Eval = []dataset.Example{{Messages: []dataset.Message{{Role: "user", Content: "hi"}}}}
		}, "evaluation"},
		{"no such dataset", func(tr *Trained) { tr.Dataset.Version = 9 }, "dataset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := good
			tc.edit(&tr)
			_, _, err := f.s.RegisterAdapter(ctx, f.ten, tr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v; want one mentioning %q", err, tc.want)
			}
			if vs, err := f.s.Adapters.List(ctx, f.ten.ID); err != nil || len(vs) != 0 {
				t.Errorf("registered %d versions (%v) after a failure", len(vs), err)
			}
		})
	}
}
