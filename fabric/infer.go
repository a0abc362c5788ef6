package fabric

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Remote inference: a gateway node sends a signed request to the serving
// node's subject; the server streams the response to the gateway's inbox
// as numbered messages, never more than InferWindow beyond the last one
// the gateway acknowledged; the gateway acknowledges, keeps alive and
// cancels on the request's control subject.
//
//	hearth.infer.<jurisdiction>.<node id>   requests (signed envelopes)
//	<gateway's inbox prefix>.<token>        head, data, end, error, keepalive
//	hearth.inferctl.<node id>.<token>       acks (with keepalive) and cancel
//
// Each node has one subscription for all the responses it reads and one
// for all the control messages of the requests it serves.

// Errors of remote inference.
var (
	// ErrPeerLost: the serving node stopped answering (no message for
	// the liveness timeout, a message lost in transit, or the node shut
	// down mid-request). The gateway may retry on another node.
	ErrPeerLost = errors.New("fabric: peer lost")
	// ErrRefused: the serving node refused the request (gateway unknown
	// or uncertified, bad signature, jurisdiction not permitted, replay).
	ErrRefused = errors.New("fabric: request refused")
	// ErrUncertifiedPeer: Infer was asked to send to a node that this
	// node does not hold certified.
	ErrUncertifiedPeer = errors.New("fabric: peer not certified")
)

// InferWindow is how many sequenced messages a server may send beyond
// the last one the client acknowledged. A slow client so holds the
// remote generation back instead of letting messages pile up.
const InferWindow = 64

// maxChunk bounds one data message (NATS's default payload limit is 1 MiB).
const maxChunk = 64 << 10

// InferRequest is one request forwarded from a gateway to a serving node.
type InferRequest struct {
	ID            string            `json:"id"`                      // request ID (Infer makes one if empty)
	Gateway       string            `json:"gateway"`                 // gateway node ID; set by Infer, verified by the server
	Tenant        string            `json:"tenant"`                  // as the gateway resolved it
	KeyID         string            `json:"key_id,omitempty"`        // the API key's ID
	Jurisdictions []string          `json:"jurisdictions,omitempty"` // permitted by the tenant's policy; empty: any
	Model         string            `json:"model"`
	Path          string            `json:"path"` // e.g. "/v1/chat/completions"
	Header        map[string]string `json:"header,omitempty"`
	Body          []byte            `json:"body,omitempty"`
	Sent          time.Time         `json:"sent"` // the gateway's clock; set by Infer
}

// InferHandler serves one request, writing the response to w. It must
// return soon after ctx ends (the client cancelled or went away, or the
// node is shutting down). A returned error reaches the client as the
// stream's terminal error.
type InferHandler func(ctx context.Context, req *InferRequest, w InferWriter) error

// InferWriter sends a response to the gateway, in order. WriteHead may
// come first (otherwise the first Write sends status 200 and no header);
// each Write sends its bytes as one or more chunks and blocks while the
// client is InferWindow messages behind. Not for concurrent use.
type InferWriter interface {
	WriteHead(status int, header map[string]string) error
	Write(p []byte) (int, error)
}

// InferSubject is where node id, certified for jurisdiction j, takes
// inference requests.
func InferSubject(j, id string) string { return inferPrefix + j + "." + id }

const inferPrefix = "hearth.infer."

// ControlPrefix starts the subjects where node id takes acks and cancels
// for the requests it serves, one token per request.
func ControlPrefix(id string) string { return "hearth.inferctl." + id + "." }

// inferDomain separates request signatures from heartbeats and other
// uses of a node's key.
const inferDomain = "hearth fabric infer v1\x00"

// inferWire is the signed body of a request: the request plus the routing
// the signature must bind (target node, reply and control subjects), so a
// captured request cannot be pointed at another node or inbox.
type inferWire struct {
	InferRequest
	Node    string `json:"node"`
	Reply   string `json:"reply"`
	Control string `json:"control"`
}

type inferEnvelope struct {
	Request json.RawMessage `json:"request"`
	Sig     []byte          `json:"sig"`
}

