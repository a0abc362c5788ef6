package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// PullOptions tune Pull.
type PullOptions struct {
	// SHA256 is the expected digest in hex (a "sha256:" prefix is allowed);
	// empty skips the check.
	SHA256 string
	// Progress, if set, is called with bytes done and the total (-1 when
	// the server does not say) as the download advances.
	Progress func(done, total int64)
	// Client makes the requests; nil means a client with no overall
	// timeout, since model files take minutes to hours.
	Client *http.Client
}

// Pull downloads the GGUF model at rawURL into the store under name (""
// derives it from the URL's file name). The download goes to
// models/.partial first and resumes from there with a Range request when a
// previous pull was interrupted or cancelled. hf://owner/repo/path.gguf is
// shorthand for the file on Hugging Face's main branch.
//
// The URL's credentials and query values (a pre-signed URL's token) appear
// in no error, progress line or manifest entry: see RedactURL.
func (s *Store) Pull(ctx context.Context, rawURL, name string, opts PullOptions) (Entry, error) {
	e, err := s.pull(ctx, rawURL, name, opts)
	return e, redactError(err)
}

func (s *Store) pull(ctx context.Context, rawURL, name string, opts PullOptions) (Entry, error) {
	u, err := ResolveURL(rawURL)
	if err != nil {
		return Entry{}, err
	}
	shown := RedactURL(rawURL)
	pu, err := url.Parse(u)
	if err != nil {
		return Entry{}, fmt.Errorf("store: pull %s: %w", shown, err)
	}
	canon, err := nameFor(name, pu.Path)
	if err != nil {
		return Entry{}, err
	}
	want, err := parseDigest(opts.SHA256)
	if err != nil {
		return Entry{}, fmt.Errorf("store: pull %s: %w", shown, err)
	}
	if want != "" {
		// Bytes already stored under another name need no download.
		if e, ok := s.withDigest("sha256:" + want); ok {
			e.Name, e.Source, e.Added = canon, shown, time.Now().UTC().Truncate(time.Second)
			e, err := s.install("", e)
			if !errors.Is(err, errGone) {
				if err == nil && opts.Progress != nil {
					opts.Progress(e.Size, e.Size)
				}
				return e, err
			}
		}
	}
	client := opts.Client
	if client == nil {
		client = &http.Client{}
	}

	key := sha256.Sum256([]byte(u))
	partial := filepath.Join(s.partialDir(), hex.EncodeToString(key[:16]))
	unlock, err := lockFile(partial+".lock", false)
	if errors.Is(err, errLocked) {
		return Entry{}, fmt.Errorf("store: pull %s: another pull of this URL is in progress", shown)
	}
	if err != nil {
		return Entry{}, fmt.Errorf("store: pull %s: %w", shown, err)
	}
	defer unlock()

	d := &download{client: client, url: u, shown: shown, path: partial, progress: opts.Progress}
	got, size, err := d.run(ctx)
	if errors.Is(err, errNotGGUF) {
		s.dropPartial(partial)
	}
	if err != nil {
		return Entry{}, err
	}
	if want != "" && got != want {
		s.dropPartial(partial)
		return Entry{}, fmt.Errorf("store: pull %s: checksum mismatch: got sha256 %s, want %s (download deleted)", shown, got, want)
	}
	info, err := inspect(partial)
	if err != nil {
		s.dropPartial(partial)
		return Entry{}, fmt.Errorf("store: pull %s: %w (download deleted)", shown, err)
	}
	os.Remove(partial + ".validator")
	return s.install(partial, Entry{
		Name:         canon,
		Size:         size,
		Digest:       "sha256:" + got,
		Source:       shown,
		Added:        time.Now().UTC().Truncate(time.Second),
		Architecture: info.arch,
		Parameters:   info.params,
		Quantization: info.quant,
	})
}

// withDigest finds an entry holding the bytes with digest.
func (s *Store) withDigest(digest string) (Entry, bool) {
	list, err := s.List()
	if err != nil {
		return Entry{}, false
	}
	for _, e := range list {
		if e.Digest == digest {
			return e, true
		}
	}
	return Entry{}, false
}

