package replica

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/capture"
	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/engine/adapter"
	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/flywheel/registry"
	"github.com/hearth-ai/hearth/identity"
	"github.com/hearth-ai/hearth/tenant"
)

// Defaults of Config.
const (
	// DefaultMaxBytes bounds the adapters a node hands out and takes in
	// (a receiver holds one whole while it checks it): a rank-32 adapter
	// on every projection of an 8B model in F32, about 400 MB, fits.
	DefaultMaxBytes = 512 << 20
	// DefaultRevalidate is how long a copy is used before its home is
	// asked again whether the version still stands.
	DefaultRevalidate = time.Minute
	// DefaultMaxStale is how long after its home last vouched for it a
	// copy is still used while no home node answers.
	DefaultMaxStale = time.Hour
	// DefaultListTTL is how long a node keeps a home's listing of a
	// tenant's adapters before it asks again.
	DefaultListTTL = 30 * time.Second
	// DefaultListTimeout bounds how long a model list waits for a
	// tenant's home nodes: past it, the list goes without them.
	DefaultListTimeout = 2 * time.Second
)

// ChunkBytes is the most one chunk carries: twice base64-encoded (in the
// answer, then in the fabric's signed envelope) it stays well under NATS's
// default 1 MiB message limit.
const ChunkBytes = 256 << 10

// manifestSkew bounds how far a manifest's issue time may be from this
// node's clock.
const manifestSkew = 2 * time.Minute

// Tenants finds a node's tenant by id or name; *tenant.Store implements it.
type Tenants interface {
	GetTenant(ctx context.Context, nameOrID string) (tenant.Tenant, error)
}

// Config configures Replicas. Node, Identity, DB, Tenants and Sealer are
// required.
type Config struct {
	// Node is the fabric node the deliveries travel over; New registers
	// the home side's handlers on it, so it is given before the node
	// starts.
	Node *fabric.Node
	// Identity is the node's, which signs the manifests it issues (the
	// key of its fleet certificate).
	Identity *identity.Identity
	// DB holds the replica table.
	DB *db.DB
	// Registry is this node's own adapter registry: what it hands out as
	// a home node, and where Fetch looks first. Nil: the node has none
	// (it only takes copies).
	Registry *registry.Store
	Tenants  Tenants
	// Sealer seals copies at rest under this node's key for the tenant
	// (capture.Store.Sealer); EnsureKey, when set, creates that key first.
	Sealer    registry.Sealer
	EnsureKey func(ctx context.Context, tenantID string) error
	// Audit receives a record of kind "adapter" for every copy handed
	// out, refused, received, rejected and dropped.
	Audit registry.Auditor
	// MaxBytes bounds an adapter's size on both sides (0:
	// DefaultMaxBytes): a home node hands out nothing larger, and a node
	// refuses a manifest that says larger before it reads a byte.
	MaxBytes int64
	// Revalidate and MaxStale (0: their defaults) say how a copy is
	// checked on use: see the package doc.
	Revalidate time.Duration
	MaxStale   time.Duration
	// ListTTL and ListTimeout (0: their defaults) say how long HomeList
	// keeps a home's listing, and waits for one.
	ListTTL     time.Duration
	ListTimeout time.Duration
	// OnDrop, when set, is called for every copy dropped, so the serving
	// path can unload it.
	OnDrop func(tenantID, name string, version int)
	Now    func() time.Time // nil: time.Now
	Logger *slog.Logger     // nil: discard
}

// Replicas is one node's side of the adapter protocol: as a home node it
// hands the tenant's adapters to certified nodes its policy permits (the
// manifest and chunk handlers); as any node it fetches the adapters it
// must serve and does not hold (Fetch), and keeps the copies sealed.
type Replicas struct {
	cfg     Config
	node    *fabric.Node
	db      *db.DB
	now     func() time.Time
	log     *slog.Logger
	plain   plainCache
	refused refusalFold
	latest  latestCache
	lists   listCache

	mu        sync.Mutex
	receiving map[string]*receiveCall // receives in progress, by tenant, version and sha256
}

