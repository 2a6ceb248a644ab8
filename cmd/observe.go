package cmd

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cinchmesh/cinch/observe/cluster"
	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/observe/replay"
	"github.com/cinchmesh/cinch/observe/tapstream"
	"github.com/cinchmesh/cinch/synth"
	"github.com/cinchmesh/cinch/synth/routes"
)

type observeOptions struct {
	kube         kubeOptions
	duration     time.Duration
	fromFiles    []string
	format       string
	clusterFiles []string
	trustDomain  string
	output       string
	keepGoing    bool
	start, end   string
	maxRPS       float64
	limits       recording.Limits
	appendTo     bool
	keepQuery    bool
	redact       bool
	prom         promOptions
	// objectsFrom names where the cluster objects of a replay came from,
	// for messages.
	objectsFrom string

	// Live targets.
	selector      string
	allNamespaces bool
	to            string
	toNamespace   string
}

func (o *observeOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringArrayVar(&o.fromFiles, "from-file", nil, "saved tap output to record (raw stream, the JSON or the text output of linkerd viz tap; gzip is read transparently; - is stdin); repeatable")
	fs.StringVar(&o.format, "format", "", "force the input format (raw, json, text) instead of detecting it")
	fs.StringArrayVar(&o.clusterFiles, "cluster-file", nil, "cluster objects as YAML (kubectl get -o yaml output or manifests) to name addresses and enrich workloads (default: read from the kube context when it answers); repeatable, merged")
	fs.StringVar(&o.trustDomain, "trust-domain", recording.DefaultTrustDomain, "mesh trust domain, for identities derived from --cluster-file")
	fs.StringVarP(&o.output, "output", "o", "-", "the recording: a file (.json for JSON, YAML otherwise; written atomically), or yaml or json (- is yaml) for stdout")
	fs.BoolVar(&o.keepGoing, "keep-going", false, "on bad input, keep what was recorded up to the error, note it in the window and go on with the next file (the exit code is still 3)")
	fs.StringVar(&o.start, "window-start", "", "when the saved output was taken (RFC 3339), recorded as the window's start")
	fs.StringVar(&o.end, "window-end", "", "when the saved output ended (RFC 3339)")
	fs.Float64Var(&o.maxRPS, "max-rps", 0, "live: requests per second tap forwards per target (default 100, tap's own); files: the rate the saved output was tapped with, if known (0 = unknown)")
	fs.DurationVar(&o.duration, "duration", 5*time.Minute, "live: how long to record (the window); Ctrl-C ends it early and still writes the recording")
	fs.IntVar(&o.limits.MaxPathsPerEdge, "max-paths-per-edge", recording.DefaultLimits.MaxPathsPerEdge, "routes (path templates) kept per edge before new literal segments are folded into templates; beyond twice as many, requests are counted as overflow (docs/recording.md)")
	fs.BoolVar(&o.keepQuery, "keep-query", false, "keep query strings in recorded paths (by default they are cut off: they can carry tokens and personal data, and never decide a route)")
	fs.BoolVar(&o.redact, "redact", false, "write route templates (/users/{int}) instead of raw paths, so the recording holds no ids or names from URLs; synth gives the same policy (docs/recording.md)")
	fs.BoolVar(&o.appendTo, "append", false, "add this window to the recording named by -o (created if missing) instead of replacing it")
	fs.StringVarP(&o.selector, "selector", "l", "", "live: with a bare kind (deploy -l app=web), tap the resources of that kind whose own labels match (not their pods'), as linkerd viz tap does")
	fs.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "live: tap every namespace with meshed pods, one stream each (or the given kinds, e.g. 'deploy', in each)")
	fs.StringVar(&o.to, "to", "", "live: only requests to this resource (deploy/api, ns/shop, ...), as in linkerd viz tap --to")
	fs.StringVar(&o.toNamespace, "to-namespace", "", "live: the namespace of --to (default: the target's)")
	fs.IntVar(&o.limits.MaxSourceIPsPerEdge, "max-source-ips-per-edge", recording.DefaultLimits.MaxSourceIPsPerEdge, "distinct unauthenticated client addresses kept per edge; beyond are counted as overflow")
}