func (s *Store) dropPartial(path string) {
	os.Remove(path)
	os.Remove(path + ".validator")
}

// errNotGGUF marks a download refused from its first bytes.
var errNotGGUF = errors.New("not a GGUF model")

// ResolveURL checks a pull source and expands hf://owner/repo/path to the
// Hugging Face download URL of path on the repository's main branch.
func ResolveURL(raw string) (string, error) {
	if rest, ok := strings.CutPrefix(raw, "hf://"); ok {
		parts := strings.SplitN(rest, "/", 3)
		if len(parts) < 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" || strings.HasSuffix(parts[2], "/") {
			return "", fmt.Errorf("store: pull %s: want hf://owner/repo/file.gguf", raw)
		}
		return "https://huggingface.co/" + parts[0] + "/" + parts[1] + "/resolve/main/" + parts[2], nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", redactError(fmt.Errorf("store: pull: bad URL: %w", err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("store: pull %s: URL scheme must be http, https or hf (to import a local file use import)", RedactURL(raw))
	}
	if u.Host == "" {
		return "", fmt.Errorf("store: pull %s: URL has no host", RedactURL(raw))
	}
	return raw, nil
}

func parseDigest(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	h := strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(s, "sha256:"), "SHA256:"))
	if len(h) != 2*sha256.Size {
		return "", fmt.Errorf("expected sha256 %q is not 64 hex digits", s)
	}
	if _, err := hex.DecodeString(h); err != nil {
		return "", fmt.Errorf("expected sha256 %q is not hex", s)
	}
	return h, nil
}

// download fetches url into path, resuming from what path already holds.
type download struct {
	client   *http.Client
	url      string
	shown    string // url without credentials or query values, for messages
	path     string
	progress func(done, total int64)

	f    *os.File
	h    hash.Hash // digest of the bytes in f so far
	have int64     // bytes in f
}

// run completes the download and returns its hex sha256 and size. An
// interrupted or cancelled download keeps the partial file for next time.
func (d *download) run(ctx context.Context) (string, int64, error) {
	f, err := os.OpenFile(d.path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return "", 0, fmt.Errorf("store: pull %s: %w", d.shown, err)
	}
	defer f.Close()
	d.f, d.h = f, sha256.New()
	// Resuming needs the digest of what is already there.
	if d.have, err = io.CopyBuffer(d.h, ctxReader{ctx, f}, make([]byte, 1<<20)); err != nil {
		return "", 0, fmt.Errorf("store: pull %s: read partial download: %w", d.shown, err)
	}
	// Two rounds at most: a resume the server cannot honour (416 on a
	// partial that is not complete, a 206 for another offset) restarts once.
	for range 2 {
		done, err := d.request(ctx)
		if err != nil {
			return "", 0, err
		}
		if done {
			return hex.EncodeToString(d.h.Sum(nil)), d.have, nil
		}
		if err := d.reset(); err != nil {
			return "", 0, err
		}
	}
	return "", 0, fmt.Errorf("store: pull %s: server does not honour range requests consistently", d.shown)
}

// reset empties the partial file to start over.
func (d *download) reset() error {
	if err := d.f.Truncate(0); err != nil {
		return fmt.Errorf("store: pull %s: %w", d.shown, err)
	}
	if _, err := d.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("store: pull %s: %w", d.shown, err)
	}
	d.h.Reset()
	d.have = 0
	os.Remove(d.path + ".validator")
	return nil
}

