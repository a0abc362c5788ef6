package fabric

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// CollectOptions configures Collect.
type CollectOptions struct {
	// Credentials is a NATS .creds file; empty connects without.
	Credentials string
	// Token is a node's client token (Config.ClientToken).
	Token string
	// Wait is how long to listen for heartbeats; it should span about two
	// heartbeat intervals. Default 2s.
	Wait time.Duration
	// OperatorKey judges certificates as a node would. Nil: no peer is
	// Certified, and CertProblem says so.
	OperatorKey ed25519.PublicKey
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Collect connects to NATS at url as a plain client, listens to the
// fleet's heartbeats for opts.Wait and returns the nodes heard, sorted by
// ID, authenticated and judged exactly as a node's registry does. RTT is
// left zero: a one-off observer measures nothing.
func Collect(ctx context.Context, url string, opts CollectOptions) ([]Peer, error) {
	if opts.Wait <= 0 {
		opts.Wait = 2 * time.Second
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.OperatorKey != nil && len(opts.OperatorKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("fabric: collect: operator key is %d bytes; an ed25519 public key has %d", len(opts.OperatorKey), ed25519.PublicKeySize)
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	nc, err := ClientAccess{URL: url, Token: opts.Token, Credentials: opts.Credentials}.dial(cctx, "hearth fleet status")
	cancel()
	if err != nil {
		return nil, err
	}
	defer nc.Close()

	ch := make(chan *nats.Msg, 4096)
	sub, err := nc.ChanSubscribe(statusWildcard, ch)
	if err != nil {
		return nil, fmt.Errorf("fabric: collect: subscribe: %w", err)
	}
	defer sub.Unsubscribe()

	// Expiry is moot within one short listen; the table only needs to
	// outlast it.
	t := newTable(opts.OperatorKey, opts.Wait, DefaultMaxClockSkew, opts.Now)
	timer := time.NewTimer(opts.Wait)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("fabric: collect: %w", ctx.Err())
		case <-timer.C:
			return t.list(), nil
		case m := <-ch:
			// Refused heartbeats (forged, replayed) are simply not listed.
			_ = t.accept(m.Subject, m.Data, "")
		}
	}
}
