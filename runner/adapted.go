package runner

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/engine"
	"github.com/hearth-ai/hearth/engine/adapter"
	"github.com/hearth-ai/hearth/engine/model"
)

// This file serves a base model with LoRA adapters: a request's name
// (BASE:ADAPTER[@VERSION], or a published adapter's NAME), or its
// "lora" field, picks the adapters; they are built for the loaded base
// (adapter.Build), cached on it by what they are, counted in the memory
// limit and evicted least recently used first. A request holds its
// built adapter by reference, so unloading or evicting it never
// disturbs a stream in flight.

// pick is what a request asked for: a base and the adapters on it.
type pick struct {
	canon, path string
	served      string // the served name; "" for the base's own
	base        string // the base's listed name when served is an adapter's
	tenant      string // FoundAdapter.Tenant; "" for published adapters
	key         string // the cache key of the adapters with their scales; "" for none
	sources     []string
	open        func(ctx context.Context) ([]adapter.Use, error)
}

// use is one published adapter with a scale.
type use struct {
	p     *published
	scale float32
}

// pickPublished is a pick of published adapters at their scales.
func pickPublished(canon, path string, uses []use) pick {
	pk := pick{canon: canon, path: path}
	if len(uses) == 0 {
		return pk
	}
	var key strings.Builder
	for _, u := range uses {
		fmt.Fprintf(&key, "%s*%g;", u.p.key, u.scale)
		pk.sources = append(pk.sources, u.p.key)
	}
	pk.key = key.String()
	pk.open = func(context.Context) ([]adapter.Use, error) {
		out := make([]adapter.Use, 0, len(uses))
		for _, u := range uses {
			a, err := adapter.Read(u.p.path)
			if err != nil {
				return nil, fmt.Errorf("runner: LoRA adapter %s: %w", u.p.name, err)
			}
			out = append(out, adapter.Use{Adapter: a, Scale: u.scale})
		}
		return out, nil
	}
	return pk
}

// target resolves a requested name, and a request's "lora" field (nil:
// absent), to a pick, without loading anything. The name rule: a name
// that resolves to a base model is that base; else a published
// adapter's name alone is that adapter on the one base it fits; else
// the name splits at its last ':' into a base and an adapter ref, which
// is the caller's own adapter of that name if it has one here
// (Adapters.Has), else a published adapter's, else Adapters.Find's.
func (r *Runner) target(ctx context.Context, name string, lora []api.LoRA) (pick, error) {
	if canon, path, err := r.resolve(name); err == nil {
		return r.basePick(canon, path, lora)
	} else if !isNotFound(err) {
		return pick{}, err
	}
	if lora != nil {
		return pick{}, fmt.Errorf("%w: 'lora' picks adapters for a base model, and %q is none", api.ErrInvalidModel, clip(name))
	}
	if !strings.Contains(name, ":") {
		return r.bareAdapter(name)
	}
	i := strings.LastIndexByte(name, ':')
	baseName, ref := name[:i], name[i+1:]
	canon, path, err := r.resolve(baseName)
	if err != nil || ref == "" {
		return pick{}, errNoAdapter(name)
	}
	display := r.displayName(canon)
	p := r.publishedNamed(ref)
	if p != nil && r.cfg.Adapters != nil {
		// The caller's own adapter wins: an operator who publishes a
		// file under a name a tenant's registry holds must not switch
		// that tenant's "BASE:NAME" to the file while "BASE:NAME@1"
		// still reaches its own. Only a local look: a node that has
		// neither the registry nor a copy serves the published one,
		// without asking another node on every request.
		own, err := r.cfg.Adapters.Has(ctx, ref)
		if err != nil {
			return pick{}, fmt.Errorf("runner: adapter %s: %w", clip(ref), err)
		}
		if own {
			p = nil
		}
	}
	if p != nil {
		if !r.fitsFile(p, path) {
			return pick{}, fmt.Errorf("%w: the LoRA adapter %s (for a %s model) does not fit %s", api.ErrInvalidModel, p.name, p.arch, display)
		}
		pk := pickPublished(canon, path, []use{{p, 1}})
		pk.served, pk.base = display+":"+p.name, display
		return pk, nil
	}
	if r.cfg.Adapters == nil {
		return pick{}, errNoAdapter(name)
	}
	b, err := r.describeBase(canon, path)
	if err != nil {
		return pick{}, err
	}
	found, err := r.cfg.Adapters.Find(ctx, ref, b)
	if err != nil {
		return pick{}, err
	}
	open := found.Open
	return pick{canon: canon, path: path, served: display + ":" + found.Name, base: display, key: sourcePrefix + found.Key,
		tenant: found.Tenant, sources: []string{sourcePrefix + found.Key},
		open: func(ctx context.Context) ([]adapter.Use, error) {
			a, err := open(ctx)
			if err != nil {
				return nil, err
			}
			return []adapter.Use{{Adapter: a, Scale: 1}}, nil
		}}, nil
}

