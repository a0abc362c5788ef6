// Package rollout rolls a new version of a tenant's deployment out to its
// users a share at a time, gated by a held-out evaluation and by the
// users' own feedback, and rolls it back automatically when a gate fails.
//
// A deployment is a model name as the tenant's clients send it
// ("stories260k"). It has a stable version (the model itself, or, once a
// rollout has promoted one, BASE:ADAPTER@VERSION) and at most one rollout
// under way, of a candidate BASE:ADAPTER@VERSION with a traffic share of
// 0 to 100 percent. Pick serves a request for the deployment by its end
// user: Bucket(rollout id, OpenAI's "user", else the API key's id) is a
// number from 0 to 99, and users below the share get the candidate. The
// same user keeps its arm while the share rises; users only ever move
// from the stable to the candidate. A request that names a version
// (BASE:ADAPTER@VERSION) is no deployment and is served as named.
//
// A rollout steps through its gates (Gates, DefaultGates):
//
//   - evaluating (share 0): the Evaluator scores both versions on the
//     eval split of a tenant's dataset (by default the one the candidate
//     was trained on); the candidate goes live only if its held-out loss
//     is at most the stable's × (1 − EvalMargin), 2% by default;
//   - live: each arm's requests, errors, latencies and the feedback on
//     its responses (the first on each) are counted. Rates are compared by Wilson score
//     intervals at Confidence (95%): the candidate fails a gate when its
//     interval for the thumbs-up rate lies wholly below the stable's, or
//     for the correction or error rate wholly above it, once each arm has
//     MinFeedback feedback (20) or MinRequests requests (50); its p95
//     latency may be at most MaxLatencyRatio (1.5) × the stable's. A
//     failing gate rolls the rollout back at once;
//   - once the candidate has served StepSample requests (50) at its share,
//     and DwellSeconds have passed, the share rises to the next of Steps
//     (10, 25, 50, 100) unless a gate fails, undecided gates
//     notwithstanding; at 100 the candidate is promoted, becoming the
//     deployment's stable, when every gate has passed.
//
// Tick takes these steps; the node runs it every few seconds (Run), at
// once when an arm reaches a threshold, and on every Status. The state is
// in the node's database and survives restarts; the observations are
// written on every Tick. Every step (start, eval gate, share change, live
// gate result, promotion, rollback, an operator's action) is a history
// row and an audit record of kind "rollout" with its numbers, and a step
// commits only once its record is durable.
//
// A version the registry retires or deletes (by the command line, the
// node, or an erasure under the tenant's RetireErasedAdapters policy)
// would leave its users a 404. The registry's Config.OnRetire calls
// Retired, which moves everything off it at once: a deployment whose
// stable it was falls back to its base, the deployment's own name,
// recorded as a rollout of the base promoted at once (reason "stable
// retired", history step "stable_retired", audit reason
// rollout.stable_retired), so the fleet hears of it as of any promotion;
// a rollout under way whose candidate it was rolls back ("candidate
// retired"), and so does one whose stable it was ("stable retired"):
// its gates measured the candidate against a version no user gets any
// more, and going on against the base would promote on a comparison
// never made. A Store sharing the database (the node, beside the
// command line) serves the change from its next Tick.
//
// In a fleet a tenant's rollouts are kept and gated on a node of its home
// jurisdiction, and Start refuses them elsewhere (ErrNotHome). Package
// flywheel/rollout/fleet tells the certified nodes of the tenant's
// permitted jurisdictions each deployment's latest rollout (Deployments,
// at every step through Config.OnChange and every few seconds); they pick
// from it with ArmOf, so a user gets the same arm on every node, serve the
// stable when the home has been silent too long, and send their
// observations home, where Assign and Observe count them as local ones.
// Feedback on responses served elsewhere reaches the home with its
// capture, and counts by the response's arm.
package rollout