// request makes one GET and appends its body. It reports false when the
// partial file must be reset and the request made again without a range.
func (d *download) request(ctx context.Context) (bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.url, nil)
	if err != nil {
		return false, fmt.Errorf("store: pull %s: %w", d.shown, err)
	}
	req.Header.Set("User-Agent", "hearth")
	if d.have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", d.have))
		// If the file changed since the partial was fetched, If-Range makes
		// the server send all of the new one instead of a mismatched tail.
		if v, err := os.ReadFile(d.path + ".validator"); err == nil && len(v) > 0 {
			req.Header.Set("If-Range", string(v))
		}
	}
	resp, err := d.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return false, fmt.Errorf("store: pull %s: %w", d.shown, err)
	}
	defer resp.Body.Close()

	total := int64(-1)
	switch resp.StatusCode {
	case http.StatusOK:
		if d.have > 0 { // the server ignored the range: start again
			if err := d.reset(); err != nil {
				return false, err
			}
		}
		if resp.ContentLength >= 0 {
			total = resp.ContentLength
		}
		d.saveValidator(resp.Header)
	case http.StatusPartialContent:
		start, size, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err != nil || start != d.have {
			return false, nil
		}
		total = size
	case http.StatusRequestedRangeNotSatisfiable:
		// The partial may already be whole: a crash between the last byte
		// and the move into place.
		_, size, err := parseContentRange(resp.Header.Get("Content-Range"))
		if err == nil && size == d.have && d.have > 0 {
			d.report(total)
			return true, nil
		}
		return false, nil
	default:
		return false, statusError(d.shown, resp)
	}

	d.report(total)
	buf := make([]byte, 1<<20)
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			// An HTML error page or a wrong file shows in its first bytes;
			// refuse it now rather than after downloading all of it.
			if d.have == 0 && n >= 4 && string(buf[:4]) != "GGUF" {
				return false, fmt.Errorf("store: pull %s: the server sent data starting %q, which is %w", d.shown, buf[:4], errNotGGUF)
			}
			if _, err := d.f.Write(buf[:n]); err != nil {
				return false, fmt.Errorf("store: pull %s: write: %w", d.shown, err)
			}
			d.h.Write(buf[:n])
			d.have += int64(n)
			d.report(total)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if ctx.Err() != nil {
				rerr = ctx.Err()
			}
			d.f.Sync()
			return false, fmt.Errorf("store: pull %s: interrupted after %d bytes, run pull again to resume: %w", d.shown, d.have, rerr)
		}
	}
	if total >= 0 && d.have != total {
		return false, fmt.Errorf("store: pull %s: got %d of %d bytes, run pull again to resume", d.shown, d.have, total)
	}
	if err := d.f.Sync(); err != nil {
		return false, fmt.Errorf("store: pull %s: %w", d.shown, err)
	}
	return true, nil
}

func (d *download) report(total int64) {
	if d.progress != nil {
		d.progress(d.have, total)
	}
}

// saveValidator keeps the strong ETag (or Last-Modified) of a full response
// for the If-Range of a later resume.
func (d *download) saveValidator(h http.Header) {
	v := h.Get("ETag")
	if v == "" || strings.HasPrefix(v, "W/") {
		v = h.Get("Last-Modified")
	}
	if v == "" {
		os.Remove(d.path + ".validator")
		return
	}
	os.WriteFile(d.path+".validator", []byte(v), 0o644)
}

// parseContentRange reads "bytes START-END/SIZE" or "bytes */SIZE"; size
// is -1 when given as "*".
func parseContentRange(s string) (start, size int64, err error) {
	bad := fmt.Errorf("bad Content-Range %q", s)
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, bad
	}
	rng, sz, ok := strings.Cut(rest, "/")
	if !ok {
		return 0, 0, bad
	}
	size = -1
	if sz != "*" {
		if size, err = strconv.ParseInt(sz, 10, 64); err != nil || size < 0 {
			return 0, 0, bad
		}
	}
	if rng == "*" {
		return -1, size, nil
	}
	first, _, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, bad
	}
	if start, err = strconv.ParseInt(first, 10, 64); err != nil || start < 0 {
		return 0, 0, bad
	}
	return start, size, nil
}

// statusError explains a failed response.
func statusError(shown string, resp *http.Response) error {
	switch resp.StatusCode {
	case http.StatusNotFound:
		return fmt.Errorf("store: pull: model not found at %s (HTTP 404)", shown)
	case http.StatusUnauthorized, http.StatusForbidden:
		return fmt.Errorf("store: pull: access to %s denied (%s); the repository may be gated or private", shown, resp.Status)
	}
	return fmt.Errorf("store: pull %s: server answered %s", shown, resp.Status)
}