func signInfer(priv ed25519.PrivateKey, w *inferWire) ([]byte, error) {
	body, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("fabric: encode infer request: %w", err)
	}
	sig := ed25519.Sign(priv, append([]byte(inferDomain), body...))
	return json.Marshal(inferEnvelope{Request: body, Sig: sig})
}

// Message kinds, server to client (all but keepalive are numbered) and
// client to server.
const (
	kindHead      = 'h'
	kindData      = 'd'
	kindEnd       = 'e'
	kindError     = 'x'
	kindKeepalive = 'k'

	ctlAck    = 'a'
	ctlCancel = 'c'
)

// cancelDomain separates cancel signatures from the node key's other
// uses. A cancel ends a generation, so it is signed by the gateway that
// sent the request (acks are not: a forged ack can only keep a stream
// going that its window would have paused).
const cancelDomain = "hearth fabric infer cancel v1\x00"

// cancelMessage is what a cancel's signature covers: the request it ends.
func cancelMessage(gateway, id, control string) []byte {
	return []byte(cancelDomain + gateway + "\x00" + id + "\x00" + control)
}

// frame encodes a message: kind, sequence number (uvarint), payload.
func frame(kind byte, seq uint64, payload []byte) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64+len(payload))
	b = append(b, kind)
	b = binary.AppendUvarint(b, seq)
	return append(b, payload...)
}

func unframe(b []byte) (kind byte, seq uint64, payload []byte, err error) {
	if len(b) < 2 {
		return 0, 0, nil, fmt.Errorf("fabric: infer message of %d bytes is too short", len(b))
	}
	seq, n := binary.Uvarint(b[1:])
	if n <= 0 {
		return 0, 0, nil, fmt.Errorf("fabric: infer message has a bad sequence number")
	}
	return b[0], seq, b[1+n:], nil
}

// inferHead is the payload of a head message.
type inferHead struct {
	Status int               `json:"status"`
	Header map[string]string `json:"header,omitempty"`
}

// Terminal error kinds.
const (
	errKindHandler = "error"   // the handler returned an error
	errKindRefused = "refused" // the request was not accepted
	errKindGone    = "gone"    // the serving node is shutting down
)

// inferError is the payload of an error message.
type inferError struct {
	Kind    string `json:"kind"`
	Node    string `json:"node"`
	Message string `json:"message"`
}

// RemoteError is a terminal error from the serving node. It unwraps to
// ErrRefused for refusals and to ErrPeerLost when the node shut down.
type RemoteError struct {
	Node    string // the serving node
	Kind    string // "error", "refused" or "gone"
	Message string
}

func (e *RemoteError) Error() string {
	switch e.Kind {
	case errKindRefused:
		return fmt.Sprintf("fabric: node %s refused the request: %s", e.Node, e.Message)
	case errKindGone:
		return fmt.Sprintf("fabric: node %s shut down during the request: %s", e.Node, e.Message)
	}
	return fmt.Sprintf("fabric: node %s: %s", e.Node, e.Message)
}

// IsHandlerError reports whether err is, or wraps, a RemoteError of kind
// "error": the serving node took the request and its handler failed, so
// another node would most likely fail the same way. Refusals and nodes
// that shut down are not handler errors; another node may do.
func IsHandlerError(err error) bool {
	re, ok := errors.AsType[*RemoteError](err)
	return ok && re.Kind == errKindHandler
}

func (e *RemoteError) Unwrap() error {
	switch e.Kind {
	case errKindRefused:
		return ErrRefused
	case errKindGone:
		return ErrPeerLost
	}
	return nil
}

// newRequestID returns 16 random bytes in hex.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// inferLiveness is how long either side waits for any message from the
// other before giving up (Config.StreamTimeout).
func (n *Node) inferLiveness() time.Duration { return n.cfg.StreamTimeout }

// inferKeepalive is how often each side speaks up when it has nothing
// else to say: often enough that a lost keepalive or two does not trip
// the other side's liveness timeout.
func (n *Node) inferKeepalive() time.Duration { return n.cfg.StreamTimeout / 4 }
