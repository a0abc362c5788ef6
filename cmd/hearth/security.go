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
	"github.com/hearth-ai/hearth/capture"
	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/flywheel"
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
	// capture keeps consented interactions (per tenant policy); its
	// sweeper deletes them past retention until stopSweep is called.
	capture   *capture.Store
	stopSweep func()
	// forward takes captures and feedback to tenants' home jurisdictions
	// over the fabric, once attachFabric (captureforward.go) gives it the
	// node; until then they are dropped and counted.
	forward *captureForwarder
	// book remembers the fleet's nodes for erasures (peerbook.go);
	// stopBook ends its tracking.
	book     *peerBook
	stopBook func()
	// anchor keeps the audit log's head in the database and, once in a
	// fleet, with the node's certified peers (auditpeers.go).
	anchor *peerAnchor
}

// sweepEvery is how often expired captures are deleted.
const sweepEvery = time.Hour

func openSecurity(ctx context.Context, dir string, o *serveOptions, loopback bool, log *slog.Logger) (_ *security, err error) {
	s := &security{}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if s.id, err = identity.LoadOrCreate(dir); err != nil {
		return nil, err
	}
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
	// In a fleet its certified peers keep it too (auditpeers.go).
	dbAnchor, err := audit.OpenDBAnchor(ctx, s.db)
	if err != nil {
		return nil, err
	}
	s.anchor = &peerAnchor{db: dbAnchor, log: log}
	if s.audit, err = audit.Open(filepath.Join(dir, "audit"), s.id, audit.Options{Logger: log, Anchor: s.anchor}); err != nil {
		return nil, err
	}
	if rec := s.audit.Recovery(); rec != nil {
		log.Warn("audit log recovered after an unclean shutdown", "torn_tail", rec.Torn != nil, "quarantine", rec.Quarantine)
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
	s.forward = &captureForwarder{}
	// Captures, and the datasets their erasures reach (flywheel.Open).
	fw, err := flywheel.Open(ctx, s.db, dir, flywheel.Options{Jurisdiction: o.jurisdiction, Node: s.id.ID, Audit: s.audit,
		Tenants: s.tenants, Forwarder: s.forward, Logger: log})
	if err != nil {
		return nil, err
	}
	s.capture = fw.Capture
	if err := s.openErasure(ctx, log); err != nil { // fleet-wide erasure (erase.go)
		return nil, err
	}
	s.stopSweep = sweep(s.capture, log)
	return s, nil
}

// ready is the security side of /readyz: not ready while the audit log
// cannot record (requests and admin changes are refused meanwhile).
func (s *security) ready() error {
	if err := s.audit.Healthy(); err != nil {
		return err
	}
	return s.anchor.ready()
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

// sweep deletes expired captures now and every sweepEvery until the
// returned stop is called (which waits for a sweep in progress).
func sweep(c *capture.Store, log *slog.Logger) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
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
	}()
	return func() { cancel(); wg.Wait() }
}

func (s *security) close() {
	if s.stopBook != nil {
		s.stopBook()
	}
	if s.stopSweep != nil {
		s.stopSweep()
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
