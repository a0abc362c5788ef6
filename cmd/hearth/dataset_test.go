package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/flywheel/dataset"
)

// writeInteractions writes a JSONL file of interactions made of random
// words from the language samples: 60 good, 5 Swahili good, 8 bad, 3
// exact copies of good ones, 2 corrected. A build with defaults keeps 67.
func writeInteractions(t *testing.T, path string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	sample := func(lang string) []string {
		b, err := os.ReadFile("../../flywheel/dataset/langdata/" + lang + ".txt")
		if err != nil {
			t.Fatal(err)
		}
		return strings.Fields(strings.ToLower(strings.NewReplacer(",", "", ".", "", "?", "", ";", "").Replace(string(b))))
	}
	voc := map[string][]string{"en": sample("en"), "sw": sample("sw")}
	text := func(lang string, n int) string {
		w := make([]string, n)
		for i := range w {
			w[i] = voc[lang][rng.IntN(len(voc[lang]))]
		}
		return strings.Join(w, " ")
	}
	var ins []dataset.Interaction
	mk := func(id, lang string) dataset.Interaction {
		return dataset.Interaction{ResponseID: id, Messages: []dataset.Message{{Role: "user", Content: text(lang, 10)}}, Output: text(lang, 30)}
	}
	for i := 0; i < 60; i++ {
		in := mk(fmt.Sprintf("good-%02d", i), "en")
		in.Rating = 4 + i%2
		ins = append(ins, in)
	}
	for i := 0; i < 5; i++ {
		in := mk(fmt.Sprintf("sw-%d", i), "sw")
		in.Thumb = 1
		ins = append(ins, in)
	}
	for i := 0; i < 8; i++ {
		in := mk(fmt.Sprintf("bad-%d", i), "en")
		in.Thumb = -1
		ins = append(ins, in)
	}
	for i := 0; i < 3; i++ {
		in := ins[i]
		in.ResponseID = fmt.Sprintf("copy-%d", i)
		in.Rating = 4
		ins = append(ins, in)
	}
	for i := 0; i < 2; i++ {
		in := mk(fmt.Sprintf("fixed-%d", i), "en")
		in.Rating, in.Correction = 1, text("en", 20)
		ins = append(ins, in)
	}
	var b bytes.Buffer
	for _, in := range ins {
		line, _ := json.Marshal(in)
		b.Write(line)
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestDatasetCLI(t *testing.T) {
	dir := t.TempDir()
	mustRun(t, dir, "tenants", "create", "kra")
	mustRun(t, dir, "tenants", "create", "afya")
	from := filepath.Join(dir, "interactions.jsonl")
	writeInteractions(t, from)

	out, _ := mustRun(t, dir, "dataset", "build", "--tenant", "kra", "--name", "support", "--from", from, "--seed", "3")
	if !strings.HasPrefix(out, "built support v1: 67 examples") || !strings.Contains(out, "from 78 interactions") ||
		!strings.Contains(out, "8 rated too low") || !strings.Contains(out, "3 exact duplicates") {
		t.Errorf("build printed %q", out)
	}
	out, _ = mustRun(t, dir, "dataset", "build", "--tenant", "kra", "--name", "support-sw", "--from", from, "--lang", "sw", "--eval", "0.2")
	if !strings.HasPrefix(out, "built support-sw v1: 5 examples") {
		t.Errorf("Swahili build printed %q", out)
	}
	out, _ = mustRun(t, dir, "dataset", "build", "--tenant", "kra", "--name", "support", "--from", from, "--min-rating", "5")
	if !strings.HasPrefix(out, "built support v2: 37 examples") { // 30 five-star, 5 thumbs-up, 2 corrected
		t.Errorf("second build printed %q", out)
	}

	out, _ = mustRun(t, dir, "dataset", "list", "--tenant", "kra")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[1], "support ") ||
		!strings.Contains(lines[2], " 2 ") || !strings.HasPrefix(lines[3], "support-sw") {
		t.Errorf("list:\n%s", out)
	}
	var list []dataset.Version
	out, _ = mustRun(t, dir, "dataset", "list", "--tenant", "kra", "--json")
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 3 || list[0].TrainCount+list[0].EvalCount != 67 {
		t.Errorf("list --json: %v, %s", err, out)
	}

	// export -> import -> export gives the same bytes.
	first := filepath.Join(dir, "v1.jsonl")
	_, errOut := mustRun(t, dir, "dataset", "export", "--tenant", "kra", "--name", "support", "--version", "1", "--out", first)
	if !strings.Contains(errOut, "exported 67 examples") {
		t.Errorf("export said %q", errOut)
	}
	out, _ = mustRun(t, dir, "dataset", "import", "--tenant", "kra", "--name", "copy", first)
	if out != "imported copy v1: 67 examples\n" {
		t.Errorf("import printed %q", out)
	}
	second, _ := mustRun(t, dir, "dataset", "export", "--tenant", "kra", "--name", "copy")
	if want, _ := os.ReadFile(first); second != string(want) {
		t.Error("export -> import -> export changed the bytes")
	}
	train, _ := mustRun(t, dir, "dataset", "export", "--tenant", "kra", "--name", "support", "--version", "1", "--split", "train")
	eval, _ := mustRun(t, dir, "dataset", "export", "--tenant", "kra", "--name", "support", "--version", "1", "--split", "eval")
	if nt, ne := strings.Count(train, "\n"), strings.Count(eval, "\n"); nt+ne != 67 || ne == 0 {
		t.Errorf("train %d + eval %d; want 67 with some eval", nt, ne)
	}

	// Stats, text and JSON.
	out, _ = mustRun(t, dir, "dataset", "stats", "--tenant", "kra", "--name", "support", "--version", "1")
	for _, want := range []string{"support v1 (build)", "SPLIT", "all    67", "languages: en 62, sw 5", "ratings:   1 2, 4 30, 5 35", "corrected: 2", "78 considered"} {
		if !strings.Contains(out, want) {
			t.Errorf("stats lack %q:\n%s", want, out)
		}
	}
	var st dataset.Stats
	out, _ = mustRun(t, dir, "dataset", "stats", "--tenant", "kra", "--name", "support", "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Version != 2 || st.Splits["all"].Examples != 37 {
		t.Errorf("stats --json: %v %+v", err, st)
	}

	// Another tenant sees nothing of kra's.
	_, errOut = mustRun(t, dir, "dataset", "list", "--tenant", "afya")
	if !strings.Contains(errOut, "no datasets") {
		t.Errorf("afya list: %q", errOut)
	}
	if _, _, err := runTenants(t, dir, "dataset", "export", "--tenant", "afya", "--name", "support"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("afya exported kra's dataset: %v", err)
	}

	// Errors.
	bad := filepath.Join(dir, "bad.jsonl")
	os.WriteFile(bad, []byte(`{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}`+"\n"+`{"messages":[{"role":"user","content":"a"}]}`+"\n"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"dataset", "import", "--tenant", "kra", "--name", "x", bad}, "line 2: last message is from the user"},
		{[]string{"dataset", "build", "--tenant", "kra", "--name", "x"}, "--from"},
		{[]string{"dataset", "build", "--tenant", "nobody", "--name", "x", "--from", from}, "no tenant"},
		{[]string{"dataset", "build", "--name", "x", "--from", from}, "--tenant is required"},
		{[]string{"dataset", "build", "--tenant", "kra", "--name", "x", "--from", from, "--near-dup", "1.5"}, "near-duplicate threshold"},
		{[]string{"dataset", "build", "--tenant", "kra", "--name", "x", "--from", from, "--lang", "klingon"}, "unknown language"},
		{[]string{"dataset", "build", "--tenant", "kra", "--name", "x", "--from", from, "--eval", "0"}, "--eval 0 is out of range"},
		{[]string{"dataset", "build", "--tenant", "kra", "--name", "x", "--from", from, "--min-rating", "7"}, "min rating 7"},
		{[]string{"dataset", "build", "--tenant", "kra", "--name", "x", "--from", bad}, "no examples"},
		{[]string{"dataset", "export", "--tenant", "kra", "--name", "support", "--split", "test"}, "split"},
		{[]string{"dataset", "stats", "--tenant", "kra", "--name", "support", "--version", "9"}, "no version 9"},
	} {
		if _, _, err := runTenants(t, dir, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("hearth %s: %v; want an error with %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
	// The failed import and builds stored nothing.
	out, _ = mustRun(t, dir, "dataset", "list", "--tenant", "kra")
	if strings.Contains(out, "\nx ") {
		t.Errorf("a failed command left dataset x:\n%s", out)
	}
}
