package bench

import "testing"

func TestCPUModel(t *testing.T) {
	tests := []struct {
		name, cpuinfo, want string
	}{
		{"x86", "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\nflags\t\t: fpu\n\nprocessor\t: 1\nmodel name\t: second\n", "Intel(R) Xeon(R) CPU @ 2.20GHz"},
		{"arm without a model name", "processor\t: 0\nBogoMIPS\t: 50.00\nCPU part\t: 0xd0c\n", ""},
		{"empty", "", ""},
		{"a key that only contains the words", "my model name\t: no\n", ""},
	}
	for _, tt := range tests {
		if got := cpuModel(tt.cpuinfo); got != tt.want {
			t.Errorf("%s: cpuModel = %q; want %q", tt.name, got, tt.want)
		}
	}
	if CPUName() == "" {
		t.Error("CPUName is empty")
	}
}