// basePick is the base with the adapters of a "lora" field, or, without
// one, the --lora adapters that fit it at their global scales (as
// llama-server applies them to every request).
func (r *Runner) basePick(canon, path string, lora []api.LoRA) (pick, error) {
	r.mu.Lock()
	pre := make([]use, len(r.preloaded)) // with the global scales as they are now
	for i, p := range r.preloaded {
		pre[i] = use{p, p.scale}
	}
	r.mu.Unlock()
	var uses []use
	if lora == nil {
		for _, u := range pre {
			if u.scale != 0 && r.fitsFile(u.p, path) {
				uses = append(uses, u)
			}
		}
		return pickPublished(canon, path, uses), nil
	}
	for i, e := range lora {
		if e.ID < 0 || e.ID >= len(pre) {
			return pick{}, fmt.Errorf("%w: lora[%d]: no LoRA adapter has id %d (there are %d; GET /lora-adapters lists them)", api.ErrInvalidModel, i, e.ID, len(pre))
		}
		p := pre[e.ID].p
		if !r.fitsFile(p, path) {
			return pick{}, fmt.Errorf("%w: lora[%d]: adapter %d (%s, for a %s model) does not fit %s", api.ErrInvalidModel, i, e.ID, p.name, p.arch, r.displayName(canon))
		}
		if e.Scale != 0 {
			uses = append(uses, use{p, e.Scale})
		}
	}
	// One cache entry per set, whatever order the request listed it in.
	sort.Slice(uses, func(i, j int) bool { return uses[i].p.id < uses[j].p.id })
	return pickPublished(canon, path, uses), nil
}

// publishedNamed is the adapter published as name, or nil.
func (r *Runner) publishedNamed(name string) *published {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.named[strings.ToLower(name)]
}

// bareAdapter is vLLM's way of naming an adapter: its name alone, on the
// one base it fits.
func (r *Runner) bareAdapter(name string) (pick, error) {
	p := r.publishedNamed(name)
	if p == nil {
		return pick{}, errNoAdapter(name)
	}
	fit, err := r.fittingBases(p)
	if err != nil {
		return pick{}, err
	}
	switch len(fit) {
	case 0:
		return pick{}, errNoAdapter(name)
	case 1:
	default:
		names := make([]string, len(fit))
		for i, b := range fit {
			names[i] = r.displayName(b[0]) + ":" + p.name
		}
		sort.Strings(names)
		return pick{}, fmt.Errorf("%w: the LoRA adapter %s fits %d models; name one: %s", api.ErrInvalidModel, p.name, len(fit), strings.Join(names, ", "))
	}
	display := r.displayName(fit[0][0])
	pk := pickPublished(fit[0][0], fit[0][1], []use{{p, 1}})
	pk.served, pk.base = display+":"+p.name, display
	return pk, nil
}

