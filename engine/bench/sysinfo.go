package bench

import (
	"os"
	"runtime"
	"strings"
)

// CPUName is the processor's model name as /proc/cpuinfo gives it, what
// llama-bench reports as cpu_info; where there is none (not Linux, or an
// ARM kernel that names no model) it is the architecture, e.g. "arm64".
func CPUName() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	if name := cpuModel(string(b)); name != "" {
		return name
	}
	return runtime.GOARCH
}

// cpuModel returns the first "model name" of a /proc/cpuinfo text, "" if it
// has none.
func cpuModel(cpuinfo string) string {
	for _, line := range strings.Split(cpuinfo, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
