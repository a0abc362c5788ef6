package store

import (
	"net/url"
	"regexp"
	"strings"
)

// A pull URL may carry secrets: credentials in its userinfo
// (http://user:pass@host/...) and tokens in its query (pre-signed URLs'
// ?sig=, X-Amz-Signature=, token=). None of them may reach a progress line,
// an error, a log or the manifest, so every URL the store shows or records
// goes through RedactURL, and every error Pull returns through
// redactError, which also catches the URLs Go's HTTP client puts in its
// errors (a *url.Error names the URL, a redirect's target included).

// redacted replaces each query value.
const redacted = "REDACTED"

// RedactURL returns raw without its userinfo and fragment and with every
// query value replaced by "REDACTED" (the keys stay, so the form of a
// signed URL is still recognisable). Text that does not parse as a URL
// loses everything from its first '?' or '#' and anything before an '@'
// in its authority, so nothing that might be a secret survives a parse
// failure either.
func RedactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return redactUnparsed(raw)
	}
	u.User = nil
	u.Fragment, u.RawFragment = "", ""
	u.ForceQuery = false
	if u.RawQuery != "" {
		parts := strings.Split(u.RawQuery, "&")
		for i, p := range parts {
			if k, _, ok := strings.Cut(p, "="); ok {
				parts[i] = k + "=" + redacted
			}
		}
		u.RawQuery = strings.Join(parts, "&")
	}
	return u.String()
}

func redactUnparsed(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i] + "?" + redacted
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	auth, path, _ := strings.Cut(rest, "/")
	if i := strings.LastIndex(auth, "@"); i >= 0 {
		auth = auth[i+1:]
	}
	if path != "" || strings.Contains(rest, "/") {
		return scheme + "://" + auth + "/" + path
	}
	return scheme + "://" + auth
}

// urlInText finds URLs inside a message: a scheme, "://", then anything up
// to white space or a quote (url.Error quotes its URL).
var urlInText = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.\-]*://[^\s"'<>]+`)

// RedactText redacts every URL in s.
func RedactText(s string) string {
	return urlInText.ReplaceAllStringFunc(s, RedactURL)
}

// redactError returns err with every URL in its message redacted. The
// chain stays for errors.Is and errors.As (a cancelled pull is still
// context.Canceled), and any *url.Error in it is redacted in place, so a
// caller that digs one out finds no secret either.
func redactError(err error) error {
	if err == nil {
		return nil
	}
	for e := err; e != nil; {
		if ue, ok := e.(*url.Error); ok {
			ue.URL = RedactURL(ue.URL)
		}
		switch x := e.(type) {
		case interface{ Unwrap() error }:
			e = x.Unwrap()
		case interface{ Unwrap() []error }:
			for _, inner := range x.Unwrap() {
				redactError(inner)
			}
			e = nil
		default:
			e = nil
		}
	}
	return &redactedError{msg: RedactText(err.Error()), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
