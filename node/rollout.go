package node

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/capture"
	"github.com/hearth-ai/hearth/flywheel"
	"github.com/hearth-ai/hearth/flywheel/rollout"
	"github.com/hearth-ai/hearth/flywheel/rollout/fleet"
	"github.com/hearth-ai/hearth/tenant"
)

// openRollouts opens the tenants' rollouts (flywheel/rollout) over the
// flywheel's stores: candidates resolved in the adapter registry against
// the runner's base models, the eval gate run on the fine-tuning jobs'
// thread budget so that serving is not starved, every step audited.
func (n *Node) openRollouts(ctx context.Context, fw *flywheel.Stores) error {
	vs := &flywheel.Versions{Stores: fw, BasePath: n.run.Path, Threads: n.jobs.Threads(), Logger: n.log}
	var err error
	n.deploys, err = rollout.Open(ctx, n.db, rollout.Config{Versions: vs, Evaluator: vs, Audit: n.audit, Node: n.id.ID,
		Jurisdiction: n.cfg.Jurisdiction, Interval: n.cfg.RolloutInterval, Now: n.cfg.Now, Logger: n.log,
		OnChange: func() { n.spread.Changed() }}) // n.spread is set below, before anything can change
	if err != nil {
		return err
	}
	// The home tells the fleet its rollouts; the other nodes serve and
	// count them as it does (flywheel/rollout/fleet).
	n.spread, err = fleet.New(fleet.Config{Node: n.fab, Rollouts: n.deploys, Tenants: n.tenants, Interval: n.cfg.RolloutInterval,
		Now: n.cfg.Now, Logger: n.log})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// retiredAdapter moves the tenant's deployments and rollouts off an
// adapter version the registry retired or deleted (rollout.Store.Retired),
// so that its users get the base rather than a 404. The registry is opened
// before the rollouts, and nothing retires until the node serves.
func (n *Node) retiredAdapter(ctx context.Context, tenantID, name string, version int) error {
	if n.deploys == nil {
		return nil
	}
	return n.deploys.Retired(ctx, tenantID, name, version)
}

// droppedCopy unloads a copy of another node's adapter that was dropped
// (its home retired or deleted it, or this node may no longer hold it),
// and moves this node's deployments and rollouts off it, as the home's
// registry does for its own: a tenant whose data is not pinned to a home
// may roll out here an adapter registered elsewhere.
func (n *Node) droppedCopy(tenantID, name string, version int) {
	dropCopy(n.run, n.log)(tenantID, name, version)
	if err := n.retiredAdapter(context.Background(), tenantID, name, version); err != nil {
		n.log.Error("moving deployments off a dropped adapter copy", "tenant", tenantID, "adapter", fmt.Sprintf("%s@%d", name, version), "err", err)
	}
}

// forwardedFeedback counts feedback another node forwarded to this one,
// the home, for the rollout arm that served the response (on whichever
// node served it: its observations name the response).
func (n *Node) forwardedFeedback(_ context.Context, t tenant.Tenant, fb capture.Feedback) {
	if n.deploys != nil {
		n.deploys.ObserveFeedback(t.ID, fb.ResponseID, rollout.Feedback{Thumb: fb.Thumb, Rating: fb.Rating,
			Corrected: strings.TrimSpace(fb.Correction) != ""})
	}
}

// deployments connects the rollouts to the API (api.Deployments): a
// request of a tenant's for a deployment's name is served by the version
// its end user's arm names, in this node's rollouts or, for a tenant
// whose home is another node, in what that home told this one.
type deployments struct {
	s *rollout.Store
	f *fleet.Fleet
}

var _ api.Deployments = deployments{}

func (d deployments) Pick(ctx context.Context, model, user string) (api.Pick, error) {
	p, ok := tenant.PrincipalFrom(ctx)
	if !ok {
		return api.Pick{}, nil // a node's own machine, with no tenants, deploys nothing
	}
	if a, ok := d.s.Pick(p.Tenant.ID, model, user, p.Key.ID); ok {
		return api.Pick{Model: a.Model, Rollout: a.Rollout, Arm: a.Arm, Handle: a}, nil
	}
	if d.f == nil {
		return api.Pick{}, nil
	}
	if a, ok := d.f.Pick(p.Tenant, model, user, p.Key.ID); ok {
		return api.Pick{Model: a.Model, Rollout: a.Rollout, Arm: a.Arm, Handle: a}, nil
	}
	return api.Pick{}, nil
}

func (d deployments) Observe(ctx context.Context, pick api.Pick, o api.Outcome) {
	p, ok := tenant.PrincipalFrom(ctx)
	if !ok {
		return
	}
	// A client that went away says nothing about the version.
	failed := o.Err != nil && !errors.Is(o.Err, context.Canceled)
	obs := rollout.Observation{ResponseID: o.ResponseID, Failed: failed, Duration: o.Duration}
	switch a := pick.Handle.(type) {
	case rollout.Assignment:
		d.s.Observe(a, p.Tenant.ID, obs)
	case fleet.Assignment:
		d.f.Observe(a, obs) // counted at the rollout's home
	}
}

func (d deployments) Feedback(ctx context.Context, fb api.FeedbackInput) {
	p, ok := tenant.PrincipalFrom(ctx)
	if !ok {
		return
	}
	d.s.ObserveFeedback(p.Tenant.ID, fb.ResponseID, rollout.Feedback{Thumb: fb.Thumb, Rating: fb.Rating,
		Corrected: strings.TrimSpace(fb.Correction) != ""})
}
