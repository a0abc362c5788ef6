package fabric

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// answerPings replies to round-trip probes, each after AddedLatency. Each
// delayed reply waits in its own goroutine so that probes arriving
// together are not delayed by each other's latency.
func (n *Node) answerPings(ch <-chan *nats.Msg) {
	for {
		select {
		case <-n.quit:
			return
		case m := <-ch:
			if n.cfg.AddedLatency == 0 {
				_ = m.Respond(nil)
				continue
			}
			n.wg.Go(func() {
				t := time.NewTimer(n.cfg.AddedLatency)
				defer t.Stop()
				select {
				case <-n.quit:
				case <-t.C:
					_ = m.Respond(nil)
				}
			})
		}
	}
}

// pingTimeout bounds one probe; a peer that does not answer in time keeps
// its previous average (it will expire if its heartbeats stop too).
func (n *Node) pingTimeout() time.Duration {
	return max(2*n.cfg.PingInterval, 500*time.Millisecond)
}

// probe measures the round trip to every peer each PingInterval until
// Shutdown, all peers in parallel so that one slow peer delays no other.
func (n *Node) probe() {
	t := time.NewTicker(n.cfg.PingInterval)
	defer t.Stop()
	for {
		n.probeRound(n.ctx)
		select {
		case <-n.quit:
			return
		case <-t.C:
		}
	}
}

func (n *Node) probeRound(ctx context.Context) {
	nc := n.conn()
	var wg sync.WaitGroup
	for _, p := range n.table.list() {
		if p.Self {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(ctx, n.pingTimeout())
			defer cancel()
			start := time.Now()
			if _, err := nc.RequestWithContext(ctx, PingSubject(p.ID), nil); err != nil {
				if ctx.Err() == nil || n.isRunning() {
					n.log.Debug("fabric: ping", "peer", p.ID, "err", err)
				}
				return
			}
			n.table.setRTT(p.ID, p.PublicKey, time.Since(start))
		}()
	}
	wg.Wait()
}

func (n *Node) isRunning() bool {
	select {
	case <-n.quit:
		return false
	default:
		return true
	}
}
