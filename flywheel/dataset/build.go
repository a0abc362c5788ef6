package dataset

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Build makes the next version of the tenant's dataset name from the
// interactions src returns for the tenant, keeping what opts select (see
// the package doc and Report for the filters). A build that keeps nothing
// stores nothing and returns ErrEmpty with the counts of why.
func (s *Store) Build(ctx context.Context, src Source, tenantID, name string, opts Options) (*Version, error) {
	if err := checkNames(tenantID, name); err != nil {
		return nil, err
	}
	if src == nil {
		return nil, fmt.Errorf("%w: no source of interactions", ErrInvalid)
	}
	opts, err := opts.resolve()
	if err != nil {
		return nil, err
	}
	ins, err := src.Interactions(ctx, tenantID)
	if err != nil {
		return nil, fmt.Errorf("dataset: build %s: read interactions: %w", name, err)
	}
	examples, report := assemble(ins, opts)
	if len(examples) == 0 {
		return nil, fmt.Errorf("%w: build %s: none of %d interactions passed the filters (%s)", ErrEmpty, name, report.Considered, report)
	}
	v := &Version{TenantID: tenantID, Name: name, Origin: OriginBuild, Options: &opts, Report: report}
	if err := s.write(ctx, v, examples); err != nil {
		return nil, fmt.Errorf("dataset: build %s: %w", name, err)
	}
	return s.Get(ctx, tenantID, name, v.Version)
}

// String lists the non-zero counts of a report.
func (r Report) String() string {
	var parts []string
	for _, f := range []struct {
		n    int
		what string
	}{
		{r.Invalid, "invalid"}, {r.Unrated, "unrated"}, {r.LowRating, "rated too low"},
		{r.TooShort, "too short"}, {r.TooLong, "too long"}, {r.WrongLanguage, "other language"},
		{r.ExactDuplicates, "exact duplicates"}, {r.NearDuplicates, "near duplicates"}, {r.Kept, "kept"},
	} {
		if f.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", f.n, f.what))
		}
	}
	if len(parts) == 0 {
		return "nothing considered"
	}
	return strings.Join(parts, ", ")
}

// candidate is an interaction that passed the per-interaction filters.
type candidate struct {
	ex   Example
	time time.Time
}

// assemble applies opts (resolved) to interactions and returns the kept
// examples, ordered by time then response id, with their splits.
func assemble(ins []Interaction, opts Options) ([]Example, Report) {
	var (
		r     Report
		cands []candidate
		ids   = map[string]bool{}
	)
	for _, in := range ins {
		r.Considered++
		ex, err := toExample(in)
		if err != nil || ids[in.ResponseID] {
			r.Invalid++
			continue
		}
		ids[in.ResponseID] = true
		switch {
		case !ex.Corrected && ex.Rating == 0:
			r.Unrated++
			continue
		case !ex.Corrected && ex.Rating < opts.MinRating:
			r.LowRating++
			continue
		case opts.MinChars > 0 && ex.Chars < opts.MinChars:
			r.TooShort++
			continue
		case opts.MaxChars > 0 && ex.Chars > opts.MaxChars:
			r.TooLong++
			continue
		case len(opts.Languages) > 0 && !slices.Contains(opts.Languages, ex.Lang):
			r.WrongLanguage++
			continue
		}
		cands = append(cands, candidate{ex, in.Time})
	}

	// Among duplicates keep the best: corrected first, then the higher
	// score, then the older, then by response id so the choice is stable.
	slices.SortStableFunc(cands, func(a, b candidate) int {
		if a.ex.Corrected != b.ex.Corrected {
			if a.ex.Corrected {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(b.ex.Rating, a.ex.Rating), a.time.Compare(b.time), strings.Compare(a.ex.ResponseID, b.ex.ResponseID))
	})
	exact := map[string]bool{}
	near := newNearIndex(opts.NearDup)
	kept := cands[:0]
	for _, c := range cands {
		key := exactKey(c.ex.Messages)
		if exact[key] {
			r.ExactDuplicates++
			continue
		}
		if _, isNew := near.addIfNew(shingles(joinContents(c.ex.Messages))); !isNew {
			r.NearDuplicates++
			continue
		}
		exact[key] = true
		kept = append(kept, c)
	}
	slices.SortFunc(kept, func(a, b candidate) int {
		return cmp.Or(a.time.Compare(b.time), strings.Compare(a.ex.ResponseID, b.ex.ResponseID))
	})
	out := make([]Example, len(kept))
	for i, c := range kept {
		c.ex.Split = splitOf(c.ex.ResponseID, opts.Seed, opts.EvalFraction)
		out[i] = c.ex
	}
	r.Kept = len(out)
	return out, r
}

// toExample checks an interaction and makes it a conversation ending in
// the answer: the correction if there is one, the model's output if not.
func toExample(in Interaction) (Example, error) {
	if in.ResponseID == "" {
		return Example{}, errors.New("no response id")
	}
	score, _, err := Score(in)
	if err != nil {
		return Example{}, err
	}
	users := 0
	for _, m := range in.Messages {
		switch m.Role {
		case "user":
			users++
		case "system", "assistant":
		default:
			return Example{}, fmt.Errorf("role %q", m.Role)
		}
	}
	if users == 0 {
		return Example{}, errors.New("no user message")
	}
	answer, corrected := in.Output, false
	if strings.TrimSpace(in.Correction) != "" {
		answer, corrected = in.Correction, true
	}
	if strings.TrimSpace(answer) == "" {
		return Example{}, errors.New("empty answer")
	}
	msgs := append(slices.Clone(in.Messages), Message{Role: "assistant", Content: answer})
	return Example{
		ResponseID: in.ResponseID,
		Messages:   msgs,
		Lang:       DetectLanguage(languageText(msgs)),
		Chars:      chars(msgs),
		Rating:     score,
		Corrected:  corrected,
	}, nil
}

// languageText is what the language of an example is judged on: what the
// user wrote and the final answer, not system prompts (often boilerplate
// in another language than the conversation).
func languageText(msgs []Message) string {
	var b strings.Builder
	for i, m := range msgs {
		if m.Role == "user" || i == len(msgs)-1 {
			b.WriteString(m.Content)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

func chars(msgs []Message) int {
	n := 0
	for _, m := range msgs {
		n += utf8.RuneCountInString(m.Content)
	}
	return n
}

func joinContents(msgs []Message) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(m.Content)
		b.WriteByte('\n')
	}
	return b.String()
}

// exactKey identifies a conversation up to whitespace around contents.
func exactKey(msgs []Message) string {
	var b strings.Builder
	for _, m := range msgs {
		b.WriteString(m.Role)
		b.WriteByte(0)
		b.WriteString(strings.TrimSpace(m.Content))
		b.WriteByte(0)
	}
	return b.String()
}

// splitOf puts a response in the eval split when a hash of the seed and
// its id, as a fraction of 2^64, falls below frac. The same response lands
// in the same split in every build with the same seed.
func splitOf(responseID string, seed int64, frac float64) string {
	h := fnv.New64a()
	var buf [8]byte
	binary.LittleEndian.PutUint64(buf[:], uint64(seed))
	h.Write(buf[:])
	h.Write([]byte(responseID))
	u := mix64(h.Sum64()) >> 11 // 53 bits: exact in a float64
	if float64(u)/(1<<53) < frac {
		return Eval
	}
	return Train
}
