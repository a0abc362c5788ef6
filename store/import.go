package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Import copies the GGUF model at path into the store under name (name or
// name:tag; "" derives it from the file name, "stories260K.gguf" giving
// "stories260k:latest"). An existing model of that name is replaced. The
// file is copied, not linked, so later edits to the original cannot change
// a stored model behind its recorded digest.
func (s *Store) Import(ctx context.Context, path, name string) (Entry, error) {
	canon, err := nameFor(name, path)
	if err != nil {
		return Entry{}, err
	}
	info, err := inspect(path)
	if err != nil {
		return Entry{}, fmt.Errorf("store: import %s: %w", path, err)
	}
	src, err := os.Open(path)
	if err != nil {
		return Entry{}, fmt.Errorf("store: import: %w", err)
	}
	defer src.Close()
	tmp, err := os.CreateTemp(s.partialDir(), "import-*")
	if err != nil {
		return Entry{}, fmt.Errorf("store: import %s: %w", path, err)
	}
	h := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(tmp, h), ctxReader{ctx, src}, make([]byte, 1<<20))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return Entry{}, fmt.Errorf("store: import %s: copy: %w", path, err)
	}
	source, err := filepath.Abs(path)
	if err != nil {
		source = path
	}
	e := Entry{
		Name:         canon,
		Size:         n,
		Digest:       "sha256:" + hex.EncodeToString(h.Sum(nil)),
		Source:       source,
		Added:        time.Now().UTC().Truncate(time.Second),
		Architecture: info.arch,
		Parameters:   info.params,
		Quantization: info.quant,
	}
	return s.install(tmp.Name(), e)
}

// nameFor returns the canonical name to store a model under: name if
// given, else one derived from the file name or URL path from.
func nameFor(name, from string) (string, error) {
	if name == "" {
		name = NameFromFile(from)
		if name == "" {
			return "", fmt.Errorf("store: cannot derive a model name from %q; give one", from)
		}
	}
	return NormalizeName(name)
}

// install moves the finished file tmp (inside the models directory) to its
// content-addressed place and records e under its name, replacing any
// entry of that name. The file is moved and the manifest written under the
// lock, so a concurrent Remove cannot delete a file just re-used. With tmp
// "" the file must already be in the store (errGone if it is not).
func (s *Store) install(tmp string, e Entry) (Entry, error) {
	e.File = "sha256-" + e.Digest[len("sha256:"):] + ".gguf"
	dest := filepath.Join(s.dir, e.File)
	err := s.withLock(func() error {
		m, err := s.readManifest()
		if err != nil {
			return err
		}
		placed := false
		if _, err := os.Stat(dest); err == nil {
			// Same digest, same bytes: keep the file already there, which a
			// running server may have mapped.
			if tmp != "" {
				os.Remove(tmp)
			}
		} else if tmp == "" {
			return errGone
		} else if err := os.Rename(tmp, dest); err != nil {
			return fmt.Errorf("move into place: %w", err)
		} else {
			placed = true
		}
		var old string
		if i := m.find(e.Name); i >= 0 {
			old = m.Models[i].File
			m.Models[i] = e
		} else {
			m.Models = append(m.Models, e)
		}
		if err := s.writeManifest(m); err != nil {
			if placed { // no entry had these bytes before
				os.Remove(dest)
			}
			return err
		}
		if old != "" && old != e.File && !m.uses(old) {
			return s.deleteFile(old)
		}
		return nil
	})
	if err != nil {
		if tmp != "" {
			os.Remove(tmp)
		}
		return Entry{}, fmt.Errorf("store: add %s: %w", e.Name, err)
	}
	return e, nil
}

// errGone is install's answer when a file to re-use left the store.
var errGone = errors.New("model file no longer in the store")

// ctxReader stops a long copy when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
