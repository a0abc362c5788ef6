package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/store"
)

func newModelsCmd(g *globals) *cobra.Command {
	open := func() (*store.Store, error) {
		dir, err := g.dataDir()
		if err != nil {
			return nil, err
		}
		return store.Open(dir)
	}
	cmd := &cobra.Command{
		Use:   "models",
		Short: "Manage the models in the data directory: import, pull, list, rm",
		Long: `Manage the models kept in the data directory (DIR/models).

Models are named name[:tag], lower case, like Ollama models; a name without a
tag means name:latest. Imported and pulled files are named after the file by
default: stories260K.gguf becomes stories260k:latest.`,
	}
	cmd.AddCommand(
		newModelsImportCmd(g, open),
		newModelsPullCmd(g, open),
		newModelsListCmd(g, open),
		newModelsRmCmd(g, open),
	)
	return cmd
}

func newModelsImportCmd(g *globals, open func() (*store.Store, error)) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Copy a local GGUF model into the store",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := open()
			if err != nil {
				return err
			}
			e, err := s.Import(cmd.Context(), args[0], name)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "imported %s\n", describeEntry(e))
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "model name[:tag] (default: from the file name)")
	return cmd
}

func newModelsPullCmd(g *globals, open func() (*store.Store, error)) *cobra.Command {
	var name, sum string
	cmd := &cobra.Command{
		Use:   "pull URL",
		Short: "Download a GGUF model over HTTP(S) into the store, resuming an interrupted download",
		Long: `Download a GGUF model into the store. URL is an http or https URL, or
hf://owner/repo/file.gguf for a file on the main branch of a Hugging Face
repository. An interrupted or cancelled pull resumes where it stopped when run
again with the same URL. Credentials and query values in the URL (a signed
URL's token) are never printed or recorded. A plain http URL without --sha256
gets a warning: nothing then protects the file in transit.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := open()
			if err != nil {
				return err
			}
			// The URL may carry credentials or a signed token: only its
			// redacted form is ever shown.
			shown := store.RedactURL(args[0])
			if sum == "" && strings.HasPrefix(strings.ToLower(args[0]), "http://") {
				fmt.Fprintf(g.stderr, "hearth: warning: %s is plain http and no --sha256 was given: anyone on the network path can "+
					"read the URL and replace the file; use https, or give the file's --sha256\n", shown)
			}
			e, err := s.Pull(cmd.Context(), args[0], name, store.PullOptions{
				SHA256:   sum,
				Progress: newPullProgress(g, "pulling "+shown),
			})
			g.progressDone()
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "pulled %s\n", describeEntry(e))
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "model name[:tag] (default: from the URL's file name)")
	cmd.Flags().StringVar(&sum, "sha256", "", "expected SHA-256 of the file, in hex")
	return cmd
}

func newModelsListCmd(g *globals, open func() (*store.Store, error)) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the stored models",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := open()
			if err != nil {
				return err
			}
			list, err := s.List()
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(g.stdout, list)
			}
			if len(list) == 0 {
				fmt.Fprintf(g.stdout, "no models in %s; add one with `hearth models import FILE` or `hearth models pull URL`\n", s.Dir())
				return nil
			}
			w := tabwriter.NewWriter(g.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tSIZE\tQUANT\tARCH\tPARAMS\tADDED")
			for _, e := range list {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, humanBytes(e.Size), e.Quantization,
					e.Architecture, shortCount(e.Parameters), e.Added.Local().Format("2006-01-02 15:04"))
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newModelsRmCmd(g *globals, open func() (*store.Store, error)) *cobra.Command {
	return &cobra.Command{
		Use:     "rm NAME...",
		Aliases: []string{"remove"},
		Short:   "Remove models from the store",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := open()
			if err != nil {
				return err
			}
			for _, name := range args {
				if err := s.Remove(name); err != nil {
					return err
				}
				canon, _ := store.NormalizeName(name)
				fmt.Fprintf(g.stdout, "removed %s\n", canon)
			}
			return nil
		},
	}
}

// describeEntry is the one-line summary import and pull print.
func describeEntry(e store.Entry) string {
	return fmt.Sprintf("%s (%s, %s, %s parameters, %s)", e.Name, humanBytes(e.Size), e.Architecture,
		shortCount(e.Parameters), e.Quantization)
}

// shortCount writes a parameter count the way model names do: 494M, 1.5B.
func shortCount(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1fB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.0fM", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1fK", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

// newPullProgress shows a download on stderr: a line that rewrites itself
// (at most ten times a second) with bytes, percentage and speed on a
// terminal; elsewhere a plain line per tenth of the file, or per 100 MiB
// when the size is unknown, so logs show progress without flooding.
func newPullProgress(g *globals, what string) func(done, total int64) {
	tty := isTerminal(g.stderr)
	start := time.Now()
	first := int64(-1) // bytes already there when this run began
	var lastDraw time.Time
	lastStep := int64(-1)
	return func(done, total int64) {
		if first < 0 {
			first = done
		}
		if tty {
			now := time.Now()
			if now.Sub(lastDraw) < 100*time.Millisecond && done != total {
				return
			}
			lastDraw = now
			fmt.Fprintf(g.stderr, "\r%s  %s\033[K", what, pullStatus(done, total, first, now.Sub(start)))
			g.progressShown = true
			return
		}
		step := done / (100 << 20)
		if total > 0 {
			step = done * 10 / total
		}
		if step != lastStep {
			lastStep = step
			plainLine(g.stderr, what, pullStatus(done, total, first, time.Since(start)))
		}
	}
}

func plainLine(w io.Writer, what, status string) { fmt.Fprintf(w, "%s: %s\n", what, status) }

// pullStatus is "12.0 MiB / 120.0 MiB  10%  5.2 MiB/s"; the speed counts
// only bytes fetched by this run, not those resumed from before.
func pullStatus(done, total, first int64, elapsed time.Duration) string {
	s := humanBytes(done)
	if total > 0 {
		s += fmt.Sprintf(" / %s  %3d%%", humanBytes(total), done*100/total)
	}
	if secs := elapsed.Seconds(); secs > 0.2 && done > first {
		s += fmt.Sprintf("  %s/s", humanBytes(int64(float64(done-first)/secs)))
	}
	return s
}
