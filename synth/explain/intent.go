package explain

import (
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/cinchmesh/cinch/synth"
)

// intent is one entry of the declared-intents file that synth merges with
// what was observed (docs/synth.md, "Declared intents"): the grant as an
// intent, for access that must exist without being observed.
type intent struct {
	Client intentClient  `json:"client"`
	Server string        `json:"server"`
	Port   uint32        `json:"port"`
	Routes []intentRoute `json:"routes,omitempty"`
	Reason string        `json:"reason"`
}

type intentClient struct {
	ServiceAccount string `json:"serviceAccount,omitempty"`
	Network        string `json:"network,omitempty"`
}

type intentRoute struct {
	Method string `json:"method,omitempty"`
	Path   string `json:"path"`
}

// Intent writes the grant as an entry of the declared-intents file (a
// one-item list to add under intents:), with a reason to fill in; nil
// when the client cannot be declared (an identity of no service account,
// or no grant).
func (e *Explanation) Intent() ([]byte, error) {
	g := e.Grant
	if g == nil || g.Objects == nil {
		return nil, nil
	}
	tr := e.Trace
	in := intent{Server: string(e.Query.To), Port: e.Query.Port,
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
		in.Routes = []intentRoute{{Method: tr.Request.Method, Path: strings.NewReplacer("{", "{{", "}", "}}").Replace(path)}}
	}
	return yaml.Marshal([]intent{in})
}
