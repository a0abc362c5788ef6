package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/identity"
)

func TestRecord(t *testing.T) {
	detail := map[string]string{"tenant": "kra", "tenant_id": "tnt_1"}
	r := Record("tenant.create", detail)
	if r.Kind != audit.KindAdmin || r.Decision != audit.DecisionAllow || r.Reason != "tenant.create" ||
		r.Detail["action"] != "tenant.create" || r.Detail["tenant"] != "kra" || len(r.Detail) != 3 {
		t.Errorf("Record = %+v", r)
	}
	if _, ok := detail["action"]; ok {
		t.Error("Record changed the caller's detail")
	}
}

// TestDirRecorder: a change recorded from the command line lands in the
// data directory's log, signed with the node key, with the command's own
// detail; a log that cannot be opened is an error, so the change is not
// made.
func TestDirRecorder(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	rec := DirRecorder(data, map[string]string{"via": "cli", "os_user": "amina"}, nil)
	detail := map[string]string{"key_id": "key_1"}
	if err := rec(ctx, "key.revoke", detail); err != nil {
		t.Fatal(err)
	}
	if len(detail) != 1 {
		t.Errorf("the recorder changed the caller's detail: %v", detail)
	}
	id, err := identity.Load(data)
	if err != nil {
		t.Fatalf("no node key after recording: %v", err)
	}
	var b bytes.Buffer
	if _, err := audit.Export(filepath.Join(data, audit.DirName), &b, 0, 0); err != nil {
		t.Fatal(err)
	}
	var got []audit.Record
	for _, line := range bytes.Split(bytes.TrimSpace(b.Bytes()), []byte("\n")) {
		var r audit.Record
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatal(err)
		}
		if r.Kind == audit.KindAdmin {
			got = append(got, r)
		}
	}
	if len(got) != 1 {
		t.Fatalf("%d admin records; want 1", len(got))
	}
	r := got[0]
	if r.Node != id.ID || r.Reason != "key.revoke" || r.Detail["action"] != "key.revoke" || r.Detail["key_id"] != "key_1" ||
		r.Detail["via"] != "cli" || r.Detail["os_user"] != "amina" {
		t.Errorf("record %+v", r)
	}

	// No node key can be made (the data directory is a file): an error.
	file := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := DirRecorder(file, nil, nil)(ctx, "tenant.create", nil); err == nil {
		t.Error("a change was recorded into a data directory that is a file")
	}
}
