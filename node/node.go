package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/hearth-ai/hearth/access"
	"github.com/hearth-ai/hearth/admin"
	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/audit/peeranchor"
	"github.com/hearth-ai/hearth/capture"
	"github.com/hearth-ai/hearth/capture/relay"
	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/flywheel"
	"github.com/hearth-ai/hearth/flywheel/jobs"
	"github.com/hearth-ai/hearth/flywheel/replica"
	"github.com/hearth-ai/hearth/flywheel/rollout"
	"github.com/hearth-ai/hearth/flywheel/rollout/fleet"
	"github.com/hearth-ai/hearth/gateway"
	"github.com/hearth-ai/hearth/identity"
	"github.com/hearth-ai/hearth/metering"
	"github.com/hearth-ai/hearth/route"
	"github.com/hearth-ai/hearth/runner"
	"github.com/hearth-ai/hearth/store"
	"github.com/hearth-ai/hearth/tenant"
	"github.com/hearth-ai/hearth/tenantdoc"
)

// Node is a serving node: its parts, built by New, and the goroutines
// Start starts, which Shutdown stops.
type Node struct {
	cfg Config
	log *slog.Logger

	// The parts, in the order New builds them (Shutdown closes them in
	// reverse).
	id      *identity.Identity
	db      *db.DB
	tenants *tenant.Store
	meter   *metering.Meter
	run     *runner.Runner
	fab     *fabric.Node
	anchor  *peeranchor.Anchor
	audit   *audit.Log
	gate    *access.Gate
	fw      *flywheel.Stores
	capture *capture.Store
	relay   *relay.Relay
	copies  *replica.Replicas
	jobs    *jobs.Manager
	deploys *rollout.Store
	spread  *fleet.Fleet    // the rollouts across the fleet
	docs    *tenantdoc.Book // nil without an operator key
	reg     *prometheus.Registry
	handler http.Handler
	hs      *http.Server
	mode    string

	mu       sync.Mutex // guards state
	state    int
	draining chan struct{} // closed when Shutdown begins
	ctx      context.Context
	cancel   context.CancelFunc // ends the background loops
	wg       sync.WaitGroup     // every goroutine the node started
	stopped  chan struct{}      // closed when Shutdown has finished
	stopErr  error
	serveErr chan error
}

const (
	stateNew = iota
	stateStarted
	stateStopped
)

// sweepEvery is how often expired captures are deleted.
const sweepEvery = time.Hour

// New resolves cfg and builds the node's parts in dependency order: data
// dir, identity, database, tenants, meter, runner, fabric node, audit log
// anchored in the fabric's peers, access gate, capture store with the
// relay's forwarder, relay, adapter copies (replica), fine-tuning jobs,
// rollouts, tenant documents (with an operator key), API,
// admin API and, when routing, the gateway. It starts nothing. On error
// it closes what it opened.
func New(cfg Config) (_ *Node, err error) {
	if cfg, err = cfg.resolve(); err != nil {
		return nil, err
	}
	ctx := context.Background()
	log, dir := cfg.Logger, cfg.DataDir
	n := &Node{cfg: cfg, log: log, draining: make(chan struct{}), stopped: make(chan struct{}), serveErr: make(chan error, 1)}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			n.close()
		}
	}()
	if cfg.Runner.Store == nil {
		if cfg.Runner.Store, err = store.Open(dir); err != nil {
			return nil, err
		}
	}
	if n.id, err = identity.LoadOrCreate(dir); err != nil {
		return nil, err
	}
	if n.db, err = db.OpenDir(dir); err != nil {
		return nil, err
	}
	if n.tenants, err = tenant.Open(ctx, n.db, cfg.Now); err != nil {
		return nil, err
	}
	if n.meter, err = metering.Open(ctx, n.db, cfg.Now); err != nil {
		return nil, err
	}
	rc := cfg.Runner
	rc.Logger = log
	var src *tenantAdapters
	if rc.Adapters == nil {
		// The tenants' registries, once the flywheel's stores are open.
		src = &tenantAdapters{}
		rc.Adapters = src
	}
	if rc.Engine.Logger == nil {
		rc.Engine.Logger = log
	}
	if n.run, err = runner.New(rc); err != nil {
		return nil, err
	}
	if n.fab, err = n.newFabric(); err != nil {
		return nil, err
	}
	if err := n.openAudit(ctx); err != nil {
		return nil, err
	}
	if err := n.openGate(ctx); err != nil {
		return nil, err
	}
	if err := n.openCapture(ctx); err != nil {
		return nil, err
	}
	if src != nil {
		src.reg.Store(n.fw.Adapters)
		src.copies.Store(n.copies)
	}
	if cfg.OperatorKey != nil { // tenants defined once, by the operator, for every node
		if n.docs, err = tenantdoc.Open(ctx, n.db, n.tenants, cfg.OperatorKey); err != nil {
			return nil, err
		}
	}
	if err := n.buildHandler(); err != nil {
		return nil, err
	}
	return n, nil
}

