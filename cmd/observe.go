package cmd

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cinchmesh/cinch/observe/cluster"
	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/observe/replay"
	"github.com/cinchmesh/cinch/observe/tapstream"
)

type observeOptions struct {
	kube        kubeOptions
	duration    time.Duration
	fromFiles   []string
	format      string
	clusterFile string
	trustDomain string
	output      string
	keepGoing   bool
	start, end  string
	maxRPS      float64
	limits      recording.Limits
}

func (o *observeOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.fromFiles, "from-file", nil, "saved tap output to record (raw stream, the JSON or the text output of linkerd viz tap; gzip is read transparently; - is stdin); repeatable")
	fs.StringVar(&o.format, "format", "", "force the input format (raw, json, text) instead of detecting it")
	fs.StringVar(&o.clusterFile, "cluster-file", "", "cluster objects as YAML (kubectl get -o yaml output or manifests) to name addresses and enrich workloads")
	fs.StringVar(&o.trustDomain, "trust-domain", cluster.DefaultTrustDomain, "mesh trust domain, for identities derived from --cluster-file")
	fs.StringVarP(&o.output, "output", "o", "-", "recording to write (.json for JSON, YAML otherwise; - for stdout); written atomically")
	fs.BoolVar(&o.keepGoing, "keep-going", false, "on bad input, keep what was recorded up to the error, note it in the window and go on with the next file (the exit code is still 3)")
	fs.StringVar(&o.start, "window-start", "", "when the saved output was taken (RFC 3339), recorded as the window's start")
	fs.StringVar(&o.end, "window-end", "", "when the saved output ended (RFC 3339)")
	fs.Float64Var(&o.maxRPS, "max-rps", 0, "live: requests per second tap forwards per target (default 100, tap's own); files: the rate the saved output was tapped with, if known (0 = unknown)")
	fs.DurationVar(&o.duration, "duration", 5*time.Minute, "live: how long to record (the window); Ctrl-C ends it early and still writes the recording")
	fs.IntVar(&o.limits.MaxPathsPerEdge, "max-paths-per-edge", recording.DefaultLimits.MaxPathsPerEdge, "distinct raw paths kept per edge; requests beyond are counted as overflow")
	fs.IntVar(&o.limits.MaxSourceIPsPerEdge, "max-source-ips-per-edge", recording.DefaultLimits.MaxSourceIPsPerEdge, "distinct unauthenticated client addresses kept per edge; beyond are counted as overflow")
}

func newObserveCommand(s Streams) *cobra.Command {
	o := &observeOptions{}
	c := &cobra.Command{
		Use:   "observe (TARGET... | --from-file FILE...) [-o RECORDING]",
		Short: "Record traffic into a service graph recording",
		Long: `Record tap events into a recording: the service graph of who called whom, on which
port and route, that later stages turn into policy.

Live: name targets as 'linkerd viz tap' does (deploy/web, ns/emojivoto, sts/db) and cinch
taps them through the Kubernetes API (the kubeconfig flags behave as in kubectl) for
--duration. Streams that break are reopened with backoff and the gap is noted.

Saved output: each --from-file becomes one window of the recording. The format of each file
is detected from its content. The default text output of 'linkerd viz tap' carries only
addresses: give --cluster-file to name the workloads behind them.`,
		Example: `  cinch observe -n emojivoto deploy/web deploy/voting --duration 30m -o emojivoto.yaml
  cinch observe --from-file emojivoto.tap.json.gz -o emojivoto.yaml
  linkerd viz tap -n booksapp deploy -o json | cinch observe --from-file - -o booksapp.yaml
  cinch observe --from-file tap.txt --cluster-file cluster.yaml -o recording.json`,
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) > 0 {
				return o.runLive(c, s, args)
			}
			opts, err := o.validate(s)
			if err != nil {
				return err
			}
			return o.run(c, s, opts)
		},
	}
	o.addFlags(c.Flags())
	o.kube.addFlags(c.Flags())
	return c
}

func (o *observeOptions) validate(s Streams) (replay.Options, error) {
	opts := replay.Options{Limits: o.limits, KeepGoing: o.keepGoing, MaxRPS: o.maxRPS, Stdin: s.In}
	if len(o.fromFiles) == 0 {
		return opts, usageErrorf("name tap targets (deploy/web, ns/emojivoto) or give --from-file")
	}
	switch tapstream.Format(o.format) {
	case "", tapstream.FormatRaw, tapstream.FormatJSON, tapstream.FormatText:
		opts.Format = tapstream.Format(o.format)
	default:
		return opts, usageErrorf("--format %q: want raw, json or text", o.format)
	}
	if o.limits.MaxPathsPerEdge < 1 {
		return opts, usageErrorf("--max-paths-per-edge must be at least 1")
	}
	if o.limits.MaxSourceIPsPerEdge < 1 {
		return opts, usageErrorf("--max-source-ips-per-edge must be at least 1")
	}
	if o.maxRPS < 0 {
		return opts, usageErrorf("--max-rps must not be negative")
	}
	var err error
	if opts.Start, err = parseTime("--window-start", o.start); err != nil {
		return opts, err
	}
	if opts.End, err = parseTime("--window-end", o.end); err != nil {
		return opts, err
	}
	if opts.Start != nil && opts.End != nil && opts.End.Before(*opts.Start) {
		return opts, usageErrorf("--window-end is before --window-start")
	}
	if o.clusterFile != "" {
		objs, err := cluster.ReadFile(o.clusterFile)
		if err != nil {
			return opts, fmt.Errorf("--cluster-file: %w", err)
		}
		opts.Inventory = cluster.NewInventory(objs, cluster.Options{TrustDomain: o.trustDomain})
	}
	return opts, nil
}

func parseTime(flag, v string) (*time.Time, error) {
	if v == "" {
		return nil, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return nil, usageErrorf("%s %q: want RFC 3339, such as 2026-11-24T10:00:00Z", flag, v)
	}
	t = t.UTC()
	return &t, nil
}

func (o *observeOptions) run(c *cobra.Command, s Streams, opts replay.Options) error {
	rec, err := replay.Files(c.Context(), o.fromFiles, opts)
	if rec == nil {
		return err
	}
	if werr := recording.WriteFile(o.output, rec, s.Out); werr != nil {
		return errors.Join(err, fmt.Errorf("write %s: %w", o.output, werr))
	}
	if err != nil && o.output != "-" {
		return fmt.Errorf("%w (what was read before each error is in %s)", err, o.output)
	}
	return err
}
