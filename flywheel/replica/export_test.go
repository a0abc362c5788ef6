package replica

// SignManifest signs a manifest as a home node does, for tests that play
// a home node which tampers with what it sends.
var SignManifest = signManifest

// SignListing signs a listing as a home node does, for tests that play a
// home node which tampers with its listing.
var SignListing = signListing
