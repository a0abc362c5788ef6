package route

import (
	"crypto/sha256"
	"encoding/hex"
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

// AdapterKeys are the entries a node's heartbeat (fabric.Load.Adapters)
// lists for an adapter it holds loaded, served as served
// ("BASE:NAME@VERSION"). Heartbeats go to every node of the fleet, so a
// tenant's adapter is listed by AdapterKey, not by name: twice, with its
// version and without it, so that a request naming no version (which
// the holder resolves to the adapter's latest) still finds it. An
// adapter published to every caller (tenant "") is no secret and is
// listed by its served name, as before; HoldsAdapter matches those.
func AdapterKeys(tenant, served string) []string {
	if tenant == "" {
		return []string{served}
	}
	keys := []string{AdapterKey(tenant, served)}
	if base, ref, ok := SplitAdapter(served); ok {
		if name, _, versioned := strings.Cut(ref, "@"); versioned {
			keys = append(keys, AdapterKey(tenant, base+":"+name))
		}
	}
	return keys
}

// AdapterKey is the opaque routing key of tenant's adapter served as
// served ("BASE:NAME" or "BASE:NAME@VERSION"): the hex of the first 16
// bytes of SHA-256(tenant, 0, served) with the base canonical (by
// modelname, as SameModel compares bases). tenant is the tenant's name,
// which every node knows it by (its ID is each node's own). A node and a
// gateway that know the tenant and the name compute the same key; a
// heartbeat shows neither, nor lets another tenant's request for the
// same name match it. It hides names from a listing, not from a fleet
// member that knows the tenant and guesses the name: adapter names are
// not credentials.
func AdapterKey(tenant, served string) string {
	if base, ref, ok := SplitAdapter(served); ok {
		served = modelname.Canonical(base) + ":" + ref
	}
	h := sha256.New()
	h.Write([]byte(tenant))
	h.Write([]byte{0})
	h.Write([]byte(served))
	return hex.EncodeToString(h.Sum(nil)[:16])
}
