package dataset

import (
	"errors"
	"testing"
)

func TestParseRef(t *testing.T) {
	for _, tc := range []struct {
		ref     string
		name    string
		version int
		ok      bool
	}{
		{"support", "support", 0, true},
		{"support@3", "support", 3, true},
		{"support@0", "", 0, false},
		{"support@-1", "", 0, false},
		{"support@x", "", 0, false},
		{"support@", "", 0, false},
		{"@2", "", 0, false},
		{"", "", 0, false},
	} {
		name, version, err := ParseRef(tc.ref)
		if (err == nil) != tc.ok || name != tc.name || version != tc.version {
			t.Errorf("ParseRef(%q) = %q, %d, %v", tc.ref, name, version, err)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("ParseRef(%q): %v is not ErrInvalid", tc.ref, err)
		}
	}
}
