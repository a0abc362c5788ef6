package fabric

import (
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-ai/hearth/identity"
	"github.com/hearth-ai/hearth/tenant"
)

// Config configures a Node. The zero value of each optional field means
// the default written next to it.
type Config struct {
	// Identity is the node's key pair (required). Heartbeats are signed
	// with it; its public key is what certificates name.
	Identity *identity.Identity
	// Site names where the node runs (required; see ValidateSite).
	Site string
	// Jurisdiction is what the node claims (required; a code that
	// tenant.ValidateJurisdiction accepts). Peers believe it only with a
	// matching certificate.
	Jurisdiction string
	// Cert is the node's certificate; nil runs an uncertified node, which
	// peers list but never mark Certified.
	Cert *Cert
	// OperatorKey is the trust root that peers' certificates must verify
	// with. Nil means no peer, this node included, is ever Certified.
	OperatorKey ed25519.PublicKey

	// Listen is the embedded NATS server's client address, host:port.
	// Default "127.0.0.1:0": loopback, a random free port.
	Listen string
	// ClientToken, when set, is required of every client of the embedded
	// server's client port (the node itself connects in-process with
	// it). Inference requests and captures cross the fabric, so without
	// it any local process could read them. Empty: no authentication.
	ClientToken string
	// ClusterListen is the address for NATS cluster routes, host:port
	// (port 0: random). Empty: the node does not cluster.
	ClusterListen string
	// RouteTLS runs cluster routes over mutually authenticated TLS 1.3,
	// each side proving it holds a valid fleet certificate (routetls.go);
	// it needs Cert and OperatorKey. A node without it cannot route to
	// nodes with it.
	RouteTLS bool
	// Join lists peers' cluster addresses (nats-route://host:port) to form
	// a NATS cluster with. Needs ClusterListen. Peers learn of each other
	// through NATS route gossip, so joining one member of a cluster is
	// enough.
	Join []string
	// ClusterName must be the same on every member. Default "hearth".
	ClusterName string

	// External, when set, is the URL (nats://host:port, tls://...) of an
	// existing NATS cluster, supercluster or leaf node to connect to
	// instead of embedding a server. Listen, ClusterListen and Join must
	// then be empty.
	External string
	// Credentials is a NATS .creds file (user JWT and nkey seed) for
	// External. Empty: connect without credentials.
	Credentials string

	// HTTPAddr is the node's HTTP API address announced in heartbeats.
	HTTPAddr string
	// Status reports the node's load for each heartbeat. It must be safe
	// for concurrent use and return quickly. Nil reports a zero Load.
	Status func() Load

	// Logger receives the node's and the embedded server's logs. Nil
	// discards them.
	Logger *slog.Logger
	// Now is the clock for heartbeat times, expiry and certificate
	// validity. Default time.Now. (Round trips are always measured with
	// the monotonic clock.)
	Now func() time.Time

	// StreamTimeout is how long either side of a remote-inference stream
	// waits for a message (data or keepalive) before taking the other for
	// dead: a gateway then continues the stream on another node. Both
	// sides send keepalives every quarter of it. Default the smaller of
	// three heartbeats and DefaultStreamTimeout.
	StreamTimeout time.Duration
	// HeartbeatInterval is how often the node publishes its status; peers
	// missing 3 in a row expire. The fleet should share one value.
	// Default 1s.
	HeartbeatInterval time.Duration
	// PingInterval is how often the node measures the round trip to each
	// peer. Default HeartbeatInterval.
	PingInterval time.Duration
	// MaxClockSkew bounds how far a heartbeat's time may be from this
	// node's clock; further ones are refused as replays. Default 30s.
	MaxClockSkew time.Duration
	// AddedLatency delays every ping reply (and, through the routing
	// layer, inference replies) to simulate distance between nodes on one
	// machine. For tests; zero in production.
	AddedLatency time.Duration
	// DeliverTimeout is how long Deliver waits for one node's answer
	// before trying the next, and how long a delivery handler may run.
	// Default 5s.
	DeliverTimeout time.Duration
}

// Defaults.
const (
	DefaultListen            = "127.0.0.1:0"
	DefaultClusterName       = "hearth"
	DefaultHeartbeatInterval = time.Second
	DefaultStreamTimeout     = time.Second
	DefaultMaxClockSkew      = 30 * time.Second
	DefaultDeliverTimeout    = 5 * time.Second
)

