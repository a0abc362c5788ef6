package fabric

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/hearth-ai/hearth/identity"
	"github.com/hearth-ai/hearth/tenant"
)

// Subject prefixes. A node's heartbeats go to StatusSubject(j, id); its
// ping responder listens on PingSubject(id).
const (
	statusPrefix = "hearth.status."
	pingPrefix   = "hearth.ping."
)

// StatusSubject is where node id, claiming jurisdiction j, publishes its
// heartbeats.
func StatusSubject(j, id string) string { return statusPrefix + j + "." + id }

// PingSubject is where node id answers round-trip probes.
func PingSubject(id string) string { return pingPrefix + id }

// statusWildcard matches every node's heartbeats.
const statusWildcard = statusPrefix + "*.*"

// heartbeatDomain separates heartbeat signatures from other uses of a
// node's key (audit checkpoints sign with the same key).
const heartbeatDomain = "hearth fabric heartbeat v1\x00"

// Load is what a node reports about its work, provided by Config.Status.
type Load struct {
	Models       []string `json:"models,omitempty"` // models the node can serve now
	Slots        int      `json:"slots"`            // requests it can run at once
	Busy         int      `json:"busy"`             // requests running now
	Queue        int      `json:"queue"`            // requests waiting for a slot
	KVUsedBytes  int64    `json:"kv_used_bytes"`
	KVTotalBytes int64    `json:"kv_total_bytes"`
	// Adapters lists the LoRA adapters the node holds loaded, so a
	// gateway prefers a node that need not fetch and load one: a tenant's
	// by opaque keys (route.AdapterKeys), for heartbeats go to every node,
	// and one published to all by its served name ("BASE:ADAPTER"), as
	// did every entry of nodes before keys. Heartbeats of nodes that
	// predate adapters have none.
	Adapters []string `json:"adapters,omitempty"`
}

// heartbeat is the signed body of a status message.
type heartbeat struct {
	ID           string          `json:"id"`
	Site         string          `json:"site"`
	Jurisdiction string          `json:"jurisdiction"`
	PublicKey    string          `json:"public_key"`     // hex
	Cert         json.RawMessage `json:"cert,omitempty"` // decoded apart: an unreadable cert leaves the node listed, uncertified
	HTTPAddr     string          `json:"http_addr,omitempty"`
	Load         Load            `json:"load"`
	Time         time.Time       `json:"time"`
	Boot         int64           `json:"boot"` // start time, Unix ns: orders heartbeats across restarts
	Seq          uint64          `json:"seq"`  // counts heartbeats since Boot
}

// envelope carries a heartbeat's exact signed bytes, so the receiver
// verifies what was signed rather than a re-encoding of it.
type envelope struct {
	Heartbeat json.RawMessage `json:"heartbeat"`
	Signature []byte          `json:"sig"`
}

func signHeartbeat(priv ed25519.PrivateKey, hb *heartbeat) ([]byte, error) {
	body, err := json.Marshal(hb)
	if err != nil {
		return nil, fmt.Errorf("fabric: encode heartbeat: %w", err)
	}
	sig := ed25519.Sign(priv, append([]byte(heartbeatDomain), body...))
	return json.Marshal(envelope{Heartbeat: body, Signature: sig})
}

// errForged marks heartbeats that fail authentication: wrong signature, or
// a node ID, subject or jurisdiction the sender cannot claim.
var errForged = errors.New("fabric: forged or malformed heartbeat")