// BaseName is the base model part of a requested name, by target's rule,
// without loading anything (api.BaseNamer): the tenant's allow-list
// applies to it.
func (r *Runner) BaseName(ctx context.Context, name string) string {
	if _, _, err := r.resolve(name); err == nil {
		return name
	}
	if !strings.Contains(name, ":") {
		if p := r.publishedNamed(name); p != nil {
			if fit, err := r.fittingBases(p); err == nil && len(fit) == 1 {
				return r.displayName(fit[0][0])
			}
		}
		return name
	}
	base := name[:strings.LastIndexByte(name, ':')]
	if _, _, err := r.resolve(base); err == nil {
		return base
	}
	return name
}

// cached is a built adapter set on a loaded base.
type cached struct {
	served  string // the served name, BASE:ADAPTER@VERSION; "" for published adapters at their global scales
	tenant  string // whose adapter it is; "" for published adapters
	key     string
	sources []string
	done    chan struct{} // closed once built, well or not
	a       *model.Adapter
	err     error
	bytes   int64

	// Guarded by Runner.mu.
	refs     int
	lastUsed time.Time
}

func (c *cached) ready() bool {
	select {
	case <-c.done:
		return c.err == nil
	default:
		return false
	}
}

// dropAdapters removes from l's cache every entry built from a source
// match accepts, and says how many. Called with r.mu held.
func (l *loaded) dropAdapters(match func(source string) bool) int {
	n := 0
	for k, c := range l.adapters {
		if slices.ContainsFunc(c.sources, match) {
			delete(l.adapters, k)
			n++
		}
	}
	return n
}

// adapterBytes is the memory of l's built adapters. Called with r.mu
// held.
func (l *loaded) adapterBytes() int64 {
	var n int64
	for _, c := range l.adapters {
		if c.ready() {
			n += c.bytes
		}
	}
	return n
}

// built returns pk's adapters built for l, from l's cache or built now,
// with a reference the caller must give back with unref.
func (r *Runner) built(ctx context.Context, l *loaded, pk pick) (*cached, error) {
	r.mu.Lock()
	c := l.adapters[pk.key]
	if c == nil {
		if len(l.adapters) >= r.cfg.MaxCachedAdapters && !r.evictOneAdapter(l) {
			r.mu.Unlock()
			return nil, fmt.Errorf("%w: %d adapter sets are in use on %s, the most the node keeps", api.ErrOverloaded, len(l.adapters), l.name)
		}
		c = &cached{served: pk.served, tenant: pk.tenant, key: pk.key, sources: pk.sources, done: make(chan struct{})}
		l.adapters[pk.key] = c
		c.refs++
		r.mu.Unlock()
		r.build(ctx, l, c, pk)
	} else {
		c.refs++
		r.mu.Unlock()
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		r.unref(l, c)
		return nil, ctx.Err()
	}
	if c.err != nil {
		r.unref(l, c)
		return nil, c.err
	}
	return c, nil
}

// build reads and builds c's adapters; it closes c.done.
func (r *Runner) build(ctx context.Context, l *loaded, c *cached, pk pick) {
	defer close(c.done)
	start := time.Now()
	uses, err := pk.open(context.WithoutCancel(ctx)) // others may be waiting for it
	if err != nil {
		c.err = err
		return
	}
	a, err := adapter.Build(l.m.Net, uses...)
	if err != nil {
		if errors.Is(err, adapter.ErrMismatch) {
			err = fmt.Errorf("%w: %w", api.ErrInvalidModel, err)
		}
		c.err = err
		return
	}
	c.a, c.bytes = a, a.Bytes()
	if !r.makeRoom(c.bytes, nil) {
		c.err = fmt.Errorf("%w: the adapter needs about %d MiB and the node's memory limit is taken by models and adapters in use", api.ErrOverloaded, c.bytes>>20)
		c.a = nil
		return
	}
	r.log.Info("LoRA adapter built", "model", l.name, "adapter", cmp.Or(pk.served, l.name), "took", time.Since(start), "memory_kib", c.bytes>>10)
}

// unref gives back a reference built took; a failed build is not kept.
func (r *Runner) unref(l *loaded, c *cached) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c.refs--
	c.lastUsed = time.Now()
	if c.err != nil && c.refs == 0 && l.adapters[c.key] == c {
		delete(l.adapters, c.key)
	}
}

