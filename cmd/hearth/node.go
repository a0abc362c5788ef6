package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/identity"
)

func newNodeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "This node's identity",
	}
	cmd.AddCommand(newNodeIDCmd(g))
	return cmd
}

func newNodeIDCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "id",
		Short: "Print the node ID and public key, creating the node's key pair if there is none",
		Long: `Print the node ID and the ed25519 public key (hex) that signs this node's
audit log. The key pair lives in DIR/node.key (mode 0600) and is created on
first use. Give the public key to auditors: "hearth audit verify --pubkey HEX"
checks a copy of the log against it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			dir, err := g.dataDir()
			if err != nil {
				return err
			}
			id, err := identity.LoadOrCreate(dir)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(g.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					ID        string `json:"id"`
					PublicKey string `json:"public_key"`
					KeyFile   string `json:"key_file"`
				}{id.ID, id.PublicHex(), identity.Path(dir)})
			}
			fmt.Fprintf(g.stdout, "node id:    %s\npublic key: %s\nkey file:   %s\n", id.ID, id.PublicHex(), identity.Path(dir))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
