// Package node builds and runs a serving Hearth node: it owns every part
// (identity, database, tenants, meter, runner, fabric node, audit log
// anchored in the fleet, capture store and relay, access gate, API, admin
// API, gateway) and every goroutine that outlives a request.
//
// Only cmd/hearth and tests import node, as only tailscale's commands
// import its tsd: node imports almost every package, so a package below
// it that imported it would be a cycle, and one beside it would wire a
// second node.
//
// The lifecycle is fabric.Node's. New resolves the Config once (data dir
// defaulted, jurisdiction from the fleet certificate, which
// Config.Jurisdiction may repeat but not contradict, routing on for a
// certified node given an operator key unless Route says otherwise) and
// builds the parts in dependency order, starting nothing; the fabric node
// is built before the stores that deliver over it, so their handlers are
// registered before it starts. Start joins the fleet, starts the
// background loops (the capture sweep, the peer book, the audit head's
// check with the fleet's peers, tenant documents) each on one WaitGroup,
// and serves HTTP; if it fails it undoes itself. Shutdown is idempotent:
// /readyz fails from its first moment, requests in flight and the models'
// work get until ctx ends, then the loops stop (one wait), the node
// leaves the fleet and the parts close in reverse order.
//
// The HTTP server belongs to the node, with its limits (Limits: header
// and body deadlines, idle timeout, connections per client): the listener
// is given in Config rather than to Start, because whether it is loopback
// decides whether a node without tenants may serve at all, and its
// address is what the node announces to the fleet before it serves.
// Handler is the request path without the server: /admin/ is the admin
// API behind the access gate, / the gateway in front of the API when
// routing, else the API.
package node
