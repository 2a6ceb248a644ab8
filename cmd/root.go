// Package cmd is cinch's command line: cobra wiring only. Each verb has an
// options struct with its flags, a validate step and a run step that makes
// one call into a domain package (observe/..., synth/...) and renders the
// result. Nothing here decides policy or decodes traffic, and only main
// prints errors and exits.
package cmd

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// Streams are the command's standard streams.
type Streams struct {
	In  io.Reader
	Out io.Writer
	Err io.Writer
	// Terminal is set when Err is a terminal: long-running commands then
	// keep a progress line there.
	Terminal bool
}

// Version is set at build time with -ldflags "-X .../cmd.Version=v0.1.0".
var Version = "dev"

// NewRoot builds the command tree. argv0 decides how the command names
// itself: as a kubectl or linkerd plugin ("kubectl-cinch",
// "linkerd-cinch") its usage lines read "kubectl cinch ...".
func NewRoot(argv0 string, s Streams) *cobra.Command {
	root := &cobra.Command{
		Use:   useName(argv0),
		Short: "Turn the traffic a Linkerd mesh carries into least-privilege policy",
		Long: `cinch records the traffic a Linkerd service mesh carries, builds the service graph,
and turns it into authorization policy that tightens step by step.

Start by recording saved tap output:

  linkerd viz tap -n emojivoto deploy -o json > tap.json
  cinch observe --from-file tap.json -o recording.yaml
  cinch graph show recording.yaml`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &UsageError{Err: fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())}
	})
	root.SetIn(s.In)
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.AddCommand(
		newVersionCommand(s),
		newObserveCommand(s),
		newSynthCommand(s),
		newPRCommand(s),
		newReportCommand(s),
		newDiffCommand(s),
		newExplainCommand(s),
		newAlertsCommand(s),
		newStatusCommand(s),
		newGraphCommand(s),
		newDocsCommand(),
	)
	return root
}

func useName(argv0 string) string {
	base := filepath.Base(argv0)
	for _, host := range []string{"kubectl", "linkerd"} {
		if strings.HasPrefix(base, host+"-") {
			return host + " " + strings.TrimPrefix(base, host+"-")
		}
	}
	return "cinch"
}
