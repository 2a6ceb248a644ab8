package explain

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/cinchmesh/cinch/synth"
	"github.com/cinchmesh/cinch/synth/intents"
)

// Intent writes the grant as an entry of the declared-intents file (a
// one-item list to add under intents:, docs/synth.md "Declared intents"),
// with a reason to fill in; nil when the client cannot be declared (an
// identity of no service account, or no grant).
func (e *Explanation) Intent() ([]byte, error) {
	g := e.Grant
	if g == nil || g.Objects == nil {
		return nil, nil
	}
	tr := e.Trace
	in := intents.Intent{Server: string(e.Query.To), Port: e.Query.Port,
		Reason: "FILL IN why this access must exist (explained: " + e.describe() + ")"}
	if i, ok := parseServiceAccount(e.Identity); ok {
		in.Client.ServiceAccount = i
	} else if e.Identity == "" && e.Address.IsValid() {
		in.Client.Network = fmt.Sprintf("%s/%d", e.Address, e.Address.BitLen())
	} else {
		return nil, nil
	}
	if g.Level == synth.LevelRoute && tr.Request.Path != "" && !tr.RouteGiven {
		path, _, _ := strings.Cut(tr.Request.Path, "?")
		in.Routes = []intents.Route{{Method: tr.Request.Method, Path: strings.NewReplacer("{", "{{", "}", "}}").Replace(path)}}
	}
	var buf bytes.Buffer
	if err := intents.WriteEntries(&buf, []intents.Intent{in}); err != nil {
		return nil, fmt.Errorf("explain: the grant as a declared intent: %w", err)
	}
	return buf.Bytes(), nil
}