// evictOneAdapter drops l's least recently used idle adapter set, for
// room in its cache. Called with r.mu held.
func (r *Runner) evictOneAdapter(l *loaded) bool {
	var victim *cached
	for _, c := range l.adapters {
		if c.refs == 0 && c.ready() && (victim == nil || c.lastUsed.Before(victim.lastUsed)) {
			victim = c
		}
	}
	if victim == nil {
		return false
	}
	delete(l.adapters, victim.key)
	return true
}

// adapted is a loaded base with a built adapter set: an api.Model whose
// requests run over the base's weights and scheduler with the adapter.
type adapted struct {
	*loaded
	c      *cached
	served string // "" when the base's own name
	base   string
}

func (m *adapted) Info() api.ModelInfo {
	info := m.loaded.Info()
	if m.served != "" {
		info.Name, info.Base = m.served, m.base
	}
	return info
}

func (m *adapted) Generate(ctx context.Context, req engine.Request, emit func(engine.Token) error) (*engine.Result, error) {
	req.Adapter = m.c.a
	return m.loaded.Generate(ctx, req, emit)
}

// Embed refuses an adapter's name: embeddings come from the base alone,
// and the name would say otherwise.
func (m *adapted) Embed(ctx context.Context, tokens []int32) ([]float32, error) {
	if m.served == "" {
		return m.loaded.Embed(ctx, tokens) // the base, asked for by its name (--lora's global scales apply to generation)
	}
	return nil, fmt.Errorf("%w: embeddings do not apply LoRA adapters; ask for the base model %s", api.ErrInvalidModel, m.loaded.name)
}

// Acquire returns the named model, loading it if needed: a base, or a
// base with adapters (see target).
func (r *Runner) Acquire(ctx context.Context, name string) (api.Model, func(), error) {
	return r.acquire(ctx, name, nil)
}

// AcquireLoRA is Acquire with a request's "lora" field: the adapters by
// id with their scales, [] for the base alone (api.LoRABackend).
func (r *Runner) AcquireLoRA(ctx context.Context, name string, lora []api.LoRA) (api.Model, func(), error) {
	if lora == nil {
		lora = []api.LoRA{}
	}
	return r.acquire(ctx, name, lora)
}

func (r *Runner) acquire(ctx context.Context, name string, lora []api.LoRA) (api.Model, func(), error) {
	pk, err := r.target(ctx, name, lora)
	if err != nil {
		return nil, nil, err
	}
	l, release, err := r.acquireBase(ctx, pk.canon, pk.path)
	if err != nil {
		return nil, nil, err
	}
	if pk.key == "" {
		return l, release, nil
	}
	c, err := r.built(ctx, l, pk)
	if err != nil {
		release()
		return nil, nil, err
	}
	var once sync.Once
	return &adapted{loaded: l, c: c, served: pk.served, base: pk.base}, func() {
		once.Do(func() {
			r.unref(l, c)
			release()
		})
	}, nil
}

// DescribeModel describes a name the runner serves, without loading
// anything, by target's rule (api.ModelDescriber): for an adapter, its
// base's details under the served name (BASE:ADAPTER@VERSION), with Base
// set and the base file's size and digest left out, which are not the
// adapter's. Model lists name only the versions; Ollama's clients ask
// /api/show for the name they will chat with, often BASE:ADAPTER.
func (r *Runner) DescribeModel(ctx context.Context, name string) (api.ModelInfo, error) {
	pk, err := r.target(ctx, name, nil)
	if err != nil {
		return api.ModelInfo{}, err
	}
	models, err := r.baseModels()
	if err != nil {
		return api.ModelInfo{}, err
	}
	for _, mi := range models {
		if canon, _, err := r.resolve(mi.Name); err != nil || canon != pk.canon {
			continue
		}
		if pk.served != "" {
			mi.Name, mi.Base, mi.Size, mi.Digest, mi.Loaded, mi.ExpiresAt = pk.served, pk.base, 0, "", false, time.Time{}
		}
		return mi, nil
	}
	return api.ModelInfo{}, errNoAdapter(name)
}

