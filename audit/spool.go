package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-ai/hearth/identity"
)

// The spool is how a process that cannot take the writer lock (a CLI
// command run while the node serves) still gets its records into the
// log: it writes each record durably as a file of its own in DIR/spool,
// and the writer appends the files to the chain (when it opens the log,
// and every Options.SpoolInterval while it runs) and only then removes
// them. See IngestSpool for why a record is appended once.
const (
	// SpoolDirName is the spool's directory inside the log directory.
	SpoolDirName = "spool"
	// DetailSpoolID is the Detail key carrying a spooled record's unique
	// id, from the spooler to the chain.
	DetailSpoolID = "spool_id"
	// DetailSpooledAt is the Detail key the writer adds on ingestion: when
	// the record was spooled (its Time is when the writer appended it).
	DetailSpooledAt = "spooled_at"
	// maxSpoolFile bounds a spool file; a record is a few hundred bytes.
	maxSpoolFile = 1 << 20
)

// ErrLocked is wrapped by Open's error when another process holds the
// log's writer lock.
var ErrLocked = errors.New("audit: the log is held by another writer")

// spoolName is "<spool time, Unix ns, 20 digits>-<16 hex digits>.json":
// names sort in spool order, and the stem is the record's spool id.
var spoolName = regexp.MustCompile(`^([0-9]{20})-[0-9a-f]{16}\.json$`)

const spoolTmpPrefix = ".tmp-"

// Spool writes r into the spool of the log in dir, for the log's writer
// to append. It sets r.Time (if zero) and Detail[DetailSpoolID] and
// returns the record as spooled (Seq 0: not yet in the chain). When Spool
// returns nil the record is on stable storage: written to a temporary
// file, synced, renamed into place and the directory synced, so the
// writer sees it whole or not at all.
//
// The record is signed with the node key (id; the CLI runs on the node's
// data directory and reads DATA/node.key), and the writer appends only
// spool files whose signature holds and whose kind is one other
// processes write (Options.SpoolKinds): a file dropped into spool/ by
// someone without the key is quarantined, not appended.
func Spool(dir string, id *identity.Identity, r Record) (Record, error) {
	return spoolAt(dir, id, r, time.Now)
}

// spoolDomain separates spool signatures from checkpoint signatures.
const spoolDomain = "hearth-audit-spool-v1\x00"

// spoolMessage is what a spool file's signature covers: the record's
// hash with no chain fields and no signature.
func spoolMessage(r Record) []byte {
	r.Seq, r.Prev, r.Hash, r.Sig, r.Mac = 0, "", "", "", ""
	return append([]byte(spoolDomain), r.ComputeHash()...)
}

