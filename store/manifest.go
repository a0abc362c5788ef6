package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// ErrCorruptManifest is returned (wrapped) when manifest.json cannot be
// read as a manifest. The store then refuses to change it rather than
// overwrite what may be repairable by hand.
var ErrCorruptManifest = errors.New("corrupt manifest")

const (
	manifestName    = "manifest.json"
	manifestVersion = 1
)

type manifest struct {
	Version int     `json:"version"`
	Models  []Entry `json:"models"`
}

func (m *manifest) find(name string) int {
	for i := range m.Models {
		if m.Models[i].Name == name {
			return i
		}
	}
	return -1
}

// uses reports whether any entry refers to file.
func (m *manifest) uses(file string) bool {
	for i := range m.Models {
		if m.Models[i].File == file {
			return true
		}
	}
	return false
}

func (s *Store) manifestPath() string { return filepath.Join(s.dir, manifestName) }

// readManifest loads the manifest; a missing one is an empty store.
func (s *Store) readManifest() (*manifest, error) {
	path := s.manifestPath()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &manifest{Version: manifestVersion}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: read manifest: %w", err)
	}
	corrupt := func(why any) error {
		return fmt.Errorf("store: %w %s: %v; repair or move it aside (the model files next to it are untouched)",
			ErrCorruptManifest, path, why)
	}
	var m manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, corrupt(err)
	}
	if m.Version != manifestVersion {
		return nil, corrupt(fmt.Sprintf("version %d, this hearth reads version %d", m.Version, manifestVersion))
	}
	seen := map[string]bool{}
	for _, e := range m.Models {
		if _, err := NormalizeName(e.Name); err != nil || seen[e.Name] {
			return nil, corrupt(fmt.Sprintf("bad or repeated model name %q", e.Name))
		}
		seen[e.Name] = true
	}
	// Manifests written before sources were redacted may hold a URL's
	// credentials or token: never hand them out.
	for i := range m.Models {
		m.Models[i].Source = redactSource(m.Models[i].Source)
	}
	return &m, nil
}

// writeManifest replaces the manifest atomically: readers see the old or
// the new file, never a torn one. Callers hold the lock.
func (s *Store) writeManifest(m *manifest) error {
	m.Version = manifestVersion
	if m.Models == nil {
		m.Models = []Entry{}
	}
	for i := range m.Models {
		m.Models[i].Source = redactSource(m.Models[i].Source)
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("store: encode manifest: %w", err)
	}
	data = append(data, '\n')
	tmp, err := os.CreateTemp(s.dir, ".manifest-*.tmp")
	if err != nil {
		return fmt.Errorf("store: write manifest: %w", err)
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), s.manifestPath())
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("store: write manifest: %w", err)
	}
	return nil
}

// withLock runs fn holding the store's lock: a mutex against this
// process's goroutines and a lock file against other processes.
func (s *Store) withLock(fn func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	unlock, err := lockFile(filepath.Join(s.dir, ".lock"), true)
	if err != nil {
		return fmt.Errorf("store: lock %s: %w", s.dir, err)
	}
	defer unlock()
	return fn()
}

// redactSource redacts a source that is a URL; a file path stays as it is.
func redactSource(src string) string {
	if strings.Contains(src, "://") {
		return RedactURL(src)
	}
	return src
}