func newObserveCommand(s Streams) *cobra.Command {
	o := &observeOptions{}
	c := &cobra.Command{
		Use:   "observe (TARGET... | -A | --from-file FILE... | --from-prometheus URL) [-o RECORDING]",
		Short: "Record traffic into a service graph recording",
		Long: `Record tap events into a recording: the service graph of who called whom, on which
port and route, that later stages turn into policy.

Live: name targets as 'linkerd viz tap' does (deploy/web, ns/emojivoto, sts/db, or a kind
with -l) or give -A for every namespace, and cinch taps them through the Kubernetes API (the
kubeconfig flags behave as in kubectl) for --duration. It reads the targets' pods, workloads
and Services first (or --cluster-file) and stores what policy needs (labels, ports, probes,
service accounts, default-inbound-policy annotations) in the recording, so later stages never
need the cluster. Streams that break are reopened with backoff and the gap is noted; Ctrl-C
ends the window early and still writes the recording. On a terminal a progress line shows
the window's state.

Saved output: each --from-file becomes one window of the recording. The format of each file
is detected from its content. The default text output of 'linkerd viz tap' carries only
addresses: give --cluster-file to name the workloads behind them.

Metrics: --from-prometheus records the Linkerd proxy metrics of the last --window (-n or -A):
every edge with its counts, TCP edges and denied clients, but no paths. Clients, which metrics
know by mesh identity, are named from the cluster (the kubeconfig's, or --cluster-file). Merge
it with tap recordings ('cinch graph merge') for routes. See docs/metrics.md.

--redact writes route templates (/users/{int}) instead of raw paths (docs/recording.md).`,
		Example: `  cinch observe -n emojivoto deploy/web deploy/voting --duration 30m -o emojivoto.yaml
  cinch observe -A --duration 1h -o mesh.yaml
  cinch observe -n booksapp deploy -l app=books --to deploy/authors --duration 10m -o books.yaml
  cinch observe ns/booksapp --duration 1h -o booksapp.yaml --append
  cinch observe --from-file emojivoto.tap.json.gz -o emojivoto.yaml
  linkerd viz tap -n booksapp deploy -o json | cinch observe --from-file - -o booksapp.yaml
  cinch observe --from-file tap.txt --cluster-file cluster.yaml -o recording.json
  cinch observe --from-prometheus http://prometheus.linkerd-viz:9090 -A --window 14d -o metrics.yaml`,
		RunE: func(c *cobra.Command, args []string) error {
			if o.redact && o.keepQuery {
				return usageErrorf("--redact writes route templates, which have no query strings: drop --keep-query")
			}
			if err := checkRecordingOutput(o.output); err != nil {
				return fmt.Errorf("%w (checked before recording)", err)
			}
			if o.prom.url != "" {
				return o.runProm(c, s, args)
			}
			if len(args) > 0 || o.allNamespaces {
				return o.runLive(c, s, args)
			}
			opts, err := o.validate(c.Context(), s)
			if err != nil {
				return err
			}
			return o.run(c, s, opts)
		},
	}
	c.ValidArgsFunction = completeTapTargets
	o.addFlags(c.Flags())
	o.prom.addFlags(c.Flags())
	o.kube.addFlags(c.Flags(), "live: the namespace of the targets (default: the kube context's); metrics: the namespaces to record")
	_ = c.RegisterFlagCompletionFunc("to", completeTapTargets)
	return c
}

