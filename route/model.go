package route

import "strings"

// SameModel reports whether a node that lists model have serves the model
// a request names: names compare without regard to case, and with
// Ollama's default tag implied ("llama3" is "llama3:latest"), as the
// serving node's API resolves them.
func SameModel(have, want string) bool { return canonModel(have) == canonModel(want) }

func canonModel(s string) string {
	return strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), ":latest")
}
