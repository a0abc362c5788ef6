package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"

	"github.com/hearth-ai/hearth/engine/adapter"
	"github.com/hearth-ai/hearth/engine/gguf"
)

// BaseOf describes the base model file at path, as lineage and CheckBase
// name it: name as given, the hex SHA-256 of the file and its
// general.architecture. Hashing reads the whole file, so callers that
// already know the digest (finetune.Result.BaseDigest) fill Base
// themselves.
func BaseOf(name, path string) (Base, error) {
	g, err := gguf.Open(path)
	if err != nil {
		return Base{}, fmt.Errorf("registry: base %s: %w", name, err)
	}
	arch := g.Architecture()
	g.Close()
	f, err := os.Open(path)
	if err != nil {
		return Base{}, fmt.Errorf("registry: base %s: %w", name, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return Base{}, fmt.Errorf("registry: base %s: %w", name, err)
	}
	return Base{Name: name, Digest: hex.EncodeToString(h.Sum(nil)), Arch: arch}, nil
}

// Adapter returns the adapter ref (NAME or NAME@VERSION) names in the
// tenant's registry, decoded, for use on base: a version trained on
// another base file or architecture is ErrBaseMismatch, naming both.
func (s *Store) Adapter(ctx context.Context, tenantID, ref string, base Base) (*adapter.Adapter, *Version, error) {
	name, version, err := ParseRef(ref)
	if err != nil {
		return nil, nil, err
	}
	v, err := s.Get(ctx, tenantID, name, version)
	if err != nil {
		return nil, nil, err
	}
	// The cheap check first: a mismatch needs no unsealing.
	if err := v.CheckBase(base.Digest, base.Arch); err != nil {
		return nil, nil, err
	}
	plain, v, err := s.Open(ctx, tenantID, v.Name, v.Version)
	if err != nil {
		return nil, nil, err
	}
	a, err := adapter.Parse(plain, v.Ref())
	if err != nil {
		return nil, nil, fmt.Errorf("registry: %s: %w", v.Ref(), err)
	}
	return a, v, nil
}
