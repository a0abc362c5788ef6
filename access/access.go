// Package access is a node's front door for API requests: it authenticates
// callers by API key, applies their tenant's model and residency policy,
// admits them under their limits, meters what they used and writes every
// decision and outcome to the audit log. Refusals are folded so that a
// flood of them costs the log at most one record a minute: refused
// authentications (401s) per remote address (authfail.go), refused scopes,
// models, jurisdictions and limits (403s, 429s) per key and kind (fold.go).
// It implements api.Gate.
package access

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/hearth-ai/hearth/admin"
	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/metering"
	"github.com/hearth-ai/hearth/tenant"
)

// LocalTenant names requests served without credentials by a node that has
// no tenants yet (see Config.AllowLocal).
const LocalTenant = "local"

// Tenants resolves API keys to tenants (tenant.Store does, on the node's
// database; a fleet may share this state another way).
type Tenants interface {
	Authenticate(ctx context.Context, secret string) (*tenant.Principal, error)
	CountTenants(ctx context.Context) (int, error)
	GetTenant(ctx context.Context, nameOrID string) (tenant.Tenant, error)
}

// Meter checks limits and records usage (metering.Meter does).
type Meter interface {
	Admit(ctx context.Context, p *tenant.Principal, estTokens int) (*metering.Ticket, error)
}

// Auditor appends audit records (audit.Log does). An Auditor that also
// has Preflight() error (audit.Log does) is asked before every request and
// admin change: while it fails (the log cannot make records durable) they
// are refused with a 503 before anything runs, since their records could
// not be kept.
type Auditor interface {
	Append(ctx context.Context, r audit.Record) (audit.Record, error)
}

type preflighter interface{ Preflight() error }

// Config configures a Gate.
type Config struct {
	Tenants Tenants // required
	Meter   Meter   // required
	Audit   Auditor // required: every decision is recorded
	// Node is this node's id and Jurisdiction its jurisdiction, written
	// into usage and audit records and checked against tenant policies.
	Node, Jurisdiction string
	// AllowLocal lets requests without credentials through, as tenant
	// "local" with no limits, while no tenant exists. The node refuses
	// this on non-loopback addresses (node.New checks), so a fresh node
	// is usable on its own machine and never open to the network.
	AllowLocal bool
	Logger     *slog.Logger
	Now        func() time.Time
}

// Gate implements api.Gate.
type Gate struct {
	cfg Config
	log *slog.Logger
	now func() time.Time

	preflight func() error // nil: the Auditor has no Preflight

	mu         sync.Mutex
	localUntil time.Time // until when "no tenants" is known to hold
	local      bool

	// Refusals, folded (fold.go): refused authentications per remote
	// address (authfail.go), other refusals per key and kind (deny).
	authDenials, denials folder
}

var _ api.Gate = (*Gate)(nil)

// New checks cfg.
func New(cfg Config) (*Gate, error) {
	if cfg.Tenants == nil || cfg.Meter == nil || cfg.Audit == nil {
		return nil, errors.New("access: Tenants, Meter and Audit are required")
	}
	g := &Gate{cfg: cfg, log: cfg.Logger, now: cfg.Now, authDenials: authFolder(), denials: denyFolder()}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	if p, ok := cfg.Audit.(preflighter); ok {
		g.preflight = p.Preflight
	}
	return g, nil
}

// Preflight refuses work up front while the audit log cannot record: a
// state check, not an fsync. The error wraps api.ErrUnavailable (503 with
// Retry-After) and names the audit log.
func (g *Gate) Preflight() error {
	if g.preflight == nil {
		return nil
	}
	if err := g.preflight(); err != nil {
		return fmt.Errorf("%w: %w", api.ErrUnavailable, err)
	}
	return nil
}

