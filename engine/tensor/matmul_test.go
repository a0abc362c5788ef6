package tensor

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// matmulTypes is every weight type MatMul handles.
var matmulTypes = []DType{F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, Q8_K}

// levels returns every kernel level this CPU can run, portable first.
func levels() []Level {
	var ls []Level
	for l := LevelPortable; l <= CPULevel(); l++ {
		ls = append(ls, l)
	}
	return ls
}

// matmulAt runs MatMul with the kernels of level l.
func matmulAt(t testing.TB, l Level, typ DType, w []byte, rows int, x []float32, n, cols int) []float32 {
	t.Helper()
	prev := SetLevel(l)
	defer SetLevel(prev)
	var a Acts
	if err := a.Prepare(typ, x, n, cols); err != nil {
		t.Fatal(err)
	}
	dst := make([]float32, n*rows)
	if err := MatMul(dst, rows, typ, w, rows, &a); err != nil {
		t.Fatal(err)
	}
	return dst
}

// actValues returns the values the activations of a take after rounding
// or quantization, so that a float64 reference sees what the kernels see.
func actValues(a *Acts) []float32 {
	out := make([]float32, a.n*a.cols)
	switch a.kind {
	case F32, F16, BF16:
		copy(out, a.f)
	default:
		bs := a.kind.BlockSize()
		for i, q := range a.q {
			out[i] = float32(q) * a.d[i/bs]
		}
	}
	return out
}

// sizesFor lists row lengths for typ: one block, a few, an odd count and
// one that is not a multiple of any unroll.
func sizesFor(typ DType) []int {
	bs := typ.BlockSize()
	if bs == 1 {
		return []int{1, 7, 8, 9, 16, 24, 31, 32, 33, 48, 100, 2048 + 5}
	}
	if bs == QK_K {
		return []int{bs, 2 * bs, 3 * bs, 7 * bs}
	}
	return []int{bs, 2 * bs, 3 * bs, 5 * bs, 17 * bs, 64 * bs}
}

// TestMatMulPortable checks the portable kernels against a float64 product
// of the dequantized weights with the activations as prepared. Integer
// block sums are exact, so only float32 rounding separates them (and for
// Q4_1/Q5_1 the half-precision block sums of Q8_1, as in ggml).
func TestMatMulPortable(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	const rows, n = 3, 2
	for _, typ := range matmulTypes {
		for _, cols := range sizesFor(typ) {
			w := quantizeRow(t, typ, r, rows*cols)
			x := gaussian(r, n*cols, 1)
			got := matmulAt(t, LevelPortable, typ, w, rows, x, n, cols)
			var a Acts
			if err := a.Prepare(typ, x, n, cols); err != nil {
				t.Fatal(err)
			}
			xv := actValues(&a)
			wf := make([]float32, rows*cols)
			if err := Dequantize(typ, w, wf); err != nil {
				t.Fatal(err)
			}
			tol := 1e-5
			if typ == Q4_1 || typ == Q5_1 {
				tol = 2e-3
			}
			for tok := 0; tok < n; tok++ {
				for row := 0; row < rows; row++ {
					var want, mag float64
					for i := 0; i < cols; i++ {
						p := float64(wf[row*cols+i]) * float64(xv[tok*cols+i])
						want += p
						mag += math.Abs(p)
					}
					if g := got[tok*rows+row]; math.Abs(float64(g)-want) > tol*mag+1e-30 {
						t.Errorf("%s cols=%d token %d row %d: got %g, want %g (Σ|w·x| %.3g)", typ, cols, tok, row, g, want, mag)
					}
				}
			}
		}
	}
}

// checkLevels compares MatMul at every level the CPU has against the
// portable kernels on the same data.
func checkLevels(t *testing.T, name string, typ DType, w []byte, rows int, x []float32, n, cols int) {
	t.Helper()
	want := matmulAt(t, LevelPortable, typ, w, rows, x, n, cols)
	wf := make([]float32, rows*cols)
	if err := Dequantize(typ, w, wf); err != nil {
		t.Fatal(err)
	}
	for _, l := range levels()[1:] {
		got := matmulAt(t, l, typ, w, rows, x, n, cols)
		for tok := 0; tok < n; tok++ {
			for row := 0; row < rows; row++ {
				var mag float64
				for i := 0; i < cols; i++ {
					mag += math.Abs(float64(wf[row*cols+i]) * float64(x[tok*cols+i]))
				}
				i := tok*rows + row
				if math.Abs(float64(got[i])-float64(want[i])) > 2e-6*mag*1.05+1e-30 {
					t.Errorf("%s %s cols=%d token %d row %d at %s: got %g, portable %g (Σ|w·x| %.3g)", name, typ, cols, tok, row, l, got[i], want[i], mag)
				}
			}
		}
	}
}

func TestMatMulLevels(t *testing.T) {
	if len(levels()) == 1 {
		t.Skip("this CPU runs only the portable kernels")
	}
	r := rand.New(rand.NewPCG(23, 24))
	for _, typ := range matmulTypes {
		for _, cols := range sizesFor(typ) {
			for _, n := range []int{1, 3, 4, 5, 8, 9} {
				rows := 1 + r.IntN(9)
				w := quantizeRow(t, typ, r, rows*cols)
				x := gaussian(r, n*cols, 1)
				checkLevels(t, "gaussian", typ, w, rows, x, n, cols)
			}
		}
	}
}

