// Package store keeps the models a Hearth node can run in its data
// directory: GGUF files under DIR/models, named like Ollama models
// ("qwen2.5-0.5b-instruct:q4_k_m", tag "latest" when none is given), and a
// manifest DIR/models/manifest.json that records where each came from.
//
// Model files are stored by content as sha256-<hex>.gguf, so two names for
// the same bytes share one file and a name can be re-pointed atomically.
// The manifest is replaced atomically (temp file + rename) under a lock
// file, so concurrent hearth invocations neither corrupt it nor lose each
// other's changes; readers need no lock.
package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// EnvDataDir names the environment variable that overrides the default
// data directory.
const EnvDataDir = "HEARTH_DATA_DIR"

// ErrNotFound is returned (wrapped) for a model name the store lacks.
var ErrNotFound = errors.New("model not found")

// Entry describes one stored model.
type Entry struct {
	Name         string    `json:"name"`   // canonical name:tag
	File         string    `json:"file"`   // file name inside the models directory
	Size         int64     `json:"size"`   // bytes
	Digest       string    `json:"digest"` // "sha256:<hex>"
	Source       string    `json:"source"` // absolute path or URL it came from
	Added        time.Time `json:"added"`
	Architecture string    `json:"architecture"`
	Parameters   int64     `json:"parameters"`
	Quantization string    `json:"quantization"` // dominant weight type, e.g. "Q4_K"
}

// Store is a models directory. Its methods are safe for concurrent use, also
// by several processes.
type Store struct {
	dir string     // DIR/models
	mu  sync.Mutex // serialises this process's manifest updates
}

// DefaultDir returns the data directory to use when none is given:
// $HEARTH_DATA_DIR, else ~/.hearth.
func DefaultDir() (string, error) {
	if d := os.Getenv(EnvDataDir); d != "" {
		return d, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("store: no data directory: set %s or --data-dir (%w)", EnvDataDir, err)
	}
	return filepath.Join(home, ".hearth"), nil
}

// Open opens the store in data directory dir, creating dir/models if needed.
func Open(dir string) (*Store, error) {
	if dir == "" {
		return nil, fmt.Errorf("store: empty data directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	s := &Store{dir: filepath.Join(abs, "models")}
	// The data directory also holds the node's keys and database: if it
	// is new, it is the user's alone.
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := os.MkdirAll(s.partialDir(), 0o755); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	s.sweepImports()
	return s, nil
}

// Dir returns the models directory.
func (s *Store) Dir() string { return s.dir }

// partialDir holds downloads and copies in progress; it is inside the
// models directory so finished files move into place with a rename.
func (s *Store) partialDir() string { return filepath.Join(s.dir, ".partial") }

// staleImport is the age at which a temporary import copy is taken to be
// left by a process that died; downloads are kept, since they resume.
const staleImport = 24 * time.Hour

// sweepImports deletes import copies that a crashed process left behind.
func (s *Store) sweepImports() {
	old, _ := filepath.Glob(filepath.Join(s.partialDir(), "import-*"))
	for _, p := range old {
		if st, err := os.Stat(p); err == nil && time.Since(st.ModTime()) > staleImport {
			os.Remove(p)
		}
	}
}

// List returns every model, sorted by name.
func (s *Store) List() ([]Entry, error) {
	m, err := s.readManifest()
	if err != nil {
		return nil, err
	}
	out := append([]Entry{}, m.Models...) // never nil: an empty store lists as []
	slices.SortFunc(out, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Get returns the entry for name (name or name:tag).
func (s *Store) Get(name string) (Entry, error) {
	canon, err := NormalizeName(name)
	if err != nil {
		return Entry{}, err
	}
	m, err := s.readManifest()
	if err != nil {
		return Entry{}, err
	}
	if i := m.find(canon); i >= 0 {
		return m.Models[i], nil
	}
	return Entry{}, fmt.Errorf("store: model %q: %w", canon, ErrNotFound)
}

// Path returns the path of the model file for name.
func (s *Store) Path(name string) (string, error) {
	e, err := s.Get(name)
	if err != nil {
		return "", err
	}
	return s.filePath(e)
}

// filePath resolves an entry's file, refusing names a hand-edited manifest
// might use to point outside the models directory.
func (s *Store) filePath(e Entry) (string, error) {
	if e.File == "" || e.File != filepath.Base(e.File) || strings.HasPrefix(e.File, ".") {
		return "", fmt.Errorf("store: model %q: manifest names file %q, which is not a file in %s", e.Name, e.File, s.dir)
	}
	return filepath.Join(s.dir, e.File), nil
}

// Remove deletes the model name; its file goes too unless another name
// shares it.
func (s *Store) Remove(name string) error {
	canon, err := NormalizeName(name)
	if err != nil {
		return err
	}
	return s.withLock(func() error {
		m, err := s.readManifest()
		if err != nil {
			return err
		}
		i := m.find(canon)
		if i < 0 {
			return fmt.Errorf("store: remove %q: %w", canon, ErrNotFound)
		}
		e := m.Models[i]
		m.Models = slices.Delete(m.Models, i, i+1)
		if err := s.writeManifest(m); err != nil {
			return err
		}
		if m.uses(e.File) {
			return nil
		}
		return s.deleteFile(e.File)
	})
}

// deleteFile removes a model file no entry refers to any more. Callers hold
// the lock and have written the manifest first, so a crash leaves a stray
// file, never an entry without its file.
func (s *Store) deleteFile(file string) error {
	if file == "" {
		return nil
	}
	p, err := s.filePath(Entry{File: file})
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("store: delete model file: %w", err)
	}
	return nil
}
