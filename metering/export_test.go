package metering

import "time"

// RetryAfterSeconds is the Retry-After header value a client is sent for
// e: RetryAfter rounded up to whole seconds, at least 1, as api.WriteError
// rounds it (the API does the rounding; this copy lets the table of
// refusals in limits_test.go state the header each one gets).
func (e *LimitError) RetryAfterSeconds() int64 {
	s := int64((e.Wait + time.Second - 1) / time.Second)
	return max(s, 1)
}
