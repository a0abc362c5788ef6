// Package audit is a node's tamper-evident audit log: every request and
// admin action appends a record (who, which model, where, the policy
// decision, token counts and hashes of prompt and output, never the text);
// the records form a hash chain that the node signs at intervals with its
// ed25519 key, so an auditor holding only the public key can check that no
// record was altered, dropped, added or moved.
//
// # Files
//
// The log lives in one directory (DATA/audit):
//
//	segment-<first seq, 20 digits>.jsonl   records, one JSON object a line
//	quarantine/<segment>.<offset>.torn     torn tails moved aside on recovery
//	quarantine/<segment>.<offset>.forged   unsigned records whose MAC failed, moved aside on open
//	quarantine/spool.<file>.bad            spool files that were not valid, signed records
//	spool/<spool id>.json                  records from other processes, waiting
//	LOCK                                   held (flock) by the one writer
//
// A segment is started when the current one would pass Options.SegmentBytes.
// Each line is the compact encoding/json form of a Record followed by "\n";
// Verify requires every line to be exactly that encoding of the values it
// holds, so no byte can change unnoticed.
//
// # Hash
//
// Record.Hash is the lowercase hex sha256 of this byte string (str(s) is
// uvarint(len(s)) followed by the bytes of s; u64 is 8 bytes big-endian):
//
//	"hearth-audit-record-v1\x00"  u64(Seq)  str(Time in UTC, RFC 3339 with nanoseconds, trailing zeros dropped)
//	str(Kind) str(Node) str(Tenant) str(KeyID) str(Model) str(Jurisdiction)
//	str(Decision) str(Reason) str(ResponseID)
//	u64(PromptTokens) u64(CompletionTokens)   (two's complement)
//	str(PromptHash) str(OutputHash)
//	uvarint(len(Detail)) then str(key) str(value) for each entry, keys in byte order
//	str(Sig) str(Prev)
//	str(Mac)                                  (only when the record has a MAC)
//
// Prev is the Hash of the record before ("" for seq 1): changing, removing,
// adding or moving any record breaks the chain at that point.
//
// # MACs
//
// Record.Mac is the hex HMAC-SHA256 of everything above but str(Mac),
// under a key derived from the node's ed25519 seed with HKDF-SHA256
// (label "hearth-audit-record-mac-v1"). The hash covers the MAC, so it
// cannot be stripped without breaking the chain. Checkpoints are signed
// only every so often; the MAC is what vouches for a record in between to
// whoever holds the node key: after an unclean stop Open checks the MAC of
// every record after the last checkpoint before it signs them. The first
// that fails (a wrong MAC, or none where the records before it have one)
// and everything after it in its segment are copied to quarantine/, the
// segment is cut there, and a "recovery" record names them (seq, count,
// sha256, reason) with an error log line: forged records are reported,
// never signed. Records written before MACs existed carry none; they are
// accepted while no record before them has one, and Verify counts them
// (Report.NoMAC). Verify checks MACs when given the key
// (VerifyOptions.MACKey; `hearth audit verify` does with DATA/node.key),
// and without it still requires that no MAC goes missing. The append's
// cost is one HMAC over a few hundred bytes more, next to its fsync.
//
// # Checkpoints
//
// A checkpoint is a record of kind "checkpoint" the log writes after every
// Options.CheckpointEvery records (default 1000), when records have waited
// Options.CheckpointInterval (default 1 minute), on Close, and on Open after
// an unclean shutdown. Its Sig is the hex ed25519 signature by the node key
// of
//
//	"hearth-audit-checkpoint-v1\x00" u64(Seq) str(Prev) str(Time) str(Node)
//
// that is, of the chain head (the hash of record Seq-1, which covers every
// record before it). Someone without the key can rewrite the whole chain
// consistently, but not its signatures.
//
// # Durability and crashes
//
// Append writes the line with one write call and returns after fsync.
// Concurrent Appends share fsyncs (group commit): a caller whose record is
// not yet synced waits for the fsync in flight or starts one covering every
// record written so far. A lone caller pays one fsync per record (about
// 0.26 ms on the development VM's ext4); 32 concurrent callers shared one
// fsync among ~16 records. Where that latency is too much for the request
// path, Options.SyncInterval acknowledges once the record is written to the
// file (safe against a process crash, since the kernel holds the data) and
// fsyncs in the background within the interval (a power loss can lose what
// was acknowledged in that window); Log.Sync waits for durability on
// demand. Options.NoSync, for tests and benchmarks, never syncs.
//
// A crash can leave a partial last line (a torn tail). Verify reports it
// (TornTail) after verifying every complete record. Open copies the torn
// bytes to quarantine/, syncs that, only then truncates the segment, and
// appends a "recovery" record (file, offset, length and sha256 of the torn
// bytes) and a checkpoint, so the chain itself records what happened.
// Records written after the last checkpoint by a process that crashed are
// signed by that same recovery checkpoint, once their MACs are checked.
//
// # Failing closed
//
// Hearth's promise is that every decision is recorded, so a log that
// cannot make records durable (a write or an fsync fails: a full disk, an
// immutable or read-only file, an I/O error) stops the node's decisions
// instead of letting them go unrecorded:
//
//   - The first failure puts the log in a failed state (an atomic pointer:
//     checking it costs a load, not an fsync). Appends return an error
//     wrapping ErrUnavailable that names the log, the time and the cause;
//     Preflight and Healthy report the same; Stats feeds the metrics
//     hearth_audit_append_failures_total and hearth_audit_log_healthy;
//     one error line goes to the log.
//   - Callers refuse up front while it is failed: access.Gate's Admit
//     answers inference requests 503 with Retry-After before any work, and
//     the admin API refuses changes; /readyz reports not ready with the
//     reason.
//   - Admin changes write their record inside the change's database
//     transaction, before COMMIT (tenant.CommitHook): when the record
//     fails the transaction rolls back and the key, tenant or revocation
//     does not exist. If the record was written but the commit then fails,
//     a "<action>.rolled_back" record follows, so the log never claims a
//     change that was not made. Erasures cannot be rolled back: they are
//     refused up front while the log is failed, and answered 503 ("repeat
//     the request") if their record fails afterwards.
//   - A request's record is appended after its answer was sent (JSON
//     responses declare their length and streams are flushed, so the
//     client has the answer before the bookkeeping, and the fsync never
//     delays it). A record that fails there cannot refuse its own request:
//     what is honest is to stop at once: the request that met the failure
//     is the last one served, its consented capture is not saved (the API
//     asks api.Recorder), and the gap record counts it.
//   - A background probe reopens the log, after Options.ProbeInterval (1
//     second) doubling to ProbeMax (30 seconds): it drops the segment's
//     handle, reads the tail back as Open does (quarantining a line the
//     failed write tore), opens the segment again and syncs it, and writes
//     an "audit_gap" record (failed_at, recovered_at, refused: operations
//     refused, failed: appends that failed as the fault struck,
//     unconfirmed_from..unconfirmed_to: records that reached the file but
//     whose callers were told they failed) and a checkpoint. Only once
//     those are durable does the log take appends again. `hearth audit
//     verify` lists the gaps.
//
// # The anchor
//
// Cutting records off the end of the log back to a checkpoint, or emptying
// a segment, leaves a log whose chain and signatures verify. Options.Anchor
// (DBAnchor: a table audit_anchor in the node's SQLite database, one row
// per node) keeps the head (seq, hash, time) of every checkpoint once it is
// durable. Open refuses a log whose tail is behind the anchor, or holds
// another record at the anchored seq; Verify given the anchor
// (VerifyOptions.Anchor) reports Truncated naming the missing seqs. A log
// directory with no segment at all (moved aside deliberately) starts a new
// log whose first record, a "recovery" with replaced_seq/replaced_hash,
// names the anchor it replaces, and Verify lists it (Report.Replaced).
// The anchor lives beside the log on the same machine, so an attacker who
// can rewrite both the log and the database is not stopped by it. In a
// fleet the node's certified peers hold it too (audit/peeranchor's Anchor,
// an Anchor that also tells them every head it saves): at start the node
// asks them, and Log.Holds checks that the log still holds the head each
// remembers; one it does not makes the node not ready, and the peer told a
// head behind the one it held records that in its own log.
//
// # Records from other processes: the spool
//
// One process appends at a time, but others have things to record too
// (`hearth tenants` and `hearth keys` change tenants and keys while the
// node serves). OpenOrSpool gives such a process the Log when it can take
// the lock, and otherwise a Spooler: Spool writes each record as a file of
// its own in spool/, named by its spool id ("<Unix ns>-<random>", also put
// in the record's Detail["spool_id"]), atomically (temporary file, fsync,
// rename, directory fsync). The writer appends waiting files when it opens
// the log and every Options.SpoolInterval (2 seconds) while it runs,
// oldest first, adding Detail["spooled_at"]; Time is when it appended
// them. A file is removed only after its record is durable in the chain;
// if a crash comes in between, the next Open finds the spool id in the
// chain and removes the file without appending it again. A file that is
// not a valid spooled record is moved to quarantine/ and a "recovery"
// record names it with its size and sha256, so nothing disappears
// silently. Spooled records are chained and signed like any other: Verify
// cannot tell them apart, except by their detail.
//
// # What verification cannot see
//
// Without the anchor, removing whole records from the end of the log back
// to a checkpoint leaves a shorter log that verifies; Report.LastSeq and
// Report.Head name the head that was verified for comparison with one
// recorded elsewhere. Removing records after the last checkpoint shows as
// unsigned records (Report.Unsigned), which Report.Err treats as a
// failure; appending forged ones there shows as a missing or bad MAC.
package audit
