// Package fabric joins Hearth nodes into one fleet over NATS: attested
// jurisdictions, a registry of live peers and the round-trip time to each.
//
// # Trust
//
// An operator key (ed25519; CreateOperatorKey, LoadOperatorKey) signs node
// certificates with Certify: node ID and public key, site, jurisdiction,
// issue and expiry times. The signature covers a domain-separated,
// length-prefixed encoding of those fields (Cert.signedBytes), so it
// cannot be replayed as any other signature and no field can be changed
// or shifted into another. On disk (DATA/node.cert, WriteCert, LoadCert)
// a certificate is JSON with the key in hex and the signature in base64.
// Cert.Verify checks the signature and validity window and returns
// ErrBadSignature, ErrExpired, ErrNotYetValid or ErrInvalidCert;
// Cert.Matches checks which key it names.
//
// # Node
//
// New(Config) validates the configuration; Start(ctx) starts an embedded
// NATS server (Config.Listen, default 127.0.0.1:0) or connects to an
// external NATS (Config.External, Config.Credentials), and returns once
// the node is subscribed and has published its first heartbeat.
// Shutdown(ctx) is idempotent and waits for every goroutine the node
// started, the NATS connection and the embedded server. Nodes given
// ClusterListen and each other's ClusterURL in Join form a NATS cluster
// (routes); NATS route gossip completes the mesh.
//
// No package outside fabric touches NATS: the protocols built on the
// fabric use its deliveries (Deliver, HandleDeliver), its inference
// requests (infer.go) or its broadcasts (Publish, Subscribe). ClientURL
// is where NATS clients reach the node. A node's client token and URL live in its data
// directory (LoadOrCreateClientToken, WriteClientURL, ReadClientAccess),
// and PublishTo broadcasts from a command-line client.
//
// # Subjects
//
//	hearth.status.<jurisdiction>.<node id>   heartbeats, every HeartbeatInterval (default 1s)
//	hearth.ping.<node id>                    request/reply round-trip probes
//	hearth.infer.<jurisdiction>.<node id>    signed inference requests from a gateway node (infer.go)
//	hearth.inferctl.<node id>.<token>        acks, keepalives and cancels of a request's stream
//	hearth.tenantdoc                         broadcast: operator-signed tenant documents (package tenantdoc)
//	hearth.tenantdoc.hello                   broadcast: a node asks the fleet for the documents it holds
//	hearth.deliver.<jurisdiction>.<node id>.<kind>   signed one-shot deliveries (deliver.go), of kind:
//	    capture         a scrubbed interaction to the tenant's home (capture/relay)
//	    feedback        feedback to the home node holding the response (capture/relay)
//	    capture-erase   erase a tenant's captures on this node (capture/relay)
//	    audit-head      a node's audit log head, kept by its peers (audit/peeranchor)
//	    adapter-manifest, adapter-chunk   a tenant's adapter from its home (flywheel/replica)
//	    rollout-state   a tenant's rollouts, from its home to its permitted nodes (flywheel/rollout/fleet)
//	    rollout-observe requests served for those rollouts, to the home (flywheel/rollout/fleet)
//
// Any other hearth.<name>[.<name>...] subject (a-z, 0-9, '-') is a
// broadcast subject (broadcast.go): Publish sends to every node that
// Subscribed, unsigned and unacknowledged. The first name may not be one
// of the fabric's own (status, ping, infer, inferctl, deliver), so no
// broadcast passes for a heartbeat or takes a delivery.
//
// A heartbeat is a JSON envelope {"heartbeat": body, "sig": ed25519} where
// body holds the node's ID, site, claimed jurisdiction, public key,
// certificate, HTTP address, Load (from Config.Status: models, slots,
// busy, queue, KV cache bytes, adapters loaded), time, and a (boot, seq) counter. The
// signature is by the node's own key over a domain string (which carries
// the format version) and the body's exact bytes. A certificate that cannot
// be decoded leaves the node listed, uncertified.
//
// # Registry
//
// Every node keeps a table of peers, itself included (Peers, Peer). A
// heartbeat is accepted only if its signature verifies with the key it
// carries, the node ID is that key's, the subject names the same
// jurisdiction and ID, its time is within MaxClockSkew of the local clock
// and its (boot, seq) is newer than the last one seen: nobody can speak
// for a node whose key they lack, nor replay its old heartbeats. Entries
// expire after 3 missed heartbeats (3 × the local HeartbeatInterval; the
// fleet should share one interval).
//
// Peer.Certified is computed locally and is the only jurisdiction claim to
// route on: the certificate verifies with Config.OperatorKey, is within its
// validity now, names the heartbeat's public key, and names the claimed
// site and jurisdiction. Otherwise Peer.CertProblem says why not; such
// peers stay listed (for `hearth fleet status`) but must get no
// jurisdiction traffic.
//
// Peer.RTT is an exponentially weighted moving average (weight 0.3 per
// sample) of ping round trips, probed every PingInterval. Config.AddedLatency
// delays this node's ping replies (and, in the routing layer, its
// inference replies) to simulate distance in tests on one machine.
//
// # Deliveries
//
// Deliver sends one signed payload to a certified node of a jurisdiction
// (tried in CertifiedIn order: itself, then by round trip) that set a
// handler for its kind with HandleDeliver, and returns that node's signed
// reply; DeliverTo addresses one node. The sender addresses only nodes it
// holds Certified in the jurisdiction; the receiver takes a delivery only
// from a certified sender, signed, fresh (MaxClockSkew), not replayed, and
// addressed to its own jurisdiction, for which its own certificate must be
// valid; the sender accepts a reply only from the node it addressed, signed
// by that node's key, bound to the request, while it is still certified
// there. Data that must stay in a jurisdiction (captures) travels this way.
// HandleDeliverRefused lets a protocol hear of the deliveries of its kind
// the node refused before its handler saw them, to record who tried.
//
// Collect listens to the heartbeats as a plain NATS client for a while and
// returns the fleet, judged the same way; `hearth fleet status` uses it.
package fabric
