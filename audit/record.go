package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Record kinds. Callers append "request", "admin" and "route" (or their own
// kinds); "checkpoint" and "recovery" are written by the log itself.
const (
	KindRequest    = "request"
	KindAdmin      = "admin"
	KindRoute      = "route"
	KindCheckpoint = "checkpoint"
	KindRecovery   = "recovery"
)

// Record decisions: what the node decided about what the record
// describes. Verifiers and dashboards group by them, so they are a closed
// set.
const (
	DecisionAllow   = "allow"   // served, or an admin change made
	DecisionDeny    = "deny"    // refused by policy, a key or a limit
	DecisionInvalid = "invalid" // refused as malformed (a bad jurisdiction narrowing)
	DecisionRoute   = "route"   // sent to another node to serve
	DecisionFailed  = "failed"  // accepted, then lost (a node died while running it)
	DecisionError   = "error"   // an earlier record's change was undone
	DecisionAlarm   = "alarm"   // evidence of tampering or loss (a fleet peer's audit head went back)
)

// ownKind reports whether records of kind are written by the log itself
// only (checkpoints, recoveries, gaps).
func ownKind(kind string) bool {
	return kind == KindCheckpoint || kind == KindRecovery || kind == KindGap
}

// Record is one audit log entry. It holds hashes of prompts and outputs,
// never the text.
type Record struct {
	Seq              uint64            `json:"seq"`
	Time             time.Time         `json:"time"`
	Kind             string            `json:"kind"`
	Node             string            `json:"node,omitempty"`
	Tenant           string            `json:"tenant,omitempty"`
	KeyID            string            `json:"key_id,omitempty"`
	Model            string            `json:"model,omitempty"`
	Jurisdiction     string            `json:"jurisdiction,omitempty"`
	Decision         string            `json:"decision,omitempty"`
	Reason           string            `json:"reason,omitempty"`
	ResponseID       string            `json:"response_id,omitempty"`
	PromptTokens     int               `json:"prompt_tokens,omitempty"`
	CompletionTokens int               `json:"completion_tokens,omitempty"`
	PromptHash       string            `json:"prompt_hash,omitempty"` // hex sha256 of the prompt text
	OutputHash       string            `json:"output_hash,omitempty"` // hex sha256 of the output text
	Detail           map[string]string `json:"detail,omitempty"`      // admin action details etc.
	Sig              string            `json:"sig,omitempty"`         // checkpoints: hex ed25519 signature of SignedMessage
	Mac              string            `json:"mac,omitempty"`         // hex HMAC-SHA256 with the node's MAC key (mac.go); absent before v2
	Prev             string            `json:"prev"`                  // Hash of the record before ("" for seq 1)
	Hash             string            `json:"hash"`                  // ComputeHash of this record
}

// Domain separators, so a record hash can never be confused with a
// checkpoint message or any other sha256 the node makes.
const (
	hashDomain = "hearth-audit-record-v1\x00"
	sigDomain  = "hearth-audit-checkpoint-v1\x00"
)

// ComputeHash is the record's hash: hex sha256 of its canonical encoding,
// which covers every field but Hash (see the package documentation for the
// byte layout, which other tools can re-implement).
func (r *Record) ComputeHash() string {
	b := r.appendPreimage(make([]byte, 0, 512))
	if r.Mac != "" {
		b = appendString(b, r.Mac)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// appendPreimage appends what the MAC covers: every field but Mac and
// Hash. The hash covers this and then str(Mac) when there is one, so a
// record without a MAC hashes as it did before MACs existed.
func (r *Record) appendPreimage(b []byte) []byte {
	b = append(b, hashDomain...)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = appendString(b, formatTime(r.Time))
	for _, s := range [...]string{r.Kind, r.Node, r.Tenant, r.KeyID, r.Model, r.Jurisdiction, r.Decision, r.Reason, r.ResponseID} {
		b = appendString(b, s)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(int64(r.PromptTokens)))
	b = binary.BigEndian.AppendUint64(b, uint64(int64(r.CompletionTokens)))
	b = appendString(b, r.PromptHash)
	b = appendString(b, r.OutputHash)
	keys := make([]string, 0, len(r.Detail))
	for k := range r.Detail {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		b = appendString(b, r.Detail[k])
	}
	b = appendString(b, r.Sig)
	return appendString(b, r.Prev)
}

// SignedMessage is what a checkpoint's signature covers: the checkpoint's
// seq, the chain head it vouches for (its Prev: the hash of record Seq-1,
// which transitively covers every record before), its time and node.
func (r *Record) SignedMessage() []byte {
	b := make([]byte, 0, 160)
	b = append(b, sigDomain...)
	b = binary.BigEndian.AppendUint64(b, r.Seq)
	b = appendString(b, r.Prev)
	b = appendString(b, formatTime(r.Time))
	b = appendString(b, r.Node)
	return b
}

// VerifySig reports whether a checkpoint's signature is valid for pub.
func (r *Record) VerifySig(pub ed25519.PublicKey) bool {
	sig, err := hex.DecodeString(r.Sig)
	if err != nil || len(sig) != ed25519.SignatureSize || len(pub) != ed25519.PublicKeySize {
		return false
	}
	return ed25519.Verify(pub, r.SignedMessage(), sig)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// formatTime is the one textual form of a record's time, in both the hash
// and the JSON line: UTC, RFC 3339 with nanoseconds, trailing zeros dropped
// (what time.Time's MarshalJSON writes for a UTC time).
func formatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// encodeLine is the record's line in a segment file: compact JSON and a
// newline. Encoding is deterministic (struct field order, sorted map keys),
// and Verify requires every line to be exactly this encoding of what it
// decodes to, so no byte of a line can change without detection.
func encodeLine(r *Record) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("audit: encode record %d: %w", r.Seq, err)
	}
	return append(b, '\n'), nil
}

// decodeLine parses one line (without its newline) and checks that it is
// in canonical form.
func decodeLine(line []byte) (Record, error) {
	var r Record
	// Unknown fields, duplicate keys, other spellings of a key or a value
	// all fail the canonical comparison below.
	if err := json.Unmarshal(line, &r); err != nil {
		return Record{}, fmt.Errorf("not a valid record: %w", err)
	}
	canon, err := encodeLine(&r)
	if err != nil {
		return Record{}, err
	}
	// The hash covers the instant in UTC; a line must say it in UTC too, or
	// "+01:00" could replace "Z" without changing the hash.
	if _, off := r.Time.Zone(); off != 0 || string(canon[:len(canon)-1]) != string(line) {
		return r, errNotCanonical
	}
	return r, nil
}

// normalize prepares a caller's record for the log: strings valid UTF-8
// (JSON cannot carry anything else, so the hash must not cover it either),
// time in UTC without a monotonic reading.
func normalize(r *Record) error {
	fix := func(s *string) {
		if !utf8.ValidString(*s) {
			*s = strings.ToValidUTF8(*s, "\uFFFD")
		}
	}
	for _, s := range []*string{&r.Kind, &r.Node, &r.Tenant, &r.KeyID, &r.Model, &r.Jurisdiction, &r.Decision,
		&r.Reason, &r.ResponseID, &r.PromptHash, &r.OutputHash} {
		fix(s)
	}
	if len(r.Detail) > 0 {
		d := make(map[string]string, len(r.Detail))
		for k, v := range r.Detail {
			fix(&k)
			fix(&v)
			d[k] = v
		}
		r.Detail = d
	} else {
		r.Detail = nil
	}
	r.Time = r.Time.UTC()
	if y := r.Time.Year(); y < 0 || y > 9999 {
		return fmt.Errorf("audit: record time %v is outside years 0-9999", r.Time)
	}
	return nil
}
