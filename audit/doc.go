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
//	quarantine/spool.<file>.bad            spool files that were not valid records
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
//
// Prev is the Hash of the record before ("" for seq 1): changing, removing,
// adding or moving any record breaks the chain at that point.
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
// signed by that same recovery checkpoint.
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
// Removing whole records from the end of the log back to a checkpoint
// leaves a shorter log that verifies. Report.LastSeq and Report.Head name
// the head that was verified; an auditor who recorded an earlier head (or
// receives checkpoints by another channel) detects the rollback by
// comparing. Removing records after the last checkpoint, or appending
// forged ones there, shows as unsigned records (Report.Unsigned), which
// Report.Err treats as a failure.
package audit