// newFabric builds the node's part of its fleet, which Start joins: an
// embedded NATS server (or an external NATS), clustered with the Join
// peers, publishing heartbeats with the node's certificate, HTTP address
// and load.
func (n *Node) newFabric() (*fabric.Node, error) {
	cfg, fc := n.cfg, n.cfg.Fabric
	fc.Identity, fc.Cert, fc.OperatorKey, fc.Logger = n.id, cfg.cert, cfg.OperatorKey, n.log
	fc.Jurisdiction = cfg.Jurisdiction
	if fc.Jurisdiction == "" {
		fc.Jurisdiction = "XX" // unattested: no certificate can match it
	}
	// Routes cross the WAN: over TLS between certified nodes unless the
	// operator says the network is trusted.
	fc.RouteTLS = cfg.cert != nil && cfg.OperatorKey != nil && !cfg.ClusterPlain
	if fc.ClusterListen != "" && !fc.RouteTLS && !cfg.ClusterPlain {
		n.log.Warn("cluster routes without TLS: the node needs a fleet certificate and --operator for TLS routes")
	}
	if fc.External == "" {
		tok, err := fabric.LoadOrCreateClientToken(cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("serve: fleet token: %w", err)
		}
		fc.ClientToken = tok
	}
	fc.HTTPAddr = cfg.Listener.Addr().String()
	if fc.Status == nil {
		run := n.run
		fc.Status = func() fabric.Load {
			models, _ := run.Models(context.Background())
			l := fabric.Load{}
			for _, m := range models {
				l.Models = append(l.Models, m.Name)
			}
			// By key, not name: a tenant's adapter names are not the
			// fleet's to read, and only its own requests match its keys.
			l.Adapters = run.AdapterKeys(route.AdapterKeys)
			l.Slots, l.Busy, l.Queue, l.KVUsedBytes, l.KVTotalBytes = run.Load()
			return l
		}
	}
	f, err := fabric.New(fc)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return f, nil
}

