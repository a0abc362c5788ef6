// Package fleet carries a tenant's rollouts (package flywheel/rollout)
// across the nodes of a fleet, over fabric deliveries, so that a user
// gets the same version on every node that serves the tenant and every
// node's outcomes count in the gates. It is the fleet side of
// flywheel/rollout, as flywheel/replica is the registry's and
// capture/relay the capture store's.
//
// # The home is authoritative
//
// A tenant's rollouts live on a node of its home jurisdiction
// (Policy.Home; for a tenant whose data is not pinned, on whichever
// permitted node started them): the registry's adapters and the
// captured feedback are kept there. rollout.Store.Start refuses a
// rollout anywhere else with rollout.ErrNotHome naming the home (a 403,
// code not_home, from the admin API), rather than forwarding it, so that
// an operator always knows which node holds the rollout and its history.
//
// The home tells every certified node in the jurisdictions the tenant's
// policy permits, and no other, each deployment's latest rollout (State:
// id, deployment model, stable, candidate, share, state and Seq, the
// number of the rollout's last step, which only grows): at once after
// every step (rollout.Config.OnChange) and every Config.Interval (5
// seconds). It is a delivery to each node in turn (DeliverTo), signed by
// the home and answered by the receiver, not a broadcast: a broadcast
// reaches every node of the fleet, and a node where the tenant may not
// run must not learn what it deploys. The receiver keeps a state only
// from a certified node of the tenant's home, for a tenant it knows by
// that name, not disabled, permitted where the sender is; only whole
// deliveries within bounds (MaxStates, names of at most 256 bytes, a
// share of 0 to 100, a known state); and of two states of a deployment
// from one home, the one with the higher Seq.
//
// # Picking away from home
//
// A node picks from the state exactly as the home does (rollout.ArmOf,
// on rollout.Bucket of the rollout's id and the end user): a live
// rollout's users below the share get the candidate, the others the
// stable; a promoted rollout's candidate is the deployment's stable; a
// rolled-back rollout's stable serves (or, when that is the model itself,
// the request is served as named, as at home). A node that has not heard
// from the home for Config.StaleAfter (6 × Interval: 30 seconds) serves a
// live rollout's stable to everyone, uncounted, until it hears again:
// fail safe. A node that restarts knows no rollout until the home's next
// state, at most Interval later, and serves the names as named meanwhile.
//
// # Observations go home
//
// Each request a node serves for a rollout under way is an Observation
// (rollout, arm, the share it was picked at, failed, seconds, response
// id) queued for the home that told the state. Every
// Config.FlushInterval (a second) they go home in batches of at most
// MaxBatch, where they count in the gates as local ones do
// (rollout.Store.Assign, then Observe) and their response ids join the
// table feedback is counted by. A batch the home does not answer stays
// queued and is sent again; one it refuses, or one waiting longer than
// Config.GiveUp (2 minutes), is dropped, and so is the oldest once
// Config.MaxQueue (10,000) wait: every observation dropped is counted
// (Dropped; hearth_rollout_observations_dropped_total).
//
// Feedback on a response served away from home already travels home with
// its capture (capture/relay); the home's relay tells the rollout store
// (relay.Config.OnFeedback), which counts it for the arm the response's
// observation named. Feedback that arrives before the observation (within
// the second the batch takes) finds no arm, and does not count.
//
// # Delivery kinds and payloads
//
// Payloads and answers are JSON; field names and codes are fixed, as
// nodes of different versions share them (testdata holds each frame).
//
//	kind             payload                                             answer
//	rollout-state    {"tenant": name, "states": [State]}                 {} or {"error": code, "message": text}
//	rollout-observe  {"tenant": name, "observations": [Observation]}     {"counted": n} or {"error": code, "message": text}
//
// State is {"id", "model", "stable", "candidate", "state", "share", "seq"};
// Observation is {"rollout", "arm", "share", "failed" (omitted when
// false), "seconds", "response_id" (omitted when empty)}. An observation
// of a rollout no longer under way is not counted (counted says how many
// were). Codes: unknown_tenant, not_permitted (the tenant is disabled, or
// may not run where the sender is), not_home (the state's sender, or the
// observations' receiver, is not in the tenant's home) and invalid.
package fleet
