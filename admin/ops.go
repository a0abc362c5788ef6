package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"strconv"
	"strings"

	"github.com/hearth-ai/hearth/tenant"
)

// Recorder writes the audit record of an admin change: the action
// ("tenant.create", "tenant.update", "tenant.delete", "key.create",
// "key.revoke", "capture.erase") and what it touched (names and ids,
// never a secret). Who made the change is in ctx (tenant.PrincipalFrom)
// when a key made it; the command line's recorder says "via": "cli"
// itself. An error means the record was not written.
type Recorder func(ctx context.Context, action string, detail map[string]string) error

// Ops is every admin change, written once for both front ends: the admin
// API's handlers and the tenants and keys commands call it, so a change
// is checked, made and recorded the same way whichever way it comes.
//
// The guarantee is one: a change's audit record is written inside the
// change's transaction (a tenant.CommitHook), before it commits; when it
// cannot be written the change is rolled back and the method returns an
// error saying nothing was changed. An erasure cannot be rolled back: it
// is refused up front while Preflight fails, and its record is written
// before its report is returned, a failure to write it being an error
// too.
type Ops struct {
	Tenants *tenant.Store // required
	// Audit records every change (nil: changes are only logged).
	Audit Recorder
	// Preflight, if set, is asked before a change: an error (the audit
	// log is known to be failing) refuses it before anything is done.
	Preflight func() error
	// Eraser, if set, erases captured data (nil: Erase refuses).
	Eraser Eraser
	// Logger, nil: discard.
	Logger *slog.Logger
}

func (o *Ops) log() *slog.Logger {
	if o.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Logger
}

// CreateTenant creates t (its ID and creation time are the store's).
func (o *Ops) CreateTenant(ctx context.Context, t tenant.Tenant) (tenant.Tenant, error) {
	const action = "tenant.create"
	if err := o.preflight(action); err != nil {
		return tenant.Tenant{}, err
	}
	hook, after := o.audited(ctx, action, func(c tenant.Change) map[string]string {
		return map[string]string{"tenant": c.Tenant.Name, "tenant_id": c.Tenant.ID}
	})
	t, err := o.Tenants.CreateTenant(ctx, t, hook)
	return t, after(err)
}

// UpdateTenant changes the fields of tenant nameOrID that p sets; the
// record names them ("changed": "policy.home,limits.requests_per_minute").
func (o *Ops) UpdateTenant(ctx context.Context, nameOrID string, p TenantPatch) (tenant.Tenant, error) {
	const action = "tenant.update"
	if err := o.preflight(action); err != nil {
		return tenant.Tenant{}, err
	}
	var changed []string
	hook, after := o.audited(ctx, action, func(c tenant.Change) map[string]string {
		return map[string]string{"tenant": c.Tenant.Name, "tenant_id": c.Tenant.ID, "changed": strings.Join(changed, ",")}
	})
	t, err := o.Tenants.UpdateTenant(ctx, nameOrID, func(t *tenant.Tenant) error {
		changed = p.Apply(t)
		return nil
	}, hook)
	return t, after(err)
}

// DeleteTenant deletes tenant nameOrID and its keys, and returns the
// tenant as it was and how many keys went with it.
func (o *Ops) DeleteTenant(ctx context.Context, nameOrID string) (tenant.Tenant, int, error) {
	const action = "tenant.delete"
	t, err := o.Tenants.GetTenant(ctx, nameOrID)
	if err != nil {
		return tenant.Tenant{}, 0, err
	}
	if err := o.preflight(action); err != nil {
		return tenant.Tenant{}, 0, err
	}
	hook, after := o.audited(ctx, action, func(c tenant.Change) map[string]string {
		return map[string]string{"tenant": c.Tenant.Name, "tenant_id": c.Tenant.ID, "keys_deleted": strconv.Itoa(c.KeysDeleted)}
	})
	n, err := o.Tenants.DeleteTenant(ctx, t.ID, hook)
	if err := after(err); err != nil {
		return tenant.Tenant{}, 0, err
	}
	return t, n, nil
}

// CreateKey creates a key for tenant nameOrID and returns its secret,
// the one time it is ever known. Its record is written before the secret
// is returned, inside the creation: a key whose creation could not be
// recorded does not exist.
func (o *Ops) CreateKey(ctx context.Context, nameOrID string, ko tenant.KeyOptions) (secret string, k tenant.Key, err error) {
	const action = "key.create"
	if err := o.preflight(action); err != nil {
		return "", tenant.Key{}, err
	}
	owner := o.tenantName(ctx, nameOrID)
	hook, after := o.audited(ctx, action, func(c tenant.Change) map[string]string {
		return keyDetail(c.Key.AuditDetail(), owner)
	})
	secret, k, err = o.Tenants.CreateKey(ctx, nameOrID, ko, hook)
	if err := after(err); err != nil {
		return "", tenant.Key{}, err
	}
	return secret, k, nil
}

