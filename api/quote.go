package api

import (
	"strconv"
	"unicode/utf8"
)

// Client text in messages. An error that names what the client sent (a
// model, a response id, a role, a path, a header) helps the client only
// as far as it can recognise the value; echoing all of it lets one
// request make the node write megabytes into its answer and its log. So
// every client string that goes into an error message or a log line
// passes through clientText, which keeps its first maxQuotedBytes.

// maxQuotedBytes is how much of a client's string a message repeats.
const maxQuotedBytes = 64

// clientText is s for a message: whole when short, otherwise its first
// maxQuotedBytes (cut at a character boundary), "…" and its length.
func clientText(s string) string {
	return clip(s, maxQuotedBytes)
}

// clip is s cut to at most n bytes at a character boundary, followed by
// "…" and the whole length when anything was cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

// maxLoggedBytes bounds a message written to the node's log: ours are
// short, and one that is not holds something a client sent.
const maxLoggedBytes = 1024
