package cmd

import (
	"fmt"
	"strings"

	"github.com/cinchmesh/cinch/observe/cluster"
	"github.com/cinchmesh/cinch/observe/recording"
)

// checkFit warns, with counts and examples, about the traffic that the
// cluster objects named by from do not fit, and refuses objects that fit
// none of it: they name the wrong workloads, or none.
func checkFit(s Streams, inv *cluster.Inventory, rec *recording.Recording, opts cluster.FitOptions, from string) error {
	f := inv.Fit(rec, opts)
	if f.NothingFits() {
		how := "with --cluster-file FILE (kubectl get pods,rs,deploy,sts,ds,svc,nodes,ns -A -o yaml > FILE)"
		if strings.HasPrefix(from, "kube context") {
			how = "with --context NAME (the kubeconfig context of that cluster), or " + how
		}
		return fmt.Errorf("the cluster objects of %s fit none of the traffic: none of its %d workloads and addresses is among them (servers: %s; %d requests); they are another cluster's or app's. Give the objects of the cluster the traffic was recorded in, taken while its pods ran, %s",
			from, f.Peers, f.UnknownExamples(), f.Requests, how)
	}
	findings := f.Findings()
	if len(findings) == 0 {
		return nil
	}
	fmt.Fprintf(s.Err, "warning: the cluster objects of %s may not be those of the traffic (another cluster, app or day names addresses as the wrong workloads; check --cluster-file):\n", from)
	for _, line := range findings {
		fmt.Fprintln(s.Err, "  -", line)
	}
	if f.NoTimes {
		fmt.Fprintln(s.Err, "  - not checked: whether the pods existed when the traffic was recorded (the recording has no times for its traffic: saved output has them with observe --window-end)")
	}
	return nil
}

// clusterFilesName names --cluster-file files for messages.
func clusterFilesName(files []string) string {
	return "--cluster-file " + strings.Join(files, ", ")
}
