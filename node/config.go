package node

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/capture"
	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/flywheel/jobs"
	"github.com/hearth-ai/hearth/identity"
	"github.com/hearth-ai/hearth/runner"
	"github.com/hearth-ai/hearth/store"
)

// DefaultSite is a node's site name when its Config names none, as
// `hearth serve --site` defaults to.
const DefaultSite = "local"

// Config is what a node is built from. New resolves it once (Node.Config
// returns the result) and nothing changes it afterwards.
type Config struct {
	// DataDir holds the node's key, certificate, database, audit log and
	// models. Default: store.DefaultDir().
	DataDir string
	// Listener is where Start serves HTTP; the node owns it from New on
	// and closes it at Shutdown. Required: whether it is loopback decides
	// whether a node without tenants may serve, and its address is what
	// the node announces to its fleet.
	Listener net.Listener
	// Limits bound what one client may hold of the HTTP server.
	Limits Limits
	// Logger receives the node's logs. Nil discards.
	Logger *slog.Logger
	// Version is reported by the API.
	Version string

	// Jurisdiction is the node's; with a fleet certificate (DATA/node.cert)
	// it is the certificate's, which Jurisdiction may repeat but not
	// contradict.
	Jurisdiction string
	// OperatorKey is the fleet operator's public key: the root of trust
	// for certificates and tenant documents. Nil: a standalone node.
	OperatorKey ed25519.PublicKey
	// Route sends generation requests across the fleet (the gateway in
	// front of the API). Nil: on for a certified node with an OperatorKey.
	Route *bool
	// ClusterPlain runs cluster routes without TLS.
	ClusterPlain bool
	// InsecureNoAuth serves requests without API keys on a non-loopback
	// Listener while no tenant exists.
	InsecureNoAuth bool

	// Runner configures the models served; the node sets Store (the data
	// dir's, unless given) and Logger.
	Runner runner.Config
	// Fabric configures the node's part in the fleet: Site (default
	// DefaultSite), Listen, ClusterListen, Join, External, Credentials,
	// HeartbeatInterval, AddedLatency, and Status (default: the runner's
	// load). The node sets Identity, Cert, OperatorKey, Jurisdiction,
	// RouteTLS, ClientToken, HTTPAddr and Logger.
	Fabric fabric.Config
	// Audit configures the audit log; the node sets Logger and Anchor.
	Audit audit.Options

	// Jobs configures the fine-tuning jobs (OpenAI's /v1/files and
	// /v1/fine_tuning/jobs): the trainer, the registry, the thread
	// budget and the upload limit.
	Jobs JobsConfig

	// RolloutInterval is how often the rollouts' gates are evaluated
	// (flywheel/rollout), besides at once when an arm reaches a sample
	// threshold, and how often a home tells the fleet its rollouts,
	// besides at every step (flywheel/rollout/fleet). Zero: 5 seconds.
	RolloutInterval time.Duration

	// API settings (api.Config's).
	DefaultMaxTokens int
	MaxTokensLimit   int
	StallTimeout     time.Duration

	// Now is the clock of tenants, metering and the access gate (tests).
	// Nil: time.Now.
	Now func() time.Time

	// Resolved by New.
	cert     *fabric.Cert
	loopback bool
}

// JobsConfig is what a node's fine-tuning jobs are built with (see
// package flywheel/jobs); the node sets the rest.
type JobsConfig struct {
	// Trainer trains the adapters. Nil: flywheel/finetune on the job's
	// thread budget, then flywheel/eval of base and adapter on the job's
	// eval examples, whose summary the registry keeps as the version's
	// metrics.
	Trainer jobs.Trainer
	// Registry keeps the adapters trained. Nil: with the default
	// Trainer, the node's adapter registry (flywheel/registry, sealed
	// under the tenant's key, with the job's lineage); with a Trainer of
	// the caller's, none, and each adapter stays in its job's directory,
	// DATA/jobs/JOB-ID.
	Registry jobs.Registry
	// Threads is the thread budget of the one job training at a time.
	// Zero: jobs.DefaultThreads(), half the machine's cores (at least
	// one), so that serving is never starved.
	Threads int
	// MaxFileBytes bounds an uploaded training file (413 beyond). Zero:
	// jobs.DefaultMaxFileBytes (64 MiB).
	MaxFileBytes int64
	// CheckpointEvery is the trainer's checkpoint interval in steps; zero
	// is the trainer's default.
	CheckpointEvery int
}

// resolve fills in the defaults and settles what the configuration
// implies: the data dir, the certificate and jurisdiction, routing.
func (c Config) resolve() (Config, error) {
	if c.Listener == nil {
		return c, errors.New("node: Config.Listener is required")
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Fabric.Site == "" {
		c.Fabric.Site = DefaultSite
	}
	log := c.Logger
	if c.DataDir == "" {
		dir, err := store.DefaultDir()
		if err != nil {
			return c, err
		}
		c.DataDir = dir
	}
	dir := c.DataDir
	if err := secureDataDir(dir, log); err != nil {
		return c, fmt.Errorf("serve: %w", err)
	}
	if err := checkSecretFiles(dir, c.Fabric.Credentials); err != nil {
		return c, err
	}
	cert, err := fabric.LoadCertIfExists(dir)
	if err != nil {
		return c, fmt.Errorf("serve: %w", err)
	}
	switch {
	case cert == nil:
		log.Warn("no fleet certificate: peers will not trust this node with any jurisdiction's traffic", "path", fabric.CertPath(dir))
	case c.Jurisdiction != "" && cert.Jurisdiction != c.Jurisdiction:
		return c, fmt.Errorf("serve: --jurisdiction %s, but the node's certificate is for %s", c.Jurisdiction, cert.Jurisdiction)
	default:
		c.Jurisdiction = cert.Jurisdiction
	}
	c.cert = cert
	if c.Route == nil {
		// A certified fleet member routes; a standalone node serves.
		on := cert != nil && c.OperatorKey != nil
		c.Route = &on
	}
	tcp, ok := c.Listener.Addr().(*net.TCPAddr)
	c.loopback = ok && tcp.IP.IsLoopback()
	return c, nil
}

// checkSecretFiles refuses to start on a secret that group or others can
// read: the node key (identity checks it again when loading it), the
// capture master key, the fleet client token and a --nats-creds file.
// Missing files are fine; they are created 0600 when first needed.
func checkSecretFiles(dir, creds string) error {
	files := []struct{ path, what string }{
		{identity.Path(dir), "node key"},
		{filepath.Join(dir, capture.KeyFileName), "capture master key"},
		{filepath.Join(dir, fabric.ClientTokenFileName), "fleet token"},
	}
	if creds != "" {
		files = append(files, struct{ path, what string }{creds, "--nats-creds file"})
	}
	for _, f := range files {
		if err := identity.CheckSecretFile(f.path, f.what); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("serve: %w", err)
		}
	}
	return nil
}