// openHeartbeat authenticates a status message received on subject: the
// signature must verify with the key inside, the node ID must be that
// key's, and the subject must name the same node and jurisdiction. So no
// one can publish a heartbeat for a node whose private key they lack.
func openHeartbeat(subject string, data []byte) (*heartbeat, ed25519.PublicKey, error) {
	var env envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errForged, err)
	}
	var hb heartbeat
	if err := json.Unmarshal(env.Heartbeat, &hb); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errForged, err)
	}
	pub, err := identity.ParsePublicKey(hb.PublicKey)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errForged, err)
	}
	if !ed25519.Verify(pub, append([]byte(heartbeatDomain), env.Heartbeat...), env.Signature) {
		return nil, nil, fmt.Errorf("%w: signature does not verify for node %q", errForged, hb.ID)
	}
	if want := identity.NodeID(pub); hb.ID != want {
		return nil, nil, fmt.Errorf("%w: claims node id %q but its key is node %s", errForged, hb.ID, want)
	}
	if err := tenant.ValidateJurisdiction(hb.Jurisdiction); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errForged, err)
	}
	if want := StatusSubject(hb.Jurisdiction, hb.ID); subject != want {
		return nil, nil, fmt.Errorf("%w: node %s sent on %q, want %q", errForged, hb.ID, subject, want)
	}
	return &hb, pub, nil
}

// Peer is one node as this node sees it, itself included.
type Peer struct {
	ID           string
	Site         string
	Jurisdiction string // as claimed; trust it only if Certified
	PublicKey    ed25519.PublicKey
	Cert         *Cert // as presented; nil if none

	// Certified is computed locally: Cert verifies with this node's
	// operator key, is within its validity now, was issued for PublicKey,
	// and names the claimed Site and Jurisdiction. Route jurisdiction
	// traffic only to certified peers.
	Certified bool
	// CertProblem says why Certified is false ("" when it is true).
	CertProblem string

	HTTPAddr string
	Load     Load
	Sent     time.Time     // the sender's clock at its last heartbeat
	LastSeen time.Time     // this node's clock when that heartbeat arrived
	RTT      time.Duration // moving average of ping round trips; 0 until measured, and for Self
	Self     bool
}

// expired reports whether p has missed missedBeats heartbeats of interval by now.
func (p *Peer) expired(now time.Time, interval time.Duration) bool {
	return now.Sub(p.LastSeen) > missedBeats*interval
}

// missedBeats heartbeats missed in a row remove a peer from the table.
const missedBeats = 3

// certify fills Certified and CertProblem for p at now.
func (p *Peer) certify(operator ed25519.PublicKey, now time.Time) {
	p.Certified, p.CertProblem = false, ""
	switch {
	case len(operator) == 0:
		p.CertProblem = "no operator key configured"
	case p.Cert == nil:
		p.CertProblem = "no certificate"
	case !p.Cert.Matches(p.PublicKey):
		p.CertProblem = fmt.Sprintf("certificate is for node %s", p.Cert.NodeID)
	case p.Cert.Jurisdiction != p.Jurisdiction:
		p.CertProblem = fmt.Sprintf("certificate is for jurisdiction %s, node claims %s", p.Cert.Jurisdiction, p.Jurisdiction)
	case p.Cert.Site != p.Site:
		p.CertProblem = fmt.Sprintf("certificate is for site %s, node claims %s", p.Cert.Site, p.Site)
	default:
		if err := p.Cert.Verify(operator, now); err != nil {
			p.CertProblem = err.Error()
			return
		}
		p.Certified = true
	}
}

// table is the peer registry. It is shared by Node and Collect.
type table struct {
	operator ed25519.PublicKey
	interval time.Duration // expiry is missedBeats of these
	maxSkew  time.Duration // heartbeats further off the local clock are refused
	now      func() time.Time

	mu    sync.Mutex
	peers map[string]*entry // by node ID
}

type entry struct {
	peer      Peer
	boot      int64
	seq       uint64
	certUntil time.Time // Certified holds until then (cert expiry)
}

func newTable(operator ed25519.PublicKey, interval, maxSkew time.Duration, now func() time.Time) *table {
	return &table{operator: operator, interval: interval, maxSkew: maxSkew, now: now, peers: make(map[string]*entry)}
}

