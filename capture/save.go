package capture

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hearth-ai/hearth/audit"
	"github.com/hearth-ai/hearth/capture/pii"
	"github.com/hearth-ai/hearth/tenant"
)

// sealedRecord is what a record's ciphertext holds. The tenant and
// response ids are outside (and bound in as additional data).
type sealedRecord struct {
	KeyID    string         `json:"key_id,omitempty"`
	EndUser  string         `json:"end_user,omitempty"`
	Model    string         `json:"model"`
	Endpoint string         `json:"endpoint,omitempty"`
	Messages []Message      `json:"messages"`
	Output   string         `json:"output"`
	Params   map[string]any `json:"params,omitempty"`
	Time     time.Time      `json:"time"`
	Scrubbed map[string]int `json:"scrubbed,omitempty"`
	// Numbering continues the record's placeholders in feedback given on
	// it later (digests under the data key's placeholderKey).
	Numbering *pii.Numbering `json:"numbering,omitempty"`
}

// Save scrubs an interaction and stores it sealed under the tenant's data
// key. It applies the policy once more (capture off or retention 0:
// ErrNotAllowed; opt-in is the caller's to check with Decide, since only
// the request knows), and stores only on the tenant's home node; elsewhere
// the scrubbed interaction goes to the Forwarder (audited here as
// "forward", naming the node that took it), and when that fails it is
// dropped, counted, with ErrNotHome. On a home node, a Forwarder that is
// also a Gatherer sends it to the tenant's primary home node, if that is
// another node and takes it; otherwise it is stored here.
func (s *Store) Save(ctx context.Context, t tenant.Tenant, in Interaction) error {
	if t.ID == "" {
		return fmt.Errorf("%w: save: the tenant has no id", ErrInvalid)
	}
	if in.ResponseID == "" {
		return fmt.Errorf("%w: save: the interaction has no response id", ErrInvalid)
	}
	if in.TenantID != "" && in.TenantID != t.ID {
		return fmt.Errorf("%w: save: interaction of tenant %q saved for tenant %q", ErrInvalid, in.TenantID, t.ID)
	}
	if reason, ok := allowed(t, true); !ok {
		return fmt.Errorf("%w: tenant %s: %s", ErrNotAllowed, t.Name, reason)
	}
	in.TenantID = t.ID
	if in.Time.IsZero() {
		in.Time = s.now()
	}
	rec, ss := s.scrub(in)
	rec.Expires = rec.Time.Add(t.Policy.Retention())

	if !s.home(t) {
		node, err := s.cfg.Forwarder.Forward(ctx, t, Forwarded{Record: rec, EndUser: in.EndUser})
		if err == nil {
			s.forwarded.Add(1)
			s.audit(ctx, audit.Record{Tenant: t.ID, KeyID: in.KeyID, Model: rec.Model, ResponseID: in.ResponseID, Reason: "forward",
				Detail: map[string]string{"home": t.Policy.Home, "to_node": node, "messages": strconv.Itoa(len(rec.Messages))}})
			return nil
		}
		s.dropped.Add(1)
		s.log.Warn("capture: interaction dropped: this node is not the tenant's home and it could not be forwarded",
			"tenant", t.Name, "response_id", in.ResponseID, "node_jurisdiction", s.cfg.Jurisdiction, "home", t.Policy.Home, "err", err)
		return fmt.Errorf("%w: node in %q, tenant %s's home is %q: %w", ErrNotHome, s.cfg.Jurisdiction, t.Name, t.Policy.Home, err)
	}
	if g, ok := s.cfg.Forwarder.(Gatherer); ok && t.Policy.Home != "" {
		node, err := g.ToPrimary(ctx, t, Forwarded{Record: rec, EndUser: in.EndUser})
		if err == nil {
			s.forwarded.Add(1)
			s.audit(ctx, audit.Record{Tenant: t.ID, KeyID: in.KeyID, Model: rec.Model, ResponseID: in.ResponseID, Reason: "forward",
				Detail: map[string]string{"home": t.Policy.Home, "to_node": node, "primary": "true", "messages": strconv.Itoa(len(rec.Messages))}})
			return nil
		}
		if !errors.Is(err, ErrIsPrimary) {
			s.log.Info("capture: the tenant's primary home node did not take the interaction; kept here", "tenant", t.Name, "err", err)
		}
	}
	return s.store(ctx, t, rec, ss, in.EndUser, nil)
}

