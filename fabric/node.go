package fabric

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// Errors from the node's lifecycle.
var (
	// ErrStarted: Start was called twice.
	ErrStarted = errors.New("fabric: node already started")
	// ErrClosed: Start after Shutdown.
	ErrClosed = errors.New("fabric: node shut down")
)

// Node is one member of the fleet fabric: the embedded NATS server (or a
// connection to an external one), the heartbeat publisher, the peer
// registry, the ping responder and the round-trip prober.
type Node struct {
	cfg   Config
	log   *slog.Logger
	table *table
	cert  json.RawMessage // cfg.Cert as heartbeats carry it
	boot  int64           // Unix ns at Start: orders this run's heartbeats after the last run's

	httpAddr atomic.Pointer[string]
	seq      atomic.Uint64 // heartbeats sent since boot
	rejected atomic.Uint64 // heartbeats refused (forged, replayed, skewed)

	mu      sync.Mutex // guards the fields below
	state   int        // stateNew, stateStarted, stateStopped
	srv     *server.Server
	nc      *nats.Conn
	subs    []*nats.Subscription
	quit    chan struct{}   // closed by Shutdown
	ctx     context.Context // canceled by Shutdown, for NATS requests in flight
	cancel  context.CancelFunc
	stopped chan struct{}  // closed when Shutdown has finished
	wg      sync.WaitGroup // every goroutine the node started
	stopErr error
	infer   inferState   // request serving, infer_server.go (handler guarded by mu)
	deliver deliverState // delivery handlers, deliver_server.go (handlers guarded by mu)
	// broadcasts are the Subscribe calls not yet unsubscribed
	// (broadcast.go); made on the connection at Start.
	broadcasts map[*broadcastSub]struct{}
}

const (
	stateNew = iota
	stateStarted
	stateStopped
)

// New validates cfg and returns a node that does nothing until Start.
func New(cfg Config) (*Node, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		ctx:     ctx,
		cancel:  cancel,
		cfg:     cfg,
		log:     cfg.Logger.With("node", cfg.Identity.ID),
		table:   newTable(cfg.OperatorKey, cfg.HeartbeatInterval, cfg.MaxClockSkew, cfg.Now),
		quit:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	if n.cert, err = rawCert(cfg.Cert); err != nil {
		return nil, fmt.Errorf("fabric: encode certificate: %w", err)
	}
	addr := cfg.HTTPAddr
	n.httpAddr.Store(&addr)
	if c := cfg.Cert; c != nil {
		// Peers will judge the certificate themselves; a warning here
		// saves the operator from wondering why traffic never comes.
		p := Peer{ID: cfg.Identity.ID, Site: cfg.Site, Jurisdiction: cfg.Jurisdiction, PublicKey: cfg.Identity.Public, Cert: c}
		p.certify(cfg.OperatorKey, cfg.Now())
		if !p.Certified {
			n.log.Warn("fabric: this node's certificate will not be trusted", "reason", p.CertProblem)
		}
	}
	return n, nil
}

// ID is the node's ID.
func (n *Node) ID() string { return n.cfg.Identity.ID }

// Jurisdiction is the jurisdiction the node claims (its certificate's,
// when it has one).
func (n *Node) Jurisdiction() string { return n.cfg.Jurisdiction }

// conn is the node's NATS connection, for the protocols built on it.
// Nil before Start; closed after Shutdown.
func (n *Node) conn() *nats.Conn {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.nc
}

// Drop closes the node's NATS connection at once, with no goodbye and no
// reconnecting: to the rest of the fleet the node has crashed or lost its
// network. It stays cut off until Shutdown. It is for tests of what the
// fleet does when a node vanishes mid-request.
func (n *Node) Drop() {
	if nc := n.conn(); nc != nil {
		nc.Close()
	}
}

// ClientURL is where NATS clients (such as `hearth fleet status`) reach
// this node's server: the embedded server's client URL, or External.
// Empty before Start.
func (n *Node) ClientURL() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.cfg.External != "" {
		return n.cfg.External
	}
	if n.srv == nil {
		return ""
	}
	return n.srv.ClientURL()
}

// ClusterURL is the address other nodes Join to cluster with this one
// (nats-route://host:port), or "" when the node does not cluster or has
// not started.
func (n *Node) ClusterURL() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.srv == nil {
		return ""
	}
	a := n.srv.ClusterAddr()
	if a == nil {
		return ""
	}
	return (&url.URL{Scheme: "nats-route", Host: a.String()}).String()
}

