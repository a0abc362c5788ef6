package synth

import (
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/engine/tensor"
)

func TestShapeNamed(t *testing.T) {
	if got := strings.Join(ShapeNames(), ","); got != "tinyllama-1.1b,200m,tiny256" {
		t.Errorf("ShapeNames = %s", got)
	}
	tests := []struct {
		name    string
		wantDim int
		wantErr string
	}{
		{"200m", 1024, ""},
		{"tiny256", 256, ""},
		{"200M", 0, `unknown shape "200M" (shapes: tinyllama-1.1b, 200m, tiny256)`},
		{"", 0, `unknown shape ""`},
	}
	for _, tt := range tests {
		sh, err := ShapeNamed(tt.name)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ShapeNamed(%q): %v; want an error with %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || sh.Name != tt.name || sh.Dim != tt.wantDim {
			t.Errorf("ShapeNamed(%q) = %+v, %v; want dim %d", tt.name, sh, err, tt.wantDim)
		}
	}
}

func TestShapeSpec(t *testing.T) {
	sh, err := ShapeNamed("tiny256")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		typ      string
		wantType tensor.DType
		wantMix  bool
		wantErr  bool
	}{
		{"Q8_0", tensor.Q8_0, false, false},
		{"q4_k_m", tensor.Q4_K, true, false},
		{"Q9_9", 0, false, true},
	}
	for _, tt := range tests {
		s, err := sh.Spec(tt.typ, 3)
		if tt.wantErr {
			if err == nil {
				t.Errorf("Spec(%q) accepted", tt.typ)
			}
			continue
		}
		if err != nil || s.Type != tt.wantType || (s.TypeFor != nil) != tt.wantMix || s.Seed != 3 || s.Dim != sh.Dim || s.Name != "tiny256-"+strings.ToLower(tt.typ) {
			t.Errorf("Spec(%q) = %+v, %v", tt.typ, s, err)
		}
	}
}