func (o *observeOptions) validate(ctx context.Context, s Streams) (replay.Options, error) {
	opts := replay.Options{Limits: o.limits, KeepQuery: o.keepQuery, KeepGoing: o.keepGoing, MaxRPS: o.maxRPS, Stdin: s.In}
	if len(o.fromFiles) == 0 {
		return opts, usageErrorf("name tap targets (deploy/web, ns/emojivoto) or give --from-file")
	}
	switch tapstream.Format(o.format) {
	case "", tapstream.FormatRaw, tapstream.FormatJSON, tapstream.FormatText:
		opts.Format = tapstream.Format(o.format)
	default:
		return opts, usageErrorf("--format %q: want raw, json or text", o.format)
	}
	if err := o.validateLimits(); err != nil {
		return opts, err
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
	objs, err := o.fileClusterObjects(ctx, s)
	if err != nil {
		return opts, err
	}
	if objs != nil {
		opts.Inventory = cluster.NewInventory(objs, cluster.Options{TrustDomain: o.trustDomain})
	}
	return opts, nil
}

// fileClusterObjects reads the cluster objects that name the workloads of
// saved tap output: --cluster-file, else every namespace of the kube
// context when it answers (said on stderr), else none, with a warning
// that says what the recording will lack and how to supply it.
func (o *observeOptions) fileClusterObjects(ctx context.Context, s Streams) (*cluster.Objects, error) {
	if len(o.clusterFiles) > 0 {
		o.objectsFrom = clusterFilesName(o.clusterFiles)
		return readClusterFiles(o.clusterFiles)
	}
	objs, context, err := o.kube.contextObjects(ctx, nil)
	if err != nil {
		fmt.Fprintf(s.Err, "warning: no cluster objects (%v): the recording will have no pod labels (and text output no workload names), which synth needs to select servers; %v\n", err, errNoClusterObjects)
		return nil, nil
	}
	o.objectsFrom = fmt.Sprintf("kube context %q", context)
	fmt.Fprintf(s.Err, "no --cluster-file: naming workloads from kube context %q (%d pods in %d namespaces, as they are now)\n", context, len(objs.Pods), len(objs.Namespaces))
	return objs, nil
}

func (o *observeOptions) validateLimits() error {
	if o.limits.MaxPathsPerEdge < 1 {
		return usageErrorf("--max-paths-per-edge must be at least 1")
	}
	if o.limits.MaxSourceIPsPerEdge < 1 {
		return usageErrorf("--max-source-ips-per-edge must be at least 1")
	}
	return nil
}

// appendBase reads the recording --append adds the window to: nil without
// --append, or when the file does not exist yet. It is read before
// recording, so a bad file fails at once rather than after the window.
func (o *observeOptions) appendBase() (*recording.Recording, error) {
	if !o.appendTo {
		return nil, nil
	}
	if _, ok := recordingToStdout(o.output); ok {
		return nil, usageErrorf("--append needs -o FILE: the recording to add the window to")
	}
	rec, err := recording.ReadFile(o.output, nil)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("--append: %w", err)
	}
	return rec, nil
}

// write writes the recording, merged into base when appending.
func (o *observeOptions) write(s Streams, base, rec *recording.Recording) error {
	if base != nil {
		rec = recording.Merge(o.limits, base, rec)
	}
	if o.redact {
		synth.Redact(rec, routes.DefaultOptions())
	}
	return writeRecording(o.output, rec, s.Out)
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
	base, err := o.appendBase()
	if err != nil {
		return err
	}
	rec, err := replay.Files(c.Context(), o.fromFiles, opts)
	if rec == nil {
		return err
	}
	if opts.Inventory != nil {
		if ferr := checkFit(s, opts.Inventory, rec, cluster.FitOptions{}, o.objectsFrom); ferr != nil {
			return errors.Join(err, fmt.Errorf("%w; %s is left as it was", ferr, o.output))
		}
	}
	if werr := o.write(s, base, rec); werr != nil {
		return errors.Join(err, fmt.Errorf("write %s: %w", o.output, werr))
	}
	var stopped *replay.InterruptedError
	if errors.As(err, &stopped) {
		where := o.output
		if _, ok := recordingToStdout(where); ok {
			where = "the recording written"
		}
		return &InterruptedError{Err: fmt.Errorf("%w: %s holds what was read, its window marked interrupted", err, where)}
	}
	if _, ok := recordingToStdout(o.output); err != nil && !ok {
		return fmt.Errorf("%w (what was read before each error is in %s)", err, o.output)
	}
	return err
}
