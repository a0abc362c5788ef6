package runner

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/engine/adapter"
	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/modelname"
)

// This file is where a runner's LoRA adapters come from: the Adapters a
// request names as BASE:ADAPTER[@VERSION] (the node's: the caller's
// tenant's registry), and the adapters the operator publishes to every
// caller, the --lora files the node started with and those vLLM's
// load_lora_adapter adds.

// Base is a base model as adapters are checked against it.
type Base struct {
	Name   string // as listed: "stories260k", "qwen2.5-0.5b:q4_k_m"
	Path   string // the GGUF file
	Digest string // hex SHA-256 of the file
	Arch   string // general.architecture
}

// FoundAdapter is an adapter a source found for a request.
type FoundAdapter struct {
	// Name is the adapter's part of the served name: "NAME@VERSION",
	// the version resolved.
	Name string
	// Key says what the adapter is, for the runner's cache: two finds
	// with one key are the same weights (the tenant, NAME@VERSION and
	// the file's SHA-256, say).
	Key string
	// Tenant names the tenant whose adapter it is, as the fleet knows it
	// (by name: a tenant's ID is each node's own), so that the node's
	// heartbeat can list it by a key only that tenant's requests match
	// (see Runner.AdapterKeys); empty: one every caller may use.
	Tenant string
	// Open reads and decodes the adapter.
	Open func(ctx context.Context) (*adapter.Adapter, error)
}

// ListedAdapter is an adapter a caller may use, for model lists.
type ListedAdapter struct {
	Name    string // "NAME@VERSION"
	Base    Base   // the base it was trained on (Path empty)
	Size    int64  // bytes of its file
	Created time.Time
}

// Adapters is where a runner finds the adapters that requests name as
// BASE:ADAPTER[@VERSION], for the caller in ctx.
type Adapters interface {
	// Find resolves ref (NAME or NAME@VERSION) for use on base. An
	// adapter the caller has no such adapter (unknown, retired, another
	// tenant's) wraps api.ErrModelNotFound; one for another base,
	// api.ErrInvalidModel, naming both.
	Find(ctx context.Context, ref string, base Base) (FoundAdapter, error)
	// List lists the adapters the caller may use.
	List(ctx context.Context) ([]ListedAdapter, error)
	// Has reports whether the caller has an adapter called name (no
	// version) that Find would look up here, without asking another
	// node: a BASE:NAME the operator also published means the caller's
	// own then. It is asked on every request for a published name, so it
	// must be cheap.
	Has(ctx context.Context, name string) (bool, error)
}

// LoRAFile is an adapter the runner publishes from the start, with its
// global scale: `hearth serve --lora FILE` (1) or --lora-scaled FILE:SCALE.
type LoRAFile struct {
	Path  string
	Scale float32
}

// Defaults of the adapter limits.
const (
	// DefaultMaxPublished bounds the adapters published at once.
	DefaultMaxPublished = 256
	// DefaultMaxCachedAdapters bounds the built adapters kept per loaded
	// base (each distinct adapter and set of scales is one).
	DefaultMaxCachedAdapters = 256
)

// published is an adapter the operator published to every caller.
type published struct {
	id    int    // its id in /lora-adapters; -1 for one vLLM's endpoint loaded
	name  string // what requests call it: BASE:NAME, or NAME alone
	path  string
	arch  string
	size  int64
	mtime time.Time
	// shapes are its updates' [in, out] by base weight name, to check
	// which bases it fits without reading the weights.
	shapes map[string][2]int64
	// key is what it is for the cache: its path and a load counter, so
	// that a name unloaded and loaded again with another file is
	// another adapter.
	key string

	scale float32 // global scale (preloaded adapters); guarded by Runner.mu

	fitsMu sync.Mutex
	fits   map[string]bool // by base path, as checked
}