// withDefaults validates c and fills in defaults.
func (c Config) withDefaults() (Config, error) {
	if c.Identity == nil || len(c.Identity.Private) != ed25519.PrivateKeySize || len(c.Identity.Public) != ed25519.PublicKeySize {
		return c, fmt.Errorf("fabric: config: Identity with an ed25519 key pair is required")
	}
	if c.Identity.ID != identity.NodeID(c.Identity.Public) {
		return c, fmt.Errorf("fabric: config: identity id %q is not the id of its key (%s)", c.Identity.ID, identity.NodeID(c.Identity.Public))
	}
	if err := ValidateSite(c.Site); err != nil {
		return c, fmt.Errorf("fabric: config: %w", err)
	}
	if err := tenant.ValidateJurisdiction(c.Jurisdiction); err != nil {
		return c, fmt.Errorf("fabric: config: %w", err)
	}
	if c.OperatorKey != nil && len(c.OperatorKey) != ed25519.PublicKeySize {
		return c, fmt.Errorf("fabric: config: operator key is %d bytes; an ed25519 public key has %d", len(c.OperatorKey), ed25519.PublicKeySize)
	}
	if c.Cert != nil {
		if err := c.Cert.wellFormed(); err != nil {
			return c, fmt.Errorf("fabric: config: %w", err)
		}
	}
	if c.External != "" {
		if c.Listen != "" || c.ClusterListen != "" || len(c.Join) > 0 {
			return c, fmt.Errorf("fabric: config: External %q connects to an existing NATS; Listen, ClusterListen and Join are for the embedded server and must be empty", c.External)
		}
		u, err := url.Parse(c.External)
		if err != nil || u.Host == "" {
			return c, fmt.Errorf("fabric: config: External %q is not a URL like nats://host:4222", c.External)
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return c, fmt.Errorf("fabric: config: External %q has scheme %q; want nats, tls, ws or wss", c.External, u.Scheme)
		}
	} else {
		if c.Credentials != "" {
			return c, fmt.Errorf("fabric: config: Credentials %q are for an External NATS; the embedded server takes none", c.Credentials)
		}
		if c.Listen == "" {
			c.Listen = DefaultListen
		}
		if _, _, err := splitHostPort("Listen", c.Listen); err != nil {
			return c, err
		}
		if c.ClusterListen != "" {
			if _, _, err := splitHostPort("ClusterListen", c.ClusterListen); err != nil {
				return c, err
			}
		} else if len(c.Join) > 0 {
			return c, fmt.Errorf("fabric: config: Join %v needs ClusterListen, the address peers route to", c.Join)
		}
		for _, j := range c.Join {
			if _, err := parseRoute(j); err != nil {
				return c, err
			}
		}
	}
	if c.ClusterName == "" {
		c.ClusterName = DefaultClusterName
	}
	if strings.ContainsAny(c.ClusterName, " \t\r\n") {
		return c, fmt.Errorf("fabric: config: cluster name %q has white space", c.ClusterName)
	}
	if c.Status == nil {
		c.Status = func() Load { return Load{} }
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.PingInterval == 0 {
		c.PingInterval = c.HeartbeatInterval
	}
	if c.StreamTimeout == 0 {
		c.StreamTimeout = min(missedBeats*c.HeartbeatInterval, DefaultStreamTimeout)
	}
	if c.MaxClockSkew == 0 {
		c.MaxClockSkew = DefaultMaxClockSkew
	}
	if c.DeliverTimeout == 0 {
		c.DeliverTimeout = DefaultDeliverTimeout
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"HeartbeatInterval", c.HeartbeatInterval}, {"PingInterval", c.PingInterval}, {"MaxClockSkew", c.MaxClockSkew}, {"DeliverTimeout", c.DeliverTimeout}, {"StreamTimeout", c.StreamTimeout}} {
		if d.v < 10*time.Millisecond {
			return c, fmt.Errorf("fabric: config: %s %v is below 10ms", d.name, d.v)
		}
	}
	if c.AddedLatency < 0 {
		return c, fmt.Errorf("fabric: config: AddedLatency %v is negative", c.AddedLatency)
	}
	return c, nil
}

// splitHostPort parses a listen address; port 0 means a random port,
// which NATS spells -1.
func splitHostPort(field, addr string) (string, int, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, fmt.Errorf("fabric: config: %s %q is not host:port: %w", field, addr, err)
	}
	port, err := strconv.Atoi(ps)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("fabric: config: %s %q has port %q; want 0 (random) to 65535", field, addr, ps)
	}
	if port == 0 {
		port = -1
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

// parseRoute parses a Join address.
func parseRoute(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "nats-route" || u.Hostname() == "" || u.Port() == "" {
		return nil, fmt.Errorf("fabric: config: Join address %q is not like nats-route://host:port", s)
	}
	return u, nil
}
