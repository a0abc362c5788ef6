// Package dataset turns captured, rated interactions into versioned
// fine-tuning datasets, per tenant.
//
// Build keeps what people said was good: interactions rated at or above
// Options.MinRating, and interactions someone corrected (the correction
// replaces the model's answer, and a corrected interaction counts as good
// whatever its rating). It then drops malformed ones, filters by length and
// language, drops exact and near duplicates (MinHash over word shingles with
// banded LSH for candidates, confirmed by the exact Jaccard similarity), and
// splits train/eval by a hash of the response id, so a response stays in the
// same split in every version built with the same seed and eval examples
// never leak into a later version's training split.
//
// Every Build or Import of a name stores a new version (1, 2, ...) with its
// examples, the options used and lineage: the response id each example came
// from. RemoveResponses follows that lineage to erase what was derived from
// erased interactions in every version. Export and Import speak OpenAI's
// fine-tuning chat JSONL.
//
// The package does not depend on the capture store: a Source hands it
// Interactions, so anything (an adapter over capture.Store, a JSONL file)
// can feed a build. Likewise a Sealer (SetSealer) encrypts examples at
// rest; the node uses capture.Store.Sealer, the tenant's capture data key,
// so that shredding the key leaves the tenant's datasets unreadable too.
// Rows written without a Sealer stay readable (they are marked unsealed).
package dataset
