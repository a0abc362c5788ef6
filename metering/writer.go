package metering

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// maxBatch is the most rows one transaction writes; maxPending is how many
// unwritten rows Done lets pile up before it waits for the database
// (back-pressure rather than unbounded memory or dropped records).
const (
	maxBatch   = 2048
	maxPending = 1 << 18
	retryDelay = 200 * time.Millisecond
)

// record is one request's usage row.
type record struct {
	timeMS                   int64
	tenant, key, model, node string
	jurisdiction, responseID string
	prompt, completion       int64
	computeUS                int64
}

// writer appends usage rows to the database in batches from a goroutine of
// its own, so a request's Done costs an append to a slice and never waits
// for SQLite. Flush and close wait until everything queued is written.
type writer struct {
	db *sql.DB

	mu       sync.Mutex
	cond     *sync.Cond // signalled on queue, write, failure and close
	queue    []record
	queued   uint64 // rows ever queued
	written  uint64 // rows ever written
	failures uint64 // failed write attempts
	lastErr  error
	closing  bool
	stopped  chan struct{}
}

func newWriter(db *sql.DB) *writer {
	w := &writer{db: db, stopped: make(chan struct{})}
	w.cond = sync.NewCond(&w.mu)
	go w.run()
	return w
}

// waitRoom waits while the queue is full.
func (w *writer) waitRoom() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.queue) >= maxPending && !w.closing {
		w.cond.Wait()
	}
}

// enqueue queues r. Call waitRoom first: enqueue itself never waits, so
// the queue may pass maxPending by the number of concurrent callers.
func (w *writer) enqueue(r record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing {
		return errors.New("metering: meter is closed")
	}
	w.queue = append(w.queue, r)
	w.queued++
	w.cond.Broadcast()
	return nil
}

func (w *writer) run() {
	defer close(w.stopped)
	var batch []record
	consecutive := 0 // failed attempts in a row
	for {
		w.mu.Lock()
		for len(w.queue) == 0 && !w.closing {
			w.cond.Wait()
		}
		if len(w.queue) == 0 && w.closing {
			w.mu.Unlock()
			return
		}
		n := min(len(w.queue), maxBatch)
		batch = append(batch[:0], w.queue[:n]...)
		w.mu.Unlock()

		err := w.write(batch)

		w.mu.Lock()
		if err != nil {
			w.failures++
			consecutive++
			w.lastErr = err
			closing := w.closing
			w.cond.Broadcast()
			w.mu.Unlock()
			if closing && consecutive > 3 {
				// Close gives up after a few attempts and reports
				// what is lost rather than hang shutdown forever.
				return
			}
			time.Sleep(retryDelay)
			continue
		}
		// Shift rather than reslice so the backing array does not
		// keep growing at its front.
		rest := copy(w.queue, w.queue[n:])
		clear(w.queue[rest:])
		w.queue = w.queue[:rest]
		w.written += uint64(n)
		w.lastErr = nil
		consecutive = 0
		w.cond.Broadcast()
		w.mu.Unlock()
	}
}

// rowsPerInsert is how many rows one INSERT statement carries: one
// statement per row costs SQLite several times more per row.
const rowsPerInsert = 64

func (w *writer) write(batch []record) error {
	tx, err := w.db.Begin()
	if err != nil {
		return fmt.Errorf("metering: write usage: %w", err)
	}
	defer tx.Rollback()
	args := make([]any, 0, rowsPerInsert*10)
	for len(batch) > 0 {
		n := min(len(batch), rowsPerInsert)
		args = args[:0]
		for _, r := range batch[:n] {
			args = append(args, r.timeMS, r.tenant, r.key, r.model, r.node, r.jurisdiction,
				r.prompt, r.completion, r.computeUS, r.responseID)
		}
		if _, err := tx.Exec(insertSQL(n), args...); err != nil {
			return fmt.Errorf("metering: write usage: %w", err)
		}
		batch = batch[n:]
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("metering: write usage: %w", err)
	}
	return nil
}

// insertSQLs caches the INSERT of n rows, by n.
var insertSQLs [rowsPerInsert + 1]string

func init() {
	for n := 1; n <= rowsPerInsert; n++ {
		insertSQLs[n] = `INSERT INTO metering_usage (time_ms, tenant, key_id, model, node, jurisdiction,
		prompt_tokens, completion_tokens, compute_us, response_id) VALUES ` +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?, ?, ?, ?), ", n), ", ")
	}
}

func insertSQL(n int) string { return insertSQLs[n] }

// flush waits until every row queued before the call is in the database.
// It returns early with the write error if an attempt fails meanwhile
// (the writer keeps retrying) or with ctx's error.
func (w *writer) flush(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	target, failures := w.queued, w.failures
	if w.written >= target {
		return nil
	}
	// sync.Cond knows nothing of contexts: wake the waiters when ctx ends.
	stop := context.AfterFunc(ctx, func() {
		w.mu.Lock()
		w.cond.Broadcast()
		w.mu.Unlock()
	})
	defer stop()
	for w.written < target {
		if w.failures != failures {
			return w.lastErr
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("metering: flush: %w", err)
		}
		select {
		case <-w.stopped:
			return fmt.Errorf("metering: flush: writer stopped with %d rows unwritten: %w", target-w.written, w.lastErr)
		default:
		}
		w.cond.Wait()
	}
	return nil
}

// close writes what is queued and stops the writer. Rows it could not write
// after a few attempts are reported in the error.
func (w *writer) close() error {
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		<-w.stopped
		return nil
	}
	w.closing = true
	w.cond.Broadcast()
	w.mu.Unlock()
	<-w.stopped
	w.mu.Lock()
	defer w.mu.Unlock()
	if n := len(w.queue); n > 0 {
		return fmt.Errorf("metering: close: %d usage rows not written: %w", n, w.lastErr)
	}
	return nil
}