// openAudit opens the audit log. Its head is anchored in the database at
// every checkpoint, so a log cut back or emptied fails to open and to
// verify, and in the fleet's certified peers (peeranchor).
func (n *Node) openAudit(ctx context.Context) error {
	dbAnchor, err := audit.OpenDBAnchor(ctx, n.db)
	if err != nil {
		return err
	}
	n.anchor = peeranchor.New(dbAnchor, n.fab, n.log)
	opts := n.cfg.Audit
	opts.Logger, opts.Anchor = n.log, n.anchor
	if n.audit, err = audit.Open(filepath.Join(n.cfg.DataDir, "audit"), n.id, opts); err != nil {
		return err
	}
	if rec := n.audit.Recovery(); rec != nil {
		n.log.Warn("audit log recovered after an unclean shutdown", "torn_tail", rec.Torn != nil, "quarantine", rec.Quarantine)
	}
	if err := n.anchor.Register(n.audit); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// openGate decides how requests are authenticated and builds the gate.
func (n *Node) openGate(ctx context.Context) error {
	count, err := n.tenants.CountTenants(ctx)
	if err != nil {
		return err
	}
	allowLocal := n.cfg.loopback || n.cfg.InsecureNoAuth
	switch {
	case count > 0:
		n.mode = "API keys required"
	case allowLocal:
		n.mode = "no tenants yet: requests without a key are served as tenant \"local\"; create a tenant to require keys"
	default:
		return errors.New("serve: refusing to serve a non-loopback address with no tenants, which would leave the node open; " +
			"create a tenant and a key first (hearth tenants create, hearth keys create), or pass --insecure-no-auth")
	}
	n.gate, err = access.New(access.Config{Tenants: n.tenants, Meter: n.meter, Audit: n.audit, Node: n.id.ID,
		Jurisdiction: n.cfg.Jurisdiction, AllowLocal: allowLocal, Logger: n.log, Now: n.cfg.Now})
	return err
}

// openCapture opens the flywheel's stores (flywheel.Open: the capture
// store, which forwards over the fabric node, and the dataset store sealed
// under the capture keys, into which capture erasures flow along lineage)
// and the relay that keeps what other nodes forward and erases fleet-wide.
func (n *Node) openCapture(ctx context.Context) error {
	fw, err := flywheel.Open(ctx, n.db, n.cfg.DataDir, flywheel.Options{Now: n.cfg.Now, Jurisdiction: n.cfg.Jurisdiction, Node: n.id.ID,
		Audit: n.audit, Tenants: n.tenants, Forwarder: relay.NewForwarder(n.fab), OnRetire: n.retiredAdapter, Logger: n.log})
	if err != nil {
		return err
	}
	n.fw, n.capture = fw, fw.Capture
	if n.relay, err = relay.New(ctx, relay.Config{Node: n.fab, Store: n.capture, Tenants: n.tenants, DB: n.db, Logger: n.log,
		OnFeedback: n.forwardedFeedback}); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	// Adapters go from the tenant's home to the nodes that serve it.
	if n.copies, err = replica.New(ctx, replica.Config{Node: n.fab, Identity: n.id, DB: n.db, Registry: fw.Adapters, Tenants: n.tenants,
		Sealer: n.capture.Sealer(), EnsureKey: n.capture.EnsureKey, Audit: n.audit, OnDrop: n.droppedCopy,
		Now: n.cfg.Now, Logger: n.log}); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if err := n.openJobs(ctx, fw); err != nil {
		return err
	}
	return n.openRollouts(ctx, fw)
}

// openJobs opens the fine-tuning jobs: files sealed under the tenants'
// capture keys, jobs training on the runner's models or the tenants'
// datasets, one at a time on their own thread budget, each in its
// directory under DATA/jobs. Unless the configuration brings its own,
// the trainer is flywheel/finetune's, each adapter evaluated on the
// held-out split, and the adapters go into the flywheel's registry.
func (n *Node) openJobs(ctx context.Context, fw *flywheel.Stores) error {
	jc := n.cfg.Jobs
	if jc.Trainer == nil {
		jc.Trainer = trainer{log: n.log}
		if jc.Registry == nil {
			jc.Registry = adapterRegistry{adapters: fw.Adapters, tenants: n.tenants}
		}
	}
	var err error
	n.jobs, err = jobs.Open(ctx, jobs.Config{DB: n.db, Dir: filepath.Join(n.cfg.DataDir, "jobs"), Trainer: jc.Trainer, Models: n.run,
		Datasets: fw.Datasets, Sealer: n.capture.Sealer(), Keys: n.capture, Registry: jc.Registry, Audit: n.audit, Node: n.id.ID,
		Jurisdiction: n.cfg.Jurisdiction, Threads: jc.Threads, MaxFileBytes: jc.MaxFileBytes, CheckpointEvery: jc.CheckpointEvery,
		Now: n.cfg.Now, Logger: n.log})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// buildHandler builds the request path: /admin/ is the admin API behind
// the gate; / is the gateway in front of the API when routing, else the
// API; all of it behind the HTTP server's limits.
func (n *Node) buildHandler() error {
	cfg := n.cfg
	n.reg = prometheus.NewRegistry()
	n.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), n.run.Collector())
	n.reg.MustRegister(n.auditMetrics()...)
	n.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hearth_rollout_observations_dropped_total",
		Help: "Rollout observations of this node's never counted at the rollout's home: it was unreachable too long, or refused them."},
		func() float64 { return float64(n.spread.Dropped()) }))
	metrics, err := api.NewMetrics(n.reg)
	if err != nil {
		return err
	}
	srv, err := api.New(api.Config{
		Backend:          n.run,
		Gate:             n.gate,
		Capture:          capture.NewHook(n.capture), // consented capture and POST /v1/feedback
		FineTuning:       jobs.NewHook(n.jobs),
		Deployments:      deployments{n.deploys, n.spread}, // a deployment's name served by its rollout's arms (rollout.go)
		MaxFileBytes:     n.jobs.MaxFileBytes(),
		Logger:           n.log,
		Metrics:          metrics,
		Gatherer:         n.reg,
		DefaultMaxTokens: cfg.DefaultMaxTokens,
		MaxTokensLimit:   cfg.MaxTokensLimit,
		StallTimeout:     cfg.StallTimeout,
		Jurisdiction:     cfg.Jurisdiction,
		Version:          cfg.Version,
		Ready:            n.ready,
		AdminAction:      n.gate.AdminAction, // vLLM's and llama-server's adapter endpoints
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/", n.gate.Admin(admin.New(admin.Config{Tenants: n.tenants, Logger: n.log, OnAction: n.gate.AdminAction,
		Preflight: n.gate.Preflight, Erase: n.relay.EraseEverywhere, Rollouts: n.deploys})))
	if *cfg.Route {
		rt, err := gateway.New(gateway.Config{Fabric: n.fab, Local: srv, Gate: n.gate, Audit: n.audit, Logger: n.log,
			Registerer: n.reg, StallTimeout: cfg.StallTimeout})
		if err != nil {
			return err
		}
		mux.Handle("/", rt)
	} else {
		mux.Handle("/", srv)
	}
	n.handler = mux
	n.hs = newHTTPServer(mux, cfg.Limits) // body and idle deadlines (httpserver.go)
	return nil
}