// extremeRow fills a row with large half scales and quants at their limits
// (Q8_0 -128/127, nibbles 0/15, Q6_K 0/63 under int8 scales -128/127, random
// 6-bit scales and mins for Q4_K/Q5_K), the inputs that would saturate a
// careless VPMADDUBSW or VPMADDWD.
func extremeRow(typ DType, cols int, r *rand.Rand) []byte {
	rs, _ := typ.RowSize(int64(cols))
	row := make([]byte, rs)
	for i := range row {
		row[i] = byte(r.IntN(256))
	}
	ts := typ.TypeSize()
	for b := 0; b < len(row)/ts; b++ {
		blk := row[b*ts : (b+1)*ts]
		big := func(off int) { binary.LittleEndian.PutUint16(blk[off:], F32ToF16(float32(1+r.IntN(2))*30000)) }
		switch typ {
		case Q4_K, Q5_K:
			// Random bytes already reach 6-bit scales and mins of 63.
			big(0)
			big(2)
			continue
		case Q6_K:
			// int8 scales of -128 and 127 on 6-bit quants of 0 and 63.
			for j := 192; j < 208; j++ {
				blk[j] = []byte{0x80, 0x7f}[j%2]
			}
			for j := 0; j < 128; j++ {
				blk[j] = []byte{0x00, 0xff}[(j/3)%2]
			}
			big(208)
			continue
		}
		big(0)
		switch typ {
		case Q8_0:
			for j := 2; j < ts; j++ {
				blk[j] = []byte{0x80, 0x7f, 0x80, 0x81}[(j+b)%4]
			}
		case Q4_0:
			for j := 2; j < ts; j++ {
				blk[j] = []byte{0x00, 0xff, 0x0f, 0xf0}[(j+b)%4]
			}
		}
	}
	return row
}

func TestMatMulExtremes(t *testing.T) {
	if len(levels()) == 1 {
		t.Skip("this CPU runs only the portable kernels")
	}
	r := rand.New(rand.NewPCG(25, 26))
	for _, typ := range []DType{Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, Q4_K, Q5_K, Q6_K} {
		for _, cols := range sizesFor(typ) {
			const rows, n = 3, 2
			var w []byte
			for i := 0; i < rows; i++ {
				w = append(w, extremeRow(typ, cols, r)...)
			}
			// Activations at ±amax quantize to ±127, the largest magnitude
			// the activation quantizers produce.
			x := make([]float32, n*cols)
			for i := range x {
				x[i] = float32(1-2*(i%2)) * 1e4
				if i%3 == 0 {
					x[i] = -x[i]
				}
			}
			checkLevels(t, "extreme", typ, w, rows, x, n, cols)
		}
	}
}

func TestMatMulErrors(t *testing.T) {
	var a Acts
	if err := a.Prepare(IQ2_XXS, make([]float32, 256), 1, 256); err == nil {
		t.Error("Prepare for IQ2_XXS: no error")
	}
	if err := a.Prepare(Q4_K, make([]float32, 128), 1, 128); err == nil {
		t.Error("Prepare of 128 columns for Q4_K: no error")
	}
	if err := a.Prepare(Q8_0, make([]float32, 32), 2, 32); err == nil {
		t.Error("Prepare of 2 rows from 32 values: no error")
	}
	if err := a.Prepare(Q8_0, make([]float32, 64), 2, 32); err != nil {
		t.Fatal(err)
	}
	if err := MatMul(make([]float32, 4), 2, Q4_0, make([]byte, 36), 2, &a); err == nil {
		t.Error("MatMul of Q4_0 with activations for Q8_0: no error")
	}
	if err := MatMul(make([]float32, 4), 2, Q8_0, make([]byte, 67), 2, &a); err == nil {
		t.Error("MatMul with short weights: no error")
	}
	if err := MatMul(make([]float32, 3), 2, Q8_0, make([]byte, 68), 2, &a); err == nil {
		t.Error("MatMul with short output: no error")
	}
}

// BenchmarkMatVec measures one matrix-vector product of 64 rows of 4096 at
// every kernel level: ns/op and GB/s of weights read.
func BenchmarkMatVec(b *testing.B) {
	benchMatMul(b, 64, 4096, 1)
}

// BenchmarkMatMul4 is the same with 4 tokens sharing each weight row.
func BenchmarkMatMul4(b *testing.B) {
	benchMatMul(b, 64, 4096, 4)
}

