// Package flywheel opens the data flywheel's two stores as one: the
// capture store (consented interactions and their feedback, scrubbed and
// sealed per tenant) and the dataset store built from them.
//
// The pair has rules that hold only when both are opened together, so
// Open is the one place they are opened, by a serving node and by every
// command that reads or erases captures or datasets:
//
//   - dataset examples are sealed under the tenant's capture data key
//     (capture.Sealer), so shredding the key (Capture.DeleteTenantKey)
//     leaves the tenant's datasets unreadable too;
//   - an erasure by response or end user (Capture.EraseResponse,
//     EraseUser) removes the dataset examples derived from the erased
//     interactions, in every version, along their lineage;
//   - Source hands a build the tenant's captured, rated interactions.
//
// One process opens one pair: two capture stores over one database would
// each have their own erase hook, and an erasure through the one without
// them would leave derived examples behind.
package flywheel