// ready is /readyz: not while draining, nor while the audit log cannot
// record (requests and admin changes are refused meanwhile), nor when the
// fleet's peers remember records the log lost.
func (n *Node) ready(context.Context) error {
	select {
	case <-n.draining:
		return errors.New("shutting down")
	default:
	}
	if err := n.audit.Healthy(); err != nil {
		return err
	}
	return n.anchor.Ready()
}

// auditMetrics are the audit log's health for /metrics.
func (n *Node) auditMetrics() []prometheus.Collector {
	return []prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "hearth_audit_append_failures_total",
			Help: "Audit records that could not be appended (the log failed, or refused them while failed)."},
			func() float64 { return float64(n.audit.Stats().AppendFailures) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "hearth_audit_log_healthy",
			Help: "1 while the audit log makes records durable, 0 while it is failed (requests and admin changes are refused)."},
			func() float64 {
				if n.audit.Stats().Healthy {
					return 1
				}
				return 0
			}),
	}
}

// Start joins the fleet, starts the background loops (capture sweep, peer
// book, the audit head's check with the peers, tenant documents) and
// serves HTTP on the Listener. If it fails, it undoes what it did and the
// node is stopped.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch n.state {
	case stateStarted:
		return errors.New("node: already started")
	case stateStopped:
		return errors.New("node: shut down")
	}
	n.state = stateStarted
	if err := n.startLocked(ctx); err != nil {
		n.state = stateStopped
		close(n.draining)
		n.finish(err)
		return err
	}
	return nil
}

func (n *Node) startLocked(ctx context.Context) error {
	if err := n.fab.Start(ctx); err != nil {
		return fmt.Errorf("serve: fleet: %w", err)
	}
	if n.cfg.Fabric.External == "" {
		if err := fabric.WriteClientURL(n.cfg.DataDir, n.fab.ClientURL()); err != nil {
			n.log.Warn("could not record the fleet URL for hearth fleet status", "err", err)
		}
	}
	if n.docs != nil {
		sync := tenantdoc.NewSync(n.docs, n.fab, n.audit, n.log)
		n.wg.Go(func() {
			if err := sync.Run(n.ctx); err != nil {
				n.log.Error("tenant documents", "err", err)
			}
		})
	}
	n.log.Info("fleet routing", "on", *n.cfg.Route)
	n.wg.Go(func() { n.sweep(n.ctx) })
	n.wg.Go(func() { n.relay.TrackPeers(n.ctx) })
	n.wg.Go(func() { n.copies.Run(n.ctx) })
	n.wg.Go(func() { n.anchor.Run(n.ctx, n.audit) })
	n.wg.Go(func() { n.deploys.Run(n.ctx) }) // the rollouts' gates; the last observations written when it ends
	n.wg.Go(func() { n.spread.Run(n.ctx) })  // the rollouts told to the fleet, other nodes' observations sent home
	if err := n.jobs.Start(ctx); err != nil {
		return fmt.Errorf("serve: fine-tuning jobs: %w", err)
	}
	trainer := "flywheel/finetune"
	if n.cfg.Jobs.Trainer != nil {
		trainer = fmt.Sprintf("%T", n.cfg.Jobs.Trainer)
	}
	n.log.Info("fine-tuning jobs", "threads", n.jobs.Threads(), "trainer", trainer)
	ln := limitConnsPerIP(n.cfg.Listener, n.cfg.Limits.MaxConnsPerIP, n.log)
	n.wg.Go(func() {
		if err := n.hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			n.serveErr <- err
		}
	})
	return nil
}

