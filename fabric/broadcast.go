package fabric

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Broadcasts: a message published on a broadcast subject reaches every
// node subscribed to it, once, unsigned and unacknowledged; protocols
// that need more (the tenant documents of package tenantdoc) sign their
// payloads and repeat them. The fabric's own subjects (heartbeats, pings,
// inference, deliveries) cannot be used, so no broadcast can pass for a
// heartbeat or take a delivery.
//
//	hearth.<name>[.<name>...]   broadcasts; each name a-z, 0-9, '-'

// ErrNotRunning: Publish on a node that has not started, or has shut down.
var ErrNotRunning = errors.New("fabric: node not running")

// reservedSubjects are the fabric's own first names after "hearth.".
var reservedSubjects = []string{"status", "ping", "infer", "inferctl", "deliver"}

// validBroadcast checks a broadcast subject: "hearth." then one or more
// names of a-z, 0-9 and '-', the first not one of the fabric's own.
func validBroadcast(subject string) error {
	rest, ok := strings.CutPrefix(subject, "hearth.")
	if !ok || len(subject) > 128 {
		return fmt.Errorf("fabric: broadcast subject %q must be hearth.<name>[.<name>...], at most 128 characters", subject)
	}
	names := strings.Split(rest, ".")
	for _, name := range names {
		if name == "" {
			return fmt.Errorf("fabric: broadcast subject %q has an empty name", subject)
		}
		for _, r := range name {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("fabric: broadcast subject %q has %q; allowed: a-z, 0-9, '-'", subject, r)
			}
		}
	}
	for _, r := range reservedSubjects {
		if names[0] == r {
			return fmt.Errorf("fabric: broadcast subject %q is under hearth.%s, which the fabric itself uses", subject, r)
		}
	}
	return nil
}

// Publish sends data to every node subscribed to subject (a broadcast
// subject, see above), this one included if it is. It returns once NATS
// has the message, not once anyone has it.
func (n *Node) Publish(subject string, data []byte) error {
	if err := validBroadcast(subject); err != nil {
		return err
	}
	nc := n.conn()
	if nc == nil || !n.isRunning() {
		return fmt.Errorf("fabric: publish %s: %w", subject, ErrNotRunning)
	}
	if limit := nc.MaxPayload(); int64(len(data)) > limit {
		return fmt.Errorf("fabric: publish %s: %d bytes, more than NATS's limit of %d", subject, len(data), limit)
	}
	if err := nc.Publish(subject, data); err != nil {
		return fmt.Errorf("fabric: publish %s: %w", subject, err)
	}
	return nil
}

// broadcastSub is one Subscribe.
type broadcastSub struct {
	subject string
	f       func([]byte)
	ch      chan *nats.Msg
	stop    chan struct{} // closed by unsubscribe
	done    chan struct{} // closed when dispatch returns

	// Guarded by the node's mu.
	sub     *nats.Subscription // nil until the node starts; then dispatch runs
	removed bool
}

// Subscribe calls f with the data of every message published on subject
// (a broadcast subject), one at a time, in a goroutine of the node's, in
// the order this node's NATS connection received them. Messages that
// arrive faster than f takes them are dropped beyond a buffer of 1024, as
// NATS drops them for any slow consumer.
//
// On a node that has not started, the subscription is made by Start
// (which fails if it cannot be), so the parts of a node can subscribe
// before the fabric runs; after Shutdown, Subscribe returns ErrClosed.
// Subscriptions end with Shutdown, or earlier with unsubscribe, which
// returns once f is no longer running and will not be called again, so
// f must not call it.
func (n *Node) Subscribe(subject string, f func(data []byte)) (unsubscribe func(), err error) {
	if err := validBroadcast(subject); err != nil {
		return nil, err
	}
	if f == nil {
		return nil, fmt.Errorf("fabric: subscribe %s: nil handler", subject)
	}
	s := &broadcastSub{subject: subject, f: f, ch: make(chan *nats.Msg, 1024), stop: make(chan struct{}), done: make(chan struct{})}
	n.mu.Lock()
	var nc *nats.Conn
	switch n.state {
	case stateStopped:
		n.mu.Unlock()
		return nil, fmt.Errorf("fabric: subscribe %s: %w", subject, ErrClosed)
	case stateStarted:
		if err := n.listenLocked(s); err != nil {
			n.mu.Unlock()
			return nil, err
		}
		nc = n.nc
	}
	if n.broadcasts == nil {
		n.broadcasts = map[*broadcastSub]struct{}{}
	}
	n.broadcasts[s] = struct{}{}
	n.mu.Unlock()
	if nc != nil {
		// Wait for the server to take the subscription, so that a message
		// published after Subscribe returns (by this node or another
		// client) reaches the handler: without it the publish could be
		// routed before the interest exists, and be lost. A flush fails
		// only on a broken connection, whose reconnect resubscribes. It
		// waits without the node's lock, which a round trip must not hold.
		_ = nc.FlushTimeout(5 * time.Second)
	}
	return func() { n.unsubscribe(s) }, nil
}

