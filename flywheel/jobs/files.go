package jobs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/flywheel/dataset"
)

// maxFilename bounds a file's name as kept and listed.
const maxFilename = 256

// UploadFile checks content, OpenAI's chat fine-tuning JSONL, and keeps
// it as the tenant's file, sealed under its capture key. A bad line is a
// *ParamError (param "file") naming it; a file over MaxFileBytes is
// ErrTooLarge; purpose must be PurposeFineTune.
func (m *Manager) UploadFile(ctx context.Context, o Owner, filename, purpose string, content []byte) (File, error) {
	if err := m.resident(o); err != nil {
		return File{}, err
	}
	if purpose != PurposeFineTune {
		return File{}, paramErr("purpose", "'purpose' must be %q on this node, got %q", PurposeFineTune, clip(purpose))
	}
	if int64(len(content)) > m.cfg.MaxFileBytes {
		return File{}, fmt.Errorf("%w: %d bytes; the limit is %d", ErrTooLarge, len(content), m.cfg.MaxFileBytes)
	}
	if !utf8.ValidString(filename) || len(filename) > maxFilename {
		return File{}, paramErr("file", "the file's name must be UTF-8 of at most %d bytes", maxFilename)
	}
	if filename == "" {
		filename = "upload.jsonl"
	}
	lines, err := dataset.ParseChatJSONL(bytes.NewReader(content))
	if err != nil {
		return File{}, paramErr("file", "the file is not OpenAI's chat fine-tuning JSONL: %v", err)
	}
	sum := sha256.Sum256(content)
	f := File{ID: newID("file-"), TenantID: o.Tenant.ID, Filename: filename, Purpose: purpose, Bytes: int64(len(content)),
		Examples: len(lines), SHA256: hex.EncodeToString(sum[:]), Created: m.now().UTC()}
	stored, sealed, err := m.seal(ctx, f.TenantID, content, fileAAD(f.TenantID, f.ID))
	if err != nil {
		return File{}, err
	}
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return File{}, fmt.Errorf("jobs: upload: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO ft_files (id, tenant_id, filename, purpose, bytes, examples, sha256, content, sealed, created)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, f.ID, f.TenantID, f.Filename, f.Purpose, f.Bytes, f.Examples, f.SHA256, stored, sealed,
		f.Created.UnixNano()); err != nil {
		return File{}, fmt.Errorf("jobs: upload: %w", err)
	}
	if err := m.commitAudited(ctx, tx, o, audit.Record{Reason: "file.upload", Detail: map[string]string{"file_id": f.ID,
		"bytes": strconv.FormatInt(f.Bytes, 10), "examples": strconv.Itoa(f.Examples), "sha256": f.SHA256}}); err != nil {
		return File{}, err
	}
	return f, nil
}

// seal encrypts plain for the tenant when the Manager has a Sealer.
func (m *Manager) seal(ctx context.Context, tenantID string, plain, aad []byte) ([]byte, bool, error) {
	if m.cfg.Sealer == nil {
		return plain, false, nil
	}
	if m.cfg.Keys != nil {
		if err := m.cfg.Keys.EnsureKey(ctx, tenantID); err != nil {
			return nil, false, fmt.Errorf("jobs: the tenant's data key: %w", err)
		}
	}
	out, err := m.cfg.Sealer.Seal(tenantID, plain, aad)
	if err != nil {
		return nil, false, fmt.Errorf("jobs: seal: %w", err)
	}
	return out, true, nil
}

// fileAAD binds a sealed file to its tenant and id.
func fileAAD(tenantID, id string) []byte {
	return fmt.Appendf(nil, "ft_file\x00%s\x00%s", tenantID, id)
}

const fileCols = `id, tenant_id, filename, purpose, bytes, examples, sha256, created`

func scanFile(r scanner) (File, error) {
	var (
		f       File
		created int64
	)
	err := r.Scan(&f.ID, &f.TenantID, &f.Filename, &f.Purpose, &f.Bytes, &f.Examples, &f.SHA256, &created)
	f.Created = fromNano(created)
	return f, err
}

// File returns the tenant's file id.
func (m *Manager) File(ctx context.Context, o Owner, id string) (File, error) {
	f, err := scanFile(m.db.QueryRowContext(ctx, `SELECT `+fileCols+` FROM ft_files WHERE tenant_id = ? AND id = ?`, o.Tenant.ID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return f, fmt.Errorf("%w: no file %q", ErrNotFound, clip(id))
	}
	if err != nil {
		return f, fmt.Errorf("jobs: read file: %w", err)
	}
	return f, nil
}

// Files lists the tenant's files, newest first; purpose, when set,
// selects those of that purpose.
func (m *Manager) Files(ctx context.Context, o Owner, purpose string, p Page) ([]File, bool, error) {
	where, args := `tenant_id = ?`, []any{o.Tenant.ID}
	if purpose != "" {
		where, args = where+` AND purpose = ?`, append(args, purpose)
	}
	return page(ctx, m, "ft_files", fileCols, where, args, p, scanFile)
}

// DeleteFile deletes the tenant's file id. A job that has yet to read it
// then fails, saying so.
func (m *Manager) DeleteFile(ctx context.Context, o Owner, id string) error {
	tx, err := m.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("jobs: delete file: %w", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM ft_files WHERE tenant_id = ? AND id = ?`, o.Tenant.ID, id)
	if err != nil {
		return fmt.Errorf("jobs: delete file: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: no file %q", ErrNotFound, clip(id))
	}
	return m.commitAudited(ctx, tx, o, audit.Record{Reason: "file.delete", Detail: map[string]string{"file_id": id}})
}

// examples reads the tenant's file id as examples of split.
func (m *Manager) fileExamples(ctx context.Context, tenantID, id, split string) ([]dataset.Example, error) {
	var (
		content []byte
		sealed  bool
	)
	err := m.db.QueryRowContext(ctx, `SELECT content, sealed FROM ft_files WHERE tenant_id = ? AND id = ?`, tenantID, id).Scan(&content, &sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: file %s was deleted", ErrNotFound, id)
	}
	if err != nil {
		return nil, fmt.Errorf("read file %s: %w", id, err)
	}
	if sealed {
		if m.cfg.Sealer == nil {
			return nil, fmt.Errorf("file %s is sealed and this node has no key to open it", id)
		}
		if content, err = m.cfg.Sealer.Open(tenantID, content, fileAAD(tenantID, id)); err != nil {
			return nil, fmt.Errorf("open file %s: %w", id, err)
		}
	}
	lines, err := dataset.ParseChatJSONL(bytes.NewReader(content))
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", id, err)
	}
	out := make([]dataset.Example, len(lines))
	for i, msgs := range lines {
		out[i] = dataset.Example{Split: split, Messages: msgs}
	}
	return out, nil
}
