package metering

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hearth-ai/hearth/internal/testclock"
	"github.com/hearth-ai/hearth/tenant"
)

// TestWriterRetries: when the database refuses a batch, Flush reports the
// error, the rows stay queued, and they are written once it works again:
// nothing is lost.
func TestWriterRetries(t *testing.T) {
	c := testclock.New(t0)
	m := openMeter(t, c)
	ctx := context.Background()
	p := principal("t", tenant.Limits{}, "k", tenant.Limits{})
	if err := use(t, m, p, 1, 1, 0); err != nil {
		t.Fatal(err)
	}
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// Make every insert fail.
	if _, err := m.db.Exec(`ALTER TABLE metering_usage RENAME TO metering_usage_away`); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := use(t, m, p, 1, 2, 0); err != nil {
			t.Fatal(err)
		}
	}
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := m.Flush(fctx); err == nil {
		t.Fatal("Flush succeeded with the table gone")
	}
	if _, err := m.db.Exec(`ALTER TABLE metering_usage_away RENAME TO metering_usage`); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		err := m.Flush(ctx)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Flush still failing after the table came back: %v", err)
		}
	}
	rows, err := m.Query(ctx, Query{Tenant: "t"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Requests != 4 || rows[0].Tokens() != 7 {
		t.Errorf("after recovery %+v; want 4 requests, 7 tokens", rows)
	}
}

// TestFlushHonoursContext: a Flush waiting on a stuck writer returns when
// its context ends.
func TestFlushHonoursContext(t *testing.T) {
	m := openMeter(t, testclock.New(t0))
	p := principal("t", tenant.Limits{}, "k", tenant.Limits{})
	// Hold the only connection of the in-memory database so the writer
	// cannot begin a transaction.
	conn, err := m.db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := use(t, m, p, 1, 1, 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	// Flush gives up when its context ends, rather than waiting for the
	// writer forever.
	if err := m.Flush(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Flush while the writer could not write: %v; want the context's deadline error", err)
	}
	conn.Close()
	if err := m.Flush(context.Background()); err != nil {
		t.Errorf("Flush once the connection is free: %v", err)
	}
}
