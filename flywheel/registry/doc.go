// Package registry keeps a tenant's LoRA adapters: versions 1, 2, ... per
// name, each with its lineage (the base model by name, architecture and
// SHA-256 of its file; the dataset version it was trained on, with the
// content hash of its examples and the response ids they came from; the
// hyper-parameters and metrics, as JSON the registry does not interpret;
// the node and jurisdiction; the time) and its state.
//
// An adapter trained on a tenant's data is that tenant's data, so the
// registry treats it as flywheel/dataset treats examples:
//
//   - the file is sealed under the tenant's capture data key (a Sealer:
//     capture.Store.Sealer, wired by flywheel.Open), so shredding the key
//     leaves every adapter of the tenant unreadable;
//   - it is accepted only on a node of the tenant's home jurisdiction
//     (ErrNotHome otherwise), as captures are;
//   - registration, export, retirement and deletion are audit records of
//     kind "adapter", and registration and deletion commit only once their
//     record is durable: a failed audit or seal leaves nothing behind;
//   - when an end user's data is erased, MarkErased (the capture store's
//     erase hook, through flywheel.Open) marks every adapter whose dataset
//     version held one of the erased responses (ErasedData), and retires it
//     too when the tenant's policy says so (RetireErasedAdapters). An
//     adapter cannot forget what it learnt; the mark says it should not be
//     used without a decision.
//
// Once a retirement or deletion commits (an erasure's retirement too),
// Config.OnRetire is told of it, so that what serves the version moves
// off it: flywheel/rollout falls its deployments back to their base.
//
// Open, TempFile and Export hand the plain llama.cpp GGUF back; only Export,
// which takes it off the node, is audited.
package registry
