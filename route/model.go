package route

import (
	"strings"

	"github.com/hearth-ai/hearth/modelname"
)

// SameModel reports whether a node that lists model have serves the model
// a request names, by modelname's rule (any case, "llama3" is
// "llama3:latest"), as the serving node's API resolves them.
func SameModel(have, want string) bool { return modelname.Same(have, want) }

// SplitAdapter splits an adapter's served name, "BASE:ADAPTER" or
// "BASE:ADAPTER@VERSION", at its last ':' (a base's own tag comes before
// it: "qwen2.5-0.5b:q4_k_m:faq@2"). ok is false when either part is
// empty. Whether a name is a base or an adapter is the caller's to decide
// first: a whole name that is a base model is that base.
func SplitAdapter(name string) (base, ref string, ok bool) {
	i := strings.LastIndexByte(name, ':')
	if i <= 0 || i == len(name)-1 {
		return "", "", false
	}
	return name[:i], name[i+1:], true
}

// HoldsAdapter reports whether have, a node's loaded adapters by served
// name, holds want: the same base (by SameModel) and adapter name, and
// the same version unless want names none (any version of the name
// counts then: the node most likely holds the latest).
func HoldsAdapter(have []string, want string) bool {
	wb, wref, ok := SplitAdapter(want)
	if !ok {
		return false
	}
	wname, wver, _ := strings.Cut(wref, "@")
	for _, h := range have {
		hb, href, ok := SplitAdapter(h)
		if !ok {
			continue
		}
		hname, hver, _ := strings.Cut(href, "@")
		if hname == wname && (wver == "" || hver == wver) && SameModel(hb, wb) {
			return true
		}
	}
	return false
}
