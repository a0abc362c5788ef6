// Package atomicfile writes files that readers see whole or not at all:
// node keys, tokens, certificates, a node's client URL. The bytes go to a
// temporary file in the same directory, which is given its mode, written,
// synced and closed, and only then put in place (renamed over the old
// file, or hard-linked where the file must not already exist); the
// directory is synced last, so the new name survives a crash. A reader
// racing a writer finds the old file, the new one, or (for a file being
// created) none, never a prefix.
//
// It is modelled on tailscale's atomicfile package.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

// WriteFile writes data to path with mode perm, replacing any file there.
func WriteFile(path string, data []byte, perm fs.FileMode) error {
	return write(path, bytesOf(path, data), perm, os.Rename)
}

// WriteFunc writes what fill writes to path with mode perm, replacing
// any file there, for output too long to hold in memory (an export). If
// fill fails, the file at path is left as it was and fill's error is
// returned as it is.
func WriteFunc(path string, perm fs.FileMode, fill func(io.Writer) error) error {
	return write(path, fill, perm, os.Rename)
}

// CreateFile writes data to path with mode perm only if path does not
// exist. If it does (another process may just have created it), the file
// is left alone and the error wraps fs.ErrExist; of concurrent creators
// exactly one succeeds, and the others lose without a trace.
func CreateFile(path string, data []byte, perm fs.FileMode) error {
	return write(path, bytesOf(path, data), perm, os.Link)
}

// bytesOf is the filler of a file whose bytes are in hand.
func bytesOf(path string, data []byte) func(io.Writer) error {
	return func(w io.Writer) error {
		if _, err := w.Write(data); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
}

// write prepares the temporary file, has fill write it and hands it to
// place.
func write(path string, fill func(io.Writer) error, perm fs.FileMode, place func(oldpath, newpath string) error) (err error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	// The dot hides it from casual listings; the name says what it is if
	// a crash leaves it behind.
	tmp, err := os.CreateTemp(dir, "."+base+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmpName := tmp.Name()
	defer func() {
		if tmp != nil {
			tmp.Close()
		}
		// After a rename this is gone already; after a link it is the
		// second name, which must go.
		os.Remove(tmpName)
	}()
	// CreateTemp made it 0600 whatever the umask; Chmod sets perm exactly,
	// umask aside, before the first byte of a secret is in it.
	if err := tmp.Chmod(perm); err != nil && runtime.GOOS != "windows" {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := fill(tmp); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f := tmp
	tmp = nil
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := place(tmpName, path); err != nil {
		var le *os.LinkError
		if errors.As(err, &le) {
			err = le.Err // "link .x.tmp123 x" names the temporary file; path says enough
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(dir)
}

// syncDir makes a new directory entry durable. Windows cannot open a
// directory for syncing, and needs no such step.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}
