package admin

import (
	"context"
	"maps"

	"github.com/hearth-ai/hearth/audit"
)

// Record is the audit record of the admin change action, detail naming
// what it touched: kind admin, decision allow, the action as the reason
// and in the detail. Whoever writes it adds who made the change.
func Record(action string, detail map[string]string) audit.Record {
	d := make(map[string]string, len(detail)+1)
	maps.Copy(d, detail)
	d["action"] = action
	return audit.Record{Kind: audit.KindAdmin, Decision: audit.DecisionAllow, Reason: action, Detail: d}
}

// DirRecorder is the Recorder of a command working on the node data
// directory dataDir, which a node may be serving from: each change's
// Record, stamped with the node's ID and with extra's entries added to
// its detail (the command line's "via": "cli" and who ran it), goes to
// the directory's audit log, or to its spool while a node holds the log
// (audit.OpenDataDir, which tells warn when the log does not open). The
// log is opened for each change and closed after it, so a command holds
// it no longer than its change.
func DirRecorder(dataDir string, extra map[string]string, warn func(error)) Recorder {
	return func(ctx context.Context, action string, detail map[string]string) error {
		r := Record(action, detail)
		maps.Copy(r.Detail, extra)
		a, id, err := audit.OpenDataDir(dataDir, warn)
		if err != nil {
			return err
		}
		r.Node = id.ID
		// Written whether or not the command is being cancelled: the
		// change it records is committed only once it is.
		_, err = a.Append(context.WithoutCancel(ctx), r)
		if cerr := a.Close(); err == nil {
			err = cerr
		}
		return err
	}
}
