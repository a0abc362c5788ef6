package main

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/fabric"
	"github.com/hearth-ai/hearth/identity"
)

func newFleetCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "fleet",
		Short: "Operator keys, node certificates, fleet-wide tenants and the state of the fleet",
		Long: `Nodes form a fleet over NATS. An operator key signs node certificates that
bind a node's public key (from "hearth node id") to a site and a
jurisdiction; nodes trust a peer's jurisdiction only with such a
certificate. A node reads its certificate from DIR/node.cert. The same key
signs tenant documents, which define a tenant for every node at once
("hearth fleet tenant"). docs/fleet.md tells the whole story.`,
	}
	op := &cobra.Command{Use: "operator", Short: "The operator key that signs node certificates"}
	op.AddCommand(newFleetOperatorInitCmd(g), newFleetOperatorShowCmd(g))
	cert := &cobra.Command{Use: "cert", Short: "Inspect node certificates"}
	cert.AddCommand(newFleetCertShowCmd(g))
	cmd.AddCommand(op, newFleetCertifyCmd(g), cert, newFleetStatusCmd(g), newFleetTenantCmd(g))
	return cmd
}

func printFleetOperator(w io.Writer, asJSON bool, pub ed25519.PublicKey, path string) error {
	if asJSON {
		return printJSON(w, struct {
			PublicKey string `json:"public_key"`
			KeyFile   string `json:"key_file"`
		}{hex.EncodeToString(pub), path})
	}
	fmt.Fprintf(w, "operator public key: %s\nkey file:            %s\n", hex.EncodeToString(pub), path)
	return nil
}

func newFleetOperatorInitCmd(g *globals) *cobra.Command {
	return newFleetOperatorKeyCmd(g, &cobra.Command{
		Use:   "init --out FILE",
		Short: "Create an operator key pair and print its public key",
		Long: `Create an ed25519 operator key pair. The private key is written to FILE
(PKCS#8 PEM, mode 0600) and never overwritten; keep it off the nodes. Give
the printed public key to every node: it is the fleet's trust root.`,
	}, "out", "file for the private key (must not exist)", fabric.CreateOperatorKey)
}

func newFleetOperatorShowCmd(g *globals) *cobra.Command {
	return newFleetOperatorKeyCmd(g, &cobra.Command{
		Use:   "show --key FILE",
		Short: "Print the public key of an operator key file",
	}, "key", "operator key file", func(path string) (ed25519.PublicKey, error) {
		priv, err := fabric.LoadOperatorKey(path)
		if err != nil {
			return nil, err
		}
		return priv.Public().(ed25519.PublicKey), nil
	})
}

