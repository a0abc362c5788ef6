package metering

import (
	"fmt"
	"net/http/httptest"
	"strconv"

	"github.com/hearth-ai/hearth/api"
)

// RetryAfterSeconds is the Retry-After header a client is sent for e: it
// asks api.WriteError, which does the rounding (up to whole seconds, at
// least 1), so that the table of refusals in limits_test.go states the
// header each one really gets. 0: no header, or not a number.
func (e *LimitError) RetryAfterSeconds() int64 {
	rec := httptest.NewRecorder()
	api.WriteError(rec, httptest.NewRequest("POST", "/v1/chat/completions", nil), fmt.Errorf("%w: %w", api.ErrRateLimited, e))
	s, _ := strconv.ParseInt(rec.Header().Get("Retry-After"), 10, 64)
	return s
}