// New migrates the replica table and registers the adapter-manifest,
// adapter-chunk and adapter-list handlers on cfg.Node.
func New(ctx context.Context, cfg Config) (*Replicas, error) {
	if cfg.Node == nil || cfg.Identity == nil || cfg.DB == nil || cfg.Tenants == nil || cfg.Sealer == nil {
		return nil, errors.New("replica: Node, Identity, DB, Tenants and Sealer are required")
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Revalidate <= 0 {
		cfg.Revalidate = DefaultRevalidate
	}
	if cfg.MaxStale <= 0 {
		cfg.MaxStale = DefaultMaxStale
	}
	if cfg.ListTTL <= 0 {
		cfg.ListTTL = DefaultListTTL
	}
	if cfg.ListTimeout <= 0 {
		cfg.ListTimeout = DefaultListTimeout
	}
	x := &Replicas{cfg: cfg, node: cfg.Node, db: cfg.DB, now: cfg.Now, log: cfg.Logger}
	if x.now == nil {
		x.now = time.Now
	}
	if x.log == nil {
		x.log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.DB.Migrate(ctx, "replica", migrations); err != nil {
		return nil, fmt.Errorf("replica: %w", err)
	}
	for kind, h := range map[string]fabric.DeliverHandler{KindManifest: x.serveManifest, KindChunk: x.serveChunk, KindList: x.serveList} {
		if err := cfg.Node.HandleDeliver(kind, h); err != nil {
			return nil, fmt.Errorf("replica: %w", err)
		}
		if err := cfg.Node.HandleDeliverRefused(kind, x.refusedByFabric); err != nil {
			return nil, fmt.Errorf("replica: %w", err)
		}
	}
	return x, nil
}

// ---- The home side ----

// lookup finds the local tenant of name for a request from peer from,
// and checks that the tenant's adapters may go there. A refusal is the
// answer to send instead; a refusal by policy is audited.
func (x *Replicas) lookup(ctx context.Context, name, adapterRef string, from fabric.Peer) (t tenant.Tenant, refused []byte, err error) {
	t, err = x.cfg.Tenants.GetTenant(ctx, name)
	switch {
	case errors.Is(err, tenant.ErrNotFound) || err == nil && t.Name != name: // a name, never an id: ids are per node
		x.log.Info("adapter copy refused: unknown tenant", "tenant", clip(name), "node", from.ID, "jurisdiction", from.Jurisdiction)
		refused, err = refusal(codeNoTenant, fmt.Sprintf("no tenant %q on node %s", clip(name), x.node.ID()))
		return t, refused, err
	case err != nil:
		return t, nil, err
	case t.Disabled:
		refused, err = x.refuse(ctx, t, adapterRef, from, codeNotPermitted, fmt.Sprintf("tenant %s is disabled on node %s", name, x.node.ID()))
	case !t.Policy.AllowsJurisdiction(from.Jurisdiction):
		refused, err = x.refuse(ctx, t, adapterRef, from, codeNotPermitted, fmt.Sprintf("tenant %s's policy permits %s, not %s, where node %s is: its adapters do not go there",
			name, strings.Join(t.Policy.Jurisdictions, ", "), from.Jurisdiction, from.ID))
	}
	return t, refused, err
}

// refuse audits a refusal by policy and returns its answer. The refusal
// stands whether or not the log could record it.
func (x *Replicas) refuse(ctx context.Context, t tenant.Tenant, adapterRef string, from fabric.Peer, code, msg string) ([]byte, error) {
	x.log.Warn("adapter copy refused", "tenant", t.Name, "adapter", clip(adapterRef), "node", from.ID, "jurisdiction", from.Jurisdiction, "why", msg)
	x.auditAfter(ctx, audit.Record{Tenant: t.ID, Decision: audit.DecisionDeny, Reason: "adapter.replicate.refused",
		Detail: map[string]string{"adapter": clip(adapterRef), "to": from.ID, "to_jurisdiction": from.Jurisdiction, "code": code, "why": msg}})
	return refusal(code, msg)
}

// refusedByFabric records a request the fabric refused before this
// package saw it: a sender without a valid certificate, or one whose
// request did not authenticate. Nothing it sent is trusted, so the
// record names only the node it claims to be and why, and a sender's
// refusals fold into one record a minute.
func (x *Replicas) refusedByFabric(from string, err error) {
	folded, ok := x.refused.note(clip(from), x.now())
	if !ok {
		return
	}
	x.auditAfter(context.Background(), audit.Record{Decision: audit.DecisionDeny, Reason: "adapter.replicate.refused",
		Detail: map[string]string{"to": clip(from), "why": clip(err.Error()), "folded": strconv.Itoa(folded)}})
}

// refusalFold lets one record a minute through per sender, counting the
// rest. It forgets everyone when it holds too many senders, so no sender
// can grow it without bound.
type refusalFold struct {
	mu      sync.Mutex
	senders map[string]*foldEntry
}

type foldEntry struct {
	last   time.Time
	folded int
}

const (
	foldEvery      = time.Minute
	foldMaxSenders = 1024
)

// note counts a refusal of from now, and reports whether to record it,
// with how many refusals since the last record were not.
func (f *refusalFold) note(from string, now time.Time) (folded int, record bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.senders == nil || len(f.senders) >= foldMaxSenders {
		f.senders = map[string]*foldEntry{}
	}
	e := f.senders[from]
	if e == nil {
		f.senders[from] = &foldEntry{last: now}
		return 0, true
	}
	if now.Sub(e.last) < foldEvery {
		e.folded++
		return 0, false
	}
	folded, e.last, e.folded = e.folded, now, 0
	return folded, true
}

// version finds the version a request names in this node's registry, and
// checks that it may be handed out.
func (x *Replicas) version(ctx context.Context, t tenant.Tenant, ref string) (*registry.Version, []byte, error) {
	if x.cfg.Registry == nil {
		b, err := refusal(codeNotFound, fmt.Sprintf("node %s keeps no adapter registry", x.node.ID()))
		return nil, b, err
	}
	name, version, err := registry.ParseRef(ref)
	if err != nil {
		b, err := refusal(codeInvalid, err.Error())
		return nil, b, err
	}
	v, err := x.cfg.Registry.Get(ctx, t.ID, name, version)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		b, err := refusal(codeNotFound, fmt.Sprintf("node %s: %v", x.node.ID(), err))
		return nil, b, err
	case errors.Is(err, registry.ErrInvalid):
		b, err := refusal(codeInvalid, err.Error())
		return nil, b, err
	case err != nil:
		return nil, nil, err
	case v.State == registry.StateRetired:
		b, err := refusal(codeRetired, fmt.Sprintf("%s is retired on node %s", v.Ref(), x.node.ID()))
		return nil, b, err
	case v.Size > x.cfg.MaxBytes:
		b, err := refusal(codeTooLarge, fmt.Sprintf("%s is %d bytes; node %s hands out at most %d", v.Ref(), v.Size, x.node.ID(), x.cfg.MaxBytes))
		return nil, b, err
	}
	return v, nil, nil
}

// find is what both kinds check first: the tenant of that name, whose
// adapters may go to from (lookup), and its version ref that may be
// handed out (version). A refusal is the answer to send instead.
func (x *Replicas) find(ctx context.Context, tenantName, ref string, from fabric.Peer) (tenant.Tenant, *registry.Version, []byte, error) {
	t, refused, err := x.lookup(ctx, tenantName, ref, from)
	if refused != nil || err != nil {
		return t, nil, refused, err
	}
	v, refused, err := x.version(ctx, t, ref)
	return t, v, refused, err
}

// serveManifest answers a manifest request: the version's manifest,
// signed, once the audit log holds that it was handed out.
func (x *Replicas) serveManifest(ctx context.Context, from fabric.Peer, payload []byte) ([]byte, error) {
	var m manifestMsg
	if err := json.Unmarshal(payload, &m); err != nil {
		return refusal(codeInvalid, "the manifest request does not decode: "+err.Error())
	}
	t, v, refused, err := x.find(ctx, m.Tenant, m.Adapter, from)
	if refused != nil || err != nil {
		return refused, err
	}
	if err := v.CheckBase(m.BaseDigest, ""); err != nil {
		return refusal(codeBaseMismatch, err.Error())
	}
	// Vouch only for a file this node can still read: once the tenant's
	// key is shredded here, the copies elsewhere go too.
	if _, err := x.openPlain(ctx, t.ID, v, true); errors.Is(err, capture.ErrKeyDeleted) {
		return refusal(codeNotFound, fmt.Sprintf("node %s: %s: %v", x.node.ID(), v.Ref(), err))
	} else if err != nil {
		return nil, err
	}
	man := &Manifest{Tenant: t.Name, Name: v.Name, Version: v.Version, Created: v.Created, SHA256: v.SHA256, Size: v.Size, Base: v.Base,
		Node: from.ID, Home: x.node.ID(), Jurisdiction: x.node.Jurisdiction(), Issued: x.now().UTC()}
	sm, err := signManifest(x.cfg.Identity.Private, man)
	if err != nil {
		return nil, err
	}
	if err := x.appendAudit(ctx, audit.Record{Tenant: t.ID, Model: v.Base.Name, Reason: "adapter.replicate",
		Detail: map[string]string{"adapter": v.Ref(), "sha256": v.SHA256, "bytes": strconv.FormatInt(v.Size, 10),
			"to": from.ID, "to_jurisdiction": from.Jurisdiction}}); err != nil {
		return nil, fmt.Errorf("replica: hand out %s: its audit record could not be made durable: %w", v.Ref(), err)
	}
	return json.Marshal(answer{Signed: sm})
}

// serveChunk answers a chunk request with the bytes asked for, after the
// same checks as the manifest's.
func (x *Replicas) serveChunk(ctx context.Context, from fabric.Peer, payload []byte) ([]byte, error) {
	var m chunkMsg
	if err := json.Unmarshal(payload, &m); err != nil {
		return refusal(codeInvalid, "the chunk request does not decode: "+err.Error())
	}
	if m.Offset < 0 || m.Length <= 0 || m.Length > ChunkBytes {
		return refusal(codeInvalid, fmt.Sprintf("chunk at %d of %d bytes: want an offset >= 0 and 1 to %d bytes", m.Offset, m.Length, ChunkBytes))
	}
	if _, version, err := registry.ParseRef(m.Adapter); err != nil || version == 0 {
		return refusal(codeInvalid, fmt.Sprintf("a chunk names its version as NAME@VERSION, not %q", clip(m.Adapter)))
	}
	t, v, refused, err := x.find(ctx, m.Tenant, m.Adapter, from)
	if refused != nil || err != nil {
		return refused, err
	}
	switch {
	case !strings.EqualFold(m.SHA256, v.SHA256):
		return refusal(codeNotFound, fmt.Sprintf("%s on node %s has sha256 %s, not %.64s", v.Ref(), x.node.ID(), v.SHA256, m.SHA256))
	case m.Offset > v.Size || m.Length > v.Size-m.Offset:
		return refusal(codeInvalid, fmt.Sprintf("chunk at %d of %d bytes is past the end of %s (%d bytes)", m.Offset, m.Length, v.Ref(), v.Size))
	}
	plain, err := x.openPlain(ctx, t.ID, v, false)
	if err != nil {
		return nil, err
	}
	return json.Marshal(answer{Data: plain[m.Offset : m.Offset+m.Length]})
}

// openPlain returns v's plain file, from the cache or (always, when
// fresh) unsealed now.
func (x *Replicas) openPlain(ctx context.Context, tenantID string, v *registry.Version, fresh bool) ([]byte, error) {
	return x.plain.get(x.now(), tenantID, v, fresh, func() ([]byte, error) {
		b, _, err := x.cfg.Registry.Open(ctx, tenantID, v.Name, v.Version)
		return b, err
	})
}

// plainCache keeps the last few adapter files a home node unsealed for
// its chunks, for a short while: a copy is read in many chunks, and
// unsealing the whole file for each would cost its size every time. It
// holds at most plainCacheBytes, or the one file last used when that is
// larger.
type plainCache struct {
	mu      sync.Mutex
	entries []plainEntry
}

type plainEntry struct {
	key  string
	data []byte
	used time.Time
}

const (
	plainCacheBytes = 256 << 20
	plainCacheTTL   = 30 * time.Second
)

// get returns the file of v, cached or from open: always from open when
// fresh (the caller must know it can still be read), which refreshes the
// cache.
func (c *plainCache) get(now time.Time, tenantID string, v *registry.Version, fresh bool, open func() ([]byte, error)) ([]byte, error) {
	key := tenantID + "\x00" + v.Ref() + "\x00" + v.SHA256
	c.mu.Lock()
	c.entries = slices.DeleteFunc(c.entries, func(e plainEntry) bool { return now.Sub(e.used) > plainCacheTTL || fresh && e.key == key })
	for i := range c.entries {
		if c.entries[i].key == key {
			c.entries[i].used = now
			data := c.entries[i].data
			c.mu.Unlock()
			return data, nil
		}
	}
	c.mu.Unlock()
	data, err := open()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !slices.ContainsFunc(c.entries, func(e plainEntry) bool { return e.key == key }) {
		c.entries = append(c.entries, plainEntry{key: key, data: data, used: now})
	}
	slices.SortFunc(c.entries, func(a, b plainEntry) int { return b.used.Compare(a.used) }) // most recent first
	total := 0
	for i, e := range c.entries {
		if total += len(e.data); i > 0 && total > plainCacheBytes {
			c.entries = c.entries[:i]
			break
		}
	}
	return data, nil
}

// ---- The receiving side ----

// Opener reads and decodes an adapter Find resolved.
type Opener func(ctx context.Context) (*adapter.Adapter, error)

// Fetch returns the tenant's adapter ref (NAME or NAME@VERSION) for use
// on base, and its version: Find, then its Opener.
func (x *Replicas) Fetch(ctx context.Context, tenantID, ref string, base registry.Base) (*adapter.Adapter, *registry.Version, error) {
	v, open, err := x.Find(ctx, tenantID, ref, base)
	if err != nil {
		return nil, nil, err
	}
	a, err := open(ctx)
	if err != nil {
		return nil, nil, err
	}
	return a, v, nil
}

// Find resolves the tenant's adapter ref (NAME or NAME@VERSION) for use
// on base without reading its file, which the Opener reads: from this
// node's own registry if it holds it, else from a copy its home vouched
// for lately, else from the tenant's home nodes over the fabric (the file
// then crosses, and is kept as a copy, when the Opener is called). A
// serving path calls Find per request and opens only what it has not
// loaded: within Revalidate nothing leaves the node. A version trained on
// another base is registry.ErrBaseMismatch; one nobody holds is
// registry.ErrNotFound; a tenant this node may not serve is
// ErrNotPermitted, without asking anyone.
func (x *Replicas) Find(ctx context.Context, tenantID, ref string, base registry.Base) (*registry.Version, Opener, error) {
	name, version, err := registry.ParseRef(ref)
	if err != nil {
		return nil, nil, err
	}
	if reg := x.cfg.Registry; reg != nil {
		v, err := reg.Get(ctx, tenantID, name, version)
		if err == nil {
			if err := v.CheckBase(base.Digest, base.Arch); err != nil {
				return nil, nil, err
			}
			return v, func(ctx context.Context) (*adapter.Adapter, error) {
				a, _, err := reg.Adapter(ctx, tenantID, v.Ref(), base)
				return a, err
			}, nil
		}
		if !errors.Is(err, registry.ErrNotFound) {
			return nil, nil, err
		}
	}
	t, err := x.cfg.Tenants.GetTenant(ctx, tenantID)
	if err != nil {
		return nil, nil, fmt.Errorf("replica: %w", err)
	}
	if j := x.node.Jurisdiction(); !t.Policy.AllowsJurisdiction(j) {
		return nil, nil, fmt.Errorf("%w: tenant %s may not be served in %s, where this node is", ErrNotPermitted, t.Name, j)
	}
	asked := version
	if version == 0 {
		version = x.latest.get(t.ID, name, x.now(), x.cfg.Revalidate) // what the home said is the latest, lately
	}
	if version > 0 {
		// A copy its home vouched for lately is used as it is.
		r, ok, err := x.get(ctx, t.ID, name, version, nil)
		if err != nil {
			return nil, nil, err
		}
		if ok && x.now().Sub(r.Confirmed) < x.cfg.Revalidate {
			return x.held(&r, base)
		}
	}
	home, sm, m, err := x.askHome(ctx, t, name, asked, base)
	switch {
	case err == nil:
	case errors.Is(err, ErrNoHome):
		// No home node answered: a copy it vouched for within MaxStale
		// still serves.
		r, ok, gerr := x.get(ctx, t.ID, name, version, nil)
		if gerr != nil {
			return nil, nil, gerr
		}
		if ok && x.now().Sub(r.Confirmed) < x.cfg.MaxStale {
			x.log.Warn("adapter copy used while its home is unreachable", "tenant", t.Name, "adapter", r.Manifest.Ref(), "confirmed", r.Confirmed, "err", err)
			return x.held(&r, base)
		}
		return nil, nil, err
	case errors.Is(err, registry.ErrNotFound), errors.Is(err, ErrRetired):
		// The home no longer hands the version out: neither does this node.
		x.dropLogged(ctx, t.ID, name, asked, err)
		return nil, nil, err
	case errors.Is(err, ErrNotPermitted):
		x.dropLogged(ctx, t.ID, name, 0, err)
		return nil, nil, err
	default:
		return nil, nil, err
	}
	if asked == 0 {
		x.latest.put(t.ID, name, m.Version, x.now())
	}
	r, ok, err := x.get(ctx, t.ID, m.Name, m.Version, nil)
	if err != nil {
		return nil, nil, err
	}
	if ok && r.Manifest.SHA256 == m.SHA256 {
		if err := x.confirm(ctx, &r); err != nil {
			return nil, nil, err
		}
		return x.held(&r, base)
	}
	return (&Replica{TenantID: t.ID, Manifest: *m}).Version(), func(ctx context.Context) (*adapter.Adapter, error) {
		return x.receive(ctx, home, t, m, sm, base)
	}, nil
}

// held is a stored copy's version for base, and its Opener.
func (x *Replicas) held(r *Replica, base registry.Base) (*registry.Version, Opener, error) {
	v := r.Version()
	if err := v.CheckBase(base.Digest, base.Arch); err != nil {
		return nil, nil, err
	}
	tenantID, name, version := r.TenantID, r.Manifest.Name, r.Manifest.Version
	return v, func(ctx context.Context) (*adapter.Adapter, error) {
		var sealed []byte
		r, ok, err := x.get(ctx, tenantID, name, version, &sealed)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("%w: the copy of %s was dropped", registry.ErrNotFound, v.Ref())
		}
		plain, err := x.open(&r, sealed)
		if err != nil {
			return nil, err
		}
		a, err := adapter.Parse(plain, v.Ref())
		if err != nil {
			return nil, fmt.Errorf("replica: %s: %w", v.Ref(), err)
		}
		return a, nil
	}, nil
}