// adapterModels lists the adapters a caller may use on the bases in
// models (by canonical name): the source's, and the published ones but
// where the caller's own of the same name takes BASE:NAME (see target).
func (r *Runner) adapterModels(ctx context.Context, bases map[string]api.ModelInfo) ([]api.ModelInfo, error) {
	var out []api.ModelInfo
	entry := func(canon, name string, size int64, mod time.Time) api.ModelInfo {
		mi := bases[canon]
		display := mi.Name
		mi.Name, mi.Base, mi.Size, mi.Digest, mi.ModifiedAt, mi.Loaded = display+":"+name, display, size, "", mod, false
		return mi
	}
	own := map[string]bool{} // canon+":"+name of the caller's adapters
	if r.cfg.Adapters != nil {
		listed, err := r.cfg.Adapters.List(ctx)
		if err != nil {
			return nil, fmt.Errorf("runner: adapters: %w", err)
		}
		for _, a := range listed {
			for canon, mi := range bases {
				if r.listedFits(a, canon, mi.Path, mi.Architecture) {
					out = append(out, entry(canon, a.Name, a.Size, a.Created))
					name, _, _ := strings.Cut(a.Name, "@")
					own[canon+":"+strings.ToLower(name)] = true
				}
			}
		}
	}
	r.mu.Lock()
	pubs := make([]*published, 0, len(r.named))
	for _, p := range r.named {
		pubs = append(pubs, p)
	}
	r.mu.Unlock()
	for _, p := range pubs {
		var fit []string
		for canon, mi := range bases {
			if r.fitsFile(p, mi.Path) {
				fit = append(fit, canon)
			}
		}
		for _, canon := range fit {
			if !own[canon+":"+p.name] {
				out = append(out, entry(canon, p.name, p.size, p.mtime))
			}
		}
		if len(fit) == 1 && p.id < 0 {
			mi := entry(fit[0], p.name, p.size, p.mtime)
			mi.Name = p.name // vLLM lists a loaded adapter by its name
			out = append(out, mi)
		}
	}
	return out, nil
}

// LoadedAdapters lists the served names (BASE:ADAPTER@VERSION) of the
// adapters built on loaded models.
func (r *Runner) LoadedAdapters() []string {
	return r.AdapterKeys(func(_, served string) []string { return []string{served} })
}

// AdapterKeys lists the adapters built on loaded models as key says to
// list each (its tenant, FoundAdapter.Tenant, "" for a published one, and
// its served name), sorted, for the node's heartbeat: routing prefers the
// nodes that already hold a request's adapter, and a heartbeat goes to
// every node of the fleet, so the node lists a tenant's adapter by
// route.AdapterKeys rather than by name.
func (r *Runner) AdapterKeys(key func(tenant, served string) []string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, l := range r.loaded {
		for _, c := range l.adapters {
			if c.served != "" && c.ready() {
				out = append(out, key(c.tenant, c.served)...)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// sourcePrefix starts the cache keys and sources of adapters found
// through Config.Adapters, apart from the published ones'.
const sourcePrefix = "src:"

// DropAdapters removes from every loaded model's cache the adapters found
// through Config.Adapters whose FoundAdapter.Key begins with keyPrefix,
// and says how many sets it removed. The node calls it when a source
// withdraws an adapter (a fleet copy its home no longer vouches for), so
// that the adapter no longer holds memory nor appears in LoadedAdapters,
// which routing reads; the next request for it asks Adapters again.
// Requests using a removed set finish as they began. An empty prefix
// removes nothing.
func (r *Runner) DropAdapters(keyPrefix string) int {
	if keyPrefix == "" {
		return 0
	}
	match := func(source string) bool { return strings.HasPrefix(source, sourcePrefix+keyPrefix) }
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, l := range r.loaded {
		n += l.dropAdapters(match)
	}
	return n
}
