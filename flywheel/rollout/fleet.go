package rollout

import (
	"context"
	"fmt"
)

// Deployment is a deployment's latest rollout, what the nodes of a fleet
// that serve the tenant away from its home need to pick as the home does
// (package flywheel/rollout/fleet): a live rollout's arms by ArmOf, a
// promoted one's candidate, a rolled-back one's stable.
type Deployment struct {
	ID        string // the rollout's
	TenantID  string
	Model     string // the deployment's name
	Stable    string
	Candidate string
	State     string
	Share     int
	// Seq is the number of the rollout's last step (its history's last
	// Event.Seq): it only grows, across restarts too, and a later rollout's
	// steps have higher numbers than an earlier one's.
	Seq int64
}

// Deployments lists every deployment's latest rollout, by tenant and
// model: the one started last (its start event's number is the highest;
// clocks may tie or step back).
func (s *Store) Deployments(ctx context.Context) ([]Deployment, error) {
	rows, err := s.d.QueryContext(ctx, `SELECT r.id, r.tenant_id, r.model, r.stable, r.candidate, r.state, r.share,
		COALESCE((SELECT MAX(e.seq) FROM rollout_events e WHERE e.rollout_id = r.id), 0)
		FROM rollouts r ORDER BY (SELECT MIN(e.seq) FROM rollout_events e WHERE e.rollout_id = r.id), r.created, r.id`)
	if err != nil {
		return nil, fmt.Errorf("rollout: deployments: %w", err)
	}
	defer rows.Close()
	at := map[deployKey]int{}
	var out []Deployment
	for rows.Next() {
		var d Deployment
		if err := rows.Scan(&d.ID, &d.TenantID, &d.Model, &d.Stable, &d.Candidate, &d.State, &d.Share, &d.Seq); err != nil {
			return nil, fmt.Errorf("rollout: deployments: %w", err)
		}
		k := keyOf(d.TenantID, d.Model)
		if i, ok := at[k]; ok {
			out[i] = d // a later rollout of the deployment
			continue
		}
		at[k] = len(out)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("rollout: deployments: %w", err)
	}
	return out, nil
}

// Assign is the assignment another node made for the tenant's rollout
// under way here: arm, at share. Observe counts its outcome as a local
// one's, and remembers its response for feedback. False when no such
// rollout of the tenant's is under way (it ended meanwhile, or the arm
// or share is no rollout's).
func (s *Store) Assign(tenantID, rolloutID, arm string, share int) (Assignment, bool) {
	if (arm != ArmStable && arm != ArmCandidate) || share < 0 || share > 100 {
		return Assignment{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	lr := s.byID[rolloutID]
	if lr == nil || lr.tenant != tenantID {
		return Assignment{}, false
	}
	m := lr.stable
	if arm == ArmCandidate {
		m = lr.candidate
	}
	return Assignment{Rollout: rolloutID, Arm: arm, Model: m, share: share, counted: true}, true
}
