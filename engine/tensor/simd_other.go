//go:build !amd64

package tensor

// Other architectures run the portable kernels. An arm64 NEON set would
// go here: a detectLevel reading golang.org/x/sys/cpu.ARM64 and a
// kernelsFor returning its functions.

func detectLevel() Level { return LevelPortable }

func kernelsFor(Level) kernelSet { return portableKernels }
