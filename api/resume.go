package api

import (
	"context"

	"github.com/hearth-ai/hearth/engine"
)

// Resume continues a streamed response that another node started and
// could not finish (it died mid-stream). The fleet's gateway knows what
// the client has already received; the node taking over generates from
// the prompt plus that text, and its stream carries on where the other
// stopped: the same response id and creation time, no second role
// chunk or echo, and usage that counts the whole response.
//
// Only the gateway sets it (WithResume), never a client: a request body
// cannot ask for it.
type Resume struct {
	ID      string `json:"id"`      // the response's id
	Created int64  `json:"created"` // its creation time, Unix seconds (OpenAI's "created")
	Text    string `json:"text"`    // the completion text already sent
}

type resumeKey struct{}

// WithResume marks a request as the continuation of r.
func WithResume(ctx context.Context, r Resume) context.Context {
	return context.WithValue(ctx, resumeKey{}, &r)
}

// resumeFrom returns ctx's Resume, if any. (A gateway sends one only
// once some of the response has reached the client.)
func resumeFrom(ctx context.Context) *Resume {
	r, _ := ctx.Value(resumeKey{}).(*Resume)
	return r
}

// resumed is a Resume applied to one generation.
type resumed struct {
	*Resume
	cont []int32 // the sent text, tokenized again
	// done: the sent text already used up max_tokens, so nothing is
	// generated and the response just ends, as the first node would have.
	done bool
}

// resumeRequest extends req's prompt with the text already sent and
// takes the tokens it holds off max_tokens. It returns nil when ctx
// carries no Resume.
func resumeRequest(ctx context.Context, m Model, req *engine.Request) *resumed {
	r := resumeFrom(ctx)
	if r == nil {
		return nil
	}
	rs := &resumed{Resume: r}
	rs.cont = m.TokenizeContinuation(r.Text)
	req.Prompt = append(req.Prompt[:len(req.Prompt):len(req.Prompt)], rs.cont...)
	req.Continues = len(rs.cont) // the same seed goes on where the other node was
	if req.MaxTokens > 0 {
		if req.MaxTokens <= len(rs.cont) {
			rs.done = true
		}
		req.MaxTokens = max(1, req.MaxTokens-len(rs.cont))
	}
	return rs
}

// result turns the generation's result into the whole response's: the
// sent text and its tokens in front, and the prompt without them.
func (rs *resumed) result(res *engine.Result) *engine.Result {
	if res == nil {
		return nil
	}
	out := *res
	out.PromptTokens = max(0, res.PromptTokens-len(rs.cont))
	out.Text = rs.Text + res.Text
	out.Tokens = append(append(make([]int32, 0, len(rs.cont)+len(res.Tokens)), rs.cont...), res.Tokens...)
	return &out
}
