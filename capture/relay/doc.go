// Package relay carries a tenant's captured data between the nodes of a
// fleet, over fabric deliveries, so that it is kept only in the tenant's
// home jurisdiction and erased wherever it is kept. It is the fleet side
// of package capture: Forwarder is capture's Forwarder and Gatherer, and
// Relay keeps what other nodes send and erases fleet-wide.
//
// # Residency
//
// A node that serves a tenant outside the tenant's home jurisdiction
// scrubs the interaction (capture.Store.Save) and hands it to the
// Forwarder, which delivers it to a certified node of the home; that node
// keeps it under its own tenant of the same name (tenant ids differ from
// node to node) with SaveForwarded, which scrubs, seals and audits it
// again. Within the home the tenant's primary node gathers its captures:
// of the certified nodes of the home, the one rendezvous hashing of the
// tenant's name picks (route.Owner), so every node agrees while they see
// the same nodes. A capture goes to the primary first (within a second),
// then to any certified node of the home (fabric.Deliver's order); a home
// node whose primary does not answer keeps it itself. When no node of the
// home takes it the capture is dropped and counted (capture's rule: fail
// closed). The fabric authenticates both ends of every delivery and takes
// one only at a node certified for the jurisdiction it was sent to.
//
// A home node keeps a delivery only for a tenant it knows by that name,
// that is not disabled, and whose policy allows the jurisdiction of the
// sending node: a certified node serving a tenant where it may not run
// does not get its captures kept as if it had been allowed to.
//
// # Delivery kinds and payloads
//
// Payloads and answers are JSON; field names and codes are fixed, as
// nodes of different versions share them (testdata holds each frame).
//
//	kind           payload                                     answer
//	capture        {"tenant": name, "forwarded": Forwarded}    {"error": code, "message": text}, {} when kept
//	feedback       {"tenant": name, "feedback": Feedback}      {"error": code, "message": text} or {"feedback": Feedback as recorded}
//	capture-erase  {"tenant": name, "request": EraseRequest}   {"erased": n, "error": text}
//
// The codes of capture and feedback answers map to capture's errors:
// not_found (ErrNotFound, ErrKeyDeleted), invalid (ErrInvalid), not_home
// (ErrNotHome), not_allowed (ErrNotAllowed), and unknown_tenant, which
// the sender reads as ErrNotFound. Any other failure is the handler's
// error, a fabric handler error to the sender (fabric.IsHandlerError),
// and final: asking another node would fail the same way. An erasure
// answer's error is free text, shown in the administrator's report.
//
// Feedback goes to each certified node of the home in turn until one
// holds the response: a tenant's captures may be spread over the home's
// nodes. It is not found only when every node said so; when a node did
// not answer the answer is capture.ErrUnreachable, to be retried.
//
// # Erasure and its completeness rule
//
// EraseEverywhere (the admin API's Eraser) erases on this node, then asks
// every other certified node that may hold the tenant's captures to erase
// too, in parallel: the nodes of its home jurisdiction (every node, for a
// tenant without one) that are live now or that the peer book saw within
// the tenant's retention period (at least 30 days). Each erases its
// captures and, through capture's erase hook, the dataset examples built
// from them, and audits it. The report is complete (Done) only when every
// such node answered without error: a node that is offline now, or fails,
// may still hold the data, so the erasure is to be repeated rather than
// reported done. A node asked to erase for a tenant it does not know
// erases nothing and says so; it erases at any certified node's request,
// as the sender's admin API authenticated it.
//
// # The peer book
//
// The peer book is a table of this package's (fleet_peer: node id,
// jurisdiction, last seen), migrated by New. TrackPeers, run by the
// node's owner until shutdown, notes the live certified peers every ten
// seconds, and each erasure notes them again.
package relay