// receive reads m's file from home, checks it against m and base, and
// keeps it as a copy. Concurrent receives of one version share one read:
// a burst of requests for an adapter new to this node moves it once.
func (x *Replicas) receive(ctx context.Context, home fabric.Peer, t tenant.Tenant, m *Manifest, sm *SignedManifest, base registry.Base) (*adapter.Adapter, error) {
	key := t.ID + "\x00" + m.Ref() + "\x00" + m.SHA256
	x.mu.Lock()
	if c, ok := x.receiving[key]; ok {
		x.mu.Unlock()
		select {
		case <-c.done:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
		if c.err != nil {
			return nil, c.err
		}
		return x.receivedCopy(ctx, t.ID, m, base)
	}
	c := &receiveCall{done: make(chan struct{})}
	if x.receiving == nil {
		x.receiving = map[string]*receiveCall{}
	}
	x.receiving[key] = c
	x.mu.Unlock()
	a, err := x.receiveOnce(ctx, home, t, m, sm, base)
	c.err = err
	x.mu.Lock()
	delete(x.receiving, key)
	x.mu.Unlock()
	close(c.done)
	return a, err
}

// receiveCall is one receive in progress, which others wait for.
type receiveCall struct {
	done chan struct{}
	err  error // set before done closes
}

// receivedCopy opens the copy another receive of m just kept.
func (x *Replicas) receivedCopy(ctx context.Context, tenantID string, m *Manifest, base registry.Base) (*adapter.Adapter, error) {
	r, ok, err := x.get(ctx, tenantID, m.Name, m.Version, nil)
	if err != nil {
		return nil, err
	}
	if !ok || r.Manifest.SHA256 != m.SHA256 {
		return nil, fmt.Errorf("%w: the copy of %s this node received is gone", registry.ErrNotFound, m.Ref())
	}
	_, open, err := x.held(&r, base)
	if err != nil {
		return nil, err
	}
	return open(ctx)
}

func (x *Replicas) receiveOnce(ctx context.Context, home fabric.Peer, t tenant.Tenant, m *Manifest, sm *SignedManifest, base registry.Base) (*adapter.Adapter, error) {
	plain, err := x.readChunks(ctx, home, t, m)
	if err != nil {
		x.reject(ctx, t, m, home, err)
		return nil, err
	}
	a, err := adapter.Parse(plain, t.Name+"/"+m.Ref())
	if err == nil && base.Arch != "" && a.Arch != base.Arch {
		err = fmt.Errorf("%w: %s is a %s adapter and this base is %s", registry.ErrBaseMismatch, m.Ref(), a.Arch, base.Arch)
	}
	if err != nil {
		err = fmt.Errorf("replica: %s from node %s: %w", m.Ref(), home.ID, err)
		x.reject(ctx, t, m, home, err)
		return nil, err
	}
	if _, err := x.put(ctx, t.ID, m, sm, plain); err != nil {
		return nil, err
	}
	return a, nil
}

// latestCache remembers, for Revalidate, which version a home said is
// the latest of a name, so a request naming no version is served from a
// copy without asking each time. It forgets everything when it holds
// too many names.
type latestCache struct {
	mu sync.Mutex
	m  map[string]latestEntry
}

type latestEntry struct {
	version int
	at      time.Time
}

const latestMaxNames = 4096

func latestKey(tenantID, name string) string { return tenantID + "\x00" + name }

func (c *latestCache) get(tenantID, name string, now time.Time, ttl time.Duration) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[latestKey(tenantID, name)]; ok && now.Sub(e.at) < ttl {
		return e.version
	}
	return 0
}