// RevokeKey revokes key id, at once. Revoking a key again is no change:
// it is returned as it is, unrecorded, with revoked false.
func (o *Ops) RevokeKey(ctx context.Context, id string) (k tenant.Key, revoked bool, err error) {
	const action = "key.revoke"
	before, err := o.Tenants.GetKey(ctx, id)
	if err != nil {
		return tenant.Key{}, false, err
	}
	if !before.Revoked.IsZero() {
		return before, false, nil
	}
	if err := o.preflight(action); err != nil {
		return tenant.Key{}, false, err
	}
	owner := o.tenantName(ctx, before.TenantID)
	// The hook runs only if this call revoked the key.
	hook, after := o.audited(ctx, action, func(c tenant.Change) map[string]string {
		revoked = true
		return keyDetail(map[string]string{"tenant_id": c.Key.TenantID, "key_id": c.Key.ID, "key_prefix": c.Key.Prefix}, owner)
	})
	k, err = o.Tenants.RevokeKey(ctx, before.ID, hook)
	if err := after(err); err != nil {
		return tenant.Key{}, false, err
	}
	return k, revoked, nil
}

// keyDetail adds the tenant's name, when known, to a key's record.
func keyDetail(d map[string]string, owner string) map[string]string {
	if owner != "" {
		d["tenant"] = owner
	}
	return d
}

// tenantName names a tenant for a record; "" if it cannot be read (the
// change then fails on its own, or is recorded by id alone).
func (o *Ops) tenantName(ctx context.Context, nameOrID string) string {
	t, err := o.Tenants.GetTenant(ctx, nameOrID)
	if err != nil {
		return ""
	}
	return t.Name
}

// Erase erases tenant t's captured data as req says, wherever it is kept,
// and records it. An erasure is done once Erase has run and cannot be
// undone: when its record then fails, the report comes back with an
// error saying so.
func (o *Ops) Erase(ctx context.Context, t tenant.Tenant, req EraseRequest) (EraseReport, error) {
	const action = "capture.erase"
	if o.Eraser == nil {
		return EraseReport{}, errNoErase
	}
	req.ResponseID, req.User = strings.TrimSpace(req.ResponseID), strings.TrimSpace(req.User)
	if !req.Valid() {
		return EraseReport{}, badRequest("give exactly one of 'response_id', 'user' and 'all': true")
	}
	if err := o.preflight(action); err != nil {
		return EraseReport{}, err
	}
	rep, err := o.Eraser(ctx, t, req)
	if err != nil {
		return EraseReport{}, err
	}
	by := "response"
	switch {
	case req.User != "":
		by = "user" // the user id itself stays out of the audit log
	case req.All:
		by = "all (key deleted)"
	}
	if err := o.record(ctx, action, map[string]string{"tenant": t.Name, "tenant_id": t.ID, "by": by,
		"erased": strconv.Itoa(rep.Erased), "nodes": strconv.Itoa(len(rep.Nodes)), "complete": strconv.FormatBool(rep.Done)}); err != nil {
		return rep, &unrecordedErase{erased: rep.Erased, err: err}
	}
	return rep, nil
}

// unrecordedErase is an erasure that was done but whose audit record
// could not be written. Erasing again is harmless, and is then recorded.
type unrecordedErase struct {
	erased int // interactions erased
	err    error
}

func (e *unrecordedErase) Error() string {
	return fmt.Sprintf("erased %d interactions, but the erasure's audit record could not be written (%v); repeat the request once the audit log recovers",
		e.erased, e.err)
}

func (e *unrecordedErase) Unwrap() error { return e.err }

// errNoErase answers an erasure on a node that keeps no captured data.
var errNoErase = &apiError{Status: http.StatusNotImplemented, Type: typeInvalidRequest, Code: "not_supported",
	Message: "this node keeps no captured data to erase"}

// record writes one record through Audit; an error is an *auditError.
func (o *Ops) record(ctx context.Context, action string, detail map[string]string) error {
	if o.Audit != nil {
		if err := o.Audit(ctx, action, detail); err != nil {
			return &auditError{action: action, err: err}
		}
	}
	var by tenant.Principal // none: the command line
	if p, ok := tenant.PrincipalFrom(ctx); ok {
		by = *p
	}
	o.log().Info("admin action", "action", action, "tenant", by.Tenant.Name, "key", by.Key.ID, "detail", detail)
	return nil
}

// audited returns the commit hook that records a change before it
// commits, and after, to pass the store's error through: if the record
// was written but the commit failed anyway, after records that the change
// was rolled back (so the log does not claim a change that was never
// made).
func (o *Ops) audited(ctx context.Context, action string, detail func(tenant.Change) map[string]string) (tenant.CommitHook, func(error) error) {
	var recorded map[string]string
	hook := func(_ context.Context, c tenant.Change) error {
		d := detail(c)
		if err := o.record(ctx, action, d); err != nil {
			return err
		}
		recorded = d
		return nil
	}
	after := func(err error) error {
		if err != nil && recorded != nil {
			d := maps.Clone(recorded)
			d["error"] = err.Error()
			if aerr := o.record(ctx, action+".rolled_back", d); aerr != nil {
				o.log().Error("admin change rolled back after its audit record; recording the rollback failed", "action", action, "err", aerr)
			}
		}
		return err
	}
	return hook, after
}

// preflight refuses a change up front while the audit log is failing.
func (o *Ops) preflight(action string) error {
	if o.Preflight == nil {
		return nil
	}
	if err := o.Preflight(); err != nil {
		return &auditError{action: action, err: err}
	}
	return nil
}

// Unrecorded reports whether err is a change refused because its audit
// record could not be written (nothing was changed), and if so which
// action and the audit log's error.
func Unrecorded(err error) (action string, cause error, ok bool) {
	var ae *auditError
	if !errors.As(err, &ae) {
		return "", nil, false
	}
	return ae.action, ae.err, true
}
