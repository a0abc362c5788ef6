//go:build unix

package bench

import (
	"runtime"
	"syscall"
)

// PeakRSS is the process's peak resident memory in bytes, 0 if it cannot
// be read. After a run it is what the model and its caches really took,
// mapped weights included.
func PeakRSS() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	if runtime.GOOS == "darwin" {
		return ru.Maxrss // bytes there
	}
	return ru.Maxrss << 10 // KiB on Linux and the BSDs
}