// listenLocked subscribes s on the node's connection and spawns its
// dispatcher.
func (n *Node) listenLocked(s *broadcastSub) error {
	sub, err := n.nc.ChanSubscribe(s.subject, s.ch)
	if err != nil {
		return fmt.Errorf("fabric: subscribe %s: %w", s.subject, err)
	}
	s.sub = sub
	n.wg.Go(func() { n.dispatchBroadcast(s) })
	return nil
}

// listenAllLocked makes the subscriptions asked for before Start.
func (n *Node) listenAllLocked() error {
	for s := range n.broadcasts {
		if err := n.listenLocked(s); err != nil {
			return err
		}
	}
	return nil
}

func (n *Node) dispatchBroadcast(s *broadcastSub) {
	defer close(s.done)
	for {
		select {
		case <-n.quit:
			return
		case <-s.stop:
			return
		case m := <-s.ch:
			select {
			case <-s.stop: // unsubscribed while the message waited
				return
			default:
			}
			n.callBroadcast(s, m.Data)
		}
	}
}

// callBroadcast runs one handler call; a panic in it is logged rather
// than taking the node down.
func (n *Node) callBroadcast(s *broadcastSub, data []byte) {
	defer func() {
		if r := recover(); r != nil {
			n.log.Error("fabric: broadcast handler panicked", "subject", s.subject, "panic", r)
		}
	}()
	s.f(data)
}

func (n *Node) unsubscribe(s *broadcastSub) {
	n.mu.Lock()
	if s.removed {
		n.mu.Unlock()
		return
	}
	s.removed = true
	delete(n.broadcasts, s)
	sub := s.sub
	n.mu.Unlock()
	close(s.stop)
	if sub != nil {
		_ = sub.Unsubscribe() // fails only on a closed connection, which has no subscriptions
		<-s.done
	}
}

// ClientAccess is how a plain NATS client, such as a command-line tool,
// reaches a node's server (ReadClientAccess) or an external NATS.
type ClientAccess struct {
	URL string
	// Token is the node's client token (Config.ClientToken); empty
	// connects without.
	Token string
	// Credentials is a NATS .creds file; empty connects without.
	Credentials string
}

// PublishTo connects to NATS as a plain client named name, publishes
// each of msgs on subject (a broadcast subject), waits until the server
// has them all and disconnects.
func PublishTo(ctx context.Context, a ClientAccess, name, subject string, msgs ...[]byte) error {
	if err := validBroadcast(subject); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	nc, err := a.dial(ctx, name)
	if err != nil {
		return err
	}
	defer nc.Close()
	for _, m := range msgs {
		if err := nc.Publish(subject, m); err != nil {
			return fmt.Errorf("fabric: publish %s: %w", subject, err)
		}
	}
	if err := nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("fabric: publish %s: %w", subject, err)
	}
	return nil
}

// dial connects a one-off client: no reconnecting, no logs.
func (a ClientAccess) dial(ctx context.Context, name string) (*nats.Conn, error) {
	opts := []nats.Option{nats.MaxReconnects(0)}
	if a.Token != "" {
		opts = append(opts, nats.Token(a.Token))
	}
	if a.Credentials != "" {
		opts = append(opts, nats.UserCredentials(a.Credentials))
	}
	return connect(ctx, a.URL, name, slog.New(slog.DiscardHandler), opts...)
}
