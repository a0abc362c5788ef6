//go:build !unix

package main

// maxRSS is not measured where getrusage is missing.
func maxRSS() int64 { return 0 }
