package audit

import (
	"context"
	"fmt"
)

// Checkpoint signs the chain head now, if any record is unsigned, and
// returns the checkpoint (the zero Record if there was nothing to sign):
// the tests' way to sign where they choose, rather than when
// CheckpointIfDue or Close does.
func (l *Log) Checkpoint(ctx context.Context) (Record, error) {
	if err := ctx.Err(); err != nil {
		return Record{}, fmt.Errorf("audit: checkpoint: %w", err)
	}
	l.mu.Lock()
	var cp Record
	var err error
	if l.sinceCP > 0 {
		cp, err = l.checkpointLocked("manual")
	}
	upto := l.seq
	l.mu.Unlock()
	if err != nil {
		return Record{}, err
	}
	return cp, l.waitDurable(upto)
}
