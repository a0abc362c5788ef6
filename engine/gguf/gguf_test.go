package gguf_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/engine/tensor"
)

const modelsDir = "../../../shared/testdata/models"

func sample(t testing.TB) []byte {
	t.Helper()
	w := gguf.NewWriter()
	w.SetKV("general.architecture", "llama")
	w.SetKV("u8", uint8(200))
	w.SetKV("i8", int8(-5))
	w.SetKV("u16", uint16(60000))
	w.SetKV("i16", int16(-30000))
	w.SetKV("u32", uint32(4000000000))
	w.SetKV("i32", int32(-7))
	w.SetKV("f32", float32(1.5))
	w.SetKV("bool", true)
	w.SetKV("str", "héllo")
	w.SetKV("u64", uint64(1<<63))
	w.SetKV("i64", int64(-1<<40))
	w.SetKV("f64", math.Pi)
	w.SetKV("strs", []string{"a", "", "▁b"})
	w.SetKV("f32s", []float32{1, -2, 3.25})
	w.SetKV("i32s", []int32{1, 2, 3})
	w.SetKV("bools", []bool{true, false})
	w.SetKV("nested", []any{[]int32{1, 2}, []string{"x"}})
	f32 := make([]byte, 4*8)
	for i := 0; i < 8; i++ {
		binary.LittleEndian.PutUint32(f32[4*i:], math.Float32bits(float32(i)))
	}
	if err := w.AddTensor("a", tensor.F32, []int64{4, 2}, f32); err != nil {
		t.Fatal(err)
	}
	q := make([]byte, 34*2)
	for i := range q {
		q[i] = byte(i)
	}
	if err := w.AddTensor("b.weight", tensor.Q8_0, []int64{64}, q); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	data := sample(t)
	f, err := gguf.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 3 || f.Alignment != 32 {
		t.Errorf("version %d alignment %d; want 3, 32", f.Version, f.Alignment)
	}
	want := map[string]any{
		"general.architecture": "llama", "u8": uint8(200), "i8": int8(-5), "u16": uint16(60000),
		"i16": int16(-30000), "u32": uint32(4000000000), "i32": int32(-7), "f32": float32(1.5),
		"bool": true, "str": "héllo", "u64": uint64(1 << 63), "i64": int64(-1 << 40), "f64": math.Pi,
		"strs": []string{"a", "", "▁b"}, "f32s": []float32{1, -2, 3.25}, "i32s": []int32{1, 2, 3},
		"bools": []bool{true, false}, "nested": []any{[]int32{1, 2}, []string{"x"}},
	}
	for k, v := range want {
		got, ok := f.Get(k)
		if !ok || !reflect.DeepEqual(got, v) {
			t.Errorf("%s = %#v; want %#v", k, got, v)
		}
	}
	if got := f.KV[0].Key; got != "general.architecture" {
		t.Errorf("first key %q; metadata order not kept", got)
	}
	if n, ok := f.Uint("u32"); !ok || n != 4000000000 {
		t.Errorf("Uint(u32) = %d, %v", n, ok)
	}
	if _, ok := f.Int("u64"); ok {
		t.Errorf("Int of a uint64 above MaxInt64 should be absent")
	}
	if x, ok := f.Float("i32"); !ok || x != -7 {
		t.Errorf("Float(i32) = %v, %v", x, ok)
	}
	a, ok := f.Tensor("a")
	if !ok || a.Type != tensor.F32 || !reflect.DeepEqual(a.Shape, []int64{4, 2}) || a.Size != 32 {
		t.Fatalf("tensor a = %+v", a)
	}
	d := f.TensorData(a)
	if got := math.Float32frombits(binary.LittleEndian.Uint32(d[4*5:])); got != 5 {
		t.Errorf("a[5] = %v; want 5", got)
	}
	b, _ := f.Tensor("b.weight")
	if b.Offset%32 != 0 || f.TensorData(b)[67] != 67 {
		t.Errorf("tensor b misplaced: offset %d", b.Offset)
	}
	// Zero copy: the view points into the input buffer.
	if &f.TensorData(b)[0] != &data[f.DataOffset+int64(b.Offset)] {
		t.Errorf("TensorData copied the bytes")
	}
}

