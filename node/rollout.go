package node

import (
	"context"
	"errors"
	"strings"

	"github.com/hearth-ai/hearth/api"
	"github.com/hearth-ai/hearth/flywheel"
	"github.com/hearth-ai/hearth/flywheel/rollout"
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
		Jurisdiction: n.cfg.Jurisdiction, Interval: n.cfg.RolloutInterval, Now: n.cfg.Now, Logger: n.log})
	return err
}

// deployments connects the rollouts to the API (api.Deployments): a
// request of a tenant's for a deployment's name is served by the version
// its end user's arm names.
type deployments struct{ s *rollout.Store }

var _ api.Deployments = deployments{}

func (d deployments) Pick(ctx context.Context, model, user string) (api.Pick, error) {
	p, ok := tenant.PrincipalFrom(ctx)
	if !ok {
		return api.Pick{}, nil // a node's own machine, with no tenants, deploys nothing
	}
	a, ok := d.s.Pick(p.Tenant.ID, model, user, p.Key.ID)
	if !ok {
		return api.Pick{}, nil
	}
	return api.Pick{Model: a.Model, Rollout: a.Rollout, Arm: a.Arm, Handle: a}, nil
}

func (d deployments) Observe(ctx context.Context, pick api.Pick, o api.Outcome) {
	a, ok := pick.Handle.(rollout.Assignment)
	p, pok := tenant.PrincipalFrom(ctx)
	if !ok || !pok {
		return
	}
	// A client that went away says nothing about the version.
	failed := o.Err != nil && !errors.Is(o.Err, context.Canceled)
	d.s.Observe(a, p.Tenant.ID, rollout.Observation{ResponseID: o.ResponseID, Failed: failed, Duration: o.Duration})
}

func (d deployments) Feedback(ctx context.Context, fb api.FeedbackInput) {
	p, ok := tenant.PrincipalFrom(ctx)
	if !ok {
		return
	}
	d.s.ObserveFeedback(p.Tenant.ID, fb.ResponseID, rollout.Feedback{Thumb: fb.Thumb, Rating: fb.Rating,
		Corrected: strings.TrimSpace(fb.Correction) != ""})
}
