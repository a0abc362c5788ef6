package tenant

import "context"

// Change is what a write did, as a commit hook sees it before the write
// commits.
type Change struct {
	Tenant      Tenant // the tenant created, updated or deleted
	Key         Key    // the key created or revoked
	KeysDeleted int    // keys deleted with the tenant
}

// CommitHook runs inside a write's transaction, after the change and
// before COMMIT, with the database's write lock held. An error rolls the
// write back, and the write returns it: nothing changed. The admin API
// writes each change's audit record this way, so that a change the audit
// log cannot record is not made.
type CommitHook func(ctx context.Context, c Change) error

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