func (c *latestCache) put(tenantID, name string, version int, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= latestMaxNames {
		c.m = map[string]latestEntry{}
	}
	c.m[latestKey(tenantID, name)] = latestEntry{version, now}
}

func (c *latestCache) forget(tenantID, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, latestKey(tenantID, name))
}

// dropLogged drops as drop does, logging a failure: the request fails
// either way.
func (x *Replicas) dropLogged(ctx context.Context, tenantID, name string, version int, why error) {
	if err := x.drop(ctx, tenantID, name, version, why); err != nil {
		x.log.Error("replica: drop", "err", err)
	}
}

// homes returns the nodes to ask for a tenant's adapters: the certified
// nodes of its home jurisdiction, or, for a tenant whose data is not
// pinned, of every jurisdiction it permits; never this node (its own
// registry was asked first).
func (x *Replicas) homes(t tenant.Tenant) []fabric.Peer {
	var js []string
	switch {
	case t.Policy.Home != "":
		js = []string{t.Policy.Home}
	case len(t.Policy.Jurisdictions) > 0:
		js = t.Policy.Jurisdictions
	default:
		for _, p := range x.node.Peers() {
			if p.Certified && !slices.Contains(js, p.Jurisdiction) {
				js = append(js, p.Jurisdiction)
			}
		}
		slices.Sort(js)
	}
	var out []fabric.Peer
	for _, j := range js {
		for _, p := range x.node.CertifiedIn(j) {
			if p.ID != x.node.ID() {
				out = append(out, p)
			}
		}
	}
	return out
}

