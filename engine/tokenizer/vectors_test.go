package tokenizer

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/hearth-ai/hearth/engine/gguf"
)

const modelsDir = "../../../shared/testdata/models"

// vector is one llama.cpp tokenizer test: a text and its expected ids
// (no BOS/EOS, special tokens not parsed).
type vector struct {
	text string
	ids  []int32
}

// loadVectors reads <name>.inp and <name>.out.
func loadVectors(t testing.TB, name string) []vector {
	t.Helper()
	inp, err := os.ReadFile(filepath.Join(modelsDir, name+".inp"))
	if err != nil {
		t.Fatal(err)
	}
	outb, err := os.ReadFile(filepath.Join(modelsDir, name+".out"))
	if err != nil {
		t.Fatal(err)
	}
	texts := strings.Split(string(inp), "\n__ggml_vocab_test__\n")
	if texts[len(texts)-1] == "" {
		texts = texts[:len(texts)-1]
	}
	lines := strings.Split(strings.TrimSuffix(string(outb), "\n"), "\n")
	if len(lines) != len(texts) {
		t.Fatalf("%s: %d texts but %d id lines", name, len(texts), len(lines))
	}
	vs := make([]vector, len(texts))
	for i, text := range texts {
		vs[i].text = text
		for _, f := range strings.Fields(lines[i]) {
			id, err := strconv.ParseInt(f, 10, 32)
			if err != nil {
				t.Fatalf("%s line %d: %v", name, i+1, err)
			}
			vs[i].ids = append(vs[i].ids, int32(id))
		}
	}
	return vs
}

var (
	ggufCache   = map[string]*Tokenizer{}
	ggufCacheMu sync.Mutex
)

// loadGGUF builds (once) the tokenizer of a test vocabulary file.
func loadGGUF(t testing.TB, file string) *Tokenizer {
	t.Helper()
	ggufCacheMu.Lock()
	defer ggufCacheMu.Unlock()
	if tk, ok := ggufCache[file]; ok {
		return tk
	}
	f, err := gguf.Open(filepath.Join(modelsDir, file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tk, err := FromGGUF(f)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	ggufCache[file] = tk
	return tk
}

func TestVectors(t *testing.T) {
	for _, tc := range allVocabs {
		t.Run(tc.name, func(t *testing.T) {
			tk := tc.load(t)
			for i, v := range loadVectors(t, tc.name) {
				got := tk.Encode(v.text, false, false)
				if !slices.Equal(got, v.ids) {
					t.Errorf("test %d Encode(%q)\n got %v\nwant %v", i, v.text, got, v.ids)
				}
			}
		})
	}
}