// SaveForwarded stores an interaction that node from (the fabric has
// verified it: a certified peer) captured for this node's tenant t, the
// tenant of the same name there. The record was scrubbed there; it is
// scrubbed again here all the same (cheap, and this node answers for what
// it stores), sealed under t's key here, given t's retention here, and
// audited with the sending node. It refuses what this node must not keep:
// t's home elsewhere (ErrNotHome; it is never forwarded on), a policy that
// keeps nothing (ErrNotAllowed), a record without a response id or one
// already stored (ErrInvalid).
func (s *Store) SaveForwarded(ctx context.Context, from string, t tenant.Tenant, f Forwarded) error {
	in := f.Record.Interaction
	if t.ID == "" {
		return fmt.Errorf("%w: save forwarded: the tenant has no id", ErrInvalid)
	}
	if in.ResponseID == "" {
		return fmt.Errorf("%w: save forwarded from %s: the interaction has no response id", ErrInvalid, from)
	}
	if reason, ok := allowed(t, true); !ok {
		return fmt.Errorf("%w: tenant %s: %s", ErrNotAllowed, t.Name, reason)
	}
	if !s.home(t) {
		return fmt.Errorf("%w: forwarded by %s, but this node is in %q and tenant %s's home is %q", ErrNotHome, from, s.cfg.Jurisdiction, t.Name, t.Policy.Home)
	}
	if in.Time.IsZero() {
		in.Time = s.now()
	}
	in.TenantID = t.ID
	rec, ss := s.scrub(in)
	for typ, n := range f.Record.Scrubbed {
		if rec.Scrubbed == nil {
			rec.Scrubbed = map[string]int{}
		}
		rec.Scrubbed[typ] += n
	}
	rec.Expires = rec.Time.Add(t.Policy.Retention())
	endUser := f.EndUser
	if endUser == "" {
		endUser = in.EndUser
	}
	return s.store(ctx, t, rec, ss, endUser, map[string]string{"from_node": from})
}

