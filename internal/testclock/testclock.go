// Package testclock provides a clock that moves only when a test moves it.
//
// It is a leaf package (it imports only the standard library) so that the
// in-package tests of tenant, metering and audit can use it as well as
// internal/testfixture, which imports those packages.
package testclock

import (
	"sync"
	"time"
)

// Clock is a time source that moves only when told to. Safe for
// concurrent use; the zero Clock stands at the zero time.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// New returns a Clock standing at t.
func New(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock on by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// Set puts the clock at t, which may be earlier than its time.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}
