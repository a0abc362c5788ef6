package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/engine/gguf"
	"github.com/hearth-ai/hearth/engine/tokenizer"
)

func newTokenizeCmd(g *globals) *cobra.Command {
	var (
		modelPath    string
		asJSON       bool
		addSpecial   bool
		parseSpecial bool
	)
	cmd := &cobra.Command{
		Use:   "tokenize --model FILE < text",
		Short: "Print the token ids of text read from stdin",
		Long: `Print the token ids of the text read from stdin, space-separated, or as a
JSON array with --json. By default no BOS or EOS is added and special tokens
are not parsed, as in llama.cpp's tokenizer tests. Only the tokenizer is read
from the file, so vocabulary-only GGUF files work too.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if modelPath == "" {
				return fmt.Errorf("tokenize: --model is required")
			}
			text, err := io.ReadAll(g.stdin)
			if err != nil {
				return fmt.Errorf("tokenize: read stdin: %w", err)
			}
			f, err := gguf.Open(modelPath)
			if err != nil {
				return err
			}
			defer f.Close()
			tok, err := tokenizer.FromGGUF(f)
			if err != nil {
				return err
			}
			for _, w := range tok.Warnings() {
				fmt.Fprintln(g.stderr, "hearth: warning:", w)
			}
			ids := tok.Encode(string(text), addSpecial, parseSpecial)
			if asJSON {
				if ids == nil {
					ids = []int32{}
				}
				return json.NewEncoder(g.stdout).Encode(ids)
			}
			parts := make([]string, len(ids))
			for i, id := range ids {
				parts[i] = strconv.Itoa(int(id))
			}
			_, err = fmt.Fprintln(g.stdout, strings.Join(parts, " "))
			return err
		},
	}
	f := cmd.Flags()
	f.StringVarP(&modelPath, "model", "m", "", "GGUF model or vocabulary file")
	f.BoolVar(&asJSON, "json", false, "print a JSON array")
	f.BoolVar(&addSpecial, "add-special", false, "add BOS/EOS as the model asks")
	f.BoolVar(&parseSpecial, "parse-special", false, "turn special-token text such as <|im_start|> into its id")
	return cmd
}