func spoolAt(dir string, id *identity.Identity, r Record, now func() time.Time) (Record, error) {
	if id == nil || len(id.Private) != ed25519.PrivateKeySize {
		return Record{}, errors.New("audit: spool: no node key to sign the record with")
	}
	switch {
	case r.Kind == "":
		return Record{}, errors.New("audit: spool: record has no kind")
	case ownKind(r.Kind):
		return Record{}, fmt.Errorf("audit: spool: kind %q is written by the log itself", r.Kind)
	case r.Sig != "":
		return Record{}, errors.New("audit: spool: only checkpoints carry a signature")
	}
	r.Seq, r.Prev, r.Hash = 0, "", ""
	t := now()
	if r.Time.IsZero() {
		r.Time = t
	}
	var rnd [8]byte
	rand.Read(rnd[:])
	sid := fmt.Sprintf("%020d-%s", t.UnixNano(), hex.EncodeToString(rnd[:]))
	d := make(map[string]string, len(r.Detail)+1)
	for k, v := range r.Detail {
		d[k] = v
	}
	d[DetailSpoolID] = sid
	r.Detail = d
	if err := normalize(&r); err != nil {
		return Record{}, err
	}
	r.Sig = hex.EncodeToString(ed25519.Sign(id.Private, spoolMessage(r)))
	data, err := json.Marshal(&r)
	if err != nil {
		return Record{}, fmt.Errorf("audit: spool: %w", err)
	}
	sdir := filepath.Join(dir, SpoolDirName)
	if err := os.MkdirAll(sdir, 0o700); err != nil {
		return Record{}, fmt.Errorf("audit: spool: %w", err)
	}
	tmp, err := os.CreateTemp(sdir, spoolTmpPrefix+"*")
	if err != nil {
		return Record{}, fmt.Errorf("audit: spool: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	_, err = tmp.Write(append(data, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(sdir, sid+".json"))
	}
	if err != nil {
		return Record{}, fmt.Errorf("audit: spool: %w", err)
	}
	if err := syncDir(sdir); err != nil {
		return Record{}, err
	}
	r.Sig = ""
	return r, nil
}

// DefaultSpoolKinds are the kinds the command line spools: tenant and key
// changes ("admin"), capture exports, erasures and shreds ("capture"), and
// adapters registered, exported, retired and deleted ("adapter"), and
// rollouts started, promoted and rolled back ("rollout").
var DefaultSpoolKinds = []string{KindAdmin, "capture", "adapter", "rollout"}

// parseSpooled reads a spool file's record and checks that it is one the
// writer may append: a single record of a kind in kinds, signed with the
// node key pub, not chained yet, carrying the spool id its file is named
// by. The record it returns has no signature.
func parseSpooled(name string, data []byte, pub ed25519.PublicKey, kinds []string) (Record, error) {
	if len(data) > maxSpoolFile {
		return Record{}, fmt.Errorf("%d bytes, more than the %d a spooled record may have", len(data), maxSpoolFile)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var r Record
	if err := dec.Decode(&r); err != nil {
		return Record{}, fmt.Errorf("not a record: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Record{}, errors.New("not a record: data after the record")
	}
	stem := name[:len(name)-len(".json")]
	switch {
	case r.Kind == "":
		return Record{}, errors.New("the record has no kind")
	case ownKind(r.Kind):
		return Record{}, fmt.Errorf("kind %q is written by the log itself", r.Kind)
	case !slices.Contains(kinds, r.Kind):
		return Record{}, fmt.Errorf("kind %q is not one other processes spool (%s)", r.Kind, strings.Join(kinds, ", "))
	case r.Seq != 0 || r.Prev != "" || r.Hash != "" || r.Mac != "":
		return Record{}, errors.New("the record carries chain fields (seq, prev, hash or mac)")
	case r.Sig == "":
		return Record{}, errors.New("the record is not signed (spooled by a process without the node key, or before spool files were signed)")
	case r.Time.IsZero():
		return Record{}, errors.New("the record has no time")
	case r.Detail[DetailSpoolID] != stem:
		return Record{}, fmt.Errorf("spool id %q does not match the file name", r.Detail[DetailSpoolID])
	}
	sig, err := hex.DecodeString(r.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize || !ed25519.Verify(pub, spoolMessage(r), sig) {
		return Record{}, errors.New("the signature does not verify with this node's key")
	}
	r.Sig = ""
	return r, nil
}

// spoolTime is the spool time in a spool file's name.
func spoolTime(name string) time.Time {
	m := spoolName.FindStringSubmatch(name)
	if m == nil {
		return time.Time{}
	}
	ns, _ := strconv.ParseInt(m[1], 10, 64)
	return time.Unix(0, ns)
}

// Appender is what a process records into: an open *Log, or a *Spooler
// when another process holds the log.
type Appender interface {
	Append(ctx context.Context, r Record) (Record, error)
	Close() error
}

// Spooler appends by spooling: each Append is a Spool.
type Spooler struct {
	dir string
	id  *identity.Identity
}

// NewSpooler returns an Appender that spools records for the log in dir,
// signed with the node key id.
func NewSpooler(dir string, id *identity.Identity) *Spooler { return &Spooler{dir: dir, id: id} }

// Append spools r; the record it returns has no Seq yet.
func (s *Spooler) Append(ctx context.Context, r Record) (Record, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, fmt.Errorf("audit: spool: %w", err)
	}
	return Spool(s.dir, s.id, r)
}

// Close does nothing: every Append is durable when it returns.
func (s *Spooler) Close() error { return nil }

// OpenOrSpool opens the log in dir for appending when this process can
// take its writer lock, and otherwise returns a Spooler for it, so that a
// record is kept whether or not a node is running. spooled says which it
// did. Other failures to open are errors: the caller may still Spool.
func OpenOrSpool(dir string, id *identity.Identity, opts Options) (a Appender, spooled bool, err error) {
	if id == nil {
		return nil, false, errors.New("audit: no node key: records are appended or spooled with it")
	}
	l, err := Open(dir, id, opts)
	if errors.Is(err, ErrLocked) {
		return NewSpooler(dir, id), true, nil
	}
	if err != nil {
		return nil, false, err
	}
	return l, false, nil
}
