//go:build !amd64

package tensor

// Other architectures run the portable kernels. An arm64 NEON set would
// go here: a detectLevel reading golang.org/x/sys/cpu.ARM64 and a
// kernelsFor returning its functions.

func detectLevel() Level { return LevelPortable }

func kernelsFor(Level) kernelSet { return portableKernels }

func dotF32Fast(a, b []float32) (float32, bool)                                  { return 0, false }
func axpyF32Fast(y []float32, a float32, x []float32) bool                       { return false }
func expF32Fast(x []float32) bool                                                { return false }
func axpy8F32Fast(y []float32, a *[8]float32, x []float32, stride int) bool      { return false }
func attnScoresFast(q, k []float32, stride int, scale float32, s []float32) bool { return false }
func attnSumFast(out, v []float32, stride int, w []float32) bool                 { return false }
func attnScoresF16Fast(q []float32, k []uint16, stride int, scale float32, s []float32) bool {
	return false
}
func attnSumF16Fast(out []float32, v []uint16, stride int, w []float32) bool { return false }
func toF16Fast(dst []uint16, src []float32) bool                             { return false }