// localMode reports whether requests without credentials are served: only
// while no tenant exists. The answer is cached for a second, so a tenant
// created while the node runs ends local mode within that.
func (g *Gate) localMode(ctx context.Context) bool {
	if !g.cfg.AllowLocal {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	if now.Before(g.localUntil) {
		return g.local
	}
	n, err := g.cfg.Tenants.CountTenants(ctx)
	g.local = err == nil && n == 0
	g.localUntil = now.Add(time.Second)
	return g.local
}

// Authenticate reads "Authorization: Bearer KEY" (or Ollama clients'
// "X-API-Key"), and resolves the key to its tenant. A refusal (the API
// answers 401) is audited, folded per remote address (see DenialWindow).
func (g *Gate) Authenticate(r *http.Request) (api.Caller, error) {
	c, err := g.authenticate(r)
	if err != nil && errors.Is(err, api.ErrUnauthorized) {
		g.denied(r, err)
	}
	return c, err
}

func (g *Gate) authenticate(r *http.Request) (api.Caller, error) {
	if f, ok := r.Context().Value(forwardedKey{}).(Forwarded); ok {
		if f.resolved != nil {
			return f.resolved, nil
		}
		return g.forwardedCaller(r.Context(), f)
	}
	// With no tenants there is no key to check: SDKs that always send one
	// (often a placeholder) are served as the local tenant too.
	if g.localMode(r.Context()) {
		return &caller{g: g}, nil
	}
	secret := bearer(r)
	if secret == "" {
		return nil, fmt.Errorf("%w: no API key: send Authorization: Bearer <key>", api.ErrUnauthorized)
	}
	p, err := g.cfg.Tenants.Authenticate(r.Context(), secret)
	if err != nil {
		if errors.Is(err, tenant.ErrUnauthenticated) {
			return nil, fmt.Errorf("%w: %w", api.ErrUnauthorized, err) // %w: the API finds the public message
		}
		return nil, fmt.Errorf("access: authenticate: %w", err)
	}
	return &caller{g: g, p: p}, nil
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if scheme, tok, ok := strings.Cut(h, " "); ok && strings.EqualFold(scheme, "Bearer") {
		return strings.TrimSpace(tok)
	}
	return strings.TrimSpace(r.Header.Get("X-API-Key"))
}

// caller is an authenticated client; p is nil in local mode.
type caller struct {
	g *Gate
	p *tenant.Principal
}

func (c *caller) tenantName() string {
	if c.p == nil {
		return LocalTenant
	}
	return c.p.Tenant.Name
}

func (c *caller) keyID() string {
	if c.p == nil {
		return ""
	}
	return c.p.Key.ID
}

// Context carries the caller's key and tenant (tenant.WithPrincipal), none
// in local mode: the capture hook (package capture) reads the tenant's
// data policy from it.
func (c *caller) Context(ctx context.Context) context.Context {
	if c.p == nil {
		return ctx
	}
	return tenant.WithPrincipal(ctx, c.p)
}

// Sees applies the tenant's model allow-list to listings.
func (c *caller) Sees(model string) bool {
	return c.p == nil || c.p.Tenant.Policy.AllowsModel(model)
}

// Admin reports whether the caller holds the admin scope (the local
// operator of a node with no tenants does), for the API's endpoints that
// change what the node serves (LoRA adapters).
func (c *caller) Admin() bool { return c.p == nil || c.p.Has(tenant.ScopeAdmin) }

// Use refuses, and records, a request for a model outside the tenant's
// allow-list before the model is loaded for it.
func (c *caller) Use(ctx context.Context, endpoint, model string) error {
	if c.Sees(model) {
		return nil
	}
	return c.deny(ctx, api.Admission{Endpoint: endpoint, Model: model}, "model",
		fmt.Errorf("%w: tenant %q may not use model %q", api.ErrForbidden, c.p.Tenant.Name, model))
}

// Admit checks scope, residency and limits, in that order, and records a
// refusal in the audit log.
func (c *caller) Admit(ctx context.Context, a api.Admission) (api.Pass, error) {
	g := c.g
	// A request whose record could not be kept is not served; the log
	// counts the refusal and its gap record reports it.
	if err := g.Preflight(); err != nil {
		g.log.Warn("request refused: the audit log cannot record", "tenant", c.tenantName(), "model", a.Model, "err", err)
		return nil, err
	}
	if c.p == nil {
		return &pass{c: c, a: a}, nil
	}
	if !c.p.Has(tenant.ScopeInference) {
		return nil, c.deny(ctx, a, "scope", fmt.Errorf("%w: this key has no %q scope", api.ErrForbidden, tenant.ScopeInference))
	}
	pol := c.p.Tenant.Policy
	if !pol.AllowsModel(cmp.Or(a.Base, a.Model)) { // an adapter's base: the adapter is the tenant's own or published
		return nil, c.deny(ctx, a, "model", fmt.Errorf("%w: tenant %q may not use model %q", api.ErrForbidden, c.p.Tenant.Name, a.Model))
	}
	if len(pol.Jurisdictions) > 0 && !pol.AllowsJurisdiction(g.cfg.Jurisdiction) {
		// Fail closed: this node is not in a jurisdiction the tenant allows.
		return nil, c.deny(ctx, a, "jurisdiction", fmt.Errorf("%w: tenant %q may be served only in %s; this node is in %q",
			api.ErrForbidden, c.p.Tenant.Name, strings.Join(pol.Jurisdictions, ", "), g.cfg.Jurisdiction))
	}
	t, err := g.cfg.Meter.Admit(ctx, c.p, a.PromptTokens+a.MaxTokens)
	if err != nil {
		var le *metering.LimitError
		switch {
		case errors.As(err, &le) && errors.Is(err, metering.ErrQuotaExceeded):
			err = limitErr{api.ErrQuotaExceeded, le}
		case errors.As(err, &le):
			err = limitErr{api.ErrRateLimited, le}
		default:
			return nil, fmt.Errorf("access: admit: %w", err)
		}
		return nil, c.deny(ctx, a, "limit", err)
	}
	return &pass{c: c, a: a, ticket: t}, nil
}

// limitErr is a metering refusal as the API sees it: the API's sentinel,
// the meter's message and its retry delay.
type limitErr struct {
	kind error
	le   *metering.LimitError
}

func (e limitErr) Error() string             { return e.le.Error() }
func (e limitErr) Unwrap() []error           { return []error{e.kind, e.le} }
func (e limitErr) RetryAfter() time.Duration { return e.le.RetryAfter() }

// deny records a refusal of kind (scope, model, jurisdiction, limit) and
// returns err. Refusals are folded per key and kind (denyFolder): a key
// refused again and again costs the log one record at once and at most
// one a minute after, with the count.
func (c *caller) deny(ctx context.Context, a api.Admission, kind string, err error) error {
	g := c.g
	r := c.stamp(audit.Record{Kind: audit.KindRequest, Model: a.Model, Decision: audit.DecisionDeny, Reason: kind + ": " + err.Error(),
		PromptTokens: a.PromptTokens, Detail: map[string]string{"endpoint": a.Endpoint}})
	g.appendAll(g.denials.add(g, g.now(), kind+"\x00"+r.Tenant+"\x00"+r.KeyID, r))
	return err
}

// denyFolder folds refusals per key and kind of refusal, listing the
// models asked for. Beyond the keys it tracks, refusals of one kind fold
// together, naming no tenant.
func denyFolder() folder {
	return folder{
		collect:   func(r audit.Record) string { return r.Model },
		collectAs: "models",
		other: func(key string, r audit.Record) (string, audit.Record) {
			kind, _, _ := strings.Cut(key, "\x00")
			return kind + "\x00" + otherKeys, audit.Record{Kind: r.Kind, Node: r.Node, Jurisdiction: r.Jurisdiction, Decision: r.Decision,
				Reason: kind + ": refusals of other keys", Detail: map[string]string{"endpoint": r.Detail["endpoint"], "keys": otherKeys}}
		},
	}
}

// otherKeys stands for the keys whose refusals are folded together.
const otherKeys = "(other keys)"

// stamp fills in who and where a record is about; a request's record
// has the client's text in it cut (bounded).
func (c *caller) stamp(r audit.Record) audit.Record {
	g := c.g
	r.Node, r.Tenant, r.KeyID, r.Jurisdiction = g.cfg.Node, c.tenantName(), c.keyID(), g.cfg.Jurisdiction
	if r.Kind == audit.KindRequest {
		r = bounded(r)
	}
	return r
}

func (c *caller) record(ctx context.Context, r audit.Record) error {
	g := c.g
	r = c.stamp(r)
	if _, err := g.cfg.Audit.Append(context.WithoutCancel(ctx), r); err != nil {
		// An operator matter of the first order; the log itself goes into
		// its failed state and says so, and later requests are refused.
		g.log.Error("audit append failed", "err", err, "kind", r.Kind, "tenant", r.Tenant, "response_id", r.ResponseID)
		return err
	}
	return nil
}

// pass is an admitted request.
type pass struct {
	c      *caller
	a      api.Admission
	ticket *metering.Ticket // nil in local mode
	once   sync.Once
	recErr error // the audit record's append error, once Done has run
}

// Recorded reports, after Done, whether the request's audit record was
// kept: the API saves no capture of a request whose record failed.
func (p *pass) Recorded() error { return p.recErr }

// Done meters the request and appends its audit record.
//
// The response has been sent by then (see api.Server.finish): a record
// that fails here cannot refuse the request it describes. The log fails
// closed from that moment (Admit refuses what follows), the gap record
// counts the records lost, and Recorded tells the capture hook not to
// keep the interaction.
func (p *pass) Done(o api.Outcome) {
	p.once.Do(func() {
		c, g := p.c, p.c.g
		if p.ticket != nil {
			err := p.ticket.Done(metering.Usage{Tenant: c.p.Tenant.ID, KeyID: c.p.Key.ID, Model: o.Model, Node: g.cfg.Node,
				Jurisdiction: g.cfg.Jurisdiction, PromptTokens: o.PromptTokens, CompletionTokens: o.CompletionTokens,
				Compute: o.Duration, ResponseID: o.ResponseID})
			if err != nil {
				g.log.Error("metering failed", "err", err, "response_id", o.ResponseID)
			}
		}
		detail := map[string]string{"endpoint": o.Endpoint}
		if o.FinishReason != "" {
			detail["finish_reason"] = o.FinishReason
		}
		reason := "served"
		if o.Err != nil {
			reason = "failed"
			detail["error"] = o.Err.Error()
		}
		p.recErr = c.record(context.Background(), audit.Record{Kind: audit.KindRequest, Model: o.Model, Decision: audit.DecisionAllow, Reason: reason,
			ResponseID: o.ResponseID, PromptTokens: o.PromptTokens, CompletionTokens: o.CompletionTokens,
			PromptHash: o.PromptHash, OutputHash: o.OutputHash, Detail: detail})
	})
}

// AdminAction records an administrative change (tenant or key management)
// made through the admin API, by the caller in ctx (tenant.PrincipalFrom;
// none: the local operator of a node with no tenants). It is an
// admin.Recorder: the admin API calls it inside the change's transaction,
// and an error rolls the change back.
func (g *Gate) AdminAction(ctx context.Context, action string, detail map[string]string) error {
	p, _ := tenant.PrincipalFrom(ctx) // nil when none
	c := &caller{g: g, p: p}
	if err := c.record(ctx, admin.Record(action, detail)); err != nil {
		return fmt.Errorf("%w: %w", api.ErrUnavailable, err)
	}
	return nil
}
