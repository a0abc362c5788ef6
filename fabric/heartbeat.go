package fabric

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// beat publishes a heartbeat every HeartbeatInterval until Shutdown.
func (n *Node) beat() {
	t := time.NewTicker(n.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-n.quit:
			return
		case <-t.C:
		}
		if err := n.heartbeat(n.conn()); err != nil {
			n.log.Warn("fabric: heartbeat", "err", err)
		}
		n.table.list() // drops expired peers
	}
}

// heartbeat signs and publishes one heartbeat on nc and records it in the
// node's own table (the subscription skips the node's own subject, where
// only it may publish). It runs without n.mu, so a slow Config.Status
// holds up nothing else.
func (n *Node) heartbeat(nc *nats.Conn) error {
	hb := &heartbeat{
		ID:           n.ID(),
		Site:         n.cfg.Site,
		Jurisdiction: n.cfg.Jurisdiction,
		PublicKey:    publicHex(n.cfg.Identity.Public),
		Cert:         n.cert,
		HTTPAddr:     *n.httpAddr.Load(),
		Load:         n.cfg.Status(),
		Time:         n.cfg.Now().UTC(),
		Boot:         n.boot,
		Seq:          n.seq.Add(1),
	}
	data, err := signHeartbeat(n.cfg.Identity.Private, hb)
	if err != nil {
		return err
	}
	subj := StatusSubject(n.cfg.Jurisdiction, n.ID())
	if err := n.table.accept(subj, data, n.ID()); err != nil {
		return fmt.Errorf("fabric: own heartbeat refused: %w", err)
	}
	if err := nc.Publish(subj, data); err != nil {
		return fmt.Errorf("fabric: publish heartbeat: %w", err)
	}
	return nil
}

// receive records peers' heartbeats until Shutdown.
func (n *Node) receive(ch <-chan *nats.Msg) {
	own := StatusSubject(n.cfg.Jurisdiction, n.ID())
	for {
		select {
		case <-n.quit:
			return
		case m := <-ch:
			if m.Subject == own {
				continue
			}
			if err := n.table.accept(m.Subject, m.Data, n.ID()); err != nil {
				n.rejected.Add(1)
				n.log.Warn("fabric: heartbeat refused", "subject", m.Subject, "err", err)
			}
		}
	}
}
