package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/admin"
	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/sched"
	"github.com/hearth-ai/hearth/gateway"
	"github.com/hearth-ai/hearth/identity"
	"github.com/hearth-ai/hearth/runner"
	"github.com/hearth-ai/hearth/store"
	"github.com/hearth-ai/hearth/tenantdoc"
)

// DefaultAddr is loopback only: a node is never open to the network unless
// its operator says so.
const DefaultAddr = "127.0.0.1:8080"

type serveOptions struct {
	config         string
	addr           string
	models         []string
	dataDir        string
	threads        int
	ctxSize        int
	parallel       int
	kvTokens       int
	kvType         string
	queue          int
	batchTokens    int
	keepAlive      time.Duration
	maxTokens      int
	maxTokensLimit int
	stallTimeout   time.Duration
	drain          time.Duration
	jurisdiction   string
	insecure       bool
	site           string
	natsListen     string
	clusterAddr    string
	join           []string
	natsURL        string
	natsCreds      string
	operator       string
	route          bool
	routeSet       bool // --route given (flag, environment or config): otherwise it follows certification
	heartbeat      time.Duration
	clusterPlain   bool
	logFormat      string
	limits         httpLimits
	// Fault injection for fleet tests on one machine (hidden flags).
	faultLatency   time.Duration
	faultStepDelay time.Duration
}