// askHome asks the tenant's home nodes in turn for the manifest of
// name@version (0: the latest) until one has it, and checks the manifest.
// Its error wraps registry.ErrNotFound only when every home node said so;
// ErrNoHome when some did not answer.
func (x *Replicas) askHome(ctx context.Context, t tenant.Tenant, name string, version int, base registry.Base) (fabric.Peer, *SignedManifest, *Manifest, error) {
	ref := name
	if version > 0 {
		ref = fmt.Sprintf("%s@%d", name, version)
	}
	req, err := json.Marshal(manifestMsg{Tenant: t.Name, Adapter: ref, BaseDigest: base.Digest})
	if err != nil {
		return fabric.Peer{}, nil, nil, err
	}
	homes := x.homes(t)
	if len(homes) == 0 {
		return fabric.Peer{}, nil, nil, fmt.Errorf("%w: tenant %s's adapter %s: no certified node of %s is in this node's registry", ErrNoHome, t.Name, ref, homeOf(t))
	}
	var notFound, lost []error
	for _, p := range homes {
		payload, err := x.node.DeliverTo(ctx, p.ID, KindManifest, req)
		if err != nil {
			lost = append(lost, err)
			if ctx.Err() != nil {
				break
			}
			continue
		}
		a, err := readAnswer(p.ID, payload)
		if errors.Is(err, registry.ErrNotFound) {
			notFound = append(notFound, err)
			continue // another home node may hold it: registries are per node
		}
		if err != nil {
			return p, nil, nil, err
		}
		m, err := x.checkManifest(p, a.Signed, t, name, version, base)
		if err != nil {
			x.reject(ctx, t, m, p, err)
			return p, nil, nil, err
		}
		return p, a.Signed, m, nil
	}
	if len(lost) > 0 {
		return fabric.Peer{}, nil, nil, fmt.Errorf("%w: tenant %s's adapter %s: %w", ErrNoHome, t.Name, ref, errors.Join(append(lost, notFound...)...))
	}
	return fabric.Peer{}, nil, nil, fmt.Errorf("replica: tenant %s's adapter %s: %w", t.Name, ref, errors.Join(notFound...))
}

