package api

import (
	"context"
	"fmt"
)

// Deployments decides which version serves a request for a deployment: a
// model name whose tenant rolls versions out (package flywheel/rollout).
// The server asks it before the backend resolves a name; a request naming
// a version outright (BASE:ADAPTER@VERSION), or the base's adapters with
// a "lora" field, is no deployment's.
type Deployments interface {
	// Pick returns the version that serves a request for model, by its
	// end user (OpenAI's "user"; "" when the request has none, and the
	// caller's key decides): a zero Pick means model is no deployment of
	// the caller's and is served as named.
	Pick(ctx context.Context, model, user string) (Pick, error)
	// Observe is told how a picked request ended, after its response.
	Observe(ctx context.Context, p Pick, o Outcome)
	// Feedback is told of feedback the Capturer accepted on a response.
	Feedback(ctx context.Context, fb FeedbackInput)
}

// Pick is the version that serves one request for a deployment.
type Pick struct {
	Model   string // the version's name as the backend resolves it
	Rollout string // the rollout that decided, for RolloutHeader; "" for none
	Arm     string // "stable" or "candidate"
	// Handle is the Deployments' own, handed back to Observe.
	Handle any
}

// RolloutHeader names the rollout and arm that served a response:
// "ro_... stable" or "ro_... candidate".
const RolloutHeader = "X-Hearth-Rollout"

// deploy asks Config.Deployments which version serves a request for name,
// and returns the name to resolve. The pick is kept with the request for
// its outcome (finish) and its response's header.
func (s *Server) deploy(ctx context.Context, name string) (string, error) {
	if s.cfg.Deployments == nil {
		return name, nil
	}
	// A "lora" field picks the adapters on the base outright, as a name
	// with @VERSION does, so it is no deployment's. Picked, its refusal on
	// an adapter arm was counted as that arm's error: any client could
	// fail a candidate by choosing a user in its buckets.
	if _, named := ctx.Value(loraKey{}).([]LoRA); named {
		return name, nil
	}
	info := requestInfoFrom(ctx)
	p, err := s.cfg.Deployments.Pick(ctx, name, info.user)
	if err != nil {
		return "", fmt.Errorf("the deployment of %q: %w", clientText(name), err)
	}
	if p.Model == "" {
		return name, nil
	}
	info.pick = &p
	if p.Rollout != "" && info.header != nil {
		info.header.Set(RolloutHeader, p.Rollout+" "+p.Arm)
	}
	return p.Model, nil
}

// observeFailed tells Config.Deployments that the version it picked for
// the request could not be had from the backend: an error of that
// version's, as much as one in its generation.
func (s *Server) observeFailed(ctx context.Context, model string, err error) {
	info := requestInfoFrom(ctx)
	s.observe(ctx, Outcome{ResponseID: info.id, Endpoint: info.endpoint, Model: model, Err: err, Duration: s.now().Sub(info.start)})
	info.pick = nil
}

// observe hands a picked request's outcome to Config.Deployments.
func (s *Server) observe(ctx context.Context, o Outcome) {
	if info := requestInfoFrom(ctx); info.pick != nil && s.cfg.Deployments != nil {
		s.cfg.Deployments.Observe(context.WithoutCancel(ctx), *info.pick, o)
	}
}
