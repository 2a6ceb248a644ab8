package synth

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/diff"
	"github.com/cinchmesh/cinch/synth/policy"
)

// selfCheck evaluates the synthesized policy against the traffic it was
// made from, as if enforced, with the evaluator `cinch diff` uses: every
// observed request must be admitted by a generated authorization, not
// merely audited. A failure is a cinch bug, and the policy is not written.
func selfCheck(rec *recording.Recording, res *Result) error {
	var set policy.Set
	for i := range res.Units {
		u := res.Units[i].Set
		u.Servers = append([]policy.Server(nil), u.Servers...)
		for j := range u.Servers {
			u.Servers[j].Spec.AccessPolicy = policy.Deny
		}
		set.Add(&u)
	}
	rep, err := diff.Evaluate(rec, &set, diff.Options{})
	if err != nil {
		return err
	}
	findings := append(rep.Denied, rep.Audit...)
	if len(findings) == 0 {
		return nil
	}
	var lines []string
	for _, f := range findings[:min(len(findings), 10)] {
		lines = append(lines, fmt.Sprintf("%s -> %s port %d %s: %s (%d requests)", f.Client, f.Server, f.Port, f.Sample, f.Reason, f.Requests))
	}
	return errors.New("self-check: the synthesized policy would deny observed traffic (a cinch bug, please report it):\n  " + strings.Join(lines, "\n  "))
}
