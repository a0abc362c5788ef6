package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/engine/gguf"
)

const models = "../../../shared/testdata/models"

// testNow is the clock of the CLIs the tests build (testRoot); setClock
// sets it for one test.
var testNow = time.Now

// setClock makes the tests' CLIs, and what else reads testNow, see now
// until the test ends.
func setClock(t *testing.T, now func() time.Time) {
	t.Helper()
	old := testNow
	testNow = now
	t.Cleanup(func() { testNow = old })
}

// testRoot is the CLI on the tests' clock.
func testRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	return newCLI(&globals{stdin: stdin, stdout: stdout, stderr: stderr, now: func() time.Time { return testNow() }})
}

// run executes the CLI in-process and returns stdout and the error.
func run(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	root := testRoot(strings.NewReader(stdin), &out, &errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// storiesIDs is the reference greedy continuation of BOS in SOURCES.txt.
var storiesIDs = []int32{403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315, 421, 395, 317, 426, 338, 401, 396, 267, 337,
	410, 408, 419, 292, 411, 322, 265, 282, 295, 433, 426, 385, 328, 432, 358, 394, 261, 370, 432, 352}

const storiesText = " Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, r"

func TestGenerateStories(t *testing.T) {
	stories := filepath.Join(models, "stories260K.gguf")
	out, err := run(t, "", "generate", "--model", stories, "--prompt", "", "-n", "40", "--temp", "0", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Tokens []int32 `json:"tokens"`
		Text   string  `json:"text"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output %q is not JSON: %v", out, err)
	}
	if len(got.Tokens) != len(storiesIDs) {
		t.Fatalf("got %d tokens; want %d", len(got.Tokens), len(storiesIDs))
	}
	for i := range storiesIDs {
		if got.Tokens[i] != storiesIDs[i] {
			t.Fatalf("token %d = %d; want %d", i, got.Tokens[i], storiesIDs[i])
		}
	}
	if got.Text != storiesText {
		t.Errorf("text %q; want %q", got.Text, storiesText)
	}

	// Streaming prints the same text.
	out, err = run(t, "", "generate", "--model", stories, "-n", "40", "--temp", "0")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSuffix(out, "\n") != storiesText {
		t.Errorf("streamed %q; want %q", out, storiesText)
	}

	// A continuation keeps the space between prompt and new text.
	out, err = run(t, "", "generate", "--model", stories, "--prompt", "Once upon", "-n", "3", "--temp", "0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, " a time") {
		t.Errorf("continuation of %q = %q; want it to start with %q", "Once upon", out, " a time")
	}

	// Stop strings end the text before them.
	out, err = run(t, "", "generate", "--model", stories, "-n", "40", "--temp", "0", "--stop", "Lily", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err)
	}
	if want := " Once upon a time, there was a little girl named "; got.Text != want {
		t.Errorf("with --stop Lily: %q; want %q", got.Text, want)
	}

	// The same seed gives the same sample; the sample is not greedy.
	a, _ := run(t, "", "generate", "--model", stories, "-n", "30", "--seed", "42", "--temp", "1", "--json")
	b, _ := run(t, "", "generate", "--model", stories, "-n", "30", "--seed", "42", "--temp", "1", "--json")
	c, _ := run(t, "", "generate", "--model", stories, "-n", "30", "--seed", "43", "--temp", "1", "--json")
	if a != b || a == c {
		t.Errorf("seeded runs: same seed equal %v, different seeds differ %v", a == b, a != c)
	}
}

func TestTokenize(t *testing.T) {
	gpt2 := filepath.Join(models, "ggml-vocab-gpt-2.gguf")
	out, err := run(t, "Hello world\n", "tokenize", "--model", gpt2)
	if err != nil {
		t.Fatal(err)
	}
	if out != "15496 995 198\n" {
		t.Errorf("tokenize = %q; want %q", out, "15496 995 198\n")
	}
	out, err = run(t, "Hello world", "tokenize", "--model", gpt2, "--json")
	if err != nil || out != "[15496,995]\n" {
		t.Errorf("tokenize --json = %q, %v", out, err)
	}
	out, err = run(t, "", "tokenize", "--model", gpt2, "--json")
	if err != nil || out != "[]\n" {
		t.Errorf("tokenize of nothing = %q, %v; want []", out, err)
	}
}

func TestInspect(t *testing.T) {
	out, err := run(t, "", "inspect", filepath.Join(models, "stories260K.gguf"), "--tensors")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"llama", "292.8K", "F32 x48", "5 blocks, width 64, 8 heads (4 KV)", "512 tokens", "blk.4.ffn_norm.weight"} {
		if !strings.Contains(out, want) {
			t.Errorf("inspect output lacks %q:\n%s", want, out)
		}
	}
	out, err = run(t, "", "inspect", "--json", filepath.Join(models, "ggml-vocab-phi-3.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	var s gguf.Summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if s.Architecture != "phi3" || s.VocabSize != 32064 || !strings.Contains(s.ChatTemplate, "<|user|>") {
		t.Errorf("inspect --json = %+v", s)
	}
}

func TestQuantizeThenGenerate(t *testing.T) {
	out := filepath.Join(t.TempDir(), "q8.gguf")
	msg, err := run(t, "", "quantize", filepath.Join(models, "stories260K.gguf"), out, "q8_0")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, "32 tensors to Q8_0") {
		t.Errorf("quantize said %q", msg)
	}
	res, err := run(t, "", "generate", "--model", out, "-n", "12", "--temp", "0", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Tokens []int32 }
	json.Unmarshal([]byte(res), &got)
	// 8-bit weights keep this trained model's first sentence.
	for i := 0; i < 12; i++ {
		if got.Tokens[i] != storiesIDs[i] {
			t.Fatalf("Q8_0 model token %d = %d; want %d", i, got.Tokens[i], storiesIDs[i])
		}
	}
}

func TestErrors(t *testing.T) {
	stories := filepath.Join(models, "stories260K.gguf")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"generate", "--prompt", "x"}, "--model is required"},
		{[]string{"generate", "--model", "main.go"}, "not a GGUF file"},
		{[]string{"generate", "--model", "missing.gguf"}, "no such file"},
		{[]string{"generate", "--model", stories, "--temp", "-1"}, "temperature"},
		{[]string{"quantize", stories, filepath.Join(t.TempDir(), "x"), "Q9_9"}, "unknown type name"},
		{[]string{"inspect"}, "accepts 1 arg"},
		{[]string{"tokenize"}, "--model is required"},
	}
	for _, c := range cases {
		_, err := run(t, "", c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v; want one containing %q", c.args, err, c.want)
		}
	}
}
