package tenant

import "context"

type principalKey struct{}

// WithPrincipal returns a context carrying the authenticated caller of a
// request. The node's front door (package access) puts it there; what
// acts on the caller's behalf behind it (the admin API, the capture hook,
// the admin change's audit record) reads it with PrincipalFrom, so none
// of them depends on the type of the others.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the caller stored by WithPrincipal; false when
// there is none (a request served without credentials on a node with no
// tenants, or a change made on the command line).
func PrincipalFrom(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}
