package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/identity"
)

func newAuditCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify and export the tamper-evident audit log",
		Long: `The audit log (DIR/audit) records every request and admin action as a
hash-chained record, signed at intervals by the node's key. "verify" checks
it and says exactly where it was altered; "export" writes it as JSON lines.`,
	}
	dirs := func() (data, log string, err error) {
		data, err = g.dataDir()
		if err != nil {
			return "", "", err
		}
		return data, filepath.Join(data, "audit"), nil
	}
	cmd.AddCommand(newAuditVerifyCmd(g, dirs), newAuditExportCmd(g, dirs))
	return cmd
}

func newAuditVerifyCmd(g *globals, dirs func() (string, string, error)) *cobra.Command {
	var from uint64
	var pubHex string
	var allowUnsigned bool
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the audit log for any edit, deletion, insertion or reordering",
		Long: `Check every record of the audit log: its hash, its link to the record
before, and every checkpoint signature against the node's public key (from
DIR/node.key, or --pubkey to check against a key obtained independently).
Exits non-zero naming the record, file and line where the log was altered,
or when it ends in a torn (partial) record or in records no checkpoint has
signed yet; --allow-unsigned-tail accepts the latter on a live node.

The node anchors the log's head in its database (DIR/hearth.db) at every
checkpoint: a log that ends before the anchored head (a segment emptied, the
log cut back to an older checkpoint) fails, naming the records missing. With
the node key (not --pubkey) every record's MAC is checked too. Periods when
the log could not record (audit_gap records) are listed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			data, dir, err := dirs()
			if err != nil {
				return err
			}
			pub, err := auditPublicKey(data, pubHex)
			if err != nil {
				return err
			}
			o := audit.VerifyOptions{From: from}
			if pubHex == "" {
				if id, err := identity.Load(data); err == nil {
					o.MACKey = audit.MACKey(id)
				}
			}
			if o.Anchor, err = auditAnchor(cmd.Context(), data, identity.NodeID(pub)); err != nil {
				return err
			}
			rep, err := audit.VerifyWith(dir, pub, o)
			if err != nil {
				return err
			}
			printAuditSummary(g.stdout, rep, dir)
			err = rep.Err()
			if allowUnsigned && errors.Is(err, audit.ErrUnsigned) {
				fmt.Fprintf(g.stderr, "warning: %v\n", err)
				return nil
			}
			return err
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&from, "from", 0, "verify from this seq on (the link into it is taken on trust)")
	f.StringVar(&pubHex, "pubkey", "", "node public key in hex (default: the key in DIR/node.key)")
	f.BoolVar(&allowUnsigned, "allow-unsigned-tail", false, "accept records after the last checkpoint (a node still running)")
	return cmd
}

// auditPublicKey is --pubkey, or the data directory's node key. Verify never
// creates a key: a fresh one could not have signed anything.
func auditPublicKey(dataDir, pubHex string) (ed25519.PublicKey, error) {
	if pubHex != "" {
		return identity.ParsePublicKey(pubHex)
	}
	id, err := identity.Load(dataDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no node key in %s: pass the node's public key with --pubkey (printed by `hearth node id`)", dataDir)
	}
	if err != nil {
		return nil, err
	}
	return id.Public, nil
}

// auditAnchor reads the head the node anchored in its database, if there
// is a database (verify never creates one).
func auditAnchor(ctx context.Context, dataDir, node string) (*audit.Head, error) {
	if _, err := os.Stat(filepath.Join(dataDir, db.FileName)); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	d, err := db.OpenDir(dataDir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	a, err := audit.OpenDBAnchor(ctx, d)
	if err != nil {
		return nil, err
	}
	h, ok, err := a.LoadAnchor(ctx, node)
	if err != nil || !ok {
		return nil, err
	}
	return &h, nil
}

func printAuditSummary(w io.Writer, rep *audit.Report, dir string) {
	defer printAuditExtras(w, rep)
	if rep.Records == 0 && rep.Problem == nil && rep.Torn == nil {
		fmt.Fprintf(w, "audit log %s: no records\n", dir)
		return
	}
	status := "OK"
	switch {
	case rep.Problem != nil:
		status = "TAMPERING FOUND (the intact part is summarised here)"
	case rep.Torn != nil:
		status = "TORN TAIL (a partial last record)"
	case rep.Unsigned > 0:
		status = "UNSIGNED TAIL (records no checkpoint covers yet)"
	}
	fmt.Fprintf(w, "audit log %s: %s\n", dir, status)
	fmt.Fprintf(w, "  records:     %d intact (seq %d..%d) in %d segments\n", rep.Records, rep.FirstSeq, rep.LastSeq, rep.Segments)
	fmt.Fprintf(w, "  checkpoints: %d signatures verified, last at seq %d\n", rep.Checkpoints, rep.LastCheckpoint)
	if rep.Records > 0 {
		fmt.Fprintf(w, "  head:        seq %d %s\n", rep.LastSeq, rep.Head)
	}
	if rep.Unsigned > 0 {
		fmt.Fprintf(w, "  unsigned:    %d records after the last checkpoint\n", rep.Unsigned)
	}
}

// printAuditExtras: the anchor, the MACs and the log's own gaps.
func printAuditExtras(w io.Writer, rep *audit.Report) {
	if a := rep.Anchor; a != nil {
		fmt.Fprintf(w, "  anchor:      seq %d %s (the database, %s)\n", a.Seq, a.Hash, a.Time.Format(time.RFC3339))
	} else {
		fmt.Fprintf(w, "  anchor:      none in the database (a shortened log could not be told from a short one)\n")
	}
	switch {
	case rep.MACsChecked > 0:
		fmt.Fprintf(w, "  macs:        %d verified with the node key\n", rep.MACsChecked)
	case rep.Records > rep.NoMAC:
		fmt.Fprintf(w, "  macs:        not checked (needs the node key, not --pubkey)\n")
	}
	if rep.NoMAC > 0 {
		fmt.Fprintf(w, "  no mac:      %d records written before records carried MACs (covered by signatures only)\n", rep.NoMAC)
	}
	for _, g := range rep.Gaps {
		d := g.Detail
		fmt.Fprintf(w, "  gap:         seq %d: the log could not record from %s to %s; %s operations refused, %s records failed",
			g.Seq, d["failed_at"], d["recovered_at"], d["refused"], d["failed"])
		if d["unconfirmed_from"] != "" {
			fmt.Fprintf(w, "; seq %s..%s written but never confirmed", d["unconfirmed_from"], d["unconfirmed_to"])
		}
		fmt.Fprintf(w, " (%s)\n", d["error"])
	}
	for _, r := range rep.Replaced {
		fmt.Fprintf(w, "  replaced:    seq %d: this log replaced one that reached seq %s (hash %s)\n", r.Seq, r.Detail["replaced_seq"], r.Detail["replaced_hash"])
	}
}

func newAuditExportCmd(g *globals, dirs func() (string, string, error)) *cobra.Command {
	var from, to uint64
	var out string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write audit records as JSON lines (for SIEMs and external verification)",
		Long: `Write the audit records with --from <= seq <= --to as JSON lines, exactly
as stored, hashes and checkpoint signatures included, so an external system
can re-verify them. Export does not verify; run "hearth audit verify".`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, dir, err := dirs()
			if err != nil {
				return err
			}
			if to != 0 && to < from {
				return fmt.Errorf("--to %d is before --from %d", to, from)
			}
			if out == "" || out == "-" {
				_, err := audit.Export(dir, g.stdout, from, to)
				return err
			}
			return exportToFile(g, dir, out, from, to)
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&from, "from", 0, "first seq to export")
	f.Uint64Var(&to, "to", 0, "last seq to export (0: to the end)")
	f.StringVarP(&out, "out", "o", "", "write to this file instead of stdout (replaced atomically)")
	return cmd
}

// exportToFile writes the export next to path and renames it into place,
// so a failed export never leaves a truncated file that looks complete.
func exportToFile(g *globals, dir, path string, from, to uint64) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	n, err := audit.Export(dir, tmp, from, to)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	fmt.Fprintf(g.stderr, "exported %d records to %s\n", n, path)
	return nil
}
