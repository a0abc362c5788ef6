package dataset

import (
	"fmt"
	"strconv"
	"strings"
)

// ParseRef reads a dataset reference, NAME or NAME@VERSION, as commands
// and APIs take it; version 0 means the latest.
func ParseRef(ref string) (name string, version int, err error) {
	name, v, versioned := strings.Cut(ref, "@")
	if name == "" {
		return "", 0, fmt.Errorf("%w: dataset %q: no name", ErrInvalid, ref)
	}
	if !versioned {
		return name, 0, nil
	}
	version, err = strconv.Atoi(v)
	if err != nil || version < 1 {
		return "", 0, fmt.Errorf("%w: dataset %q: the version after @ must be a number from 1", ErrInvalid, ref)
	}
	return name, version, nil
}
