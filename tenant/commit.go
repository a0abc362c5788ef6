package tenant

import (
	"context"
	"database/sql"
)

// Change is what a write did, as a commit hook sees it before the write
// commits.
type Change struct {
	Tenant      Tenant // the tenant created, updated or deleted
	Key         Key    // the key created or revoked
	KeysDeleted int    // keys deleted with the tenant
}

// CommitHook runs inside a write's transaction, after the change and
// before COMMIT, with the database's write lock held. An error rolls the
// write back, and the write returns it: nothing changed. Every admin
// change (admin.Ops, for the admin API and the command line alike) writes
// its audit record this way, so that a change the audit log cannot record
// is not made.
type CommitHook func(ctx context.Context, c Change) error

// hooked runs write alone or, with hooks, inside a write transaction that
// the hooks see, with change() saying what write did, before it commits.
func (s *Store) hooked(ctx context.Context, hooks []CommitHook, write func(context.Context, execer) error, change func() Change) error {
	if len(hooks) == 0 {
		return write(ctx, s.d)
	}
	return s.writeTx(ctx, func(c *sql.Conn) error {
		if err := write(ctx, c); err != nil {
			return err
		}
		return runHooks(ctx, hooks, change())
	})
}

// runHooks calls hooks in order, stopping at the first error.
func runHooks(ctx context.Context, hooks []CommitHook, c Change) error {
	for _, h := range hooks {
		if h == nil {
			continue
		}
		if err := h(ctx, c); err != nil {
			return err
		}
	}
	return nil
}
