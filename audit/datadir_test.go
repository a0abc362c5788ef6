package audit

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/identity"
)

// TestVerifyDataDir: the node key, its MACs and the database's anchor are
// found in the data directory; a log cut back before the anchor fails.
func TestVerifyDataDir(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	if _, err := VerifyDataDir(ctx, data, nil, 0); !errors.Is(err, ErrNoNodeKey) {
		t.Fatalf("verify without a node key: %v; want ErrNoNodeKey", err)
	}
	id, err := identity.LoadOrCreate(data)
	if err != nil {
		t.Fatal(err)
	}
	d, err := db.OpenDir(data)
	if err != nil {
		t.Fatal(err)
	}
	anchor, err := OpenDBAnchor(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	writeLog(t, filepath.Join(data, DirName), id, 20, Options{Anchor: anchor})
	d.Close()

	rep, err := VerifyDataDir(ctx, data, nil, 0)
	if err != nil || rep.Err() != nil {
		t.Fatalf("verify: %v %v", err, rep.Err())
	}
	if rep.Anchor == nil || rep.Anchor.Seq != rep.LastSeq || rep.MACsChecked == 0 {
		t.Errorf("report %+v: want the anchor at the head and the MACs checked with the node key", rep)
	}
	// With a public key given, the MACs cannot be checked; the anchor
	// still is.
	rep, err = VerifyDataDir(ctx, data, id.Public, 0)
	if err != nil || rep.Err() != nil || rep.MACsChecked != 0 || rep.Anchor == nil {
		t.Errorf("verify with --pubkey: %v %v %+v", err, rep.Err(), rep)
	}
	// A log emptied back to nothing is found out by the anchor.
	segs, _ := filepath.Glob(filepath.Join(data, DirName, "*"))
	for _, s := range segs {
		os.Remove(s)
	}
	writeLog(t, filepath.Join(data, DirName), id, 1, Options{})
	if rep, err := VerifyDataDir(ctx, data, nil, 0); err != nil || rep.Err() == nil {
		t.Errorf("a log shortened below its anchor verified: %v", err)
	}
}

func TestExportFile(t *testing.T) {
	dir := t.TempDir()
	writeLog(t, dir, testID(1), 12, Options{})
	path := filepath.Join(t.TempDir(), "out.jsonl")
	n, err := ExportFile(dir, path, 3, 7)
	if err != nil || n != 5 {
		t.Fatalf("ExportFile = %d, %v; want 5 records", n, err)
	}
	b, _ := os.ReadFile(path)
	if strings.Count(string(b), "\n") != 5 {
		t.Errorf("the file holds %d lines; want 5", strings.Count(string(b), "\n"))
	}
	if _, err := ExportFile(t.TempDir(), path, 0, 0); err == nil {
		t.Error("export of a missing log succeeded")
	}
	if b2, _ := os.ReadFile(path); string(b2) != string(b) {
		t.Error("a failed export changed the file")
	}
}

func TestOpenDataDir(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	a, id, err := OpenDataDir(data, func(err error) { t.Errorf("warned: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := a.(*Log); !ok {
		t.Errorf("with no writer, OpenDataDir gave a %T; want the log", a)
	}
	if _, err := a.Append(ctx, adminRecord("tenant.create")); err != nil {
		t.Fatal(err)
	}
	// While the log is held (a node serving), records are spooled.
	b, id2, err := OpenDataDir(data, func(err error) { t.Errorf("warned: %v", err) })
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.(*Spooler); !ok || !id2.Public.Equal(id.Public) {
		t.Errorf("with the log held, OpenDataDir gave a %T with key %x; want a Spooler with the node key", b, id2.Public)
	}
	b.Close()
	a.Close()
	// A log that does not open (its directory is a file) spools, saying why.
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, DirName), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	var warned error
	c, _, err := OpenDataDir(bad, func(err error) { warned = err })
	if err != nil || warned == nil {
		t.Fatalf("OpenDataDir on a broken log: %v, warned %v; want a spooler and a warning", err, warned)
	}
	if _, ok := c.(*Spooler); !ok {
		t.Errorf("on a broken log OpenDataDir gave a %T; want a Spooler", c)
	}
}
