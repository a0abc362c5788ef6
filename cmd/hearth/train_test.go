package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeChatJSONL writes n OpenAI fine-tuning chat examples.
func writeChatJSONL(t *testing.T, path string, n int) {
	t.Helper()
	var b strings.Builder
	for i := 0; i < n; i++ {
		line, _ := json.Marshal(map[string]any{"messages": []map[string]string{
			{"role": "user", "content": fmt.Sprintf("What comes after %d?", i)},
			{"role": "assistant", "content": fmt.Sprintf("%d comes next.", i+1)},
		}})
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
}

// countingDir is a data directory with tenant kra, its dataset counting
// v1 imported from six examples of writeChatJSONL's pattern, and
// stories260K in the store as stories260k, whose file it returns too.
func countingDir(t *testing.T) (dir, stories string) {
	t.Helper()
	dir = t.TempDir()
	mustRun(t, dir, "tenants", "create", "kra")
	from := filepath.Join(dir, "chat.jsonl")
	writeChatJSONL(t, from, 6)
	mustRun(t, dir, "dataset", "import", "--tenant", "kra", "--name", "counting", from)
	stories = filepath.Join(models, "stories260K.gguf")
	mustRun(t, dir, "models", "import", stories, "--name", "stories260k")
	return dir, stories
}

func TestTrainCLI(t *testing.T) {
	dir, stories := countingDir(t)

	args := []string{"train", "--base", "stories260k", "--dataset", "counting@1", "--tenant", "kra",
		"--rank", "2", "--epochs", "2", "--batch", "2", "--seq", "160", "--checkpoint-every", "2", "-t", "1"}
	out, errOut := mustRun(t, dir, args...)
	if !strings.HasPrefix(out, "trained 4 steps on ") || !strings.Contains(out, "train loss ") {
		t.Errorf("stdout %q", out)
	}
	// Imported examples are all train examples: no eval loss to show.
	if strings.Contains(out, "eval loss") {
		t.Errorf("eval loss without eval examples: %q", out)
	}
	if !strings.Contains(errOut, "training stories260k on counting v1 (6 train, 0 eval examples)") ||
		!strings.Contains(errOut, "step 2/4") || !strings.Contains(errOut, "(checkpoint)") ||
		!strings.Contains(errOut, "train: 6 of 6 examples in 3 sequences") {
		t.Errorf("stderr %q", errOut)
	}
	adapter := strings.TrimSpace(out[strings.Index(out, "adapter: ")+len("adapter: "):])
	runDir := filepath.Dir(adapter)
	if !strings.HasPrefix(runDir, filepath.Join(dir, "finetune")) || !strings.HasSuffix(runDir, "counting-v1") {
		t.Errorf("run directory %s", runDir)
	}
	want, err := os.ReadFile(adapter)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(runDir, "steps.jsonl")); err != nil {
		t.Error(err)
	}

	// The same command again finds the finished run and writes the same
	// adapter; a GGUF path names the same base.
	args[2] = stories
	mustRun(t, dir, args...)
	if got, _ := os.ReadFile(adapter); string(got) != string(want) {
		t.Error("the second run wrote another adapter")
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--dataset", "counting@0"}, "--dataset"},
		{[]string{"--dataset", "nope"}, "not found"},
		{[]string{"--base", "nope"}, `"nope" is neither a file nor a model in the store`},
		{[]string{"--targets", "q,x"}, `target "x": not a projection kind`},
		{[]string{"--rank", "0"}, "--rank 0 is out of range"},
		{[]string{"--tenant", "nobody"}, "--tenant"},
		{[]string{"--out", filepath.Join(dir, "other"), "--lr", "2"}, "lr 2"},
	} {
		a := append([]string{"train", "--base", "stories260k", "--dataset", "counting", "--tenant", "kra"}, tc.args...)
		_, errOut, err := runTenants(t, dir, a...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v (stderr %q), want %q", tc.args, err, errOut, tc.want)
		}
	}
}
