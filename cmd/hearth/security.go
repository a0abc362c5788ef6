package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hearth-ai/hearth/access"
	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/audit/peeranchor"
	"github.com/hearth-ai/hearth/capture"
	"github.com/hearth-ai/hearth/capture/relay"
	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/flywheel/dataset"
	"github.com/hearth-ai/hearth/identity"
	"github.com/hearth-ai/hearth/metering"
	"github.com/hearth-ai/hearth/tenant"
)

// security is what a serving node keeps about who may do what: its
// identity, the tenant database, the meter, the audit log and the gate over
// them. close releases them in reverse order.
type security struct {
	id      *identity.Identity
	db      *db.DB
	tenants *tenant.Store
	meter   *metering.Meter
	audit   *audit.Log
	gate    *access.Gate
	mode    string // how requests are authenticated, for the start-up line
	// capture keeps consented interactions (per tenant policy); relay
	// takes them, and feedback, to tenants' home jurisdictions over the
	// fabric, keeps what other nodes send and erases fleet-wide.
	capture *capture.Store
	relay   *relay.Relay
	// anchor keeps the audit log's head in the database and with the
	// node's certified peers.
	anchor *peeranchor.Anchor
	// stop ends the background loops start began and waits for them.
	stop func()
}

// sweepEvery is how often expired captures are deleted.
const sweepEvery = time.Hour

// openSecurity opens what a node keeps, on the fabric node fab (not yet
// started): the capture and audit-head handlers are registered on it.
func openSecurity(ctx context.Context, dir string, o *serveOptions, loopback bool, id *identity.Identity, fab *fabric.Node, log *slog.Logger) (_ *security, err error) {
	s := &security{id: id}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.db, err = db.OpenDir(dir); err != nil {
		return nil, err
	}
	if s.tenants, err = tenant.Open(ctx, s.db, nil); err != nil {
		return nil, err
	}
	if s.meter, err = metering.Open(ctx, s.db, nil); err != nil {
		return nil, err
	}
	// The log's head is anchored in the database at every checkpoint, so
	// a log cut back or emptied fails to open and to verify.
	// In a fleet its certified peers keep it too (peeranchor).
	dbAnchor, err := audit.OpenDBAnchor(ctx, s.db)
	if err != nil {
		return nil, err
	}
	s.anchor = peeranchor.New(dbAnchor, fab, log)
	if s.audit, err = audit.Open(filepath.Join(dir, "audit"), s.id, audit.Options{Logger: log, Anchor: s.anchor}); err != nil {
		return nil, err
	}
	if rec := s.audit.Recovery(); rec != nil {
		log.Warn("audit log recovered after an unclean shutdown", "torn_tail", rec.Torn != nil, "quarantine", rec.Quarantine)
	}
	if err := s.anchor.Register(s.audit); err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	n, err := s.tenants.CountTenants(ctx)
	if err != nil {
		return nil, err
	}
	allowLocal := loopback || o.insecure
	switch {
	case n > 0:
		s.mode = "API keys required"
	case allowLocal:
		s.mode = "no tenants yet: requests without a key are served as tenant \"local\"; create a tenant to require keys"
	default:
		return nil, errors.New("serve: refusing to serve a non-loopback address with no tenants, which would leave the node open; " +
			"create a tenant and a key first (hearth tenants create, hearth keys create), or pass --insecure-no-auth")
	}
	s.gate, err = access.New(access.Config{Tenants: s.tenants, Meter: s.meter, Audit: s.audit, Node: s.id.ID,
		Jurisdiction: o.jurisdiction, AllowLocal: allowLocal, Logger: log})
	if err != nil {
		return nil, err
	}
	if s.capture, err = capture.Open(ctx, s.db, capture.Config{Jurisdiction: o.jurisdiction, Node: s.id.ID, Audit: s.audit,
		Tenants: s.tenants, Forwarder: relay.NewForwarder(fab), Logger: log}); err != nil {
		return nil, err
	}
	// Capture erasures flow along lineage into the dataset store, sealed
	// under the capture keys.
	ds, err := dataset.Open(ctx, s.db, nil)
	if err != nil {
		return nil, err
	}
	ds.SetSealer(s.capture.Sealer())
	s.capture.OnErase(func(ctx context.Context, tenantID string, ids []string) error {
		_, err := ds.RemoveResponses(ctx, tenantID, ids)
		return err
	})
	if s.relay, err = relay.New(ctx, relay.Config{Node: fab, Store: s.capture, Tenants: s.tenants, DB: s.db, Logger: log}); err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return s, nil
}

// start runs the background loops, once the fabric node has started:
// the capture sweep, the peer book and the audit head's check with the
// fleet. close stops them.
func (s *security) start(log *slog.Logger) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { sweep(ctx, s.capture, log) })
	wg.Go(func() { s.relay.TrackPeers(ctx) })
	wg.Go(func() { s.anchor.Run(ctx, s.audit) })
	s.stop = func() { cancel(); wg.Wait() }
}

// ready is the security side of /readyz: not ready while the audit log
// cannot record (requests and admin changes are refused meanwhile).
func (s *security) ready() error {
	if err := s.audit.Healthy(); err != nil {
		return err
	}
	return s.anchor.Ready()
}

// auditMetrics are the audit log's health for /metrics.
func (s *security) auditMetrics() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hearth_audit_append_failures_total",
			Help: "Audit records that could not be appended (the log failed, or refused them while failed)."},
			func() float64 { return float64(s.audit.Stats().AppendFailures) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hearth_audit_log_healthy",
			Help: "1 while the audit log makes records durable, 0 while it is failed (requests and admin changes are refused)."},
			func() float64 {
				if s.audit.Stats().Healthy {
					return 1
				}
				return 0
			}),
	}
}

// capturer is the API's capture hook.
func (s *security) capturer() api.Capturer { return capture.NewHook(s.capture) }

// sweep deletes expired captures now and every sweepEvery until ctx
// ends.
func sweep(ctx context.Context, c *capture.Store, log *slog.Logger) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		if n, err := c.Sweep(ctx); err != nil && ctx.Err() == nil {
			log.Error("capture sweep failed", "err", err)
		} else if n > 0 {
			log.Info("capture sweep", "deleted", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *security) close() {
	if s.stop != nil {
		s.stop()
	}
	if s.meter != nil {
		if err := s.meter.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "hearth: metering:", err)
		}
	}
	if s.audit != nil {
		if s.gate != nil {
			s.gate.FlushAllDenials() // refused keys still being counted
		}
		s.audit.Close()
	}
	if s.tenants != nil {
		s.tenants.Close()
	}
	if s.db != nil {
		s.db.Close()
	}
}

// isLoopback reports whether a listening address is reachable only from
// this machine.
func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
