// Package runner keeps a node's models loaded and running: it finds a model
// by name (a file given on the command line or the model store), loads it on
// first use behind a batch scheduler, keeps it for a keep-alive period after
// its last request, and unloads idle models when memory runs short. It
// serves LoRA adapters on them too (adapted.go, adapters.go): named
// BASE:ADAPTER[@VERSION] or picked by id, built once per loaded base and
// kept in the same memory budget. It is the api.Backend of a node.
package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/engine/sched"
	"github.com/hearth-ai/hearth/store"
)

// Config configures a Runner. Zero fields take the defaults noted.
type Config struct {
	// Files are model files served besides the store, named after the
	// file ("stories260K.gguf" is "stories260k").
	Files []string
	// Store is the node's model store; nil means files only.
	Store *store.Store
	// Engine options for every model (threads, context).
	Engine engine.Options
	// Sched configures each model's batch scheduler.
	Sched sched.Config
	// KeepAlive is how long a model stays loaded after its last request.
	// Default 5 minutes; negative means unload at once.
	KeepAlive time.Duration
	// MemoryLimit bounds the estimated memory of loaded models (file size
	// plus KV-cache budget). Idle models are unloaded, least recently used
	// first, to make room. Default 80% of the machine's memory.
	MemoryLimit int64
	Logger      *slog.Logger

	// Adapters finds the LoRA adapters requests name as
	// BASE:ADAPTER[@VERSION] for their caller (the node's: the tenant's
	// registry). Nil: only the published ones below.
	Adapters Adapters
	// LoRA are adapter files published to every caller from the start,
	// with ids in this order (llama-server's --lora): each applies, at
	// its global scale, to every request for a base it fits that has no
	// "lora" field, and is named BASE:NAME (NAME: the file's name without
	// .gguf). Each must fit a model served.
	LoRA []LoRAFile
	// LoRAInitWithoutApply starts the LoRA files' global scales at 0
	// (llama-server's --lora-init-without-apply).
	LoRAInitWithoutApply bool
	// MaxPublished bounds the adapters published at once (LoRA and
	// LoadLoRA's). Default DefaultMaxPublished.
	MaxPublished int
	// MaxCachedAdapters bounds the adapter sets built per loaded base.
	// Default DefaultMaxCachedAdapters.
	MaxCachedAdapters int
}

// Runner implements api.Backend.
type Runner struct {
	cfg   Config
	log   *slog.Logger
	files map[string]string // canonical name -> path

	mu        sync.Mutex
	loaded    map[string]*loaded    // canonical name -> model, including ones loading
	named     map[string]*published // published adapters by name
	preloaded []*published          // the LoRA files, by id
	closing   bool
	stop      chan struct{}
	wg        sync.WaitGroup

	pubLoads atomic.Int64 // adapters published so far, for their cache keys

	digestMu sync.Mutex
	digests  map[string]string // base file (path, size, mtime) -> hex SHA-256
}

var _ api.Backend = (*Runner)(nil)

