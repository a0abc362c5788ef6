package dataset

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// RemoveResponses deletes, from every version of every dataset of the
// tenant, the examples derived from the given responses (erasure along
// lineage), and counts them on their versions (Version.Removed). It returns
// how many examples it deleted. Unknown ids are not an error: a response
// may never have made it into a dataset. It is what the capture store's
// erasure hook calls.
func (s *Store) RemoveResponses(ctx context.Context, tenantID string, responseIDs []string) (int, error) {
	if tenantID == "" {
		return 0, fmt.Errorf("%w: empty tenant id", ErrInvalid)
	}
	ids := make([]string, 0, len(responseIDs))
	for _, id := range responseIDs {
		if id != "" { // imported examples have no lineage: never match them
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) == 0 {
		return 0, nil
	}
	tx, err := s.d.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("dataset: remove responses: %w", err)
	}
	defer tx.Rollback()
	total := 0
	const batch = 500 // stay well under SQLite's bound-parameter limit
	for start := 0; start < len(ids); start += batch {
		chunk := ids[start:min(start+batch, len(ids))]
		in := strings.TrimSuffix(strings.Repeat("?,", len(chunk)), ",")
		args := make([]any, 0, len(chunk)+1)
		args = append(args, tenantID)
		for _, id := range chunk {
			args = append(args, id)
		}
		// Count per version first, then delete: the versions keep a record
		// that they lost examples, not which.
		if _, err := tx.ExecContext(ctx, `UPDATE dataset_versions AS v SET removed = removed + (
				SELECT count(*) FROM dataset_examples e
				WHERE e.tenant_id = v.tenant_id AND e.name = v.name AND e.version = v.version AND e.response_id IN (`+in+`))
			WHERE v.tenant_id = ?`, append(args[1:len(args):len(args)], tenantID)...); err != nil {
			return 0, fmt.Errorf("dataset: remove responses: %w", err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM dataset_examples WHERE tenant_id = ? AND response_id IN (`+in+`)`, args...)
		if err != nil {
			return 0, fmt.Errorf("dataset: remove responses: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("dataset: remove responses: %w", err)
		}
		total += int(n)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("dataset: remove responses: %w", err)
	}
	return total, nil
}