// checkManifest verifies a home node's manifest: signed by the key its
// certificate names, issued by it, in its jurisdiction, to this node,
// lately, for the tenant and adapter asked for, within this node's size
// limit, and for the base this node holds. A manifest that fails is
// returned with the error when it could be read, for the record.
func (x *Replicas) checkManifest(p fabric.Peer, sm *SignedManifest, t tenant.Tenant, name string, version int, base registry.Base) (*Manifest, error) {
	pub, err := signerKey(p, "manifest", sm != nil)
	if err != nil {
		return nil, err
	}
	m, err := sm.Open(pub)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", p.ID, err)
	}
	err = x.checkIssued(p, "manifest", m.Home, m.Jurisdiction, m.Node, m.Issued)
	switch {
	case err != nil:
	case m.Tenant != t.Name || m.Name != name || m.Version < 1 || version > 0 && m.Version != version:
		err = fmt.Errorf("%w: the manifest is for tenant %s's %s, not %s's %s", ErrTampered, m.Tenant, m.Ref(), t.Name, name)
	case m.Size <= 0 || m.Size > x.cfg.MaxBytes:
		err = fmt.Errorf("%w: %s is %d bytes; this node takes 1 to %d", ErrTooLarge, m.Ref(), m.Size, x.cfg.MaxBytes)
	case !validSHA256(m.SHA256):
		err = fmt.Errorf("%w: the manifest's sha256 %q is not 64 hex digits", ErrTampered, clip(m.SHA256))
	case !strings.EqualFold(m.Base.Digest, base.Digest) || base.Arch != "" && m.Base.Arch != "" && m.Base.Arch != base.Arch:
		err = fmt.Errorf("%w: %s was trained on %s (sha256 %.12s…, %s), this base is sha256 %.12s… (%s)", registry.ErrBaseMismatch,
			m.Ref(), m.Base.Name, m.Base.Digest, m.Base.Arch, base.Digest, base.Arch)
	}
	return m, err
}

