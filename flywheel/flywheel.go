package flywheel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/hearth-ai/hearth/capture"
	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/flywheel/dataset"
	"github.com/hearth-ai/hearth/flywheel/registry"
	"github.com/hearth-ai/hearth/tenant"
)

// Options are what differs between those who open the stores. The zero
// value opens them for a command on a node's data directory: no
// jurisdiction, forwarder or audit.
type Options struct {
	// Now is both stores' clock; nil means time.Now.
	Now func() time.Time
	// Jurisdiction and Node are the node's, for capture decisions and
	// audit records (see capture.Config).
	Jurisdiction string
	Node         string
	// Audit, when set, records every capture, feedback, erasure and key
	// deletion, and every adapter registered, exported, retired, deleted
	// or marked erased.
	Audit capture.Auditor
	// Tenants, when set, lets the capture sweep apply a tenant's current
	// retention, and an erasure retire adapters when the tenant's policy
	// says so (RetireErasedAdapters).
	Tenants interface {
		ListTenants(ctx context.Context) ([]tenant.Tenant, error)
	}
	// Forwarder takes interactions to the tenant's home jurisdiction; nil
	// means none.
	Forwarder capture.Forwarder
	// OnRetire, when set, is the adapter registry's hook after a version
	// is retired, deleted or retired by an erasure (registry.Config):
	// where rollouts are kept, their Store.Retired.
	OnRetire func(ctx context.Context, tenantID, name string, version int) error
	Logger   *slog.Logger // nil: discard
}

// Stores are the capture, dataset and adapter stores of one database,
// opened together by Open.
type Stores struct {
	Capture  *capture.Store
	Datasets *dataset.Store
	Adapters *registry.Store
}

// Open opens the capture, dataset and adapter stores on d, migrating
// their tables.
// dataDir holds the capture master key (capture.KeyFileName); empty means
// the directory of d's file.
func Open(ctx context.Context, d *db.DB, dataDir string, o Options) (*Stores, error) {
	ds, err := dataset.Open(ctx, d, o.Now)
	if err != nil {
		return nil, err
	}
	reg, err := registry.Open(ctx, d, registry.Config{Jurisdiction: o.Jurisdiction, Node: o.Node, Audit: o.Audit,
		Datasets: ds, Tenants: o.Tenants, OnRetire: o.OnRetire, Now: o.Now, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	cfg := capture.Config{
		Jurisdiction: o.Jurisdiction,
		Node:         o.Node,
		Audit:        o.Audit,
		Tenants:      o.Tenants,
		Forwarder:    o.Forwarder,
		Now:          o.Now,
		Logger:       o.Logger,
		// Erasures flow on into datasets along their lineage, and mark
		// the adapters trained on them.
		OnErase: func(ctx context.Context, tenantID string, responseIDs []string) error {
			_, err := ds.RemoveResponses(ctx, tenantID, responseIDs)
			_, merr := reg.MarkErased(ctx, tenantID, responseIDs)
			return errors.Join(err, merr)
		},
	}
	if dataDir != "" {
		cfg.KeyFile = filepath.Join(dataDir, capture.KeyFileName)
	}
	cs, err := capture.Open(ctx, d, cfg)
	if err != nil {
		return nil, fmt.Errorf("flywheel: the capture store that seals datasets: %w", err)
	}
	ds.SetSealer(cs.Sealer())
	reg.SetSealer(cs.Sealer(), cs.EnsureKey)
	return &Stores{Capture: cs, Datasets: ds, Adapters: reg}, nil
}

// ErrNoFeedback is what Source returns for a tenant with no captured
// interaction that anyone has rated yet.
var ErrNoFeedback = errors.New("no captured interactions with feedback for this tenant yet (its data policy must capture them, and users rate them)")

// Source returns the tenant's captured interactions that have feedback,
// as a dataset build reads them.
func (s *Stores) Source() dataset.Source { return captureSource{s.Capture} }

// captureSource adapts the capture store to the datasets' Source.
type captureSource struct{ s *capture.Store }

func (c captureSource) Interactions(ctx context.Context, tenantID string) ([]dataset.Interaction, error) {
	recs, err := c.s.List(ctx, tenantID, capture.Filter{WithFeedback: true})
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, ErrNoFeedback
	}
	out := make([]dataset.Interaction, 0, len(recs))
	for _, r := range recs {
		msgs := make([]dataset.Message, len(r.Messages))
		for i, m := range r.Messages {
			msgs[i] = dataset.Message{Role: m.Role, Content: m.Content}
		}
		fbs := make([]dataset.Feedback, len(r.Feedback))
		for i, f := range r.Feedback {
			fbs[i] = dataset.Feedback{Rating: f.Rating, Thumb: f.Thumb, Correction: f.Correction, Tags: f.Tags, Time: f.Time, Numbered: f.Numbered}
		}
		in := dataset.Interaction{ResponseID: r.ResponseID, EndUser: r.EndUser, Model: r.Model, Messages: msgs, Output: r.Output, Time: r.Time}
		out = append(out, in.WithFeedback(fbs))
	}
	return out, nil
}