// sweep deletes expired captures now and every sweepEvery until ctx
// ends.
func (n *Node) sweep(ctx context.Context) {
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		if k, err := n.capture.Sweep(ctx); err != nil && ctx.Err() == nil {
			n.log.Error("capture sweep failed", "err", err)
		} else if k > 0 {
			n.log.Info("capture sweep", "deleted", k)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// ServeErr delivers the HTTP server's error if it stops serving on its
// own (not by Shutdown).
func (n *Node) ServeErr() <-chan error { return n.serveErr }

// Shutdown stops the node: it stops taking requests and waits, until ctx
// ends, for those in flight (/readyz fails meanwhile) and for the models'
// work, then stops the background loops, leaves the fleet and closes the
// stores, in the reverse of the order New opened them. It is idempotent:
// later and concurrent calls wait for the first to finish and return its
// result. If ctx ends first the requests still in flight are cut and the
// rest of the stop goes on; the error then says so.
func (n *Node) Shutdown(ctx context.Context) error {
	n.mu.Lock()
	switch n.state {
	case stateNew:
		n.state = stateStopped
		close(n.draining)
		n.finish(nil)
		n.mu.Unlock()
		return nil
	case stateStopped:
		n.mu.Unlock()
		select {
		case <-n.stopped:
			return n.stopErr
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	n.state = stateStopped
	close(n.draining)
	n.mu.Unlock()

	herr := n.hs.Shutdown(ctx)   // waits for handlers: streams in flight finish
	jerr := n.jobs.Shutdown(ctx) // the job training stops at a step, to resume at the next start
	rerr := n.run.Shutdown(ctx)
	n.finish(errors.Join(herr, jerr, rerr))
	return n.stopErr
}

// finish is the end of every stop (Shutdown, or Start failing): the
// background loops end and are waited for, the parts close, and err
// becomes what Shutdown returns.
func (n *Node) finish(err error) {
	n.cancel()
	n.wg.Wait()
	n.close()
	n.stopErr = err
	close(n.stopped)
}

// close releases the parts New built, in reverse order; those not built
// are nil.
func (n *Node) close() {
	if n.hs != nil {
		n.hs.Close()
	}
	n.cfg.Listener.Close()
	if n.jobs != nil {
		n.jobs.Shutdown(context.Background())
	}
	if n.run != nil {
		n.run.Shutdown(context.Background())
	}
	if n.fab != nil {
		n.fab.Shutdown(context.Background())
	}
	if n.meter != nil {
		if err := n.meter.Close(); err != nil {
			n.log.Error("metering", "err", err)
		}
	}
	if n.audit != nil {
		if n.gate != nil {
			n.gate.FlushAllDenials() // refused keys still being counted
		}
		n.audit.Close()
	}
	if n.tenants != nil {
		n.tenants.Close()
	}
	if n.db != nil {
		n.db.Close()
	}
}

// Handler is the node's request path, without the HTTP server's limits:
// /admin/ is the admin API behind the access gate, / the gateway in front
// of the API when routing, else the API.
func (n *Node) Handler() http.Handler { return n.handler }

// Config is the node's configuration as New resolved it.
func (n *Node) Config() Config { return n.cfg }

// ID is the node's ID.
func (n *Node) ID() string { return n.id.ID }

// Mode says how requests are authenticated, for the start-up line.
func (n *Node) Mode() string { return n.mode }

// Parts, for the command line's start-up line and for tests.

func (n *Node) DB() *db.DB              { return n.db }
func (n *Node) Tenants() *tenant.Store  { return n.tenants }
func (n *Node) Audit() *audit.Log       { return n.audit }
func (n *Node) Capture() *capture.Store { return n.capture }

// Flywheel is the node's capture, dataset and adapter stores.
func (n *Node) Flywheel() *flywheel.Stores { return n.fw }

func (n *Node) Jobs() *jobs.Manager { return n.jobs }

// Rollouts is the tenants' rollouts of their deployments' versions.
func (n *Node) Rollouts() *rollout.Store { return n.deploys }

// RolloutFleet is the rollouts' fleet side: what the tenants' homes told
// this node of their rollouts, and its observations on their way home.
func (n *Node) RolloutFleet() *fleet.Fleet { return n.spread }

func (n *Node) Runner() *runner.Runner { return n.run }
func (n *Node) Fabric() *fabric.Node   { return n.fab }

// Replicas is where the node's adapters come from across the fleet
// (Fetch: its own registry first, then the tenant's home).
func (n *Node) Replicas() *replica.Replicas { return n.copies }

func (n *Node) Registry() *prometheus.Registry {
	return n.reg
}