// Peers returns the live nodes, this one included, sorted by ID.
func (n *Node) Peers() []Peer { return n.table.list() }

// Peer returns the live node id.
func (n *Node) Peer(id string) (Peer, bool) { return n.table.get(id) }

// Start starts the embedded NATS server (or connects to External),
// subscribes to heartbeats and pings, publishes the first heartbeat and
// returns; the node is then listed in its own Peers. If ctx ends first,
// Start undoes what it did and returns ctx's error.
func (n *Node) Start(ctx context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	switch n.state {
	case stateStarted:
		return ErrStarted
	case stateStopped:
		return ErrClosed
	}
	n.state = stateStarted
	n.boot = n.cfg.Now().UnixNano()
	if err := n.startLocked(ctx); err != nil {
		n.closeConnLocked()
		n.state = stateStopped
		close(n.quit)
		n.cancel()
		close(n.stopped)
		n.stopErr = err
		return err
	}
	return nil
}

func (n *Node) startLocked(ctx context.Context) error {
	var opts []nats.Option
	url := n.cfg.External
	if url == "" {
		srv, err := n.startServer(ctx)
		if err != nil {
			return err
		}
		n.srv = srv
		url = srv.ClientURL()
		opts = append(opts, nats.InProcessServer(srv))
		if n.cfg.ClientToken != "" {
			opts = append(opts, nats.Token(n.cfg.ClientToken))
		}
	} else if n.cfg.Credentials != "" {
		opts = append(opts, nats.UserCredentials(n.cfg.Credentials))
	}
	nc, err := connect(ctx, url, "hearth node "+n.ID(), n.log, opts...)
	if err != nil {
		return err
	}
	n.nc = nc

	status := make(chan *nats.Msg, 1024)
	pings := make(chan *nats.Msg, 1024)
	for _, s := range []struct {
		subj string
		ch   chan *nats.Msg
	}{{statusWildcard, status}, {PingSubject(n.ID()), pings}} {
		sub, err := nc.ChanSubscribe(s.subj, s.ch)
		if err != nil {
			return fmt.Errorf("fabric: subscribe %s: %w", s.subj, err)
		}
		n.subs = append(n.subs, sub)
	}
	if n.infer.handler != nil { // HandleInfer was called before Start (infer_server.go)
		if err := n.serveInferLocked(); err != nil {
			return err
		}
	}
	if err := n.serveDeliversLocked(); err != nil { // HandleDeliver before Start (deliver_server.go)
		return err
	}
	if err := n.listenAllLocked(); err != nil { // Subscribe before Start (broadcast.go)
		return err
	}
	if err := flush(ctx, nc); err != nil {
		return err
	}
	if err := n.heartbeat(nc); err != nil {
		return err
	}
	n.wg.Go(func() { n.receive(status) })
	n.wg.Go(func() { n.answerPings(pings) })
	n.wg.Go(n.beat)
	n.wg.Go(n.probe)
	n.log.Info("fabric: node started", "nats", url, "cluster", n.clusterAddrLocked(), "site", n.cfg.Site, "jurisdiction", n.cfg.Jurisdiction)
	return nil
}

func (n *Node) clusterAddrLocked() string {
	if n.srv == nil || n.srv.ClusterAddr() == nil {
		return ""
	}
	return n.srv.ClusterAddr().String()
}

// startServer runs the embedded NATS server and waits until it accepts
// clients.
func (n *Node) startServer(ctx context.Context) (*server.Server, error) {
	host, port, _ := splitHostPort("Listen", n.cfg.Listen)
	opts := &server.Options{
		ServerName: n.ID(),
		Host:       host,
		Port:       port,
		NoSigs:     true,
		NoLog:      true,
		// Routes authenticate by TLS (routetls.go), clients by token.
		Authorization: n.cfg.ClientToken,
	}
	if n.cfg.ClusterListen != "" {
		chost, cport, _ := splitHostPort("ClusterListen", n.cfg.ClusterListen)
		opts.Cluster.Name = n.cfg.ClusterName
		opts.Cluster.Host = chost
		opts.Cluster.Port = cport
		for _, j := range n.cfg.Join {
			u, _ := parseRoute(j)
			opts.Routes = append(opts.Routes, u)
		}
		if n.cfg.RouteTLS {
			tc, err := n.routeTLS()
			if err != nil {
				return nil, err
			}
			opts.Cluster.TLSConfig = tc
			opts.Cluster.TLSTimeout = 5
		}
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("fabric: embedded NATS server: %w", err)
	}
	srv.SetLogger(natsLogger{n.log}, false, false)
	srv.Start()
	wait := 10 * time.Second
	if d, ok := ctx.Deadline(); ok {
		wait = time.Until(d)
	}
	if !srv.ReadyForConnections(wait) {
		srv.Shutdown()
		srv.WaitForShutdown()
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("fabric: embedded NATS server: %w", err)
		}
		return nil, fmt.Errorf("fabric: embedded NATS server on %s not ready after %v", n.cfg.Listen, wait)
	}
	return srv, nil
}

