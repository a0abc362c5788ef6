package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/hearth-ai/hearth/capture"
	"github.com/hearth-ai/hearth/db"
	"github.com/hearth-ai/hearth/flywheel/dataset"
)

// openSealedDatasets opens the dataset store with its examples sealed under
// each tenant's capture data key (capture.Sealer), so that shredding a
// tenant's key (`hearth capture shred`) leaves its datasets unreadable too.
// Examples written before datasets were sealed still read. Every command
// that opens the dataset store goes through here.
func openSealedDatasets(ctx context.Context, d *db.DB, dataDir string, now func() time.Time) (*dataset.Store, *capture.Store, error) {
	ds, err := dataset.Open(ctx, d, now)
	if err != nil {
		return nil, nil, err
	}
	cs, err := capture.Open(ctx, d, capture.Config{KeyFile: filepath.Join(dataDir, capture.KeyFileName)})
	if err != nil {
		return nil, nil, fmt.Errorf("dataset: the capture keys that seal datasets: %w", err)
	}
	ds.SetSealer(cs.Sealer())
	return ds, cs, nil
}
