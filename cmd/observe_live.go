package cmd

import (
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/cinchmesh/cinch/observe/live"
	"github.com/cinchmesh/cinch/observe/recorder"
	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/observe/tapapi"
)

// runLive records a live window from the named tap targets.
func (o *observeOptions) runLive(c *cobra.Command, s Streams, args []string) error {
	if len(o.fromFiles) > 0 {
		return usageErrorf("give either tap targets or --from-file, not both")
	}
	if o.duration <= 0 {
		return usageErrorf("--duration must be positive")
	}
	if o.maxRPS < 0 {
		return usageErrorf("--max-rps must not be negative")
	}
	maxRPS := o.maxRPS
	if !c.Flags().Changed("max-rps") {
		maxRPS = 100
	}
	hc, host, ns, err := o.kube.client()
	if err != nil {
		return err
	}
	var targets []tapapi.Params
	for _, a := range args {
		t, err := tapapi.ParseTarget(a)
		if err != nil {
			return &UsageError{Err: err}
		}
		targets = append(targets, tapapi.Params{Target: t, Namespace: ns, MaxRPS: float32(maxRPS)})
	}
	rec := recorder.New(recorder.Options{Limits: o.limits})
	start := time.Now().UTC()
	rec.BeginWindow(recording.Window{
		Source:   "tap:" + ns + "/" + strings.Join(args, ","),
		Start:    &start,
		Sampling: recording.Sampling{Sampled: true, MaxRPS: maxRPS},
	})
	if err := live.Record(c.Context(), &tapapi.Client{HTTP: hc, Host: host}, targets, rec, live.Options{Duration: o.duration}); err != nil {
		return err
	}
	out := rec.Recording()
	end := time.Now().UTC()
	out.Windows[len(out.Windows)-1].End = &end
	return recording.WriteFile(o.output, out, s.Out)
}