// newFleetOperatorKeyCmd completes cmd, "fleet operator init" or "show":
// both take the key file with --flag (required), get the public key with
// key and print it.
func newFleetOperatorKeyCmd(g *globals, cmd *cobra.Command, flag, usage string, key func(path string) (ed25519.PublicKey, error)) *cobra.Command {
	var path string
	var asJSON bool
	cmd.Args = cobra.NoArgs
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if path == "" {
			return fmt.Errorf("fleet operator %s: --%s FILE is required", cmd.Name(), flag)
		}
		pub, err := key(path)
		if err != nil {
			return err
		}
		return printFleetOperator(g.stdout, asJSON, pub, path)
	}
	cmd.Flags().StringVar(&path, flag, "", usage)
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newFleetCertifyCmd(g *globals) *cobra.Command {
	var keyFile, nodeKey, site, jurisdiction, out string
	var valid time.Duration
	cmd := &cobra.Command{
		Use:   "certify --operator-key FILE --node-key HEX --site S --jurisdiction J --out FILE",
		Short: "Sign a node certificate with the operator key",
		Long: `Sign a certificate stating that the node with public key HEX (as printed by
"hearth node id" on that node) runs at site S in jurisdiction J, valid from
now for --valid. Copy the file to the node's DIR/node.cert. Without --out,
the certificate is written to stdout.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, f := range []struct{ name, v string }{
				{"--operator-key", keyFile}, {"--node-key", nodeKey}, {"--site", site}, {"--jurisdiction", jurisdiction},
			} {
				if f.v == "" {
					return fmt.Errorf("fleet certify: %s is required", f.name)
				}
			}
			priv, err := fabric.LoadOperatorKey(keyFile)
			if err != nil {
				return err
			}
			pub, err := identity.ParsePublicKey(strings.TrimSpace(nodeKey))
			if err != nil {
				return fmt.Errorf("fleet certify: --node-key: %w", err)
			}
			c, err := fabric.Certify(priv, pub, site, jurisdiction, valid, g.now())
			if err != nil {
				return err
			}
			if out == "" || out == "-" {
				return printJSON(g.stdout, c)
			}
			if err := fabric.WriteCert(out, c); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "certified %s (site %s, jurisdiction %s) until %s: %s\n",
				c.NodeID, c.Site, c.Jurisdiction, c.Expires.Format(time.RFC3339), out)
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "operator-key", "", "operator private key file")
	cmd.Flags().StringVar(&nodeKey, "node-key", "", "the node's public key in hex (hearth node id)")
	cmd.Flags().StringVar(&site, "site", "", "site name")
	cmd.Flags().StringVar(&jurisdiction, "jurisdiction", "", "jurisdiction code (KE, NG, KE-NBO, ...)")
	cmd.Flags().DurationVar(&valid, "valid", 8760*time.Hour, "validity")
	cmd.Flags().StringVar(&out, "out", "", "certificate file to write (default stdout)")
	return cmd
}

// parseOperator reads an --operator flag, serve's and the fleet
// commands': the operator's public key in hex, or a file holding it; nil
// when not given.
func parseOperator(s string) (ed25519.PublicKey, error) {
	if s == "" {
		return nil, nil
	}
	key := s
	if b, err := os.ReadFile(s); err == nil {
		key = string(b)
	}
	pub, err := identity.ParsePublicKey(strings.TrimSpace(key))
	if err != nil {
		return nil, fmt.Errorf("--operator: %w", err)
	}
	return pub, nil
}

func newFleetCertShowCmd(g *globals) *cobra.Command {
	var operator string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show FILE",
		Short: "Print a node certificate, and verify it with --operator",
		Long: `Print a node certificate's fields. With --operator HEX (the operator public
key), also verify its signature and validity now; a certificate that fails
makes the command fail.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			op, err := parseOperator(operator)
			if err != nil {
				return err
			}
			c, err := fabric.LoadCert(args[0])
			if err != nil {
				return err
			}
			status, verr := "not checked (no --operator)", error(nil)
			if op != nil {
				if verr = c.Verify(op, g.now()); verr != nil {
					status = "INVALID: " + verr.Error()
				} else {
					status = "valid"
				}
			}
			if asJSON {
				if err := printJSON(g.stdout, struct {
					Cert   *fabric.Cert `json:"certificate"`
					Status string       `json:"status"`
				}{c, status}); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(g.stdout, "node id:      %s\npublic key:   %s\nsite:         %s\njurisdiction: %s\nissued:       %s\nexpires:      %s\nverification: %s\n",
					c.NodeID, hex.EncodeToString(c.NodePublic), c.Site, c.Jurisdiction,
					c.Issued.Format(time.RFC3339), c.Expires.Format(time.RFC3339), status)
			}
			return verr
		},
	}
	cmd.Flags().StringVar(&operator, "operator", "", "operator public key (hex, or a file holding it) to verify with")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// fleetNode is one row of `hearth fleet status --json`.
type fleetNode struct {
	ID           string       `json:"id"`
	Site         string       `json:"site"`
	Jurisdiction string       `json:"jurisdiction"`
	PublicKey    string       `json:"public_key"`
	Certified    bool         `json:"certified"`
	CertProblem  string       `json:"cert_problem,omitempty"`
	HTTPAddr     string       `json:"http_addr,omitempty"`
	Load         fabric.Load  `json:"load"`
	Sent         time.Time    `json:"sent"`
	AgeMS        int64        `json:"age_ms"`
	Cert         *fabric.Cert `json:"certificate,omitempty"`
}

