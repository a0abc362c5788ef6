package parallel

import (
	"bufio"
	"os"
	"runtime"
	"strings"
)

// PhysicalCores returns the number of physical cores, counting each
// (physical id, core id) pair of /proc/cpuinfo once, so hyper-threads do not
// count twice: compute-bound kernels gain nothing from a core's second
// thread. Where /proc/cpuinfo cannot be read it returns runtime.NumCPU().
func PhysicalCores() int {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.NumCPU()
	}
	defer f.Close()
	cores := map[string]bool{}
	var phys string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(key) {
		case "physical id":
			phys = strings.TrimSpace(val)
		case "core id":
			cores[phys+"/"+strings.TrimSpace(val)] = true
		}
	}
	if len(cores) == 0 {
		return runtime.NumCPU()
	}
	// A process limited to fewer CPUs (taskset, cgroups) gets no more.
	return min(len(cores), runtime.NumCPU())
}
