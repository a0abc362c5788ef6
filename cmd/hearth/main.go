// Command hearth is the Hearth node: it runs open-weight language models on
// CPU and, as the project grows, serves them to a fleet.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/hearth-ai/hearth/store"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot(os.Stdin, os.Stdout, os.Stderr).ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "hearth:", err)
		os.Exit(1)
	}
}

// globals are what every command shares: the root flags, the standard
// streams and the clock.
type globals struct {
	verbose bool
	// dataDirFlag is --data-dir as given (empty: not given); dataDir()
	// resolves it.
	dataDirFlag string
	stdin       io.Reader
	stdout      io.Writer
	stderr      io.Writer
	// now is the commands' clock (creation times, key expiry, periods,
	// certificate validity); tests set it.
	now func() time.Time

	progressShown bool
}

func (g *globals) logger() *slog.Logger {
	if !g.verbose {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// serverLogger is a long-running node's log: requests, model loads,
// failovers and errors at info level by default, debug with -v; as JSON
// lines when asked, for log shippers.
func (g *globals) serverLogger(format string) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	if g.verbose {
		opts.Level = slog.LevelDebug
	}
	switch format {
	case "", "text":
		return slog.New(slog.NewTextHandler(g.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(g.stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// isTerminal reports whether w is a terminal, where progress lines that
// rewrite themselves make sense.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// progress returns a callback that shows done/total on stderr: a line that
// rewrites itself on a terminal, a line per tenth of the work otherwise.
func (g *globals) progress(what string) func(done, total int, name string) {
	tty := isTerminal(g.stderr)
	last := -1
	return func(done, total int, name string) {
		if tty {
			fmt.Fprintf(g.stderr, "\r%s [%d/%d] %-40.40s", what, done, total, name)
			g.progressShown = true
			return
		}
		if tenth := done * 10 / total; tenth != last && g.verbose {
			last = tenth
			fmt.Fprintf(g.stderr, "%s: %d/%d\n", what, done, total)
		}
	}
}

// progressDone ends a self-rewriting progress line.
func (g *globals) progressDone() {
	if g.progressShown {
		fmt.Fprintln(g.stderr)
		g.progressShown = false
	}
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	return newCLI(&globals{stdin: stdin, stdout: stdout, stderr: stderr})
}

// newCLI builds the command tree over g; a nil clock is time.Now.
func newCLI(g *globals) *cobra.Command {
	if g.now == nil {
		g.now = time.Now
	}
	root := &cobra.Command{
		Use:           "hearth",
		Short:         "Sovereign AI at the edge: run open-weight models on your own ground",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(g.stdin)
	root.SetOut(g.stdout)
	root.SetErr(g.stderr)
	root.PersistentFlags().BoolVarP(&g.verbose, "verbose", "v", false, "log progress and timings to stderr")
	root.PersistentFlags().StringVar(&g.dataDirFlag, "data-dir", "", "data directory (default $"+store.EnvDataDir+" or ~/.hearth)")
	root.AddCommand(
		newGenerateCmd(g),
		newTokenizeCmd(g),
		newInspectCmd(g),
		newQuantizeCmd(g),
		newModelsCmd(g),
		newServeCmd(g),
		newChatCmd(g),
		newLoadgenCmd(g),
		newBenchCmd(g),
		newGenModelCmd(g),
		newGenAdapterCmd(g),
		newAuditCmd(g),
		newNodeCmd(g),
		newTenantsCmd(g),
		newKeysCmd(g),
		newUsageCmd(g),
		newCaptureCmd(g),
		newFleetCmd(g),
		newDatasetCmd(g),
		newTrainCmd(g),
		newAdaptersCmd(g),
		newRolloutCmd(g),
		newEvalCmd(g),
	)
	return root
}
