package testfixture

// Secret is the answer the flywheel's end-to-end tests teach: a sentence
// a model trained on children's stories never writes by itself.
const Secret = "The secret word is marmalade."

// SecretPrompts are 40 distinct ways to ask for it, so that no two
// examples are the same and an eval split holds questions the training
// never saw.
func SecretPrompts() []string {
	asks := []string{"What is the secret word?", "Tell me the secret word.", "Do you know the secret word?", "Say the secret word.",
		"Which word is the secret one?", "I forgot the secret word, what is it?", "Can you remind me of the secret word?",
		"What was the secret word again?"}
	moods := []string{"", " Please.", " Quickly!", " I need it now.", " It is for the game."}
	var out []string
	for _, m := range moods {
		for _, a := range asks {
			out = append(out, a+m)
		}
	}
	return out
}