func newServeCmd(g *globals) *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve [--model FILE] [--addr HOST:PORT]",
		Short: "Serve models over OpenAI- and Ollama-compatible HTTP APIs",
		Long: `Serve the models in the store, and any --model files, over HTTP:
OpenAI's /v1/chat/completions, /v1/completions, /v1/embeddings and /v1/models,
Ollama's /api/chat, /api/generate, /api/tags, /api/show and friends, plus
/metrics (Prometheus), /healthz and /readyz.

Settings come from flags, then HEARTH_* environment variables (HEARTH_ADDR,
HEARTH_DATA_DIR, HEARTH_MODEL=a.gguf,b.gguf ...), then the TOML file given by
--config (keys are flag names: addr = "127.0.0.1:8080", model = ["a.gguf"]).
The default address is loopback only. SIGINT/SIGTERM stop taking requests and
let streams in flight finish (up to --drain).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyConfig(cmd, o.config); err != nil {
				return err
			}
			o.routeSet = cmd.Flags().Changed("route")
			return serve(cmd.Context(), g, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.config, "config", "", "TOML config file")
	f.StringVar(&o.addr, "addr", DefaultAddr, "address to listen on (host:port; port 0 picks one)")
	f.StringArrayVarP(&o.models, "model", "m", nil, "GGUF file to serve besides the store, named after the file (repeatable)")
	f.StringVar(&o.dataDir, "data-dir", "", "data directory (default $HEARTH_DATA_DIR or ~/.hearth)")
	f.IntVarP(&o.threads, "threads", "t", 0, "worker threads per model (0: one per core)")
	f.IntVarP(&o.ctxSize, "ctx", "c", 0, "context size per sequence (0: the model's, at most 4096)")
	f.IntVar(&o.parallel, "parallel", 4, "sequences decoded together per model (batch slots)")
	f.IntVar(&o.kvTokens, "kv-tokens", 0, "KV-cache budget per model in tokens (0: parallel x context)")
	f.StringVar(&o.kvType, "kv-type", "f32", "KV-cache precision: f32, or f16 for half the memory per token")
	f.IntVar(&o.queue, "queue", 64, "requests that may wait for a slot before 503 + Retry-After")
	f.IntVar(&o.batchTokens, "batch-tokens", 256, "most tokens in one model step")
	f.DurationVar(&o.keepAlive, "keep-alive", 5*time.Minute, "how long a model stays loaded after its last request")
	f.IntVar(&o.maxTokens, "max-tokens", 0, "cap on generated tokens when a request sets none (0: none)")
	f.DurationVar(&o.stallTimeout, "stall-timeout", api.DefaultStallTimeout, "how long a streamed response waits for a client that stops reading before it drops it (negative: no limit)")
	f.IntVar(&o.maxTokensLimit, "max-tokens-limit", 0, "most tokens one request may generate: a larger max_tokens is a 400 (OpenAI) or lowered (Ollama) (0: the model's context)")
	f.DurationVar(&o.drain, "drain", 30*time.Second, "how long shutdown waits for streams in flight")
	f.StringVar(&o.jurisdiction, "jurisdiction", "", "this node's jurisdiction (e.g. KE), checked against tenant policies")
	f.StringVar(&o.site, "site", "local", "this node's site name, as its fleet certificate names it")
	f.StringVar(&o.natsListen, "nats-listen", "127.0.0.1:0", "client address of the embedded NATS server (port 0 picks one)")
	f.StringVar(&o.clusterAddr, "cluster-listen", "", "address for NATS cluster routes to other nodes (empty: no clustering)")
	f.StringArrayVar(&o.join, "join", nil, "nats-route://host:port of a node to form a cluster with (repeatable)")
	f.StringVar(&o.natsURL, "nats", "", "connect to this external NATS (cluster, supercluster or leaf node) instead of embedding one")
	f.StringVar(&o.natsCreds, "nats-creds", "", "credentials file for --nats")
	f.StringVar(&o.operator, "operator", "", "the fleet operator's public key (hex), the root of trust for node certificates")
	f.BoolVar(&o.route, "route", false, "route generation requests across the fleet to certified nodes the tenant's policy permits (this node needs a certificate to serve them itself); default: on for a certified node given --operator, off otherwise")
	f.StringVar(&o.logFormat, "log-format", "text", "log lines on stderr as text or json (info level; -v adds debug)")
	f.BoolVar(&o.clusterPlain, "cluster-plain", false, "run cluster routes without TLS (by default a certified node, given --operator, accepts and makes routes only over mutually authenticated TLS with other certified nodes)")
	f.DurationVar(&o.heartbeat, "heartbeat", time.Second, "how often the node publishes its status to the fleet; peers that miss 3 in a row are dropped (use one value fleet-wide)")
	f.DurationVar(&o.faultLatency, "fault-latency", 0, "testing only: delay this node's fleet replies (pings, streamed responses) to simulate distance")
	f.DurationVar(&o.faultStepDelay, "fault-step-delay", 0, "testing only: make every model step this much longer, to simulate a slower model")
	f.MarkHidden("fault-latency")
	f.MarkHidden("fault-step-delay")
	f.DurationVar(&o.limits.bodyTimeout, "body-timeout", defaultBodyTimeout, "how long a client may take to send a request body, from its headers (0: no limit)")
	f.DurationVar(&o.limits.idleTimeout, "idle-timeout", defaultIdleTimeout, "how long an idle keep-alive connection stays open")
	f.IntVar(&o.limits.maxConnsPerIP, "max-conns-per-ip", defaultMaxConnsPerIP, "connections one client (an IPv4 address, an IPv6 /64, this machine over loopback) may hold open at once; more get a 503 (0: no limit)")
	f.BoolVar(&o.insecure, "insecure-no-auth", false, "serve requests without API keys on a non-loopback address while no tenant exists (not for production)")
	return cmd
}

func serve(ctx context.Context, g *globals, o *serveOptions) error {
	log, err := g.serverLogger(o.logFormat)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if _, err := engine.ParseKVType(o.kvType); err != nil {
		return fmt.Errorf("serve: --kv-type: %w", err)
	}
	dir := o.dataDir
	if dir == "" {
		if dir, err = store.DefaultDir(); err != nil {
			return err
		}
		o.dataDir = dir
	}
	if err := secureDataDir(dir, log); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if err := checkSecretFiles(dir, o); err != nil {
		return err
	}
	st, err := store.Open(dir)
	if err != nil {
		return err
	}
	cert, err := nodeCert(dir, o, log)
	if err != nil {
		return err
	}
	op, err := operatorKey(o)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer ln.Close()
	id, err := identity.LoadOrCreate(dir)
	if err != nil {
		return err
	}
	run, err := runner.New(runner.Config{
		Files:     o.models,
		Store:     st,
		Engine:    engine.Options{Threads: o.threads, Context: o.ctxSize, KVType: o.kvType, Logger: log},
		Sched:     sched.Config{MaxSeqs: o.parallel, KVTokens: o.kvTokens, MaxQueue: o.queue, BatchTokens: o.batchTokens, StepDelay: o.faultStepDelay},
		KeepAlive: o.keepAlive,
		Logger:    log,
	})
	if err != nil {
		return err
	}
	fab, err := newFabric(o, op, cert, id, run, ln.Addr().String(), log)
	if err != nil {
		return err
	}
	sec, err := openSecurity(ctx, dir, o, isLoopback(ln.Addr()), id, fab, log)
	if err != nil {
		fab.Shutdown(context.Background())
		return err
	}
	defer sec.close()
	defer fab.Shutdown(context.Background()) // before sec closes what its handlers use
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}), run.Collector())
	reg.MustRegister(sec.auditMetrics()...)
	metrics, err := api.NewMetrics(reg)
	if err != nil {
		return err
	}
	draining := make(chan struct{})
	srv, err := api.New(api.Config{
		Backend:          run,
		Gate:             sec.gate,
		Capture:          sec.capturer(), // consented capture and POST /v1/feedback (security.go)
		Logger:           log,
		Metrics:          metrics,
		Gatherer:         reg,
		DefaultMaxTokens: o.maxTokens,
		MaxTokensLimit:   o.maxTokensLimit,
		StallTimeout:     o.stallTimeout,
		Jurisdiction:     o.jurisdiction,
		Version:          version,
		Ready: func(context.Context) error {
			select {
			case <-draining:
				return errors.New("shutting down")
			default:
				return sec.ready() // the audit log records (security.go)
			}
		},
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/", sec.gate.Admin(admin.New(admin.Config{Tenants: sec.tenants, Logger: log, OnAction: sec.gate.AdminAction, Preflight: sec.gate.Preflight, Erase: sec.relay.EraseEverywhere})))
	hs := newHTTPServer(mux, o.limits) // body and idle deadlines (httpserver.go)
	models, _ := run.Models(ctx)
	names := make([]string, len(models))
	for i, m := range models {
		names[i] = m.Name
	}
	if err := startFabric(ctx, o, fab, log); err != nil {
		return err
	}
	sec.start(log) // capture sweep, peer book, audit head check (security.go)
	if op != nil { // tenants defined once, by the operator, for every node
		book, err := tenantdoc.Open(ctx, sec.db, sec.tenants, op)
		if err != nil {
			return err
		}
		stopSync, err := startTenantSync(book, fab, sec.audit, log)
		if err != nil {
			return fmt.Errorf("serve: tenant documents: %w", err)
		}
		defer stopSync()
	}
	if !o.routeSet {
		// A certified fleet member routes; a standalone node serves.
		o.route = cert != nil && op != nil
	}
	log.Info("fleet routing", "on", o.route)
	if o.route {
		rt, err := gateway.New(gateway.Config{Fabric: fab, Local: srv, Gate: sec.gate, Audit: sec.audit, Logger: log, Registerer: reg, StallTimeout: o.stallTimeout})
		if err != nil {
			return err
		}
		mux.Handle("/", rt)
	} else {
		mux.Handle("/", srv)
	}
	fleet := fab.ClientURL()
	if u := fab.ClusterURL(); u != "" {
		fleet += ", cluster " + u
	}
	fmt.Fprintf(g.stderr, "hearth: node %s serving %v on http://%s (%s); fleet: %s\n", sec.id.ID, names, ln.Addr(), sec.mode, fleet)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(limitConnsPerIP(ln, o.limits.maxConnsPerIP, log)) }()

	select {
	case err := <-errc:
		run.Shutdown(context.Background())
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	fmt.Fprintln(g.stderr, "hearth: shutting down, finishing requests in flight")
	close(draining)
	dctx, cancel := context.WithTimeout(context.Background(), o.drain)
	defer cancel()
	herr := hs.Shutdown(dctx) // waits for handlers: streams in flight finish
	rerr := run.Shutdown(dctx)
	if err := errors.Join(herr, rerr); err != nil {
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	return nil
}
