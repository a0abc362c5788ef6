package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/engine/adapter"
	"github.com/hearth-ai/hearth/engine/model"
	"github.com/hearth-ai/hearth/flywheel/eval"
)

// From a dataset to an adapter in use, through the commands alone: train
// registers it, adapters list shows its lineage and metrics, export
// writes the file engine/adapter reads, generate and eval find it by its
// NAME@VERSION, and a base it was not trained on is refused.
func TestTrainedAdapterCLI(t *testing.T) {
	dir, stories := countingDir(t)

	train := []string{"train", "--base", "stories260k", "--dataset", "counting", "--tenant", "kra", "--name", "counter",
		"--rank", "2", "--epochs", "2", "--batch", "2", "--seq", "160", "--lr", "0.01", "-t", "1"}
	out, _ := mustRun(t, dir, train...)
	if !strings.Contains(out, "\nregistered: counter@1\nadapter: ") {
		t.Fatalf("train stdout %q: want the registered NAME@VERSION", out)
	}
	runAdapter := strings.TrimSpace(out[strings.Index(out, "adapter: ")+len("adapter: "):])
	// The same command again finds the finished run, and the version it
	// registered.
	if again, _ := mustRun(t, dir, train...); !strings.Contains(again, "registered: counter@1\n") {
		t.Errorf("train again: %q, want counter@1 again", again)
	}

	out, _ = mustRun(t, dir, "adapters", "list", "--tenant", "kra", "--json")
	var list []struct {
		Name    string
		Version int
		Base    struct{ Name, Digest, Arch string }
		Dataset struct {
			Name    string
			Version int
			Hash    string
		}
		Hyper   map[string]any
		Metrics map[string]any
		State   string
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 1 {
		t.Fatalf("adapters list --json: %v\n%s", err, out)
	}
	base, err := os.ReadFile(stories)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(base)
	v := list[0]
	if v.Name != "counter" || v.Version != 1 || v.State != "active" ||
		v.Base.Name != "stories260k" || v.Base.Digest != hex.EncodeToString(sum[:]) || v.Base.Arch != "llama" ||
		v.Dataset.Name != "counting" || v.Dataset.Version != 1 || len(v.Dataset.Hash) != 64 {
		t.Errorf("adapters list: %+v", v)
	}
	if v.Hyper["rank"] != float64(2) || v.Hyper["lr"] != 0.01 || v.Metrics["steps"] != float64(4) || !(v.Metrics["train_loss"].(float64) > 0) {
		t.Errorf("hyper-parameters %v, metrics %v", v.Hyper, v.Metrics)
	}

	exported := filepath.Join(dir, "counter.gguf")
	mustRun(t, dir, "adapters", "export", "--tenant", "kra", "counter@1", exported)
	got, err := os.ReadFile(exported)
	if err != nil {
		t.Fatal(err)
	}
	if want, _ := os.ReadFile(runAdapter); !bytes.Equal(got, want) {
		t.Error("the exported adapter is not the one trained")
	}
	a, err := adapter.Read(exported)
	if err != nil || a.Arch != "llama" || len(a.LoRA) == 0 {
		t.Fatalf("adapter.Read(export) = %v, %v", a, err)
	}
	for name := range a.LoRA {
		if k := model.Kind(name); k != "q" && k != "k" && k != "v" && k != "o" {
			t.Errorf("the adapter holds %s, not one of the default targets q, k, v, o", name)
		}
	}

	gen := func(extra ...string) string {
		t.Helper()
		out, _ := mustRun(t, dir, append([]string{"generate", "--model", stories, "--prompt", "What comes after 2?", "-n", "12", "--temp", "0"}, extra...)...)
		return out
	}
	if byName, byFile := gen("--lora", "counter@1", "--tenant", "kra"), gen("--lora", exported); byName != byFile {
		t.Errorf("--lora counter@1 gives %q; the exported file %q", byName, byFile)
	}

	evalArgs := []string{"eval", "--base", "stories260k", "--dataset", "counting", "--tenant", "kra", "--split", "train", "-t", "1", "--max-tokens", "6"}
	out, _ = mustRun(t, dir, append(evalArgs, "--adapter", "counter@1")...)
	if !strings.Contains(out, "METRIC       base") || !strings.Contains(strings.SplitN(out, "\n", 2)[0], "adapter") || !strings.Contains(out, "\n  adapter:   ") {
		t.Errorf("eval --adapter: want base and adapter side by side:\n%s", out)
	}
	out, _ = mustRun(t, dir, append(evalArgs, "--adapter", exported, "--json")...)
	var rep eval.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Adapter == nil {
		t.Fatalf("eval --json: %v\n%s", err, out)
	}
	if !(rep.Adapter.Loss < rep.Base.Loss) {
		t.Errorf("on the examples it was trained on the adapter's loss %.4f is not below the base's %.4f", rep.Adapter.Loss, rep.Base.Loss)
	}

	// Another file of the same architecture is another base.
	q8 := filepath.Join(dir, "stories-q8.gguf")
	mustRun(t, dir, "quantize", stories, q8, "q8_0")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"generate", "--model", q8, "-n", "1", "--lora", "counter@1", "--tenant", "kra"}, []string{"counter@1", "do not match", "stories260k"}},
		{append(append([]string{}, evalArgs[:2]...), append([]string{q8}, append(evalArgs[3:], "--adapter", "counter")...)...), []string{"--adapter", "counter@1", "do not match"}},
		{[]string{"generate", "--model", stories, "-n", "1", "--lora", "counter@2", "--tenant", "kra"}, []string{"counter@2", "no such file", "no version 2"}},
		{[]string{"generate", "--model", stories, "-n", "1", "--lora", "counter", "--tenant", "nobody"}, []string{"no adapter registry", "nobody"}},
		{append(evalArgs, "--adapter", "nope"), []string{"--adapter", `"nope" is not a file`, "no adapter"}},
		{[]string{"train", "--base", "stories260k", "--dataset", "counting", "--tenant", "kra", "--name", "a/b", "--rank", "2", "--epochs", "1", "-t", "1", "--out", filepath.Join(dir, "run2")},
			[]string{"--name", "a/b", "without @VERSION"}},
	} {
		_, errOut, err := runTenants(t, dir, tc.args...)
		if err == nil {
			t.Errorf("%q: no error", tc.args)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q (stderr %q) does not mention %q", tc.args, err, errOut, w)
			}
		}
	}
	if out, _ := mustRun(t, dir, "adapters", "list", "--tenant", "kra", "--json"); strings.Count(out, `"name": "counter"`)+strings.Count(out, `"name":"counter"`) != 1 || strings.Contains(out, "a/b") {
		t.Errorf("after the refusals the registry lists %s", out)
	}
}
