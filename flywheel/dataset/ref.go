package dataset

import (
	"fmt"
	"strconv"
	"strings"
)

// RefError says why a reference is not NAME or NAME@VERSION. ParseRef
// returns it wrapped in ErrInvalid; flywheel/registry, whose adapter
// versions are named by the same rule, wraps it in its own.
type RefError struct {
	Ref    string
	Reason string
}

func (e *RefError) Error() string { return fmt.Sprintf("reference %q: %s", e.Ref, e.Reason) }

// ParseRef reads a reference to a version, NAME or NAME@VERSION, as
// commands and APIs name dataset (and adapter) versions; version 0 means
// the latest. The name follows the rule of dataset names and the version
// is written as a plain number from 1, so a reference names one version
// in one way.
func ParseRef(ref string) (name string, version int, err error) {
	name, v, versioned := strings.Cut(ref, "@")
	if !namePattern.MatchString(name) {
		return "", 0, fmt.Errorf("%w dataset %w", ErrInvalid, &RefError{ref,
			"want NAME or NAME@VERSION, the name 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"})
	}
	if !versioned {
		return name, 0, nil
	}
	if version, err = strconv.Atoi(v); err != nil || version < 1 || strconv.Itoa(version) != v {
		return "", 0, fmt.Errorf("%w dataset %w", ErrInvalid, &RefError{ref, "the version after @ must be a number from 1"})
	}
	return name, version, nil
}
