package main

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/identity"
	"github.com/hearth-ai/hearth/runner"
)

// operatorKey reads --operator: the key in hex, or a file holding it;
// nil when not given.
func operatorKey(o *serveOptions) (ed25519.PublicKey, error) {
	if o.operator == "" {
		return nil, nil
	}
	key := o.operator
	if b, err := os.ReadFile(key); err == nil {
		key = strings.TrimSpace(string(b))
	}
	pub, err := identity.ParsePublicKey(key)
	if err != nil {
		return nil, fmt.Errorf("serve: --operator: %w", err)
	}
	return pub, nil
}

// newFabric builds the node's part of its fleet, which Start joins: an
// embedded NATS server (or an external NATS), clustered with --join peers,
// publishing heartbeats with the node's certificate, HTTP address and load.
func newFabric(o *serveOptions, opKey ed25519.PublicKey, cert *fabric.Cert, id *identity.Identity, run *runner.Runner, httpAddr string, log *slog.Logger) (*fabric.Node, error) {
	var err error
	jur := o.jurisdiction
	if jur == "" {
		jur = "XX" // unattested: no certificate can match it
	}
	// Routes cross the WAN: over TLS between certified nodes unless the
	// operator says the network is trusted.
	routeTLS := cert != nil && opKey != nil && !o.clusterPlain
	if o.clusterAddr != "" && !routeTLS && !o.clusterPlain {
		log.Warn("cluster routes without TLS: the node needs a fleet certificate and --operator for TLS routes")
	}
	var token string
	if o.natsURL == "" {
		if token, err = fleetToken(o.dataDir); err != nil {
			return nil, fmt.Errorf("serve: fleet token: %w", err)
		}
	}
	n, err := fabric.New(fabric.Config{
		RouteTLS: routeTLS, ClientToken: token,
		Identity: id, Site: o.site, Jurisdiction: jur, Cert: cert, OperatorKey: opKey,
		Listen: o.natsListen, ClusterListen: o.clusterAddr, Join: o.join, External: o.natsURL, Credentials: o.natsCreds,
		HTTPAddr: httpAddr, Logger: log, HeartbeatInterval: o.heartbeat, AddedLatency: o.faultLatency,
		Status: func() fabric.Load {
			models, _ := run.Models(context.Background())
			l := fabric.Load{}
			for _, m := range models {
				l.Models = append(l.Models, m.Name)
			}
			l.Slots, l.Busy, l.Queue, l.KVUsedBytes, l.KVTotalBytes = run.Load()
			return l
		},
	})
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	return n, nil
}

// startFabric starts n and records its client URL for `hearth fleet`.
func startFabric(ctx context.Context, o *serveOptions, n *fabric.Node, log *slog.Logger) error {
	if err := n.Start(ctx); err != nil {
		return fmt.Errorf("serve: fleet: %w", err)
	}
	if o.natsURL == "" {
		if err := writeFleetURL(o.dataDir, n.ClientURL()); err != nil {
			log.Warn("could not record the fleet URL for hearth fleet status", "err", err)
		}
	}
	return nil
}

// nodeCert loads the node's fleet certificate, if any, and settles the
// node's jurisdiction: the certificate's, which --jurisdiction may repeat
// but not contradict.
func nodeCert(dir string, o *serveOptions, log *slog.Logger) (*fabric.Cert, error) {
	cert, err := fabric.LoadCertIfExists(dir)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	switch {
	case cert == nil:
		log.Warn("no fleet certificate: peers will not trust this node with any jurisdiction's traffic", "path", fabric.CertPath(dir))
	case o.jurisdiction != "" && cert.Jurisdiction != o.jurisdiction:
		return nil, fmt.Errorf("serve: --jurisdiction %s, but the node's certificate is for %s", o.jurisdiction, cert.Jurisdiction)
	default:
		o.jurisdiction = cert.Jurisdiction
	}
	return cert, nil
}