// connect dials NATS, giving up when ctx ends. After the first connection
// the client reconnects forever: a fabric node outlives NATS restarts.
func connect(ctx context.Context, url, name string, log *slog.Logger, opts ...nats.Option) (*nats.Conn, error) {
	timeout := 10 * time.Second
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	opts = append([]nats.Option{
		nats.Name(name),
		nats.Timeout(timeout),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.NoCallbacksAfterClientClose(),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("fabric: NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { log.Info("fabric: NATS reconnected", "url", c.ConnectedUrl()) }),
		nats.ErrorHandler(func(_ *nats.Conn, s *nats.Subscription, err error) {
			subj := ""
			if s != nil {
				subj = s.Subject
			}
			log.Warn("fabric: NATS error", "subject", subj, "err", err)
		}),
	}, opts...) // the caller's options win
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("fabric: connect to NATS at %s: %w", url, err)
	}
	return nc, nil
}

func flush(ctx context.Context, nc *nats.Conn) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	if err := nc.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("fabric: flush NATS subscriptions: %w", err)
	}
	return nil
}

// Shutdown stops the node: its goroutines, its NATS connection and the
// embedded server, waiting for all of them. It is idempotent: later and
// concurrent calls wait for the first to finish and return its result. If
// ctx ends first, Shutdown returns ctx's error and the stop goes on in
// the background.
func (n *Node) Shutdown(ctx context.Context) error {
	n.mu.Lock()
	switch n.state {
	case stateNew:
		n.state = stateStopped
		close(n.quit)
		n.cancel()
		close(n.stopped)
		n.mu.Unlock()
		return nil
	case stateStopped:
		n.mu.Unlock()
		select {
		case <-n.stopped:
			return n.stopErr
		case <-ctx.Done():
			return fmt.Errorf("fabric: shutdown: %w", ctx.Err())
		}
	}
	n.state = stateStopped
	close(n.quit)
	n.cancel()
	n.mu.Unlock()

	go func() {
		n.wg.Wait()
		n.mu.Lock()
		n.closeConnLocked()
		n.mu.Unlock()
		n.log.Info("fabric: node stopped")
		close(n.stopped)
	}()
	select {
	case <-n.stopped:
		return n.stopErr
	case <-ctx.Done():
		return fmt.Errorf("fabric: shutdown: %w", ctx.Err())
	}
}

// closeConnLocked closes the NATS connection and the embedded server.
func (n *Node) closeConnLocked() {
	for _, s := range n.subs {
		_ = s.Unsubscribe()
	}
	n.subs = nil
	if n.nc != nil {
		n.nc.Close()
	}
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
	}
}

// natsLogger sends the embedded server's logs to the node's logger.
type natsLogger struct{ l *slog.Logger }

func (g natsLogger) Noticef(format string, v ...any) { g.l.Debug("nats: " + fmt.Sprintf(format, v...)) }
func (g natsLogger) Warnf(format string, v ...any) {
	if format == routeTLSInsecureWarning {
		return // route peers are verified by routetls.go, not by a chain
	}
	g.l.Warn("nats: " + fmt.Sprintf(format, v...))
}

// routeTLSInsecureWarning is what the NATS server says about routes with
// InsecureSkipVerify, which here only skips chain building.
const routeTLSInsecureWarning = "TLS certificate chain and hostname of solicited routes will not be verified. DO NOT USE IN PRODUCTION!"

func (g natsLogger) Fatalf(format string, v ...any) { g.l.Error("nats: " + fmt.Sprintf(format, v...)) }
func (g natsLogger) Errorf(format string, v ...any) { g.l.Error("nats: " + fmt.Sprintf(format, v...)) }
func (g natsLogger) Debugf(format string, v ...any) { g.l.Debug("nats: " + fmt.Sprintf(format, v...)) }
func (g natsLogger) Tracef(format string, v ...any) { g.l.Debug("nats: " + fmt.Sprintf(format, v...)) }