// accept authenticates and records one status message. A heartbeat older
// than the last one recorded for its node, or further than maxSkew from
// the local clock, is refused: a replay cannot keep a dead node listed.
func (t *table) accept(subject string, data []byte, self string) error {
	hb, pub, err := openHeartbeat(subject, data)
	if err != nil {
		return err
	}
	now := t.now()
	if d := now.Sub(hb.Time); d > t.maxSkew || d < -t.maxSkew {
		return fmt.Errorf("fabric: heartbeat from %s is dated %s, %v off this node's clock (limit %v): a replay, or a clock to fix",
			hb.ID, hb.Time.Format(time.RFC3339Nano), d, t.maxSkew)
	}
	p := Peer{
		ID:           hb.ID,
		Site:         hb.Site,
		Jurisdiction: hb.Jurisdiction,
		PublicKey:    pub,
		HTTPAddr:     hb.HTTPAddr,
		Load:         hb.Load,
		Sent:         hb.Time,
		LastSeen:     now,
		Self:         hb.ID == self,
	}
	if len(hb.Cert) > 0 && string(hb.Cert) != "null" {
		p.Cert, err = ParseCert(hb.Cert)
	}
	p.certify(t.operator, now)
	if err != nil {
		p.CertProblem = "unreadable certificate: " + err.Error()
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	old, ok := t.peers[hb.ID]
	if ok && !old.peer.expired(now, t.interval) {
		if hb.Boot < old.boot || hb.Boot == old.boot && hb.Seq <= old.seq {
			return fmt.Errorf("fabric: replayed heartbeat from %s (boot %d seq %d, have boot %d seq %d)", hb.ID, hb.Boot, hb.Seq, old.boot, old.seq)
		}
		p.RTT = old.peer.RTT
	}
	e := &entry{peer: p, boot: hb.Boot, seq: hb.Seq}
	if p.Certified {
		e.certUntil = p.Cert.Expires
	}
	t.peers[hb.ID] = e
	return nil
}

// view returns e's peer as of now: a certificate that expired since the
// last heartbeat no longer counts.
func (e *entry) view(now time.Time) Peer {
	p := e.peer
	p.Load.Models = slices.Clone(p.Load.Models) // callers may keep and change it
	p.Load.Adapters = slices.Clone(p.Load.Adapters)
	if p.Certified && !now.Before(e.certUntil) {
		p.Certified = false
		p.CertProblem = fmt.Sprintf("%v: node %s, expired %s", ErrExpired, p.ID, e.certUntil.Format(time.RFC3339))
	}
	return p
}

// list returns the live peers sorted by ID, dropping expired entries.
func (t *table) list() []Peer {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make([]Peer, 0, len(t.peers))
	for id, e := range t.peers {
		if e.peer.expired(now, t.interval) {
			delete(t.peers, id)
			continue
		}
		out = append(out, e.view(now))
	}
	slices.SortFunc(out, func(a, b Peer) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (t *table) get(id string) (Peer, bool) {
	now := t.now()
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.peers[id]
	if !ok || e.peer.expired(now, t.interval) {
		return Peer{}, false
	}
	return e.view(now), true
}

// setRTT folds one round-trip sample into id's moving average.
func (t *table) setRTT(id string, pub ed25519.PublicKey, sample time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.peers[id]
	if !ok || !bytes.Equal(e.peer.PublicKey, pub) {
		return
	}
	e.peer.RTT = ewma(e.peer.RTT, sample)
}

// rttWeight is the weight of a new sample in the moving average: about the
// last five probes count, so a route change shows within seconds while one
// slow reply does not swing routing.
const rttWeight = 0.3

func ewma(avg, sample time.Duration) time.Duration {
	if avg == 0 {
		return sample
	}
	return avg + time.Duration(rttWeight*float64(sample-avg))
}

// rawCert encodes c for a heartbeat; nil stays absent.
func rawCert(c *Cert) (json.RawMessage, error) {
	if c == nil {
		return nil, nil
	}
	return json.Marshal(c)
}

// publicHex is a key in the hex form heartbeats carry.
func publicHex(pub ed25519.PublicKey) string { return hex.EncodeToString(pub) }
