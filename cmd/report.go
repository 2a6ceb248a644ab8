package cmd

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth"
	"github.com/cinchmesh/cinch/synth/diff"
	"github.com/cinchmesh/cinch/synth/gitops"
	"github.com/cinchmesh/cinch/synth/policy"
)

// listFindings writes the observed traffic a reviewed policy denies, one
// line per finding, under a heading.
func listFindings(s Streams, heading string, fs []diff.Finding) {
	if len(fs) == 0 {
		return
	}
	fmt.Fprintf(s.Err, "%s:\n", heading)
	for _, f := range fs {
		route := ""
		if f.Route != "" {
			route = ", route " + f.Route
		}
		fmt.Fprintf(s.Err, "  %s -> %s port %d: %d requests, e.g. %s (%s%s: %s)\n", f.Client, f.Server, f.Port, f.Requests, f.Sample, f.ServerPolicy, route, f.Reason)
	}
}

func newReportCommand(s Streams) *cobra.Command {
	o := &synthOptions{}
	src := &diffOptions{}
	var output string
	var allowAudit bool
	c := &cobra.Command{
		Use:   "report RECORDING... [--level ...] [--policy PATH | --from-cluster] -o report.html",
		Short: "Write a self-contained HTML page: the observed graph, who may call what, coverage and rollout",
		Long: `Synthesize policy from recordings (as cinch synth does) and write the review a pull
request would carry as one HTML page: the observed service graph drawn as SVG with edges
marked admitted or denied, who may call each server and on which routes, how complete the
recording likely is (coverage), warnings, and the rollout steps. With --policy or
--from-cluster it reviews that policy instead: edges it would deny are drawn red. The page loads
nothing from the network and runs no scripts.`,
		Example: `  cinch report week.yaml --level route -o report.html
  cinch report week.yaml --policy gitops/linkerd-policy -o review.html
  cinch report week.yaml --from-cluster --context prod -o live.html`,
		RunE: func(c *cobra.Command, args []string) error {
			if src.fromCluster && len(src.policies) > 0 {
				return usageErrorf("give --policy PATH or --from-cluster, not both")
			}
			if err := checkReportOutput(output); err != nil {
				return err
			}
			rec, res, opts, err := o.synthesize(c.Context(), s, args)
			if err != nil {
				return err
			}
			d := gitops.Describe{Level: opts.Level, Mode: opts.Mode}
			marks := gitops.Marks(rec, res, nil, opts.GrantDenied)
			var reviewed *diff.Report
			if src.fromCluster || len(src.policies) > 0 {
				// Review the given policy instead of the synthesized one;
				// the synthesis still gives coverage and warnings.
				var set *policy.Set
				if src.fromCluster {
					src.kube = o.kube
					set, _, err = src.readCluster(c.Context(), rec, o.kube.namespaces)
				} else {
					set, err = src.readPolicy(s)
				}
				if err != nil {
					return err
				}
				rep, err := diff.Evaluate(rec, set, diff.Options{})
				if err != nil {
					return err
				}
				marks = gitops.MarksFromDiff(rec, rep)
				reviewed = rep
				res.Units = []synth.Unit{{Set: *set}}
				d.Reviewed = "the policy " + map[bool]string{true: "in the cluster", false: "in " + strings.Join(src.policies, ", ")}[src.fromCluster]
			}
			var page bytes.Buffer
			if err := gitops.Report(&page, d, rec, res, nil, marks); err != nil {
				return err
			}
			if output == "-" || output == "html" {
				if _, err := s.Out.Write(page.Bytes()); err != nil {
					return err
				}
			} else if err := recording.WriteAtomic(output, page.Bytes()); err != nil {
				return fmt.Errorf("-o %s: %w", output, err)
			}
			if reviewed == nil {
				return nil
			}
			// The page draws breakage as red edges; say it in text too, and
			// exit as diff does.
			listFindings(s, "would be denied", reviewed.Denied)
			if !allowAudit {
				listFindings(s, "admitted only by audit (denied once enforced)", reviewed.Audit)
			}
			return findings(&reviewed.Summary, allowAudit)
		},
	}
	o.addFlags(c.Flags())
	o.addKubeFlags(c.Flags())
	c.Flags().StringVarP(&output, "output", "o", "-", "the page: a file ending in .html (or .htm), or html (or -) for stdout")
	c.Flags().StringArrayVar(&src.policies, "policy", nil, "review these policy manifests (files or directories; repeatable) instead of the synthesized policy")
	c.Flags().BoolVar(&allowAudit, "allow-audit", false, "with --policy or --from-cluster: exit 0 when observed traffic is admitted only by audit mode (by default that exits 1, as in cinch diff)")
	o.kube.addFromClusterFlag(c, s, &src.fromCluster, "review the policy in the cluster instead of the synthesized policy")
	return c
}

// checkReportOutput fails for a report -o that is neither stdout nor an
// HTML file that can be written, so -o json or -o review.md does not write
// HTML under a name that says otherwise.
func checkReportOutput(output string) error {
	ext := strings.ToLower(filepath.Ext(output))
	switch {
	case output == "-" || output == "html":
		return nil
	case ext != ".html" && ext != ".htm":
		return usageErrorf("-o %s: report writes one HTML page: -o FILE.html, or -o html (or -) for stdout", output)
	}
	if err := recording.CheckWritable(output); err != nil {
		return fmt.Errorf("-o: %w", err)
	}
	return nil
}