func TestOpenRealModels(t *testing.T) {
	f, err := gguf.Open(filepath.Join(modelsDir, "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Architecture() != "llama" || len(f.Tensors) != 48 || f.DataOffset != 14176 {
		t.Errorf("arch %q, %d tensors, data at %d; want llama, 48, 14176", f.Architecture(), len(f.Tensors), f.DataOffset)
	}
	var params int64
	for i := range f.Tensors {
		params += f.Tensors[i].Elements()
	}
	// SOURCES.txt counts 260,032 parameters; the file also stores
	// output.weight, a copy of the 512x64 embedding.
	if params != 260032+512*64 {
		t.Errorf("%d parameters; want 260032 + the 512x64 output copy", params)
	}
	toks, _ := f.Strings("tokenizer.ggml.tokens")
	if len(toks) != 512 {
		t.Errorf("%d tokens; want 512", len(toks))
	}
	v, err := gguf.Open(filepath.Join(modelsDir, "ggml-vocab-gpt-2.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	merges, _ := v.Strings("tokenizer.ggml.merges")
	if len(merges) != 50000 || len(v.Tensors) != 0 {
		t.Errorf("%d merges, %d tensors; want 50000, 0", len(merges), len(v.Tensors))
	}
}

// TestRewriteIdentical checks that reading a real file and writing its
// metadata and tensors back gives the same bytes: the writer follows the
// format exactly as llama.cpp wrote it.
func TestRewriteIdentical(t *testing.T) {
	for _, name := range []string{"stories260K.gguf", "ggml-vocab-llama-spm.gguf"} {
		path := filepath.Join(modelsDir, name)
		orig, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := gguf.Parse(orig)
		if err != nil {
			t.Fatal(err)
		}
		w := gguf.NewWriter()
		for _, kv := range f.KV {
			w.SetKV(kv.Key, kv.Value)
		}
		for i := range f.Tensors {
			ti := &f.Tensors[i]
			if err := w.AddTensor(ti.Name, ti.Type, ti.Shape, f.TensorData(ti)); err != nil {
				t.Fatal(err)
			}
		}
		var buf bytes.Buffer
		if _, err := w.WriteTo(&buf); err != nil {
			t.Fatal(err)
		}
		got := buf.Bytes()
		// llama.cpp pads the last tensor too; compare the common prefix and
		// require the tail to be padding.
		if len(got) < len(orig) || !bytes.Equal(got[:len(orig)], orig) {
			i := 0
			for i < len(got) && i < len(orig) && got[i] == orig[i] {
				i++
			}
			t.Errorf("%s: rewrite differs at byte %d (len %d vs %d)", name, i, len(got), len(orig))
		}
	}
}

func TestWriteFile(t *testing.T) {
	w := gguf.NewWriter()
	w.SetKV("general.alignment", uint32(64))
	w.SetKV("general.name", "x")
	if err := w.AddTensor("t", tensor.F16, []int64{3}, make([]byte, 6)); err != nil {
		t.Fatal(err)
	}
	if err := w.AddTensor("u", tensor.F16, []int64{2}, make([]byte, 4)); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := w.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u, _ := f.Tensor("u")
	if f.Alignment != 64 || f.DataOffset%64 != 0 || u.Offset != 64 {
		t.Errorf("alignment %d, data at %d, u at %d; want 64-aligned", f.Alignment, f.DataOffset, u.Offset)
	}
}

func TestWriterErrors(t *testing.T) {
	w := gguf.NewWriter()
	cases := []struct {
		name  string
		typ   tensor.DType
		shape []int64
		data  int
		want  string
	}{
		{"", tensor.F32, []int64{1}, 4, "empty name"},
		{"a", tensor.F32, []int64{2}, 4, "needs 8"},
		{"b", tensor.Q8_0, []int64{16}, 17, "block size"},
		{"c", tensor.DType(99), []int64{1}, 1, "unknown type"},
		{"d", tensor.F32, []int64{1, 1, 1, 1, 1}, 4, "dimensions"},
		{"e", tensor.F32, []int64{0}, 0, "bad shape"},
	}
	for _, c := range cases {
		err := w.AddTensor(c.name, c.typ, c.shape, make([]byte, c.data))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("AddTensor(%q) = %v; want error containing %q", c.name, err, c.want)
		}
	}
	w.SetKV("bad", struct{}{})
	if _, err := w.WriteTo(&bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "unsupported value type") {
		t.Errorf("WriteTo with a bad value = %v", err)
	}
}

// corrupt returns the sample with a little-endian integer overwritten.
func corrupt(data []byte, off int, size int, v uint64) []byte {
	d := append([]byte(nil), data...)
	switch size {
	case 4:
		binary.LittleEndian.PutUint32(d[off:], uint32(v))
	case 8:
		binary.LittleEndian.PutUint64(d[off:], v)
	}
	return d
}

func TestMalformed(t *testing.T) {
	good := sample(t)
	f, _ := gguf.Parse(good)
	// Offset of the first key's length: magic(4) version(4) counts(16).
	const firstKey = 24
	// The tensor info of "a" follows the metadata; find it by name.
	ai := bytes.Index(good, []byte("\x01\x00\x00\x00\x00\x00\x00\x00a\x02\x00\x00\x00"))
	if ai < 0 {
		t.Fatal("tensor info not found")
	}
	dimsOff := ai + 9 + 4
	typeOff := dimsOff + 16
	offOff := typeOff + 4
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"wrong magic", append([]byte("GGML"), good[4:]...), "magic"},
		{"version 1", corrupt(good, 4, 4, 1), "version 1"},
		{"version 9", corrupt(good, 4, 4, 9), "unknown GGUF version 9"},
		{"big endian", corrupt(good, 4, 4, 3<<24), "big-endian"},
		{"absurd tensor count", corrupt(good, 8, 8, 1<<60), "tensor count"},
		{"absurd kv count", corrupt(good, 16, 8, 1<<62), "metadata count"},
		{"absurd key length", corrupt(good, firstKey, 8, 1<<50), "length"},
		{"unknown value type", corrupt(good, firstKey+8+len("general.architecture"), 4, 77), "unknown value type"},
		{"truncated header", good[:30], "impossible"},
		{"truncated data", good[:len(good)-40], "truncated"},
		{"too many dims", corrupt(good, ai+9, 4, 7), "dimensions"},
		{"zero dim", corrupt(good, dimsOff, 8, 0), "dimension 0 is 0"},
		{"huge dim", corrupt(good, dimsOff, 8, 1<<62), "too many elements"},
		{"unknown tensor type", corrupt(good, typeOff, 4, 1000), "unknown type 1000"},
		{"misaligned offset", corrupt(good, offOff, 8, 3), "alignment"},
		{"offset past end", corrupt(good, offOff, 8, 1<<40), "data section"},
	}
	_ = f
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := gguf.Parse(c.data)
			if err == nil {
				t.Fatalf("no error; want one containing %q", c.want)
			}
			if !errors.Is(err, gguf.ErrFormat) {
				t.Errorf("error %v does not wrap ErrFormat", err)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q; want it to contain %q", err, c.want)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := gguf.Open(filepath.Join(t.TempDir(), "missing.gguf")); err == nil {
		t.Error("opening a missing file succeeded")
	}
	if _, err := gguf.Open(t.TempDir()); err == nil || !strings.Contains(err.Error(), "directory") {
		t.Errorf("opening a directory: %v", err)
	}
	p := filepath.Join(t.TempDir(), "bad.gguf")
	os.WriteFile(p, []byte("GGUF\x03\x00\x00\x00"), 0o644)
	if _, err := gguf.Open(p); err == nil || !strings.Contains(err.Error(), p) {
		t.Errorf("error %v should name the file", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(sample(f))
	w := gguf.NewWriter()
	w.SetKV("general.alignment", uint32(16))
	w.SetKV("nested", []any{[]any{[]string{"a"}}})
	var buf bytes.Buffer
	w.WriteTo(&buf)
	f.Add(buf.Bytes())
	if b, err := os.ReadFile(filepath.Join(modelsDir, "stories260K.gguf")); err == nil {
		f.Add(b[:16384])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := gguf.Parse(data)
		if err != nil {
			if !errors.Is(err, gguf.ErrFormat) {
				t.Fatalf("error %v does not wrap ErrFormat", err)
			}
			return
		}
		// Every tensor view must be inside the data.
		for i := range g.Tensors {
			_ = g.TensorData(&g.Tensors[i])
		}
	})
}

func TestParametersAndWeightType(t *testing.T) {
	f, err := gguf.Open(filepath.Join(modelsDir, "stories260K.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Parameters() != 292800 || f.WeightType() != "F32" {
		t.Errorf("stories: %d parameters, weights %q; want 292800, F32", f.Parameters(), f.WeightType())
	}
	// Matrices decide; a 1-D F32 tensor larger than them does not.
	w := gguf.NewWriter()
	w.AddTensor("norm", tensor.F32, []int64{64}, make([]byte, 256))
	w.AddTensor("m", tensor.Q8_0, []int64{32, 1}, make([]byte, 34))
	var buf bytes.Buffer
	w.WriteTo(&buf)
	g, err := gguf.Parse(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if g.WeightType() != "Q8_0" || g.Parameters() != 96 {
		t.Errorf("mixed file: %q, %d; want Q8_0, 96", g.WeightType(), g.Parameters())
	}
	v, _ := gguf.Open(filepath.Join(modelsDir, "ggml-vocab-gpt-2.gguf"))
	defer v.Close()
	if v.WeightType() != "" || v.Parameters() != 0 {
		t.Errorf("vocabulary-only file: %q, %d", v.WeightType(), v.Parameters())
	}
}

// TestSparseCounts: a header whose counts the bytes left could hold (a
// sparse file's zeros) makes the reader allocate no more than a real
// file's: a 2 GB file claiming 89 million tensors used to cost a node
// 9 GB before its first tensor info failed.
func TestSparseCounts(t *testing.T) {
	const size = 24 << 20
	header := func(tensors, kvs uint64) []byte {
		b := make([]byte, size)
		copy(b, "GGUF")
		binary.LittleEndian.PutUint32(b[4:], 3)
		binary.LittleEndian.PutUint64(b[8:], tensors)
		binary.LittleEndian.PutUint64(b[16:], kvs)
		return b
	}
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"a million tensors", header((size-24)/24, 0), "tensor count"},
		{"two million keys", header(0, (size-24)/13), "metadata count"},
	} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := gguf.Parse(c.data)
		runtime.ReadMemStats(&after)
		if err == nil || !errors.Is(err, gguf.ErrFormat) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrFormat naming the %s", c.name, err, c.want)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 1<<20 {
			t.Errorf("%s: parsing allocated %d MiB", c.name, grew>>20)
		}
	}
}
