package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/hearth-ai/hearth/flywheel/registry"
	"github.com/hearth-ai/hearth/modelname"
)

// Reasons for the steps Retired takes.
const (
	ReasonCandidateRetired = "candidate retired"
	ReasonStableRetired    = "stable retired"
)

// actorRegistry is the actor of the steps Retired takes: the registry
// retired the version, whoever asked it to.
const actorRegistry = "registry"

// Retired moves the tenant's deployments and rollouts off a version of
// its adapter name (version 0: every version of the name) that was
// retired or deleted, and so can no longer be served: left alone, every
// user it serves would get a 404. It is what the registry's
// Config.OnRetire calls, on the node and on the command line.
//
//   - A deployment whose stable it is falls back to its base model, the
//     deployment's own name. The step is a rollout of the base promoted
//     at once (its reason ReasonStableRetired, its history one
//     "stable_retired" step, audited as rollout.stable_retired), as an
//     operator would go back to the base, so the deployment's history
//     and the fleet (Deployments) see it as any other promotion.
//   - A rollout under way whose candidate it is rolls back at once
//     (ReasonCandidateRetired).
//   - A rollout under way whose stable it is rolls back too
//     (ReasonStableRetired), once its deployment has fallen back. It does
//     not go on against the base: its eval gate and its stable arm's
//     counts were of the retired version, and a promotion would rest on a
//     comparison with the base that was never made. Start it again to
//     compare the candidate with the base.
//
// Each step commits only once its record is durable. Calling Retired
// again changes nothing more; after an error it takes the steps left.
func (s *Store) Retired(ctx context.Context, tenantID, name string, version int) error {
	if tenantID == "" || name == "" || version < 0 {
		return fmt.Errorf("%w: retired: tenant %q, adapter %q, version %d", ErrInvalid, tenantID, clip(name), version)
	}
	// A step that lost a race (a gate moved a share, a promotion made
	// the retired candidate the stable) leaves something to do: look
	// again, a few times.
	const passes = 3
	for range passes {
		again, err := s.retiredPass(ctx, tenantID, name, version)
		if err != nil || !again {
			return err
		}
	}
	return fmt.Errorf("%w: %s's deployments kept changing while moving them off %s; retire it again", ErrConflict, tenantID, clip(name))
}

// retiredPass takes Retired's steps once; again reports a step that lost
// a race.
func (s *Store) retiredPass(ctx context.Context, tenantID, name string, version int) (again bool, err error) {
	hit := func(model, served string) bool {
		return !modelname.Same(served, model) && servesAdapter(served, name, version)
	}
	ds, err := s.deploymentsOf(ctx, tenantID)
	if err != nil {
		return false, err
	}
	var errs []error
	// Deployments first: a Start that reads its deployment after the
	// fallback starts against the base, and one that read it before is
	// among the live rollouts read below.
	for _, d := range ds {
		if !hit(d.model, d.stable) {
			continue
		}
		if err := s.fallBack(ctx, tenantID, d); errors.Is(err, ErrConflict) {
			again = true
		} else if err != nil {
			errs = append(errs, err)
		}
	}
	rs, err := s.liveRollouts(ctx)
	if err != nil {
		return false, errors.Join(append(errs, err)...)
	}
	for i := range rs {
		r := &rs[i]
		if r.TenantID != tenantID {
			continue
		}
		reason, retired := ReasonCandidateRetired, r.Candidate
		if !hit(r.Model, r.Candidate) {
			if !hit(r.Model, r.Stable) {
				continue
			}
			reason, retired = ReasonStableRetired, r.Stable
		}
		if err := s.rollback(ctx, r, actorRegistry, reason, map[string]string{"retired": retired}); errors.Is(err, ErrConflict) {
			again = true
		} else if err != nil {
			errs = append(errs, err)
		}
	}
	return again, errors.Join(errs...)
}

// servesAdapter reports whether served, a version's served name
// BASE:ADAPTER@VERSION, is version of the registry adapter name (any
// version of it for version 0). A base model's name is none, even one
// with a tag: the registry's versions are always served with a number.
func servesAdapter(served, name string, version int) bool {
	i := strings.LastIndexByte(served, ':')
	if i < 0 {
		return false
	}
	n, v, err := registry.ParseRef(served[i+1:])
	return err == nil && v > 0 && n == name && (version == 0 || v == version)
}

// fallBack makes the base model d's stable again, in place of a retired
// version, recorded as a rollout of the base promoted at once. It is a
// compare-and-set on the deployment's stable: ErrConflict when it
// changed meanwhile.
func (s *Store) fallBack(ctx context.Context, tenantID string, d deployment) error {
	now := s.now().UTC()
	g := DefaultGates()
	g.SkipEval = true
	gates, _ := json.Marshal(g)
	r := &Rollout{ID: newID(), TenantID: tenantID, Model: d.model, Stable: d.stable, Candidate: d.model, State: StatePromoted, Share: 100,
		Gates: g, Reason: ReasonStableRetired, Created: now, Updated: now, StepStarted: now}
	tx, err := s.d.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("rollout: stable retired: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE rollout_deployments SET stable = ?, rollout_id = ?, updated = ?
		WHERE tenant_id = ? AND model = ? AND stable = ?`, d.model, r.ID, now.UnixNano(), tenantID, d.model, d.stable)
	if err != nil {
		return fmt.Errorf("rollout: stable retired: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return fmt.Errorf("%w: deployment %s changed meanwhile", ErrConflict, d.model)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO rollouts (id, tenant_id, model, stable, candidate, state, share, start_share, gates, reason,
		created, updated, step_started) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)`, r.ID, r.TenantID, r.Model, r.Stable, r.Candidate,
		r.State, r.Share, string(gates), r.Reason, now.UnixNano(), now.UnixNano(), now.UnixNano()); err != nil {
		return fmt.Errorf("rollout: stable retired: %w", err)
	}
	for _, arm := range []string{ArmStable, ArmCandidate} {
		if _, err := tx.ExecContext(ctx, `INSERT INTO rollout_arms (rollout_id, arm) VALUES (?, ?)`, r.ID, arm); err != nil {
			return fmt.Errorf("rollout: stable retired: %w", err)
		}
	}
	detail := map[string]string{"reason": ReasonStableRetired, "retired": d.stable, "fallback": d.model, "previous_rollout": d.rollout}
	if err := s.commit(ctx, tx, r, "stable_retired", actorRegistry, detail); err != nil {
		return fmt.Errorf("rollout: stable retired: %w", err)
	}
	s.refreshQuietly(ctx)
	return nil
}
