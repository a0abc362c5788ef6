package main

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/audit"
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
		return data, filepath.Join(data, audit.DirName), nil
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
			var pub ed25519.PublicKey
			if pubHex != "" {
				if pub, err = identity.ParsePublicKey(pubHex); err != nil {
					return err
				}
			}
			// Verify never creates a key: a fresh one could not have
			// signed anything.
			rep, err := audit.VerifyDataDir(cmd.Context(), data, pub, from)
			if errors.Is(err, audit.ErrNoNodeKey) {
				return fmt.Errorf("no node key in %s: pass the node's public key with --pubkey (printed by `hearth node id`)", data)
			}
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
			n, err := audit.ExportFile(dir, out, from, to)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stderr, "exported %d records to %s\n", n, out)
			return nil
		},
	}
	f := cmd.Flags()
	f.Uint64Var(&from, "from", 0, "first seq to export")
	f.Uint64Var(&to, "to", 0, "last seq to export (0: to the end)")
	f.StringVarP(&out, "out", "o", "", "write to this file instead of stdout (replaced atomically)")
	return cmd
}
