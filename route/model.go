package route

import "github.com/hearth-ai/hearth/modelname"

// SameModel reports whether a node that lists model have serves the model
// a request names, by modelname's rule (any case, "llama3" is
// "llama3:latest"), as the serving node's API resolves them.
func SameModel(have, want string) bool { return modelname.Same(have, want) }