// namePattern is what a published adapter may be called: a store name's
// letters, no ':' (the base's separator) nor '@' (the version's).
var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// readPublished reads and checks the adapter file at path, to publish as
// name; what it keeps is its description, not its weights, which are
// read again when a request first uses them.
func (r *Runner) readPublished(name, path string, id int) (*published, error) {
	name = strings.ToLower(name)
	if !namePattern.MatchString(name) {
		return nil, fmt.Errorf("%w: adapter name %q: want 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", api.ErrInvalidModel, clip(name))
	}
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a readable adapter file", api.ErrInvalidModel, clip(path))
	}
	if st.Size() > r.cfg.MemoryLimit/2 {
		return nil, fmt.Errorf("%w: %s is %d MiB, more than half the node's memory limit", api.ErrInvalidModel, clip(path), st.Size()>>20)
	}
	a, err := adapter.Read(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not a LoRA adapter file: %w", api.ErrInvalidModel, clip(path), err)
	}
	p := &published{id: id, name: name, path: path, arch: a.Arch, size: st.Size(), mtime: st.ModTime(), shapes: map[string][2]int64{}, fits: map[string]bool{}}
	p.key = fmt.Sprintf("file:%s#%d", path, r.pubLoads.Add(1))
	for n, l := range a.LoRA {
		p.shapes[n] = [2]int64{int64(len(l.A) / l.Rank), int64(len(l.B) / l.Rank)}
	}
	return p, nil
}

// clip keeps a client's name or path short in errors.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// fitsFile reports whether p's updates fit the base model file at path:
// its architecture, and a weight of the right shape for each. The answer
// is kept; the first reads the base file's header, so callers do not
// hold r.mu.
func (r *Runner) fitsFile(p *published, path string) bool {
	p.fitsMu.Lock()
	ok, seen := p.fits[path]
	p.fitsMu.Unlock()
	if seen {
		return ok
	}
	ok = func() bool {
		f, err := gguf.Open(path)
		if err != nil {
			return false
		}
		defer f.Close()
		if f.Architecture() != p.arch {
			return false
		}
		for n, s := range p.shapes {
			t, ok := f.Tensor(n)
			if !ok || len(t.Shape) != 2 || t.Shape[0] != s[0] || t.Shape[1] != s[1] {
				return false
			}
		}
		return true
	}()
	p.fitsMu.Lock()
	p.fits[path] = ok
	p.fitsMu.Unlock()
	return ok
}

// bases lists every base model the runner serves, files and store, by
// canonical name with its file.
func (r *Runner) bases() ([][2]string, error) {
	models, err := r.baseModels()
	if err != nil {
		return nil, err
	}
	out := make([][2]string, 0, len(models))
	for _, mi := range models {
		if canon, _, err := r.resolve(mi.Name); err == nil {
			out = append(out, [2]string{canon, mi.Path})
		}
	}
	return out, nil
}

// fittingBases are the bases p fits, by canonical name.
func (r *Runner) fittingBases(p *published) ([][2]string, error) {
	all, err := r.bases()
	if err != nil {
		return nil, err
	}
	var out [][2]string
	for _, b := range all {
		if r.fitsFile(p, b[1]) {
			out = append(out, b)
		}
	}
	return out, nil
}

// publish adds the --lora files, with ids in their order, each of which
// must fit a base the runner serves.
func (r *Runner) publish(files []LoRAFile, withoutApply bool) error {
	for i, f := range files {
		if f.Scale != f.Scale || f.Scale-f.Scale != 0 {
			return fmt.Errorf("runner: --lora %s: scale %v", f.Path, f.Scale)
		}
		p, err := r.readPublished(modelNameOf(f.Path), f.Path, i)
		if err != nil {
			return fmt.Errorf("runner: --lora %s: %w", f.Path, err)
		}
		p.scale = f.Scale
		if withoutApply {
			p.scale = 0
		}
		if _, dup := r.named[p.name]; dup {
			return fmt.Errorf("runner: --lora %s: another adapter is already named %q", f.Path, p.name)
		}
		fit, err := r.fittingBases(p)
		if err != nil {
			return err
		}
		if len(fit) == 0 {
			return fmt.Errorf("runner: --lora %s: the adapter (for a %s model) fits none of the models served", f.Path, p.arch)
		}
		r.preloaded = append(r.preloaded, p)
		r.named[p.name] = p
	}
	return nil
}