// store seals a scrubbed record under the tenant's key, with endUser's
// erasure tag and the numbering of ss, the session that scrubbed it, and
// audits it (with extra details).
func (s *Store) store(ctx context.Context, t tenant.Tenant, rec Record, ss *pii.Session, endUser string, extra map[string]string) error {
	key, err := s.liveKey(ctx, t.ID, true)
	if err != nil {
		return fmt.Errorf("capture: save %s: %w", rec.ResponseID, err)
	}
	num := ss.Numbering(key.placeholderKey())
	plain, err := json.Marshal(sealedRecord{KeyID: rec.KeyID, EndUser: rec.EndUser, Model: rec.Model, Endpoint: rec.Endpoint,
		Messages: rec.Messages, Output: rec.Output, Params: rec.Params, Time: rec.Time, Scrubbed: rec.Scrubbed, Numbering: &num})
	if err != nil {
		return fmt.Errorf("capture: save %s: %w", rec.ResponseID, err)
	}
	sealed := seal(key.aead, plain, recordAAD(t.ID, rec.ResponseID))
	clear(plain)
	// The record is kept only if its audit record is: the insert commits
	// after the append, and is rolled back when the log cannot record.
	tx, err := s.d.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("capture: save %s: %w", rec.ResponseID, err)
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, `INSERT INTO capture_record (tenant_id, response_id, key_id, user_tag, model, time, expires, sealed)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, t.ID, rec.ResponseID, key.id, key.userTag(endUser), rec.Model,
		rec.Time.UnixNano(), rec.Expires.UnixNano(), sealed)
	if err != nil {
		if strings.Contains(err.Error(), "UNIQUE") {
			return fmt.Errorf("%w: save: response %s is already captured", ErrInvalid, rec.ResponseID)
		}
		return fmt.Errorf("capture: save %s: %w", rec.ResponseID, err)
	}
	detail := map[string]string{"messages": strconv.Itoa(len(rec.Messages))}
	for _, typ := range slices.Sorted(maps.Keys(rec.Scrubbed)) {
		detail["scrubbed."+typ] = strconv.Itoa(rec.Scrubbed[typ])
	}
	maps.Copy(detail, extra)
	ar := audit.Record{Tenant: t.ID, KeyID: rec.KeyID, Model: rec.Model, ResponseID: rec.ResponseID, Reason: "save", Detail: detail}
	if err := s.commitAudited(ctx, tx, ar); err != nil {
		return fmt.Errorf("capture: save %s: %w", rec.ResponseID, err)
	}
	s.saved.Add(1)
	return nil
}

func recordAAD(tenantID, responseID string) []byte {
	return []byte(aadRecord + tenantID + "\x00" + responseID)
}

// scrub replaces identifiers in every text of the interaction with one
// session, so a value keeps its placeholder across messages and output,
// and returns the session so that its numbering can be kept with the
// record. Placeholders already in the texts (a record scrubbed on another
// node) keep their numbers: new values are numbered after them. Strings
// inside Params (stop sequences and the like) are scrubbed too.
func (s *Store) scrub(in Interaction) (Record, *pii.Session) {
	ss := s.scr.NewSession()
	for _, m := range in.Messages {
		ss.Reserve(m.Content)
	}
	ss.Reserve(in.Output)
	counts := map[string]int{}
	text := func(t string) string {
		r := ss.Scrub(t)
		for _, f := range r.Found {
			counts[f.Type]++
		}
		return r.Text
	}
	out := Record{Interaction: in}
	out.Messages = make([]Message, len(in.Messages))
	for i, m := range in.Messages {
		out.Messages[i] = Message{Role: m.Role, Content: text(m.Content)}
	}
	out.Output = text(in.Output)
	// The end user's id is kept (sealed) for export; one that is itself
	// an identifier (an e-mail address) is scrubbed like any other text.
	// Erasure finds the rows by a tag of the original id, not by this.
	out.EndUser = text(in.EndUser)
	if in.Params != nil {
		out.Params = scrubValue(in.Params, text).(map[string]any)
	}
	if len(counts) > 0 {
		out.Scrubbed = counts
	}
	return out, ss
}

// scrubValue copies a JSON-like value with every string scrubbed.
func scrubValue(v any, text func(string) string) any {
	switch v := v.(type) {
	case string:
		return text(v)
	case map[string]any:
		m := make(map[string]any, len(v))
		for _, k := range slices.Sorted(maps.Keys(v)) { // sorted: numbering must not depend on map order
			m[k] = scrubValue(v[k], text)
		}
		return m
	case []any:
		a := make([]any, len(v))
		for i, e := range v {
			a[i] = scrubValue(e, text)
		}
		return a
	case []string:
		a := make([]string, len(v))
		for i, e := range v {
			a[i] = text(e)
		}
		return a
	}
	return v
}

// scrubFeedback scrubs the texts of feedback with ss: a fresh session on
// a node that does not hold the interaction, or the interaction's own,
// resumed, where it is stored.
func scrubFeedback(ss *pii.Session, fb Feedback) Feedback {
	fb.Correction = ss.Scrub(fb.Correction).Text
	fb.Comment = ss.Scrub(fb.Comment).Text
	tags := make([]string, len(fb.Tags))
	for i, t := range fb.Tags {
		tags[i] = ss.Scrub(t).Text
	}
	fb.Tags = tags
	return fb
}

// rebaseFeedback renumbers placeholders that the forwarding node's fresh
// session wrote into feedback, so that its <PHONE_1> cannot be read as
// the record's <PHONE_1>.
func rebaseFeedback(ss *pii.Session, fb Feedback) Feedback {
	fb.Correction = ss.Rebase(fb.Correction)
	fb.Comment = ss.Rebase(fb.Comment)
	for i, t := range fb.Tags {
		fb.Tags[i] = ss.Rebase(t)
	}
	return fb
}