func newFleetStatusCmd(g *globals) *cobra.Command {
	var url, creds, operator, token string
	var wait time.Duration
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the nodes of the fleet, from their heartbeats",
		Long: `Connect to a node's NATS (or the fleet's external NATS) as a client, listen
to the nodes' heartbeats for --wait (about two heartbeat intervals) and
print the fleet. Heartbeats are authenticated; with --operator HEX the
certificates are judged as nodes judge them, otherwise the CERTIFIED column
says "unchecked". A node's embedded NATS takes only clients with its token:
--data-dir DATA reads the running node's URL and token from DATA (fleet.url,
fleet.token), or give --nats and --token.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			op, err := parseOperator(operator)
			if err != nil {
				return err
			}
			a, err := g.clientAccess(fabric.ClientAccess{URL: url, Token: token})
			if err != nil {
				return fmt.Errorf("fleet status: %w", err)
			}
			peers, err := fabric.Collect(cmd.Context(), a.URL, fabric.CollectOptions{
				Credentials: creds, Token: a.Token, Wait: wait, OperatorKey: op, Now: g.now,
			})
			if err != nil {
				return err
			}
			now := g.now()
			rows := make([]fleetNode, len(peers))
			for i, p := range peers {
				rows[i] = fleetNode{
					ID: p.ID, Site: p.Site, Jurisdiction: p.Jurisdiction, PublicKey: hex.EncodeToString(p.PublicKey),
					Certified: p.Certified, CertProblem: p.CertProblem, HTTPAddr: p.HTTPAddr, Load: p.Load,
					Sent: p.Sent, AgeMS: max(now.Sub(p.Sent), 0).Milliseconds(), Cert: p.Cert,
				}
			}
			if asJSON {
				return printJSON(g.stdout, rows)
			}
			printFleet(g.stdout, rows, op != nil)
			return nil
		},
	}
	cmd.Flags().StringVar(&url, "nats", "nats://127.0.0.1:4222", "NATS URL of a node or of the fleet's NATS")
	cmd.Flags().StringVar(&creds, "creds", "", "NATS credentials file")
	cmd.Flags().StringVar(&token, "token", "", "the node's NATS client token (its DATA/fleet.token)")
	cmd.Flags().StringVar(&operator, "operator", "", "operator public key (hex, or a file holding it) to judge certificates with")
	cmd.Flags().DurationVar(&wait, "wait", 2*time.Second, "how long to listen for heartbeats")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// clientAccess is how the fleet commands reach a node's NATS: a as the
// flags give it or, with --data-dir, the URL and token of the node
// running from that directory.
func (g *globals) clientAccess(a fabric.ClientAccess) (fabric.ClientAccess, error) {
	if g.dataDirFlag == "" {
		return a, nil
	}
	da, err := fabric.ReadClientAccess(g.dataDirFlag)
	if err != nil {
		return fabric.ClientAccess{}, err
	}
	a.URL, a.Token = da.URL, da.Token
	return a, nil
}

func printFleet(w io.Writer, rows []fleetNode, checked bool) {
	if len(rows) == 0 {
		fmt.Fprintln(w, "no heartbeats heard")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSITE\tJURISDICTION\tCERTIFIED\tMODELS\tLOAD\tKV\tAGE")
	var problems []string
	for _, r := range rows {
		cert := "unchecked"
		if checked {
			cert = "yes"
			if !r.Certified {
				cert = "NO"
				problems = append(problems, fmt.Sprintf("%s: %s", r.ID, r.CertProblem))
			}
		}
		models := strings.Join(r.Load.Models, ",")
		if models == "" {
			models = "-"
		}
		kv := "-"
		if r.Load.KVTotalBytes > 0 {
			kv = fmt.Sprintf("%d%%", r.Load.KVUsedBytes*100/r.Load.KVTotalBytes)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d/%d q%d\t%s\t%s\n", r.ID, r.Site, r.Jurisdiction, cert, models,
			r.Load.Busy, r.Load.Slots, r.Load.Queue, kv, (time.Duration(r.AgeMS) * time.Millisecond).String())
	}
	tw.Flush()
	for _, p := range problems {
		fmt.Fprintln(w, "not certified:", p)
	}
}
