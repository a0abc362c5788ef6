package audit

import (
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"
)

// Segment files are named after the seq of their first record, zero-padded
// so that names sort in log order: segment-00000000000000000001.jsonl.
const (
	segPrefix = "segment-"
	segSuffix = ".jsonl"
)

func segmentName(first uint64) string {
	return fmt.Sprintf("%s%020d%s", segPrefix, first, segSuffix)
}

// segment is a segment file found in the log directory.
type segment struct {
	name  string
	first uint64 // seq of its first record, from the name
}

// listSegments returns the log's segments in order.
func listSegments(fsys fs.FS) ([]segment, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, err
	}
	var segs []segment
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasPrefix(name, segPrefix) || !strings.HasSuffix(name, segSuffix) {
			continue
		}
		num := strings.TrimSuffix(strings.TrimPrefix(name, segPrefix), segSuffix)
		first, err := strconv.ParseUint(num, 10, 64)
		if err != nil || len(num) != 20 {
			return nil, fmt.Errorf("unexpected file %s in the audit directory", name)
		}
		segs = append(segs, segment{name: name, first: first})
	}
	slices.SortFunc(segs, func(a, b segment) int {
		switch {
		case a.first < b.first:
			return -1
		case a.first > b.first:
			return 1
		}
		return 0
	})
	return segs, nil
}
