package tensor

import "fmt"

// Level is a set of CPU features the matrix kernels may use.
type Level int

// The kernel levels, each a superset of the one before on its architecture.
const (
	LevelPortable Level = iota // plain Go, every architecture
	LevelAVX2                  // amd64: AVX2, FMA and F16C
	LevelAVX512                // amd64: AVX-512 F/BW/VL with VNNI, on top of AVX2
)

func (l Level) String() string {
	switch l {
	case LevelPortable:
		return "portable"
	case LevelAVX2:
		return "avx2"
	case LevelAVX512:
		return "avx512-vnni"
	}
	return "level(?)"
}

// ParseLevel returns the level named s, as Level.String spells it
// ("portable", "avx2", "avx512-vnni"; "avx512" is accepted too), so that a
// command-line flag can cap the kernels, for instance to measure what a
// CPU without AVX-512 would get.
func ParseLevel(s string) (Level, error) {
	for l := LevelPortable; l <= LevelAVX512; l++ {
		if s == l.String() {
			return l, nil
		}
	}
	if s == "avx512" {
		return LevelAVX512, nil
	}
	return 0, fmt.Errorf("tensor: unknown kernel level %q (portable, avx2, avx512-vnni)", s)
}

var (
	cpuLevel = detectLevel()
	level    = cpuLevel
	active   = kernelsFor(cpuLevel)
)

// CPULevel returns the best kernel level this CPU supports.
func CPULevel() Level { return cpuLevel }

// KernelLevel returns the level of the kernels in use.
func KernelLevel() Level { return level }

// SetLevel makes the matrix kernels use at most level l (capped at what the
// CPU supports) and returns the previous level. It exists so that tests and
// benchmarks can compare the fast kernels with the portable ones in one
// run; it must not be called while products are running.
func SetLevel(l Level) Level {
	prev := level
	level = min(max(l, LevelPortable), cpuLevel)
	active = kernelsFor(level)
	return prev
}
