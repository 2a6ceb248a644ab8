package cmd

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cinchmesh/cinch/observe/graphprint"
	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/observe/tapstream"
)

func newGraphCommand(s Streams) *cobra.Command {
	c := &cobra.Command{
		Use:   "graph",
		Short: "Show, draw and merge recordings",
	}
	c.AddCommand(
		newGraphShowCommand(s),
		newGraphMergeCommand(s),
		newGraphDrawCommand(s, "dot", "Graphviz DOT", graphprint.DOT),
		newGraphDrawCommand(s, "mermaid", "a Mermaid flowchart (GitHub renders it in markdown)", graphprint.Mermaid),
	)
	return c
}

// readRecordings reads the named recordings and merges them into one.
func readRecordings(s Streams, names []string, limits recording.Limits) (*recording.Recording, error) {
	if len(names) == 0 {
		return nil, usageErrorf("name at least one recording (- reads stdin)")
	}
	recs := make([]*recording.Recording, 0, len(names))
	for _, n := range names {
		r, err := recording.ReadFile(n, s.In)
		if err != nil && n != "-" {
			if format, ok := tapstream.IsTapOutput(n); ok {
				return nil, usageErrorf("%s is tap output (%s format), not a recording: run cinch observe first (cinch observe --from-file %s --cluster-file CLUSTER.yaml -o recording.yaml), then use recording.yaml", n, format, n)
			}
		}
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	return recording.Merge(limits, recs...), nil
}

func newGraphShowCommand(s Streams) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "show RECORDING...",
		Short: "Show the workloads and edges of recordings (merged when several)",
		Long: `Show the workloads and edges of recordings.

-o json writes a stable machine-readable view: an "edges" array whose items carry client,
server, port, protocol, requests and routes (method, path, requests), with peers named
"namespace/workload", "node:NAME" or "ip:ADDRESS". See docs/recording.md.`,
		Example: `  cinch graph show recording.yaml
  cinch graph show monday.yaml tuesday.yaml -o json | jq '.edges[] | select(.server == "emojivoto/web")'`,
		RunE: func(_ *cobra.Command, args []string) error {
			print, ok := graphprint.Formats[output]
			if !ok {
				return usageErrorf("-o %q: want one of %s", output, strings.Join(formatNames(), ", "))
			}
			rec, err := readRecordings(s, args, recording.DefaultLimits)
			if err != nil {
				return err
			}
			return print(s.Out, rec)
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "table", "output format: "+strings.Join(formatNames(), ", "))
	return c
}

func formatNames() []string {
	var names []string
	for n := range graphprint.Formats {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func newGraphMergeCommand(s Streams) *cobra.Command {
	var output string
	limits := recording.DefaultLimits
	c := &cobra.Command{
		Use:   "merge RECORDING... -o RECORDING",
		Short: "Combine recordings of several windows into one",
		Long: `Combine recordings into one that holds all their windows. Counts add up, so merging
is associative and commutative: merge(a, merge(b, c)) has the same counts as
merge(merge(a, b), c). When a per-edge limit is exceeded, the routes and source addresses
with the most requests are kept and the rest counted as overflow.`,
		Example: `  cinch graph merge monday.yaml tuesday.yaml -o week.yaml`,
		RunE: func(_ *cobra.Command, args []string) error {
			if err := checkRecordingOutput(output); err != nil {
				return err
			}
			rec, err := readRecordings(s, args, limits)
			if err != nil {
				return err
			}
			return writeRecording(output, rec, s.Out)
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "-", "the recording: a file (.json for JSON, YAML otherwise), or yaml or json (- is yaml) for stdout")
	c.Flags().IntVar(&limits.MaxPathsPerEdge, "max-paths-per-edge", limits.MaxPathsPerEdge, "routes (path templates) kept per edge; raw paths with ids fold into templates first")
	c.Flags().IntVar(&limits.MaxSourceIPsPerEdge, "max-source-ips-per-edge", limits.MaxSourceIPsPerEdge, "distinct unauthenticated client addresses kept per edge")
	return c
}

func newGraphDrawCommand(s Streams, name, what string, draw func(io.Writer, *recording.Recording) error) *cobra.Command {
	return &cobra.Command{
		Use:     name + " RECORDING...",
		Short:   fmt.Sprintf("Draw the service graph as %s", what),
		Example: fmt.Sprintf("  cinch graph %s recording.yaml", name),
		RunE: func(_ *cobra.Command, args []string) error {
			rec, err := readRecordings(s, args, recording.DefaultLimits)
			if err != nil {
				return err
			}
			return draw(s.Out, rec)
		},
	}
}