func benchMatMul(b *testing.B, rows, cols, n int) {
	r := rand.New(rand.NewPCG(27, 28))
	for _, typ := range matmulTypes {
		rs, _ := typ.RowSize(int64(rows * cols))
		w := make([]byte, rs)
		if err := Quantize(typ, gaussian(r, rows*cols, 1), w); err != nil {
			b.Fatal(err)
		}
		x := gaussian(r, n*cols, 1)
		var a Acts
		if err := a.Prepare(typ, x, n, cols); err != nil {
			b.Fatal(err)
		}
		dst := make([]float32, n*rows)
		for _, l := range levels() {
			b.Run(fmt.Sprintf("%s/%s", typ, l), func(b *testing.B) {
				prev := SetLevel(l)
				defer SetLevel(prev)
				b.SetBytes(int64(len(w)))
				for b.Loop() {
					if err := MatMul(dst, rows, typ, w, rows, &a); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func TestFloatActivations(t *testing.T) {
	r := rand.New(rand.NewPCG(29, 30))
	defer SetFloatActivations(SetFloatActivations(true))
	for _, typ := range matmulTypes {
		const rows, cols = 3, 512
		w := quantizeRow(t, typ, r, rows*cols)
		x := gaussian(r, cols, 1)
		got := matmulAt(t, CPULevel(), typ, w, rows, x, 1, cols)
		rs := len(w) / rows
		for i := range got {
			want := Dot(typ, w[i*rs:(i+1)*rs], x)
			if d := math.Abs(float64(got[i] - want)); d > 1e-5*math.Abs(float64(want))+1e-4 {
				t.Errorf("%s row %d: MatMul with float activations = %g, Dot = %g", typ, i, got[i], want)
			}
		}
	}
}

// BenchmarkPrepare measures converting 64 rows of 2048 activations.
func BenchmarkPrepare(b *testing.B) {
	r := rand.New(rand.NewPCG(31, 32))
	const n, cols = 64, 2048
	x := gaussian(r, n*cols, 1)
	for _, typ := range []DType{Q8_0, Q4_1, Q4_K, F16, BF16} {
		b.Run(typ.String(), func(b *testing.B) {
			var a Acts
			b.SetBytes(4 * n * cols)
			for b.Loop() {
				if err := a.Prepare(typ, x, n, cols); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestConvertLevels checks that the vector activation converters produce
// exactly the portable ones' quants, scales and rounded values, on
// Gaussian rows, an all-zero block, exact halves (127/amax = 1 puts x.5 on
// a tie, which rounds to even as on x86) and values near the float32 limits.
func TestConvertLevels(t *testing.T) {
	r := rand.New(rand.NewPCG(33, 34))
	const cols = 8*32 + 256
	x := gaussian(r, 3*cols, 1)
	clear(x[32:64])
	tie := x[64:96]
	for i := range tie {
		tie[i] = float32(i%7) + 0.5
	}
	tie[0] = 127
	x[96], x[97], x[130] = 3e38, -1e-40, -3e38
	// Row 1: a zero super-block, then one whose extremes tie in
	// magnitude with opposite signs (the first one wins).
	clear(x[cols : cols+256])
	x[cols+300], x[cols+260] = 5, -5
	for _, typ := range []DType{Q8_0, F16, BF16, Q4_K, Q4_1} {
		var want Acts
		prev := SetLevel(LevelPortable)
		if err := want.Prepare(typ, x, 3, cols); err != nil {
			t.Fatal(err)
		}
		SetLevel(prev)
		for _, l := range levels()[1:] {
			prev := SetLevel(l)
			var got Acts
			err := got.Prepare(typ, x, 3, cols)
			SetLevel(prev)
			if err != nil {
				t.Fatal(err)
			}
			for i := range want.q {
				if got.q[i] != want.q[i] {
					t.Errorf("%s at %s: quant %d = %d, portable %d (x %g)", typ, l, i, got.q[i], want.q[i], x[i])
				}
			}
			for i := range want.d {
				if got.d[i] != want.d[i] {
					t.Errorf("%s at %s: scale %d = %g, portable %g", typ, l, i, got.d[i], want.d[i])
				}
			}
			for i := range want.bs {
				if got.bs[i] != want.bs[i] {
					t.Errorf("%s at %s: sum %d = %d, portable %d", typ, l, i, got.bs[i], want.bs[i])
				}
			}
			for i := range want.f {
				if got.f[i] != want.f[i] {
					t.Errorf("%s at %s: value %d = %g, portable %g", typ, l, i, got.f[i], want.f[i])
				}
			}
		}
	}
}

func TestParseLevel(t *testing.T) {
	for _, l := range []Level{LevelPortable, LevelAVX2, LevelAVX512} {
		if got, err := ParseLevel(l.String()); err != nil || got != l {
			t.Errorf("ParseLevel(%q) = %v, %v; want %v", l.String(), got, err, l)
		}
	}
	if got, err := ParseLevel("avx512"); err != nil || got != LevelAVX512 {
		t.Errorf("ParseLevel(avx512) = %v, %v", got, err)
	}
	if _, err := ParseLevel("neon"); err == nil {
		t.Error("ParseLevel(neon): no error")
	}
	// SetLevel caps at what the CPU has and returns the previous level.
	prev := SetLevel(LevelAVX512 + 5)
	if KernelLevel() != CPULevel() {
		t.Errorf("SetLevel above the CPU: level %v, want %v", KernelLevel(), CPULevel())
	}
	if back := SetLevel(prev); back != CPULevel() {
		t.Errorf("SetLevel returned %v, want %v", back, CPULevel())
	}
}
