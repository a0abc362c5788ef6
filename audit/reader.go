package audit

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
)

// Position is where a line sits in the log: the segment file, the line's
// number in it (from 1) and its byte offset.
type Position struct {
	File   string
	Line   int
	Offset int64
}

func (p Position) String() string {
	return fmt.Sprintf("%s line %d (byte %d)", p.File, p.Line, p.Offset)
}

// entry is one line read from the log.
type entry struct {
	rec     Record
	raw     []byte // the line without its newline
	at      Position
	err     error // the line is not a valid record (errNotCanonical: valid but not canonical)
	torn    bool  // the line has no newline: the end of a segment file
	lastSeg bool  // the line is in the last segment
}

var errNotCanonical = errors.New("the line is not the canonical encoding of its record (bytes changed without changing the values)")

// reader reads the lines of a sequence of segments in order.
type reader struct {
	fsys fs.FS
	segs []segment
	i    int // index of the open segment in segs
	f    fs.File
	br   *bufio.Reader
	line int
	off  int64
}

func newReader(fsys fs.FS, segs []segment) *reader {
	return &reader{fsys: fsys, segs: segs, i: -1}
}

func (rd *reader) close() {
	if rd.f != nil {
		rd.f.Close()
		rd.f = nil
	}
}

// next returns the next line, or ok false at the end of the log.
func (rd *reader) next() (e entry, ok bool, err error) {
	for {
		if rd.f == nil {
			if rd.i+1 >= len(rd.segs) {
				return entry{}, false, nil
			}
			rd.i++
			f, err := rd.fsys.Open(rd.segs[rd.i].name)
			if err != nil {
				return entry{}, false, fmt.Errorf("audit: %w", err)
			}
			rd.f, rd.line, rd.off = f, 0, 0
			if rd.br == nil {
				rd.br = bufio.NewReaderSize(f, 64<<10)
			} else {
				rd.br.Reset(f)
			}
		}
		b, err := rd.br.ReadBytes('\n')
		if len(b) == 0 && err == io.EOF {
			rd.close()
			continue
		}
		if err != nil && err != io.EOF {
			return entry{}, false, fmt.Errorf("audit: read %s: %w", rd.segs[rd.i].name, err)
		}
		rd.line++
		e := entry{at: Position{File: rd.segs[rd.i].name, Line: rd.line, Offset: rd.off}, lastSeg: rd.i == len(rd.segs)-1}
		rd.off += int64(len(b))
		if err == io.EOF {
			e.torn = true
			e.raw = b
			return e, true, nil
		}
		e.raw = b[:len(b)-1]
		e.rec, e.err = decodeLine(e.raw)
		return e, true, nil
	}
}
