// Package synth turns a recording into Linkerd authorization policy that
// admits what was observed and as little else as the chosen level allows:
// Servers for every observed server port, AuthorizationPolicies with the
// client namespaces (level namespace) or service accounts (level
// serviceaccount), or per-route HTTPRoutes/GRPCRoutes with their own
// authorizations (level route), plus ServiceProfiles on request.
//
// Everything it emits is deterministic (same recording, same bytes),
// checked against Linkerd's admission rules (synth/policy) and evaluated
// against the recording (synth/eval) before it is returned.
//
// It imports observe/recording, synth/policy, synth/routes and synth/eval.
package synth

import (
	"fmt"
	"net/netip"
	"slices"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/cinchmesh/cinch/observe/cluster"
	"github.com/cinchmesh/cinch/synth/intents"
	"github.com/cinchmesh/cinch/synth/routes"
)

// Level is how fine-grained the authorizations are.
type Level string

const (
	LevelNamespace      Level = "namespace"
	LevelServiceAccount Level = "serviceaccount"
	LevelRoute          Level = "route"
)

// Levels lists the levels from coarse to fine.
var Levels = []Level{LevelNamespace, LevelServiceAccount, LevelRoute}

// Mode is the Servers' accessPolicy: what happens to requests no
// authorization admits.
type Mode string

const (
	// ModeAudit admits them and has the proxy log and count them: the
	// first stage of a rollout.
	ModeAudit Mode = "audit"
	// ModeEnforce denies them.
	ModeEnforce Mode = "enforce"
)

// RouteAPI is the API group of the generated HTTPRoutes.
type RouteAPI string

const (
	RouteAPIGateway RouteAPI = "gateway.networking.k8s.io"
	RouteAPIPolicy  RouteAPI = "policy.linkerd.io"
)

// Options configure a synthesis.
type Options struct {
	Level Level
	Mode  Mode
	// DefaultDeny adds the deny default-inbound-policy annotation to every
	// namespace with generated Servers, as the last document.
	DefaultDeny bool
	// Scrapes configures the proxy admin port's policy that default deny
	// comes with.
	Scrapes Scrapes
	// Candidates are the meshed workloads the cluster objects declare
	// (cluster.Candidates): with DefaultDeny, those never observed as
	// clients are listed, per namespace, in the warnings and the result.
	Candidates []cluster.Candidate
	// Intents are declared grants (the intents file), merged with what
	// was observed; the objects that carry them are marked.
	Intents []intents.Intent
	// ServiceProfiles adds a ServiceProfile per Service in front of an
	// observed server, with the inferred routes.
	ServiceProfiles bool
	RouteAPI        RouteAPI
	// NetworkPrefix widens single client addresses of unmeshed clients.
	NetworkPrefix PrefixLengths
	// ProbeNetworks are the sources allowed on probe routes at route level;
	// empty: the node addresses seen in the recording.
	ProbeNetworks []netip.Prefix
	// Namespaces limits the output to servers in these namespaces; empty:
	// all.
	Namespaces []string
	// ClusterDomain names ServiceProfiles (default cluster.local).
	ClusterDomain string
	// GrantDenied grants clients whose every request the policy in force
	// denied (seen in metrics only); by default they stay denied.
	GrantDenied bool
	// MinCoverage keeps server ports whose estimated coverage (Good-Turing)
	// is below it at service-account level when Level is route: a route
	// list built from too little traffic would break the routes not seen.
	MinCoverage float64
	// Routes are the route inference thresholds.
	Routes routes.Options
	// MaxRoutesPerServer caps the route matches of one Server at route
	// level (0: no cap): above it, routes are merged, those admitting the
	// fewest new requests first (docs/synth.md, "Capping routes").
	MaxRoutesPerServer int
}

// Scrapes is the policy of the proxies' admin port (linkerd-admin, 4191)
// written with DefaultDeny in every namespace it annotates: without it,
// default deny stops Prometheus scraping the proxies, and with it
// linkerd-viz, every dashboard and cinch's own metrics source.
type Scrapes struct {
	// Disabled leaves the admin port's policy out.
	Disabled bool
	// ServiceAccounts are the scraper's service accounts; Networks the
	// addresses of scrapers without mTLS (a Prometheus outside the
	// cluster). With neither, the linkerd-viz Prometheus is the scraper.
	ServiceAccounts []ServiceAccountRef
	Networks        []netip.Prefix
}

// ServiceAccountRef names a service account.
type ServiceAccountRef struct{ Namespace, Name string }

func (r ServiceAccountRef) String() string { return r.Namespace + "/" + r.Name }

// DefaultScraper is linkerd-viz's Prometheus.
var DefaultScraper = ServiceAccountRef{Namespace: "linkerd-viz", Name: "prometheus"}

// scrapers returns the scraper's service accounts, the default when none
// and no networks are given.
func (s *Scrapes) scrapers() []ServiceAccountRef {
	if len(s.ServiceAccounts) == 0 && len(s.Networks) == 0 {
		return []ServiceAccountRef{DefaultScraper}
	}
	return s.ServiceAccounts
}

func (o *Options) selects(namespace string) bool {
	return len(o.Namespaces) == 0 || slices.Contains(o.Namespaces, namespace)
}

// Validate checks the options; errors name the option as a flag.
func (o *Options) Validate() error {
	if !slices.Contains(Levels, o.Level) {
		return fmt.Errorf("--level %q: want namespace, serviceaccount or route", o.Level)
	}
	if o.Mode != ModeAudit && o.Mode != ModeEnforce {
		return fmt.Errorf("--mode %q: want audit or enforce", o.Mode)
	}
	if o.RouteAPI != RouteAPIGateway && o.RouteAPI != RouteAPIPolicy {
		return fmt.Errorf("--route-api %q: want %s or %s", o.RouteAPI, RouteAPIGateway, RouteAPIPolicy)
	}
	if o.NetworkPrefix.IPv4 < 0 || o.NetworkPrefix.IPv4 > 32 {
		return fmt.Errorf("--widen-ipv4 %d: want 0 (single addresses) to 32", o.NetworkPrefix.IPv4)
	}
	if o.NetworkPrefix.IPv6 < 0 || o.NetworkPrefix.IPv6 > 128 {
		return fmt.Errorf("--widen-ipv6 %d: want 0 (single addresses) to 128", o.NetworkPrefix.IPv6)
	}
	if o.MinCoverage < 0 || o.MinCoverage > 1 {
		return fmt.Errorf("--min-coverage %g: want a fraction from 0 to 1", o.MinCoverage)
	}
	if o.MaxRoutesPerServer < 0 {
		return fmt.Errorf("--max-routes-per-server %d: want the most route matches one Server may have, or 0 for no cap", o.MaxRoutesPerServer)
	}
	if err := o.Routes.Validate(); err != nil {
		return err
	}
	for _, sa := range o.Scrapes.ServiceAccounts {
		if len(validation.IsDNS1123Label(sa.Namespace)) > 0 || len(validation.IsDNS1123Subdomain(sa.Name)) > 0 {
			return fmt.Errorf("--scraper-service-account %s: want namespace/name of the scraper's service account", sa)
		}
	}
	for _, p := range o.Scrapes.Networks {
		if p.Bits() == 0 {
			return fmt.Errorf("--scraper-network %s: opens the proxies' metrics to every address; name the scraper's network instead", p)
		}
	}
	for _, p := range o.ProbeNetworks {
		if p.Bits() == 0 {
			return fmt.Errorf("--probe-networks %s: opens probe routes to every address; name the node network instead", p)
		}
	}
	return nil
}
