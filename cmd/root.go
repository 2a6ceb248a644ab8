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
	"regexp"
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

// Version is set at release build time with -ldflags
// "-X github.com/cinchmesh/cinch/cmd.Version=v0.1.0" (.goreleaser.yaml);
// otherwise the build info's module version is used (see versionLine).
var Version = "dev"

// NewRoot builds the command tree. argv0 decides how the command names
// itself: as a kubectl or linkerd plugin ("kubectl-cinch",
// "linkerd-cinch") its usage lines, help and examples read
// "kubectl cinch ...".
func NewRoot(argv0 string, s Streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "cinch",
		Short: "Turn the traffic a Linkerd mesh carries into least-privilege policy",
		Long: `cinch records the traffic a Linkerd service mesh carries, builds the service graph,
and turns it into authorization policy that tightens step by step.

Start by recording saved tap output with the cluster objects that name its workloads
(without --cluster-file they are read from the kube context when it answers):

  linkerd viz tap -n emojivoto deploy -o json > tap.json
  kubectl get pods,rs,deploy,sts,ds,svc,nodes,ns -A -o yaml > cluster.yaml
  cinch observe --from-file tap.json --cluster-file cluster.yaml -o recording.yaml
  cinch graph show recording.yaml
  cinch synth recording.yaml`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Version:       versionLine(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
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
	registerCompletions(root)
	if name := useName(argv0); name != "cinch" {
		root.Annotations = map[string]string{cobra.CommandDisplayNameAnnotation: name}
		renameExamples(root, name)
	}
	return root
}

// commandLine finds "cinch" where it starts a command in help text: at the
// start of an indented line, or after a pipe.
var commandLine = regexp.MustCompile(`(?m)(^[ \t]*(?:\$ )?|\| )cinch `)

// renameExamples makes the examples and the command lines in the help of
// every command read as the plugin is run ("kubectl cinch synth ...").
func renameExamples(c *cobra.Command, name string) {
	c.Example = commandLine.ReplaceAllString(c.Example, "${1}"+name+" ")
	c.Long = commandLine.ReplaceAllString(c.Long, "${1}"+name+" ")
	for _, sub := range c.Commands() {
		renameExamples(sub, name)
	}
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