// New checks the configured files and starts the runner's janitor, which
// unloads models whose keep-alive has passed.
func New(cfg Config) (*Runner, error) {
	if cfg.KeepAlive == 0 {
		cfg.KeepAlive = 5 * time.Minute
	}
	if cfg.MemoryLimit <= 0 {
		cfg.MemoryLimit = defaultMemoryLimit()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxPublished <= 0 {
		cfg.MaxPublished = DefaultMaxPublished
	}
	if cfg.MaxCachedAdapters <= 0 {
		cfg.MaxCachedAdapters = DefaultMaxCachedAdapters
	}
	r := &Runner{cfg: cfg, log: cfg.Logger, files: map[string]string{}, loaded: map[string]*loaded{}, stop: make(chan struct{}),
		named: map[string]*published{}, digests: map[string]string{}}
	for _, path := range cfg.Files {
		f, err := gguf.Open(path)
		if err != nil {
			return nil, fmt.Errorf("runner: %w", err)
		}
		f.Close()
		base := store.NameFromFile(path)
		name, err := store.NormalizeName(base)
		if err != nil {
			return nil, fmt.Errorf("runner: model file %s: %w", path, err)
		}
		if prev, dup := r.files[name]; dup {
			return nil, fmt.Errorf("runner: %s and %s would both be named %q", prev, path, name)
		}
		r.files[name] = path
	}
	if err := r.publish(cfg.LoRA, cfg.LoRAInitWithoutApply); err != nil {
		return nil, err
	}
	r.wg.Add(1)
	go r.janitor()
	return r, nil
}

// resolve maps a requested name to its canonical name and file.
func (r *Runner) resolve(name string) (string, string, error) {
	canon, err := store.NormalizeName(name)
	if err != nil {
		return "", "", fmt.Errorf("%w: %q: %v", api.ErrModelNotFound, name, err)
	}
	if path, ok := r.files[canon]; ok {
		return canon, path, nil
	}
	if r.cfg.Store != nil {
		path, err := r.cfg.Store.Path(canon)
		if err == nil {
			return canon, path, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return "", "", fmt.Errorf("runner: %w", err)
		}
	}
	return "", "", fmt.Errorf("%w: %q", api.ErrModelNotFound, name)
}

// Path is the file of the model a request naming name would run; for a
// name the runner does not serve, the error wraps api.ErrModelNotFound.
func (r *Runner) Path(name string) (string, error) {
	_, path, err := r.resolve(name)
	return path, err
}

// displayName is how a model is listed: files by their bare name (what the
// user typed), store models as name:tag.
func (r *Runner) displayName(canon string) string {
	if _, ok := r.files[canon]; ok {
		if n, tag, ok := cut(canon); ok && tag == store.DefaultTag {
			return n
		}
	}
	return canon
}

func cut(s string) (string, string, bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ':' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// Models lists the files and the store's models, and the adapters on
// them the caller in ctx may use (named BASE:ADAPTER, with Base set).
func (r *Runner) Models(ctx context.Context) ([]api.ModelInfo, error) {
	out, err := r.baseModels()
	if err != nil {
		return nil, err
	}
	bases := make(map[string]api.ModelInfo, len(out))
	for _, mi := range out {
		if canon, _, err := r.resolve(mi.Name); err == nil {
			bases[canon] = mi
		}
	}
	more, err := r.adapterModels(ctx, bases)
	if err != nil {
		return nil, err
	}
	out = append(out, more...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// baseModels lists the files and the store's models.
func (r *Runner) baseModels() ([]api.ModelInfo, error) {
	var out []api.ModelInfo
	seen := map[string]bool{}
	for canon, path := range r.files {
		info, err := describeFile(path)
		if err != nil {
			return nil, fmt.Errorf("runner: %w", err)
		}
		info.Name = r.displayName(canon)
		out = append(out, r.withLoadState(canon, info))
		seen[canon] = true
	}
	if r.cfg.Store != nil {
		entries, err := r.cfg.Store.List()
		if err != nil {
			return nil, fmt.Errorf("runner: %w", err)
		}
		for _, e := range entries {
			if seen[e.Name] {
				continue
			}
			path, err := r.cfg.Store.Path(e.Name)
			if err != nil {
				continue
			}
			info := api.ModelInfo{Name: e.Name, Path: path, Size: e.Size, Digest: e.Digest, ModifiedAt: e.Added,
				Architecture: e.Architecture, Parameters: e.Parameters, Quantization: e.Quantization}
			out = append(out, r.withLoadState(e.Name, info))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func (r *Runner) withLoadState(canon string, info api.ModelInfo) api.ModelInfo {
	r.mu.Lock()
	l := r.loaded[canon]
	r.mu.Unlock()
	if l != nil && l.ready() {
		return l.Info() // takes r.mu itself
	}
	return info
}

// describeFile reads what /v1/models shows without loading the weights.
func describeFile(path string) (api.ModelInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return api.ModelInfo{}, err
	}
	f, err := gguf.Open(path)
	if err != nil {
		return api.ModelInfo{}, err
	}
	defer f.Close()
	info := api.ModelInfo{Path: path, Size: st.Size(), ModifiedAt: st.ModTime(), Architecture: f.Architecture()}
	info.Parameters, info.Quantization = f.Parameters(), f.WeightType()
	if v, ok := f.Int(info.Architecture + ".context_length"); ok {
		info.ContextLength = int(v)
	}
	info.ChatTemplate, _ = f.String("tokenizer.chat_template")
	return info, nil
}

// acquireBase returns the base model canon, loading it if needed.
func (r *Runner) acquireBase(ctx context.Context, canon, path string) (*loaded, func(), error) {
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		return nil, nil, fmt.Errorf("%w: node shutting down", api.ErrOverloaded)
	}
	l := r.loaded[canon]
	if l == nil {
		l = &loaded{r: r, name: r.displayName(canon), canon: canon, path: path, done: make(chan struct{}), adapters: map[string]*cached{}}
		r.loaded[canon] = l
		l.refs++
		r.mu.Unlock()
		l.load() // outside the lock: loading takes a while
	} else {
		l.refs++
		r.mu.Unlock()
	}
	select {
	case <-l.done:
	case <-ctx.Done():
		r.release(l)
		return nil, nil, ctx.Err()
	}
	if l.err != nil {
		r.release(l)
		return nil, nil, l.err
	}
	var once sync.Once
	return l, func() { once.Do(func() { r.release(l) }) }, nil
}

func (r *Runner) release(l *loaded) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l.refs--
	l.lastUsed = time.Now()
	if l.err != nil && l.refs == 0 && r.loaded[l.canon] == l {
		delete(r.loaded, l.canon) // a failed load is not cached
	}
}

// janitor unloads models whose keep-alive has passed.
func (r *Runner) janitor() {
	defer r.wg.Done()
	period := min(max(r.cfg.KeepAlive/4, 10*time.Millisecond), 10*time.Second)
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
			r.unloadExpired()
		}
	}
}

func (r *Runner) unloadExpired() {
	now := time.Now()
	var victims []*loaded
	r.mu.Lock()
	for name, l := range r.loaded {
		if l.refs == 0 && l.ready() && now.Sub(l.lastUsed) >= r.cfg.KeepAlive {
			delete(r.loaded, name)
			victims = append(victims, l)
		}
	}
	r.mu.Unlock()
	for _, l := range victims {
		r.log.Info("unloading model after keep-alive", "model", l.name)
		l.unload(context.Background())
	}
}

// makeRoom unloads idle models and drops idle adapter sets, least
// recently used first, until need more bytes fit the memory limit. It
// reports false if they cannot.
func (r *Runner) makeRoom(need int64, self *loaded) bool {
	type idle struct {
		lastUsed time.Time
		model    *loaded // a model, with its adapters
		owner    *loaded // or an adapter set of owner's
		set      *cached
	}
	r.mu.Lock()
	var used int64
	var cands []idle
	for _, l := range r.loaded {
		if l == self || !l.ready() {
			continue
		}
		used += l.memory + l.adapterBytes()
		if l.refs == 0 {
			cands = append(cands, idle{lastUsed: l.lastUsed, model: l})
		}
		for _, c := range l.adapters {
			if c.refs == 0 && c.ready() {
				cands = append(cands, idle{lastUsed: c.lastUsed, owner: l, set: c})
			}
		}
	}
	sort.Slice(cands, func(i, j int) bool { return cands[i].lastUsed.Before(cands[j].lastUsed) })
	var victims []*loaded
	gone := map[*loaded]bool{}
	for _, v := range cands {
		if used+need <= r.cfg.MemoryLimit {
			break
		}
		switch {
		case v.model != nil:
			delete(r.loaded, v.model.canon)
			used -= v.model.memory + v.model.adapterBytes()
			gone[v.model] = true
			victims = append(victims, v.model)
		case !gone[v.owner] && v.owner.adapters[v.set.key] == v.set:
			delete(v.owner.adapters, v.set.key)
			used -= v.set.bytes
			r.log.Info("dropping an idle LoRA adapter under memory pressure", "model", v.owner.name, "memory_kib", v.set.bytes>>10)
		}
	}
	fits := used+need <= r.cfg.MemoryLimit || used == 0
	r.mu.Unlock()
	for _, v := range victims {
		r.log.Info("unloading idle model under memory pressure", "model", v.name)
		v.unload(context.Background())
	}
	return fits
}

// Loaded lists the names of the models in memory.
func (r *Runner) Loaded() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, l := range r.loaded {
		if l.ready() {
			out = append(out, l.name)
		}
	}
	sort.Strings(out)
	return out
}

// Shutdown stops taking requests, lets the ones in flight finish (until ctx
// ends) and unloads every model. It is safe to call more than once.
func (r *Runner) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	if r.closing {
		r.mu.Unlock()
		return nil
	}
	r.closing = true
	all := make([]*loaded, 0, len(r.loaded))
	for _, l := range r.loaded {
		all = append(all, l)
	}
	r.loaded = map[string]*loaded{}
	r.mu.Unlock()
	close(r.stop)
	r.wg.Wait()
	var first error
	for _, l := range all {
		<-l.done
		if err := l.unload(ctx); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// defaultMemoryLimit is 80% of the machine's memory, or 8 GiB when it
// cannot be read.
func defaultMemoryLimit() int64 {
	if total := totalMemory(); total > 0 {
		return total / 10 * 8
	}
	return 8 << 30
}

// Load sums the loaded models' scheduler state, for the node's heartbeat:
// batch slots, sequences running, requests queued and KV-cache memory.
func (r *Runner) Load() (slots, busy, queued int, kvUsed, kvTotal int64) {
	r.mu.Lock()
	var ready []*loaded
	for _, l := range r.loaded {
		if l.ready() {
			ready = append(ready, l)
		}
	}
	r.mu.Unlock()
	for _, l := range ready {
		st := l.Stats()
		n := l.m.Net
		perToken := int64(n.KVBytesPerToken())
		slots += l.slots
		busy += st.Active
		queued += st.Queued
		kvUsed += int64(st.KVUsed) * perToken
		kvTotal += int64(st.KVTotal) * perToken
	}
	return
}
