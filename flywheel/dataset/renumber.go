package dataset

import (
	"regexp"
	"strconv"
)

// placeholder is the scrubber's mark for a value it removed: <PHONE_1>,
// <ID_KE_KRA_PIN_2>.
var placeholder = regexp.MustCompile(`<([A-Z][A-Z0-9_]*?)_([0-9]+)>`)

// renumberApart gives the placeholders of a correction that was scrubbed
// on its own (before feedback shared its interaction's numbering) numbers
// no text of the interaction uses, one per distinct placeholder: its
// <PHONE_1> may be another number than the prompt's <PHONE_1>, and a
// dataset example must not say they are the same.
func renumberApart(correction string, in Interaction) string {
	top := map[string]int{} // highest number per type in the interaction
	note := func(s string) {
		for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
			if n, err := strconv.Atoi(m[2]); err == nil && n > top[m[1]] {
				top[m[1]] = n
			}
		}
	}
	for _, m := range in.Messages {
		note(m.Content)
	}
	note(in.Output)
	seen := map[string]string{}
	return placeholder.ReplaceAllStringFunc(correction, func(p string) string {
		if q, ok := seen[p]; ok {
			return q
		}
		m := placeholder.FindStringSubmatch(p)
		top[m[1]]++
		q := "<" + m[1] + "_" + strconv.Itoa(top[m[1]]) + ">"
		seen[p] = q
		return q
	})
}
