package jobs

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// migrations are the jobs component's schema steps. Append-only: never
// edit a step that has shipped, add another.
//
// Every row carries its tenant id (events and checkpoints through their
// job) and every query names it, so a tenant never sees another's files
// or jobs. seq orders rows as they were written and is what a listing's
// "after" cursor compares. Times are Unix nanoseconds, 0 for none. A
// file's content is its JSONL, sealed when the Manager has a Sealer.
var migrations = []string{
	`CREATE TABLE ft_files (
		seq       INTEGER PRIMARY KEY AUTOINCREMENT,
		id        TEXT NOT NULL UNIQUE,
		tenant_id TEXT NOT NULL,
		filename  TEXT NOT NULL,
		purpose   TEXT NOT NULL,
		bytes     INTEGER NOT NULL,
		examples  INTEGER NOT NULL,
		sha256    TEXT NOT NULL,
		content   BLOB NOT NULL,
		sealed    INTEGER NOT NULL,
		created   INTEGER NOT NULL
	);
	CREATE INDEX ft_files_tenant ON ft_files (tenant_id, seq);
	CREATE TABLE ft_jobs (
		seq              INTEGER PRIMARY KEY AUTOINCREMENT,
		id               TEXT NOT NULL UNIQUE,
		tenant_id        TEXT NOT NULL,
		key_id           TEXT NOT NULL DEFAULT '',
		model            TEXT NOT NULL,
		training_file    TEXT NOT NULL,
		validation_file  TEXT NOT NULL DEFAULT '',
		params           TEXT NOT NULL,
		seed             INTEGER NOT NULL,
		suffix           TEXT NOT NULL DEFAULT '',
		metadata         TEXT NOT NULL DEFAULT '',
		status           TEXT NOT NULL CHECK (status IN ('validating_files', 'queued', 'running', 'succeeded', 'failed', 'cancelled')),
		created          INTEGER NOT NULL,
		finished         INTEGER NOT NULL DEFAULT 0,
		fine_tuned_model TEXT NOT NULL DEFAULT '',
		trained_tokens   INTEGER NOT NULL DEFAULT 0,
		error            TEXT NOT NULL DEFAULT '',
		estimated_finish INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX ft_jobs_tenant ON ft_jobs (tenant_id, seq);
	CREATE INDEX ft_jobs_status ON ft_jobs (status, seq);
	CREATE TABLE ft_events (
		seq     INTEGER PRIMARY KEY AUTOINCREMENT,
		id      TEXT NOT NULL UNIQUE,
		job_id  TEXT NOT NULL REFERENCES ft_jobs (id) ON DELETE CASCADE,
		created INTEGER NOT NULL,
		level   TEXT NOT NULL,
		type    TEXT NOT NULL,
		message TEXT NOT NULL,
		data    TEXT NOT NULL DEFAULT ''
	);
	CREATE INDEX ft_events_job ON ft_events (job_id, seq);
	CREATE TABLE ft_checkpoints (
		seq     INTEGER PRIMARY KEY AUTOINCREMENT,
		id      TEXT NOT NULL UNIQUE,
		job_id  TEXT NOT NULL REFERENCES ft_jobs (id) ON DELETE CASCADE,
		created INTEGER NOT NULL,
		step    INTEGER NOT NULL,
		metrics TEXT NOT NULL,
		model   TEXT NOT NULL
	);
	CREATE INDEX ft_checkpoints_job ON ft_checkpoints (job_id, seq);`,
}

// newID is prefix and 24 random letters and digits, as OpenAI's ids look.
func newID(prefix string) string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	var b [24]byte
	rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return prefix + string(b[:])
}

func fromNano(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

type scanner interface{ Scan(dest ...any) error }

const jobCols = `id, tenant_id, key_id, model, training_file, validation_file, params, seed, suffix, metadata, status,
	created, finished, fine_tuned_model, trained_tokens, error, estimated_finish`

func scanJob(r scanner) (Job, error) {
	var (
		j                       Job
		params, meta, jerr      string
		created, fin, estimated int64
	)
	if err := r.Scan(&j.ID, &j.TenantID, &j.KeyID, &j.Model, &j.TrainingFile, &j.ValidationFile, &params, &j.Seed, &j.Suffix, &meta,
		&j.Status, &created, &fin, &j.FineTunedModel, &j.TrainedTokens, &jerr, &estimated); err != nil {
		return j, err
	}
	j.Created, j.Finished, j.EstimatedFinish = fromNano(created), fromNano(fin), fromNano(estimated)
	if err := json.Unmarshal([]byte(params), &j.Params); err != nil {
		return j, fmt.Errorf("job %s: params: %w", j.ID, err)
	}
	if meta != "" {
		if err := json.Unmarshal([]byte(meta), &j.Metadata); err != nil {
			return j, fmt.Errorf("job %s: metadata: %w", j.ID, err)
		}
	}
	if jerr != "" {
		j.Error = new(JobError)
		if err := json.Unmarshal([]byte(jerr), j.Error); err != nil {
			return j, fmt.Errorf("job %s: error: %w", j.ID, err)
		}
	}
	return j, nil
}

// job reads the tenant's job id; ErrNotFound names it otherwise.
func (m *Manager) job(ctx context.Context, tenantID, id string) (Job, error) {
	j, err := scanJob(m.db.QueryRowContext(ctx, `SELECT `+jobCols+` FROM ft_jobs WHERE tenant_id = ? AND id = ?`, tenantID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return j, fmt.Errorf("%w: no fine-tuning job %q", ErrNotFound, clip(id))
	}
	if err != nil {
		return j, fmt.Errorf("jobs: read job: %w", err)
	}
	return j, nil
}

// page runs a listing query: rows of the tenant newest first, after the
// row whose id is p.After (which must be the tenant's, in table, else
// ErrNotFound), at most p.Limit of them, plus whether more follow. where
// and args select the rows (tenant and parent); cols are read by scan.
func page[T any](ctx context.Context, m *Manager, table, cols, where string, args []any, p Page, scan func(scanner) (T, error)) ([]T, bool, error) {
	limit := p.Limit
	switch {
	case limit == 0:
		limit = DefaultLimit
	case limit < 0 || limit > MaxLimit:
		return nil, false, paramErr("limit", "'limit' must be 1 to %d, got %d", MaxLimit, limit)
	}
	q := `SELECT ` + cols + ` FROM ` + table + ` WHERE ` + where
	if p.After != "" {
		var seq int64
		err := m.db.QueryRowContext(ctx, `SELECT seq FROM `+table+` WHERE `+where+` AND id = ?`, append(args, p.After)...).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, false, paramErr("after", "'after' names no item of this list: %q", clip(p.After))
		}
		if err != nil {
			return nil, false, fmt.Errorf("jobs: list: %w", err)
		}
		q += ` AND seq < ?`
		args = append(args, seq)
	}
	rows, err := m.db.QueryContext(ctx, q+` ORDER BY seq DESC LIMIT ?`, append(args, limit+1)...)
	if err != nil {
		return nil, false, fmt.Errorf("jobs: list: %w", err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, false, fmt.Errorf("jobs: list: %w", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("jobs: list: %w", err)
	}
	more := len(out) > limit
	if more {
		out = out[:limit]
	}
	return out, more, nil
}

// clip is a client's string cut for an error message.
func clip(s string) string {
	const n = 64
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("… (%d bytes)", len(s))
}
