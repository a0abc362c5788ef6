package audit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
)

// Export writes the records with from <= seq <= to (to 0: to the end) to w
// as JSON lines, byte for byte as they are in the log, so an external
// system can re-check hashes and signatures. It does not verify the chain
// (Verify does); a line that is not a record is an error, and a torn tail
// ends the export with an error wrapping ErrTornTail after the records
// before it were written. It returns how many records it wrote.
func Export(dir string, w io.Writer, from, to uint64) (int, error) {
	segs, err := listSegments(os.DirFS(dir))
	if err != nil {
		return 0, fmt.Errorf("audit: export: %w", err)
	}
	if len(segs) == 0 {
		return 0, fmt.Errorf("audit: export: no audit log in %s", dir)
	}
	start := 0
	for i, s := range segs {
		if s.first <= from {
			start = i
		}
	}
	rd := newReader(os.DirFS(dir), segs[start:])
	defer rd.close()
	bw := bufio.NewWriterSize(w, 1<<16)
	n := 0
	for {
		e, ok, err := rd.next()
		if err != nil {
			return n, err
		}
		if !ok {
			break
		}
		if e.torn {
			if err := bw.Flush(); err != nil {
				return n, fmt.Errorf("audit: export: %w", err)
			}
			return n, fmt.Errorf("audit: export: %w: %d bytes at %s", ErrTornTail, len(e.raw), e.at)
		}
		if e.err != nil && !errors.Is(e.err, errNotCanonical) {
			return n, fmt.Errorf("audit: export: %s: %w", e.at, e.err)
		}
		if e.rec.Seq < from || (to > 0 && e.rec.Seq > to) {
			continue
		}
		bw.Write(e.raw)
		if err := bw.WriteByte('\n'); err != nil {
			return n, fmt.Errorf("audit: export: %w", err)
		}
		n++
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("audit: export: %w", err)
	}
	return n, nil
}
