package cmd

import (
	"bytes"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/gitops"
)

func newReportCommand(s Streams) *cobra.Command {
	o := &synthOptions{}
	var output string
	c := &cobra.Command{
		Use:   "report RECORDING... [--level ...] -o report.html",
		Short: "Write a self-contained HTML page: the observed graph, who may call what, coverage and rollout",
		Long: `Synthesize policy from recordings (as cinch synth does) and write the review a pull
request would carry as one HTML page: the observed service graph drawn as SVG with edges
marked admitted or denied, who may call each server and on which routes, how complete the
recording likely is (coverage), warnings, and the rollout steps. The page loads nothing
from the network and runs no scripts.`,
		Example: `  cinch report week.yaml --level route -o report.html`,
		RunE: func(c *cobra.Command, args []string) error {
			rec, res, opts, err := o.synthesize(s, args)
			if err != nil {
				return err
			}
			var page bytes.Buffer
			d := gitops.Describe{Level: opts.Level, Mode: opts.Mode}
			if err := gitops.Report(&page, d, rec, res, nil, gitops.Marks(rec, res, nil, opts.GrantDenied)); err != nil {
				return err
			}
			if output == "-" {
				_, err := s.Out.Write(page.Bytes())
				return err
			}
			if err := recording.WriteAtomic(output, page.Bytes()); err != nil {
				return fmt.Errorf("-o %s: %w", output, err)
			}
			return nil
		},
	}
	o.addFlags(c.Flags())
	c.Flags().StringVarP(&output, "output", "o", "-", "the HTML file to write (- for stdout)")
	return c
}
