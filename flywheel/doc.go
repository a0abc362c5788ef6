// Package flywheel opens the data flywheel's stores as one: the capture
// store (consented interactions and their feedback, scrubbed and sealed
// per tenant), the dataset store built from them, and the registry of the
// LoRA adapters trained on the datasets.
//
// The stores have rules that hold only when they are opened together, so
// Open is the one place they are opened, by a serving node and by every
// command that reads or erases captures or datasets:
//
//   - dataset examples and adapter files are sealed under the tenant's
//     capture data key (capture.Sealer), so shredding the key
//     (Capture.DeleteTenantKey) leaves the tenant's datasets and adapters
//     unreadable too;
//   - an erasure by response or end user (Capture.EraseResponse,
//     EraseUser) removes the dataset examples derived from the erased
//     interactions, in every version, along their lineage, and marks the
//     adapters trained on those versions (Adapters.MarkErased);
//   - Source hands a build the tenant's captured, rated interactions.
//
// The adapters reach the tenant's users through flywheel/rollout, whose
// Versions (resolving a rollout's versions in the registry and running its
// held-out eval gate) this package provides.
//
// One process opens them once: two capture stores over one database would
// each have their own erase hook, and an erasure through the one without
// them would leave derived examples behind.
package flywheel