// modelNameOf names an adapter file as a model file is named: its base
// name without .gguf, in lower case.
func modelNameOf(path string) string {
	n, _, _ := strings.Cut(strings.ToLower(strings.TrimSuffix(strings.TrimSuffix(baseName(path), ".gguf"), ".GGUF")), ":")
	return n
}

func baseName(path string) string {
	if i := strings.LastIndexAny(path, `/\`); i >= 0 {
		return path[i+1:]
	}
	return path
}

// LoRAAdapters lists the --lora adapters with their ids and global
// scales (GET /lora-adapters).
func (r *Runner) LoRAAdapters() []api.LoRAAdapter {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]api.LoRAAdapter, 0, len(r.preloaded))
	for _, p := range r.preloaded {
		out = append(out, api.LoRAAdapter{ID: p.id, Path: p.path, Scale: p.scale})
	}
	return out
}

// SetLoRAScales sets the global scales of the adapters listed (POST
// /lora-adapters); requests already running keep the scales they began
// with.
func (r *Runner) SetLoRAScales(l []api.LoRA) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, e := range l {
		if e.ID < 0 || e.ID >= len(r.preloaded) {
			return fmt.Errorf("%w: no LoRA adapter has id %d (there are %d)", api.ErrInvalidModel, e.ID, len(r.preloaded))
		}
	}
	for _, e := range l {
		r.preloaded[e.ID].scale = e.Scale
	}
	return nil
}

// LoadLoRA publishes the adapter file at path as name, for every caller
// (vLLM's POST /v1/load_lora_adapter). It must fit a base the runner
// serves.
func (r *Runner) LoadLoRA(ctx context.Context, name, path string) error {
	r.mu.Lock()
	_, taken := r.named[strings.ToLower(name)]
	full := len(r.named) >= r.cfg.MaxPublished
	r.mu.Unlock()
	switch {
	case taken:
		return fmt.Errorf("%w: an adapter named %q is already loaded", api.ErrInvalidModel, clip(name))
	case full:
		return fmt.Errorf("%w: %d adapters are loaded, the most this node takes; unload one first", api.ErrInvalidModel, r.cfg.MaxPublished)
	}
	if _, _, err := r.resolve(name); err == nil {
		return fmt.Errorf("%w: %q is a model's name", api.ErrInvalidModel, clip(name))
	}
	p, err := r.readPublished(name, path, -1)
	if errors.Is(err, gguf.ErrFormat) {
		// The parser's words quote the file's first bytes (its "magic"):
		// an admin key naming /etc/shadow or node.key would read them.
		// The operator finds the detail in the log.
		r.log.Info("LoRA adapter load refused", "path", clip(path), "err", err)
		return fmt.Errorf("%w: %s is not a LoRA adapter file: not a GGUF file, or a malformed one", api.ErrInvalidModel, clip(path))
	}
	if err != nil {
		return err
	}
	fit, err := r.fittingBases(p)
	if err != nil {
		return err
	}
	if len(fit) == 0 {
		return fmt.Errorf("%w: the adapter in %s (for a %s model) fits none of the models served", api.ErrInvalidModel, clip(path), p.arch)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, taken := r.named[p.name]; taken || len(r.named) >= r.cfg.MaxPublished {
		return fmt.Errorf("%w: an adapter named %q is already loaded, or the node has its most", api.ErrInvalidModel, p.name)
	}
	r.named[p.name] = p
	r.log.Info("LoRA adapter published", "name", p.name, "path", path, "fits", len(fit))
	return nil
}

// UnloadLoRA withdraws an adapter LoadLoRA published (vLLM's POST
// /v1/unload_lora_adapter) and drops it from every cache. Requests using
// it hold their own reference and finish as they began.
func (r *Runner) UnloadLoRA(ctx context.Context, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	p, ok := r.named[strings.ToLower(name)]
	if !ok {
		return fmt.Errorf("%w: no adapter %q is loaded", api.ErrModelNotFound, clip(name))
	}
	if p.id >= 0 {
		return fmt.Errorf("%w: %q was given with --lora (id %d); set its scale to 0 with POST /lora-adapters instead", api.ErrInvalidModel, p.name, p.id)
	}
	delete(r.named, p.name)
	for _, l := range r.loaded {
		l.dropAdapters(func(source string) bool { return source == p.key })
	}
	r.log.Info("LoRA adapter withdrawn", "name", p.name)
	return nil
}

// digest is the hex SHA-256 of a base file, known from the store or
// computed once per file (size and modification time).
func (r *Runner) digest(canon, path string) (string, error) {
	if d := r.storeDigest(canon); d != "" {
		return d, nil
	}
	key, err := digestKey(path)
	if err != nil {
		return "", err
	}
	r.digestMu.Lock()
	defer r.digestMu.Unlock() // one hash at a time: they read whole files
	if d, ok := r.digests[key]; ok {
		return d, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	d := hex.EncodeToString(h.Sum(nil))
	r.digests[key] = d
	return d, nil
}

// knownDigest is the digest of a base if it is known without hashing.
func (r *Runner) knownDigest(canon, path string) string {
	if d := r.storeDigest(canon); d != "" {
		return d
	}
	key, err := digestKey(path)
	if err != nil {
		return ""
	}
	r.digestMu.Lock()
	defer r.digestMu.Unlock()
	return r.digests[key]
}

// storeDigest is the hex digest the store holds for canon, if any.
func (r *Runner) storeDigest(canon string) string {
	if r.cfg.Store == nil {
		return ""
	}
	if e, err := r.cfg.Store.Get(canon); err == nil {
		return strings.TrimPrefix(e.Digest, "sha256:")
	}
	return ""
}

// digestKey is what r.digests keeps a file's digest under: its path,
// size and modification time.
func digestKey(path string) (string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s|%d|%d", path, st.Size(), st.ModTime().UnixNano()), nil
}

// describeBase is base as adapter sources check against it.
func (r *Runner) describeBase(canon, path string) (Base, error) {
	d, err := r.digest(canon, path)
	if err != nil {
		return Base{}, fmt.Errorf("runner: base %s: %w", canon, err)
	}
	f, err := gguf.Open(path)
	if err != nil {
		return Base{}, fmt.Errorf("runner: base %s: %w", canon, err)
	}
	defer f.Close()
	return Base{Name: r.displayName(canon), Path: path, Digest: d, Arch: f.Architecture()}, nil
}

// listedFits reports whether an adapter a source lists was trained on
// the base canon at path: by digest where the base's is known without
// hashing, else by name.
func (r *Runner) listedFits(a ListedAdapter, canon, path, arch string) bool {
	if a.Base.Arch != "" && arch != "" && a.Base.Arch != arch {
		return false
	}
	if d := r.knownDigest(canon, path); d != "" {
		return strings.EqualFold(d, a.Base.Digest)
	}
	return modelname.Same(a.Base.Name, canon) || modelname.Same(modelNameOf(a.Base.Name), canon)
}

// errNoAdapter is a name whose adapter part names nothing.
func errNoAdapter(name string) error {
	return fmt.Errorf("%w: %q", api.ErrModelNotFound, clip(name))
}

// isNotFound reports whether err says the model or adapter is not there.
func isNotFound(err error) bool { return errors.Is(err, api.ErrModelNotFound) }
