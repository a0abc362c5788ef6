// Package route chooses which node of the fleet serves a request: pure
// functions over the fabric's peer table, no NATS.
//
// Choose keeps only the peers that may and can serve the request
// (certified for a permitted jurisdiction, serving the model, not already
// tried, not overloaded) and scores them:
//
//	score = RTT (self: 0) + QueuePenalty × queue + KVPenalty × KV use − AffinityBonus (prefix owner)
//	        − AdapterBonus (holds the request's adapter loaded)
//
// The prefix owner is the candidate that rendezvous hashing (highest
// random weight) of the request's PrefixKey picks among the candidates: the
// same system prompt keeps going to the node whose KV cache holds it while
// that node stays a candidate, and when it drops out only its keys move.
// A request for a LoRA adapter (Query.Adapter, "BASE:ADAPTER[@VERSION]")
// is placed by its base: every node serving the base qualifies, since a
// node that lacks the adapter fetches it (flywheel/replica), and the nodes
// whose heartbeats list it loaded (fabric.Load.Adapters) get
// AdapterBonus, so the fleet does not load one adapter everywhere.
// Heartbeats list a tenant's adapters by opaque keys made with the
// tenant's name (AdapterKeys), so that no node reads another tenant's
// adapter names and only the tenant's own requests (Query.Tenant) match.
//
// The lowest score wins, ties broken by node ID, so the choice is
// deterministic for a given table.
//
// When no peer qualifies Choose fails closed: the error wraps
// ErrNoPermittedNode and names the policy and why each node was turned
// down. It never falls back to a node outside the policy.
package route
