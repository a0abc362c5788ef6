// Package capture keeps the interactions a tenant has agreed to give: the
// messages sent, the model's answer, its parameters and response id, and
// the feedback given on it later. It is the first stage of the data
// flywheel (datasets are built from what is kept here).
//
// What is stored, and how:
//   - Only what the tenant's policy allows (Decide): capture "on" keeps
//     every request, "opt-in" only requests that ask for it, "off" none;
//     a policy with RetentionDays 0 keeps nothing past the request.
//   - Only on a node in the tenant's home jurisdiction. Elsewhere Save
//     scrubs the interaction and hands it to the Forwarder, which takes it
//     over the fleet fabric to a certified node of the home jurisdiction
//     (capture/relay, over fabric deliveries), where SaveForwarded stores it under
//     that node's tenant of the same name: scrubbed again, sealed under
//     that node's key, with that node's retention, audited with the
//     sending node's id (the sender audits the forward). The raw end-user
//     id travels along only so that the home node can compute its erasure
//     tag; it is not stored. When the home cannot be reached the
//     interaction is dropped, counted and logged: failing closed is the
//     only safe default for data residency. SaveForwarded never forwards
//     on: off home it refuses (ErrNotHome).
//   - Gathered on one home node. With a Forwarder that is also a Gatherer
//     (capture/relay's is), a home node that is not the tenant's primary
//     (rendezvous hashing of the tenant's name over the certified home
//     nodes) sends what it captures there, and the other jurisdictions'
//     nodes try the primary first, so datasets built on the primary see
//     the tenant's interactions; when the primary does not answer within
//     a second the interaction stays on the home node that has it.
//   - Feedback follows the record: on a node outside the tenant's home,
//     FeedbackFor checks and scrubs it and forwards it to the home node
//     holding the response (FeedbackForwarded there), which looks the
//     response up under its own tenant of the same name, so feedback on
//     another tenant's response is ErrNotFound there as here.
//   - Scrubbed before anything else: one pii.Session covers every message
//     and the output, so a value gets the same placeholder (<EMAIL_1>)
//     wherever it appears in the interaction. Feedback given later
//     continues that numbering: the session's numbering is sealed with the
//     record as HMAC digests of the values under a key derived from the
//     data key, so a correction's copy of the prompt's number gets the
//     prompt's placeholder and a new number the next one; placeholders
//     already written are never handed out again, and those a forwarding
//     node wrote are renumbered. The original text is never written
//     anywhere; only counts of what was replaced are kept.
//   - Encrypted at rest: each tenant has a 256-bit data key; each record
//     is sealed with AES-256-GCM under it (random nonce, the tenant and
//     response ids as additional data, so a row cannot be moved to another
//     tenant or response). Data keys are kept wrapped by the node master
//     key in DATA/capture.key (0600, created on first use). Deleting a
//     tenant's wrapped key (DeleteTenantKey) leaves its records, and every
//     copy of them, unreadable: crypto-shredding.
//   - Data derived from the records is sealed under the same key: Sealer
//     (Store.Sealer) is flywheel/dataset's Sealer, so a tenant's datasets
//     become unreadable with its captures. It uses a key derived from the
//     data key for that purpose alone, and names the data key's id in each
//     sealed value, so rows sealed before a shredding stay unreadable while
//     later ones (under the tenant's next key) read.
//   - End-user ids (OpenAI's "user" field) are stored only as an HMAC
//     under the tenant's data key, enough for EraseUser to find the rows.
//   - Every save, feedback, erasure and shredding is appended to the audit
//     log, with counts and ids, never text.
package capture