// signerKey is the key home node p's certificate names, which its signed
// what must verify with; present says whether it sent one at all.
func signerKey(p fabric.Peer, what string, present bool) (ed25519.PublicKey, error) {
	if !present {
		return nil, fmt.Errorf("%w: node %s answered without a %s", ErrTampered, p.ID, what)
	}
	if p.Cert == nil {
		return nil, fmt.Errorf("%w: node %s presents no certificate", ErrTampered, p.ID)
	}
	return p.Cert.NodePublic, nil
}

// checkIssued checks what a home node's signed what says of its issue:
// by p, in p's certified jurisdiction, to this node, within manifestSkew
// of this node's clock.
func (x *Replicas) checkIssued(p fabric.Peer, what, home, jurisdiction, node string, issued time.Time) error {
	now := x.now()
	switch {
	case home != p.ID || jurisdiction != p.Jurisdiction:
		return fmt.Errorf("%w: the %s is from node %s (%s), not %s (%s)", ErrTampered, what, home, jurisdiction, p.ID, p.Jurisdiction)
	case node != x.node.ID():
		return fmt.Errorf("%w: the %s was issued to node %s, not this one (%s)", ErrTampered, what, node, x.node.ID())
	case issued.Sub(now) > manifestSkew || now.Sub(issued) > manifestSkew:
		return fmt.Errorf("%w: the %s was issued at %s, more than %v off this node's clock", ErrTampered, what, issued.Format(time.RFC3339), manifestSkew)
	}
	return nil
}

// readChunks reads m's file from home in chunks and checks it against m.
// The buffer is m.Size, which checkManifest bounded.
func (x *Replicas) readChunks(ctx context.Context, home fabric.Peer, t tenant.Tenant, m *Manifest) ([]byte, error) {
	buf := make([]byte, 0, m.Size)
	for off := int64(0); off < m.Size; {
		n := min(ChunkBytes, m.Size-off)
		req, err := json.Marshal(chunkMsg{Tenant: t.Name, Adapter: m.Ref(), SHA256: m.SHA256, Offset: off, Length: n})
		if err != nil {
			return nil, err
		}
		payload, err := x.node.DeliverTo(ctx, home.ID, KindChunk, req)
		if err != nil {
			return nil, fmt.Errorf("replica: %s from node %s, at byte %d: %w", m.Ref(), home.ID, off, err)
		}
		a, err := readAnswer(home.ID, payload)
		if err != nil {
			return nil, fmt.Errorf("replica: %s, at byte %d: %w", m.Ref(), off, err)
		}
		if int64(len(a.Data)) != n {
			return nil, fmt.Errorf("%w: node %s sent %d bytes of %s at byte %d; %d were asked for", ErrTampered, home.ID, len(a.Data), m.Ref(), off, n)
		}
		buf = append(buf, a.Data...)
		off += n
	}
	if sum := sha256.Sum256(buf); hex.EncodeToString(sum[:]) != strings.ToLower(m.SHA256) {
		return nil, fmt.Errorf("%w: the %d bytes of %s from node %s have sha256 %x, the manifest says %s", ErrTampered, len(buf), m.Ref(), home.ID, sum, m.SHA256)
	}
	return buf, nil
}

