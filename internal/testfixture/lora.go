package testfixture

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/engine/tensor"
)

// AdapterFor writes a seeded random LoRA adapter of the given rank for
// the q and v projections of every block of the base model file at
// base, large enough to change its greedy output, into a file in a
// temporary directory, and returns its path.
func AdapterFor(t testing.TB, base string, seed uint64, rank int) string {
	t.Helper()
	f, err := gguf.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rng := rand.New(rand.NewPCG(seed, seed))
	w := gguf.NewWriter()
	w.SetKV("general.architecture", f.Architecture())
	w.SetKV("general.type", "adapter")
	w.SetKV("adapter.type", "lora")
	w.SetKV("adapter.lora.alpha", float32(2*rank))
	values := func(n int64) []byte {
		b := make([]byte, 4*n)
		for i := range n {
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(float32(rng.NormFloat64()*0.3)))
		}
		return b
	}
	for _, ti := range f.Tensors {
		if !strings.HasSuffix(ti.Name, ".attn_q.weight") && !strings.HasSuffix(ti.Name, ".attn_v.weight") {
			continue
		}
		in, out := ti.Shape[0], ti.Shape[1]
		if err := w.AddTensor(ti.Name+".lora_a", tensor.F32, []int64{in, int64(rank)}, values(in*int64(rank))); err != nil {
			t.Fatal(err)
		}
		if err := w.AddTensor(ti.Name+".lora_b", tensor.F32, []int64{int64(rank), out}, values(out*int64(rank))); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "lora"+string(rune('a'+seed%26))+".gguf")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
