package audit

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/identity"
	"github.com/hearth-ai/hearth/internal/atomicfile"
)

// What a node's data directory holds of the audit: the log in DirName,
// signed with the node key (identity), its head anchored in the node's
// database (DBAnchor). The functions here are for processes other than
// the node working on that directory: the commands that verify, export
// and record into it.

// DirName is the audit log's directory in a node's data directory.
const DirName = "audit"

// ErrNoNodeKey is VerifyDataDir's error for a data directory without a
// node key when no public key was given: a key created now could not have
// signed anything.
var ErrNoNodeKey = errors.New("audit: no node key in the data directory")

// VerifyDataDir verifies the audit log of the node data directory dataDir
// from seq from on, as VerifyWith does, with what the directory holds: the
// node's public key (unless pub is given, a key obtained independently),
// the MAC key (only with the node's own key, which holds it) and the head
// the node anchored in its database (when it has one: none is created).
func VerifyDataDir(ctx context.Context, dataDir string, pub ed25519.PublicKey, from uint64) (*Report, error) {
	o := VerifyOptions{From: from}
	if pub == nil {
		id, err := identity.Load(dataDir)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s", ErrNoNodeKey, dataDir)
		}
		if err != nil {
			return nil, err
		}
		pub, o.MACKey = id.Public, MACKey(id)
	}
	var err error
	if o.Anchor, err = loadDirAnchor(ctx, dataDir, identity.NodeID(pub)); err != nil {
		return nil, err
	}
	return VerifyWith(filepath.Join(dataDir, DirName), pub, o)
}

// loadDirAnchor reads the head the node anchored in the database of
// dataDir, nil when there is no database or no anchor.
func loadDirAnchor(ctx context.Context, dataDir, node string) (*Head, error) {
	if _, err := os.Stat(filepath.Join(dataDir, db.FileName)); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	d, err := db.OpenDir(dataDir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	a, err := OpenDBAnchor(ctx, d)
	if err != nil {
		return nil, err
	}
	h, ok, err := a.LoadAnchor(ctx, node)
	if err != nil || !ok {
		return nil, err
	}
	return &h, nil
}

// ExportFile is Export into the file at path, which is replaced whole
// once the export is complete: a failed export leaves the file as it was,
// never a truncated one that looks complete.
func ExportFile(dir, path string, from, to uint64) (n int, err error) {
	err = atomicfile.WriteFunc(path, 0o600, func(w io.Writer) error {
		n, err = Export(dir, w, from, to)
		return err
	})
	return n, err
}

// OpenDataDir opens the audit log of the node data directory dataDir for
// a command. The log has one writer: when this process can take its
// lock, records are appended and signed at once; while a node serves from
// the directory they are spooled, durably, and the node appends them
// within seconds. Both sign with the node key, which is created here if
// no node has run yet (the spool takes only records signed with it) and
// returned for the records' Node. When the log does not open for another
// reason (a damaged tail, say), records are spooled until it is repaired,
// and warn (if set) is told why.
func OpenDataDir(dataDir string, warn func(error)) (Appender, *identity.Identity, error) {
	id, err := identity.LoadOrCreate(dataDir)
	if err != nil {
		return nil, nil, fmt.Errorf("node key: %w", err)
	}
	dir := filepath.Join(dataDir, DirName)
	a, _, err := OpenOrSpool(dir, id, Options{})
	if err != nil {
		if warn != nil {
			warn(err)
		}
		a = NewSpooler(dir, id)
	}
	return a, id, nil
}