// reject records a copy this node refused to take: one that did not
// match its manifest is evidence of tampering (an alarm).
func (x *Replicas) reject(ctx context.Context, t tenant.Tenant, m *Manifest, from fabric.Peer, err error) {
	ref := "?"
	if m != nil {
		ref = clip(m.Ref())
	}
	x.rejectRef(ctx, t, ref, from, err)
}

// rejectRef records what this node refused to take from a home node for
// the tenant's adapter ref ("*": a listing).
func (x *Replicas) rejectRef(ctx context.Context, t tenant.Tenant, ref string, from fabric.Peer, err error) {
	decision := audit.DecisionDeny
	if errors.Is(err, ErrTampered) {
		decision = audit.DecisionAlarm
	}
	x.log.Warn("adapter copy rejected", "tenant", t.Name, "adapter", ref, "from", from.ID, "err", err)
	x.auditAfter(ctx, audit.Record{Tenant: t.ID, Decision: decision, Reason: "adapter.replica.rejected",
		Detail: map[string]string{"adapter": ref, "from": from.ID, "from_jurisdiction": from.Jurisdiction, "why": clip(err.Error())}})
}

// Sweep asks the homes of the copies not vouched for within Revalidate
// whether their versions still stand, and drops those the home retired
// or deleted (or whose tenant's policy no longer permits this node). A
// copy whose home does not answer is kept (Fetch stops using it after
// MaxStale).
func (x *Replicas) Sweep(ctx context.Context) error {
	stale, err := x.list(ctx, `WHERE confirmed < ? ORDER BY tenant_id, name, version`, x.now().Add(-x.cfg.Revalidate).UnixNano())
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range stale {
		t, err := x.cfg.Tenants.GetTenant(ctx, r.TenantID)
		if errors.Is(err, tenant.ErrNotFound) {
			errs = append(errs, x.drop(ctx, r.TenantID, r.Manifest.Name, 0, fmt.Errorf("the tenant is gone from this node")))
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		_, _, m, err := x.askHome(ctx, t, r.Manifest.Name, r.Manifest.Version, r.Manifest.Base)
		switch {
		case err == nil && m.SHA256 == r.Manifest.SHA256:
			errs = append(errs, x.confirm(ctx, &r))
		case err == nil:
			errs = append(errs, x.drop(ctx, t.ID, r.Manifest.Name, r.Manifest.Version, fmt.Errorf("the home's %s is other content (sha256 %s)", m.Ref(), m.SHA256)))
		case errors.Is(err, registry.ErrNotFound), errors.Is(err, ErrRetired):
			errs = append(errs, x.drop(ctx, t.ID, r.Manifest.Name, r.Manifest.Version, err))
		case errors.Is(err, ErrNotPermitted):
			errs = append(errs, x.drop(ctx, t.ID, r.Manifest.Name, 0, err))
		}
	}
	return errors.Join(errs...)
}

// Run sweeps every Revalidate until ctx ends.
func (x *Replicas) Run(ctx context.Context) {
	tk := time.NewTicker(x.cfg.Revalidate)
	defer tk.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tk.C:
		}
		if err := x.Sweep(ctx); err != nil && ctx.Err() == nil {
			x.log.Warn("adapter copies: sweep", "err", err)
		}
	}
}

// appendAudit records r (kind "adapter", this node and jurisdiction);
// with no Auditor there is nothing to record.
func (x *Replicas) appendAudit(ctx context.Context, r audit.Record) error {
	if x.cfg.Audit == nil {
		return nil
	}
	r.Kind, r.Node, r.Jurisdiction = registry.KindAdapter, x.node.ID(), x.node.Jurisdiction()
	if r.Decision == "" {
		r.Decision = audit.DecisionAllow
	}
	_, err := x.cfg.Audit.Append(context.WithoutCancel(ctx), r)
	return err
}

// auditAfter records what has already happened: a failure is logged.
func (x *Replicas) auditAfter(ctx context.Context, r audit.Record) {
	if err := x.appendAudit(ctx, r); err != nil {
		x.log.Error("replica: audit append failed", "err", err, "tenant", r.Tenant, "reason", r.Reason)
	}
}

func homeOf(t tenant.Tenant) string {
	switch {
	case t.Policy.Home != "":
		return t.Policy.Home
	case len(t.Policy.Jurisdictions) > 0:
		return strings.Join(t.Policy.Jurisdictions, ", ")
	}
	return "any jurisdiction"
}

func validSHA256(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == sha256.Size
}

// clip bounds text another node or a client sent before it is repeated.
func clip(s string) string {
	if len(s) > maxMessage {
		return s[:maxMessage] + "…"
	}
	return s
}
