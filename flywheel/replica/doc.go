// Package replica copies a tenant's LoRA adapters from its home to the
// other nodes that must serve them, over fabric deliveries, and only to
// certified nodes inside the jurisdictions the tenant's policy permits.
// It is the fleet side of flywheel/registry, whose versions stay on the
// node that registered them, in the tenant's home.
//
// # Who may have a copy
//
// A node that must serve a tenant's adapter it does not hold in its own
// registry (Find, which resolves the version, and its Opener, which
// reads the file; Fetch does both) asks the tenant's home nodes for it: the certified
// nodes of Policy.Home, or, for a tenant whose data is not pinned, of the
// jurisdictions its policy permits. The fabric authenticates both ends:
// a delivery is taken only from a certified sender, so a node without a
// valid certificate is refused before this package sees the request;
// the home records that refusal too (fabric.HandleDeliverRefused), naming
// only the node the request claims to come from, at most once a minute
// per sender with a count of the rest. A home node then hands the adapter out only
// for a tenant it knows by that name, not disabled, whose policy permits
// the asking node's certified jurisdiction; otherwise it answers
// not_permitted and records the refusal in its audit log (kind "adapter",
// reason adapter.replicate.refused, decision deny). Every manifest it
// issues is recorded too (adapter.replicate), before it is sent: when its
// log cannot record, nothing is handed out.
//
// A node never hands out a copy: the home side reads only the node's own
// registry, and copies live in their own table (adapter_replicas), which
// nothing that reads the registry sees. A node asked for an adapter it
// holds only as a copy answers not_found.
//
// # Delivery kinds and payloads
//
// Payloads and answers are JSON; field names and codes are fixed, as
// nodes of different versions share them (testdata holds each frame).
//
//	kind              payload                                                            answer
//	adapter-manifest  {"tenant": name, "adapter": NAME[@VERSION], "base_digest": hex}     {"signed": {"manifest": Manifest, "sig": ed25519}} or {"error": code, "message": text}
//	adapter-chunk     {"tenant", "adapter": NAME@VERSION, "sha256", "offset", "length"}  {"data": bytes} or {"error": code, "message": text}
//	adapter-list      {"tenant": name}                                                   {"listing": {"listing": Listing, "sig": ed25519}} or {"error": code, "message": text}
//
// The manifest names the tenant, the version (name, version, created),
// its content (sha256 and size of the plain llama.cpp GGUF), its base
// (name, sha256 digest, architecture), the node it was issued to, the
// home node that signed it and its jurisdiction, and when. The signature
// is the home node's ed25519 key over "hearth adapter replica manifest
// v1\x00" and the manifest's exact bytes. A chunk names the version by
// its sha256 too, and carries at most ChunkBytes, so each answer fits in
// one NATS message; the home node checks the tenant and the asker's
// jurisdiction again for every chunk.
//
// A listing names the tenant, its versions the home holds active and
// would hand out (name, version, base name, digest and architecture,
// size, created; at most MaxListed, and no file), the node it was issued
// to, the home node that signed it and its jurisdiction, and when; the
// signature is over "hearth adapter replica list v1\x00" and its exact
// bytes, so that a listing is never taken for a manifest.
//
// Codes: not_found (no such version on this node; the asker tries the
// next home node), unknown_tenant (read as not_found), not_permitted,
// base_mismatch (trained on another base file), retired, too_large and
// invalid. Any other failure (the home's audit log cannot record, say)
// is the handler's error, and the asker tries the next home node.
//
// # What the receiver checks
//
// Before it reads a byte of the file the receiver checks the manifest:
// the signature against the key the home node's fleet certificate names,
// that it was issued by that node, in its certified jurisdiction, to this
// node, within two minutes of this node's clock, for the tenant and
// adapter asked for, for the base file this node holds (its sha256 and
// architecture), and at most Config.MaxBytes long (the home node refuses
// larger ones too). Then it reads the chunks, each exactly the length
// asked, and checks the whole file's size and sha256 against the
// manifest, and that it decodes as a LoRA adapter of the base's
// architecture. Anything else is refused, nothing is kept, and the
// refusal is recorded (adapter.replica.rejected: decision alarm when what
// arrived does not match what the home signed, deny otherwise).
//
// # Listing a tenant's adapters off its home
//
// A tenant may use through a node every active adapter of its home's
// registry, so model lists there name them too (HomeList, which the node
// merges into the tenant's list). A home answers adapter-list under the
// rules of a manifest request (a refusal by policy is recorded as
// adapter.replicate.refused with adapter "*"); as no adapter moves, a
// listing issued is not recorded. The asker asks every home node at once
// (registries are per node) and merges their answers, after checking each
// as a manifest is checked: signed by the key the home's certificate
// names, by that node in its jurisdiction, to this node, within two
// minutes of its clock, for the tenant asked about, its versions well
// formed. A listing that fails is ignored and recorded
// (adapter.replica.rejected, an alarm). The merged answer is kept for
// Config.ListTTL (30 s) per tenant, for at most 1024 tenants, and
// concurrent lists share one round of asking; a round waits at most
// Config.ListTimeout (2 s), and when no home node answered the list is
// this node's own (kept only 5 s, so it is asked again soon). Nothing is
// asked for a tenant whose policy does not permit this node.
//
// # Copies at rest, and when they go
//
// A copy is kept sealed under this node's key for the tenant (the capture
// store's sealer, as the registry seals its files: shredding the tenant's
// key on this node leaves it unreadable), with the signed manifest as it
// arrived, which says where it came from, once the audit log holds its
// arrival (adapter.replica.receive).
//
// A copy is checked on use, not told by a broadcast: a broadcast is
// unsigned and a node that was down would miss it. Find uses a copy as
// it is for Config.Revalidate (a minute) after its home last vouched for
// it (and, for a request naming no version, the version the home last
// named the latest, for as long); after that it asks the home for the
// manifest again (no file moves when the content is the same). When the
// home says the version is retired or gone (every home node answered
// not_found; a home vouches only for a file it can still read, so a
// version whose tenant's key was shredded there is gone), or that the
// tenant's policy no longer permits this node, the copy is dropped
// (adapter.replica.drop, and Config.OnDrop so the serving path unloads
// it) and the request fails. While no home node answers, a copy vouched
// for within Config.MaxStale (an hour) still serves; after that it does
// not. Sweep does the same check for every copy not vouched for lately,
// and Run sweeps every Revalidate, so copies nobody uses are dropped too.
package replica
