package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/sched"
	"github.com/hearth-ai/hearth/fabric"
	hearthnode "github.com/hearth-ai/hearth/node"
	"github.com/hearth-ai/hearth/runner"
)

// DefaultAddr is loopback only: a node is never open to the network unless
// its operator says so.
const DefaultAddr = "127.0.0.1:8080"

type serveOptions struct {
	config         string
	addr           string
	models         []string
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
	limits         hearthnode.Limits
	trainThreads   int
	maxFileBytes   int64
	lora           []string // llama-server's --lora FILE
	loraScaled     []string // --lora-scaled FILE:SCALE
	loraNoApply    bool     // --lora-init-without-apply
	rolloutEvery   time.Duration
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
	f.StringVar(&o.site, "site", hearthnode.DefaultSite, "this node's site name, as its fleet certificate names it")
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
	f.DurationVar(&o.limits.BodyTimeout, "body-timeout", hearthnode.DefaultBodyTimeout, "how long a client may take to send a request body, from its headers (0: no limit)")
	f.DurationVar(&o.limits.IdleTimeout, "idle-timeout", hearthnode.DefaultIdleTimeout, "how long an idle keep-alive connection stays open")
	f.IntVar(&o.limits.MaxConnsPerIP, "max-conns-per-ip", hearthnode.DefaultMaxConnsPerIP, "connections one client (an IPv4 address, an IPv6 /64, this machine over loopback) may hold open at once; more get a 503 (0: no limit)")
	f.IntVar(&o.trainThreads, "train-threads", 0, "threads of the one fine-tuning job training at a time (0: half the cores, at least one, so serving keeps the rest)")
	f.Int64Var(&o.maxFileBytes, "max-file-bytes", 0, "largest training file /v1/files takes; larger get a 413 (0: 64 MiB)")
	f.StringSliceVar(&o.lora, "lora", nil, "LoRA adapter file to serve at global scale 1, as llama-server's --lora: applied to requests for every model it fits that send no \"lora\" field, and named MODEL:NAME (repeatable, or comma-separated)")
	f.StringSliceVar(&o.loraScaled, "lora-scaled", nil, "LoRA adapter with a global scale, FILE:SCALE, as llama-server's (repeatable, or comma-separated)")
	f.BoolVar(&o.loraNoApply, "lora-init-without-apply", false, "start the --lora adapters at global scale 0 (set scales with POST /lora-adapters or per request)")
	f.DurationVar(&o.rolloutEvery, "rollout-interval", 5*time.Second, "how often the rollouts' gates are evaluated (besides at once when an arm reaches a sample threshold) and the home tells the fleet its rollouts (besides at every step)")
	f.BoolVar(&o.insecure, "insecure-no-auth", false, "serve requests without API keys on a non-loopback address while no tenant exists (not for production)")
	return cmd
}

func serve(ctx context.Context, g *globals, o *serveOptions) error {
	log, err := g.serverLogger(o.logFormat)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	cfg, err := o.nodeConfig(g, log)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	cfg.Listener = ln
	n, err := hearthnode.New(cfg)
	if err != nil {
		ln.Close()
		return err
	}
	defer n.Shutdown(context.Background())
	if err := n.Start(ctx); err != nil {
		return err
	}
	models, _ := n.Runner().Models(ctx)
	names := make([]string, len(models))
	for i, m := range models {
		names[i] = m.Name
	}
	fleet := n.Fabric().ClientURL()
	if u := n.Fabric().ClusterURL(); u != "" {
		fleet += ", cluster " + u
	}
	fmt.Fprintf(g.stderr, "hearth: node %s serving %v on http://%s (%s); fleet: %s\n", n.ID(), names, ln.Addr(), n.Mode(), fleet)

	select {
	case err := <-n.ServeErr():
		n.Shutdown(context.Background())
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	fmt.Fprintln(g.stderr, "hearth: shutting down, finishing requests in flight")
	dctx, cancel := context.WithTimeout(context.Background(), o.drain)
	defer cancel()
	if err := n.Shutdown(dctx); err != nil {
		return fmt.Errorf("serve: shutdown: %w", err)
	}
	return nil
}

// nodeConfig turns the flags into the node's configuration.
func (o *serveOptions) nodeConfig(g *globals, log *slog.Logger) (hearthnode.Config, error) {
	if _, err := engine.ParseKVType(o.kvType); err != nil {
		return hearthnode.Config{}, fmt.Errorf("--kv-type: %w", err)
	}
	dir, err := g.dataDir()
	if err != nil {
		return hearthnode.Config{}, err
	}
	op, err := parseOperator(o.operator)
	if err != nil {
		return hearthnode.Config{}, err
	}
	var loras []runner.LoRAFile
	for _, path := range o.lora {
		if path == "" {
			return hearthnode.Config{}, fmt.Errorf("--lora: empty file name")
		}
		loras = append(loras, runner.LoRAFile{Path: path, Scale: 1})
	}
	for _, s := range o.loraScaled {
		l, err := parseScaled(s)
		if err != nil {
			return hearthnode.Config{}, err
		}
		loras = append(loras, runner.LoRAFile{Path: l.Name, Scale: l.Scale})
	}
	cfg := hearthnode.Config{
		DataDir: dir, Limits: o.limits, Logger: log, Version: version,
		Jurisdiction: o.jurisdiction, OperatorKey: op, ClusterPlain: o.clusterPlain, InsecureNoAuth: o.insecure,
		Runner: runner.Config{
			Files:     o.models,
			Engine:    engine.Options{Threads: o.threads, Context: o.ctxSize, KVType: o.kvType},
			Sched:     sched.Config{MaxSeqs: o.parallel, KVTokens: o.kvTokens, MaxQueue: o.queue, BatchTokens: o.batchTokens, StepDelay: o.faultStepDelay},
			KeepAlive: o.keepAlive,
			LoRA:      loras, LoRAInitWithoutApply: o.loraNoApply,
		},
		Fabric: fabric.Config{Site: o.site, Listen: o.natsListen, ClusterListen: o.clusterAddr, Join: o.join, External: o.natsURL,
			Credentials: o.natsCreds, HeartbeatInterval: o.heartbeat, AddedLatency: o.faultLatency},
		DefaultMaxTokens: o.maxTokens, MaxTokensLimit: o.maxTokensLimit, StallTimeout: o.stallTimeout,
		Jobs:            hearthnode.JobsConfig{Threads: o.trainThreads, MaxFileBytes: o.maxFileBytes},
		RolloutInterval: o.rolloutEvery,
	}
	if o.routeSet {
		cfg.Route = &o.route
	}
	return cfg, nil
}
