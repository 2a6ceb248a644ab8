package synth

import (
	"bytes"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/eval"
	"github.com/cinchmesh/cinch/synth/policy"
)

// The property tests synthesize random recordings (fixed seeds, so every
// run checks the same cases) and check what the policy admits with the
// evaluator directly, request by request, rather than trusting synth's
// own self-check; fixtures/judge, which shares no code with synth or the
// evaluator, decides every such request too over the YAML stream, and
// must agree.

// propertySeeds is how many random recordings the seed-driven property
// tests check (some tests a fraction of them): CINCH_PROPERTY_SEEDS, else
// 16, which keeps make test quick; CI runs 40, and a long run any number.
var propertySeeds = seedsFromEnv(16)

func seedsFromEnv(def int) int {
	v := os.Getenv("CINCH_PROPERTY_SEEDS")
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 4 {
		panic("CINCH_PROPERTY_SEEDS=" + v + ": want a whole number, at least 4")
	}
	return n
}

const trustDomain = ".serviceaccount.identity.linkerd.cluster.local"

func meshID(sa, ns string) string { return sa + "." + ns + trustDomain }

// gen builds a random recording: meshed servers with HTTP and gRPC ports
// and probes, called by meshed workloads, clients known only by identity,
// unmeshed addresses (IPv4 and IPv6) and kubelets on nodes.
type gen struct {
	r   *rand.Rand
	rec *recording.Recording
	// clients are every possible client, called or not, so the checks
	// have clients that were never seen on a port.
	clients []genClient
	// servers is how many servers to make; 0: one to three.
	servers int
}

type genClient struct {
	id       recording.PeerID
	identity string // "" for unmeshed clients
	ns, sa   string
	ips      []string
}

var (
	genNamespaces      = []string{"shop", "books", "ops"}
	genServiceAccounts = []string{"web", "api", "batch", "default"}
	genIPs             = []string{"10.1.0.5", "10.1.0.6", "10.2.3.4", "192.168.7.9", "fd00::5", "fd00:1::9"}
	genNodes           = []string{"10.0.0.1", "10.0.0.2"}
	genProbes          = []string{"/healthz", "/ready"}
)

func newGen(seed uint64) *gen {
	g := &gen{r: rand.New(rand.NewPCG(seed, 0x5eed)), rec: recording.New()}
	g.rec.Windows = []recording.Window{{Source: "file:generated"}}
	return g
}

func (g *gen) pick(s []string) string { return s[g.r.IntN(len(s))] }

// path draws a path of one of a few API shapes; rarely a literal
// collection large enough to become {param}.
func (g *gen) path() string {
	switch g.r.IntN(7) {
	case 0:
		return fmt.Sprintf("/api/items/%d", g.r.IntN(5000))
	case 1:
		return fmt.Sprintf("/api/items/%d/reviews", g.r.IntN(5000))
	case 2:
		return fmt.Sprintf("/books/%d.json", g.r.IntN(100))
	case 3:
		return fmt.Sprintf("/users/%08x-%04x-4%03x-8%03x-%012x", g.r.Uint32(), g.r.IntN(1<<16), g.r.IntN(1<<12), g.r.IntN(1<<12), g.r.Uint64()&(1<<48-1))
	case 4:
		return "/static/" + g.pick([]string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l"}) + ".css"
	case 5:
		return g.pick([]string{"/", "/login", "/logout", "/cart"})
	}
	return fmt.Sprintf("/reports/2026-%02d-%02d", 1+g.r.IntN(12), 1+g.r.IntN(28))
}

func (g *gen) recording() *recording.Recording {
	rec := g.rec
	// Clients: every namespace and service account may exist; a few are
	// known only by identity, a few are unmeshed addresses.
	for _, ns := range genNamespaces {
		for _, sa := range genServiceAccounts {
			if g.r.IntN(3) == 0 {
				continue
			}
			name := "c-" + sa
			id := recording.PeerID(ns + "/" + name)
			if g.r.IntN(4) == 0 {
				id = recording.PeerID("identity:" + meshID(sa, ns))
				rec.Peers = append(rec.Peers, recording.Peer{ID: id, Kind: recording.PeerIdentity})
			} else {
				rec.Workloads = append(rec.Workloads, recording.Workload{ID: id, Namespace: ns, Kind: "Deployment", Name: name,
					ServiceAccount: sa, Identity: meshID(sa, ns), Meshed: true, Labels: map[string]string{"app": name}})
			}
			g.clients = append(g.clients, genClient{id: id, identity: meshID(sa, ns), ns: ns, sa: sa})
		}
	}
	for _, ip := range genIPs {
		if g.r.IntN(2) == 0 {
			continue
		}
		id := recording.PeerID("ip:" + ip)
		rec.Peers = append(rec.Peers, recording.Peer{ID: id, Kind: recording.PeerExternal, IPs: []string{ip}})
		g.clients = append(g.clients, genClient{id: id, ips: []string{ip}})
	}
	for i, ip := range genNodes {
		rec.Peers = append(rec.Peers, recording.Peer{ID: recording.PeerID(fmt.Sprintf("node:n%d", i)), Kind: recording.PeerNode, IPs: []string{ip}})
	}
	// Servers, each with an HTTP port (probed) and maybe a gRPC port.
	servers := 1 + g.r.IntN(3)
	if g.servers > 0 {
		servers = g.servers
	}
	for i := range servers {
		ns := g.pick(genNamespaces)
		name := fmt.Sprintf("srv%d", i)
		w := recording.Workload{ID: recording.PeerID(ns + "/" + name), Namespace: ns, Kind: "Deployment", Name: name,
			ServiceAccount: name, Identity: meshID(name, ns), Meshed: true, Labels: map[string]string{"app": name, "tier": "backend"},
			Ports:    []recording.ContainerPort{{Port: 8080, Name: "http", Protocol: "TCP"}, {Port: 9090, Protocol: "TCP"}},
			Services: []string{name}}
		probe := g.pick(genProbes)
		w.Probes = []recording.Probe{{Kind: "readiness", Port: 8080, Path: probe}}
		rec.Workloads = append(rec.Workloads, w)
		g.edges(w.ID, 8080, recording.ProtocolHTTP)
		rec.Edges = append(rec.Edges, recording.Edge{Client: "node:n0", Server: w.ID, Port: 8080, Protocol: recording.ProtocolHTTP, Requests: 3,
			TLS: map[string]int64{"no_tls_from_remote": 3}, SourceIPs: []recording.SourceIP{{IP: genNodes[0], Requests: 3}},
			Routes: []recording.Route{{Method: "GET", Path: probe, Requests: 3, Probe: true}}})
		if g.r.IntN(2) == 0 {
			g.edges(w.ID, 9090, recording.ProtocolGRPC)
		}
	}
	rec.Normalize()
	return rec
}

// edges adds the calls of a random subset of clients to one server port.
func (g *gen) edges(server recording.PeerID, port uint32, proto recording.Protocol) {
	for _, c := range g.clients {
		if g.r.IntN(3) != 0 {
			continue
		}
		e := recording.Edge{Client: c.id, Server: server, Port: port, Protocol: proto, TLS: map[string]int64{}}
		for range 1 + g.r.IntN(6) {
			method, path := g.pick([]string{"GET", "GET", "POST", "DELETE"}), g.path()
			if proto == recording.ProtocolGRPC {
				method, path = "POST", "/shop.v1."+g.pick([]string{"Cart", "Stock"})+"/"+g.pick([]string{"Get", "Put", "List"})
			}
			n := 1 + g.r.Int64N(20)
			e.Routes = append(e.Routes, recording.Route{Method: method, Path: path, Requests: n})
			e.Requests += n
		}
		switch {
		case g.r.IntN(8) == 0:
			// Every request was denied by the policy in force (metrics).
			e.Denied, e.Requests, e.Routes = e.Requests, 0, nil
			if c.identity != "" {
				e.TLS["true"] = e.Denied
			}
		case c.identity != "":
			e.TLS["true"] = e.Requests
		default:
			e.TLS["no_tls_from_remote"] = e.Requests
			e.SourceIPs = []recording.SourceIP{{IP: c.ips[0], Requests: e.Requests}}
		}
		g.rec.Edges = append(g.rec.Edges, e)
	}
}

// checker evaluates one synthesis.
type checker struct {
	t    *testing.T
	name string
	rec  *recording.Recording
	opts Options
	res  *Result
	ev   *eval.Evaluator
	// rf is the independent judge every admitted request is checked
	// against, made on the first.
	rf *referee
	// out is the YAML stream of res, written once.
	out []byte
}

// stream is the YAML stream `cinch synth` writes for c.res.
func (c *checker) stream() []byte {
	c.t.Helper()
	if c.out == nil {
		var out bytes.Buffer
		if err := WriteStream(&out, c.res); err != nil {
			c.t.Fatalf("%s: %v", c.name, err)
		}
		c.out = out.Bytes()
	}
	return c.out
}

func synthesizeChecked(t *testing.T, name string, rec *recording.Recording, opts Options) *checker {
	t.Helper()
	res, err := Synthesize(rec, opts)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	set := resultSet(res)
	ev, err := eval.New(set, eval.Cluster{Workloads: rec.Workloads}, eval.Options{})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	for _, w := range ev.Warnings() {
		t.Errorf("%s: the evaluator warns about the output: %s", name, w)
	}
	return &checker{t: t, name: name, rec: rec, opts: opts, res: res, ev: ev}
}

func resultSet(res *Result) *policy.Set {
	var set policy.Set
	for i := range res.Units {
		set.Add(&res.Units[i].Set)
	}
	return &set
}

// request is one request to decide: who calls which server port how.
type request struct {
	client       recording.PeerID
	server       recording.PeerID
	port         uint32
	identity     string
	ip           netip.Addr
	method, path string
}

func (c *checker) decide(r request) eval.Decision {
	return c.ev.Decide(eval.Request{Destination: r.server, Port: r.port, ClientIdentity: r.identity, TLS: r.identity != "",
		SourceIP: r.ip, Method: r.method, Path: r.path})
}

// admitted says whether the generated policy admits r: a generated Server
// claims the port (not a default policy) and authorizes r, with its own
// authorizations or, for probes, Linkerd's. In audit mode the Server
// admits everything else too, which is not an authorization. The
// evaluator decides, and fixtures/judge must agree.
func (c *checker) admitted(r request) (bool, eval.Decision) {
	c.t.Helper()
	d := c.decide(r)
	ok := d.Reason == eval.ReasonAuthorized && d.Server.Kind != "default"
	if c.rf == nil {
		c.rf = newRefereeYAML(c.t, c.stream(), recordingPods(c.rec))
	}
	v, err := c.rf.decide(r)
	if err != nil {
		c.t.Fatalf("%s: %v", c.name, err)
	}
	if v.Enforced() != ok {
		c.rf.disagree(c.t, c.name, r, v, ok, d)
	}
	return ok, d
}

// authorized says whether one of the generated authorizations admits r.
func (c *checker) authorized(r request) (bool, eval.Decision) {
	ok, d := c.admitted(r)
	return ok && d.Authorization.Kind != "default", d
}

// observed lists the recording's requests that synth must admit: every
// route of every edge with admitted requests, once per identity and
// source address it came from.
func (c *checker) observed() []request {
	ids := map[recording.PeerID]string{}
	for _, w := range c.rec.Workloads {
		ids[w.ID] = w.Identity
	}
	var out []request
	for _, e := range c.rec.Edges {
		if e.Requests == 0 && !c.opts.GrantDenied {
			continue
		}
		id := ids[e.Client]
		if s, ok := strings.CutPrefix(string(e.Client), "identity:"); ok {
			id = s
		}
		for _, rt := range e.Routes {
			base := request{client: e.Client, server: e.Server, port: e.Port, method: rt.Method, path: rt.RequestPath()}
			if e.TLS["true"] > 0 && id != "" {
				r := base
				r.identity = id
				out = append(out, r)
			}
			for _, s := range e.SourceIPs {
				r := base
				r.ip = netip.MustParseAddr(s.IP)
				out = append(out, r)
			}
		}
	}
	return out
}

// TestPropertyObservedAdmittedAndNothingElse: for random recordings, at
// every level and mode, every observed request is admitted by a generated
// authorization, and nothing outside the level's granularity is: a
// namespace (or service account) never seen calling a server port, an
// address never seen, a client whose every request was denied, and at
// route level a path no observed route covers, another method, or a route
// object the client was never seen on.
func TestPropertyObservedAdmittedAndNothingElse(t *testing.T) {
	for seed := range uint64(propertySeeds) {
		g := newGen(seed)
		rec := g.recording()
		for _, level := range Levels {
			for _, mode := range []Mode{ModeAudit, ModeEnforce} {
				opts := options(level)
				opts.Mode = mode
				if seed%4 == 1 {
					opts.NetworkPrefix = PrefixLengths{IPv4: 24, IPv6: 64}
				}
				c := synthesizeChecked(t, fmt.Sprintf("seed %d, %s, %s", seed, level, mode), rec, opts)
				c.checkObserved()
				c.checkNothingElse(g.clients)
				c.checkNoWildcards()
				c.checkRoundTrip()
			}
		}
	}
}

func (c *checker) checkObserved() {
	reqs := c.observed()
	if len(reqs) == 0 {
		c.t.Fatalf("%s: the generator made no traffic", c.name)
	}
	for _, r := range reqs {
		if ok, d := c.admitted(r); !ok {
			c.t.Errorf("%s: observed %s %s from %s (identity %q, address %v) to %s port %d is not authorized: %s", c.name, r.method, r.path, r.client, r.identity, r.ip, r.server, r.port, d.Reason)
		}
	}
}

// seenOn is what the recording shows of one server port's admitted
// clients.
type seenOn struct {
	namespaces, identities map[string]bool
	networks               []netip.Prefix
	// requests are the observed requests, to find the route objects each
	// client was seen on.
	requests []request
	paths    map[string]bool
	grpc     bool
	// routes are the route objects each client (identity or address) was
	// seen on, filled in when needed.
	routes map[string]map[eval.Ref]bool
}

func (c *checker) seen() map[portKey]*seenOn {
	out := map[portKey]*seenOn{}
	for _, r := range c.observed() {
		k := portKey{r.server, r.port}
		s := out[k]
		if s == nil {
			s = &seenOn{namespaces: map[string]bool{}, identities: map[string]bool{}, paths: map[string]bool{}}
			out[k] = s
		}
		if r.identity != "" {
			s.identities[r.identity] = true
			_, rest, _ := strings.Cut(r.identity, ".")
			ns, _, _ := strings.Cut(rest, ".")
			s.namespaces[ns] = true
		} else {
			bits := map[bool]int{true: c.opts.NetworkPrefix.IPv4, false: c.opts.NetworkPrefix.IPv6}[r.ip.Is4()]
			if bits == 0 {
				bits = r.ip.BitLen()
			}
			s.networks = append(s.networks, netip.PrefixFrom(r.ip, bits).Masked())
		}
		s.requests = append(s.requests, r)
		s.paths[r.method+" "+r.path] = true
	}
	for _, e := range c.rec.Edges {
		if s := out[portKey{e.Server, e.Port}]; s != nil {
			s.grpc = s.grpc || e.Protocol == recording.ProtocolGRPC
		}
	}
	return out
}

func (c *checker) checkNothingElse(clients []genClient) {
	probes := map[string]bool{}
	for _, p := range genProbes {
		probes[p] = true
	}
	for k, s := range c.seen() {
		// The requests of other clients, sent by each possible client.
		for _, r := range s.requests {
			if probes[r.path] {
				continue // the kubelet's, authorized by address
			}
			for _, other := range clients {
				q := r
				q.client, q.identity, q.ip = other.id, other.identity, netip.Addr{}
				if other.identity == "" {
					q.ip = netip.MustParseAddr(other.ips[0])
				}
				c.checkOne(k, s, q)
			}
			// Never seen: a namespace, a service account, an address, the
			// address next to each network granted and a namespace named
			// like a granted one with a prefix.
			strangers := []request{
				{identity: meshID("web", "elsewhere")},
				{identity: meshID("nobody", "shop")},
				{ip: netip.MustParseAddr("203.0.113.7")},
				{ip: netip.MustParseAddr("2001:db8::7")},
			}
			// A namespace whose name ends in a granted one's: a
			// namespace grant is whole labels.
			for ns := range s.namespaces {
				strangers = append(strangers, request{identity: meshID("web", "x"+ns)})
			}
			for _, p := range s.networks {
				// Nodes may all probe: not strangers on probe routes.
				if a := after(p); !slices.Contains(genNodes, a.String()) {
					strangers = append(strangers, request{ip: a})
				}
			}
			for _, st := range strangers {
				q := r
				q.client, q.identity, q.ip = "stranger", st.identity, st.ip
				c.checkOne(k, s, q)
			}
			if c.routeLevel(k) && !s.grpc {
				// Another method, and a path no template covers.
				for _, q := range []request{{method: "PATCH", path: r.path}, {method: r.method, path: "/never/seen" + r.path}} {
					q.client, q.server, q.port, q.identity, q.ip = r.client, r.server, r.port, r.identity, r.ip
					if ok, d := c.authorized(q); ok && !s.paths[q.method+" "+q.path] {
						c.t.Errorf("%s: %s %s from %s on %s port %d was never observed but is authorized by %s", c.name, q.method, q.path, q.client, q.server, q.port, d.Authorization)
					}
				}
			}
		}
	}
}

// routeLevel says whether the port got routes: synth keeps a port at
// service-account level, with a warning, when no route match can hold one
// of its routes.
func (c *checker) routeLevel(k portKey) bool {
	return c.opts.Level == LevelRoute && !slices.ContainsFunc(c.res.Warnings, func(w string) bool {
		return strings.HasPrefix(w, fmt.Sprintf("%s port %d: ", k.Server, k.Port)) && strings.Contains(w, "kept at service-account level")
	})
}

// after is the first address after p.
func after(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	last, _ := netip.AddrFromSlice(b)
	return last.Next()
}

// checkOne checks that q, a request some client was seen making, is
// authorized for q's client only as far as the level's granularity says.
func (c *checker) checkOne(k portKey, s *seenOn, q request) {
	ok, d := c.authorized(q)
	if !ok {
		return
	}
	var why string
	switch {
	case q.identity == "":
		if !slices.ContainsFunc(s.networks, func(p netip.Prefix) bool { return p.Contains(q.ip) }) {
			why = "its address was never seen on the port"
		}
	case c.opts.Level == LevelNamespace:
		_, rest, _ := strings.Cut(q.identity, ".")
		if ns, _, _ := strings.Cut(rest, "."); !s.namespaces[ns] {
			why = "its namespace was never seen on the port"
		}
	case !s.identities[q.identity]:
		why = "its service account was never seen on the port"
	}
	if why == "" && c.opts.Level == LevelRoute && d.Route != (eval.Ref{}) && !c.seenOnRoute(s, q, d.Route) {
		why = "it was never seen on " + d.Route.String()
	}
	if why != "" {
		c.t.Errorf("%s: %s %s from %s (identity %q, address %v) on %s port %d is authorized by %s, but %s", c.name, q.method, q.path, q.client, q.identity, q.ip, k.Server, k.Port, d.Authorization, why)
	}
}

// seenOnRoute says whether q's client made an observed request that the
// evaluator routes to route. With widened networks any observed address
// of the port stands for q's.
func (c *checker) seenOnRoute(s *seenOn, q request, route eval.Ref) bool {
	if s.routes == nil {
		s.routes = map[string]map[eval.Ref]bool{}
		for _, r := range s.requests {
			who := r.identity + r.ip.String()
			if r.identity == "" && c.opts.NetworkPrefix != (PrefixLengths{}) {
				who = "network"
			}
			if s.routes[who] == nil {
				s.routes[who] = map[eval.Ref]bool{}
			}
			s.routes[who][c.decide(r).Route] = true
		}
	}
	who := q.identity + q.ip.String()
	if q.identity == "" && c.opts.NetworkPrefix != (PrefixLengths{}) {
		who = "network"
	}
	return s.routes[who][route]
}

// checkNoWildcards: no identity with '*' and no network of every address.
func (c *checker) checkNoWildcards() {
	set := resultSet(c.res)
	for _, m := range set.MeshTLSAuthentications {
		for _, id := range m.Spec.Identities {
			if strings.Contains(id, "*") {
				c.t.Errorf("%s: %s/%s grants the wildcard identity %q", c.name, m.Namespace, m.Name, id)
			}
		}
	}
	for _, n := range set.NetworkAuthentications {
		for _, net := range n.Spec.Networks {
			if p, err := netip.ParsePrefix(net.CIDR); err != nil || p.Bits() == 0 {
				c.t.Errorf("%s: %s/%s grants the network %q", c.name, n.Namespace, n.Name, net.CIDR)
			}
		}
	}
}

// checkRoundTrip: the stream passes the admission rules and reads back as
// the same objects.
func (c *checker) checkRoundTrip() {
	out := c.stream()
	want := resultSet(c.res)
	if errs := policy.Validate(want); len(errs) > 0 {
		c.t.Errorf("%s: the output fails the admission rules: %v", c.name, errs)
	}
	got, err := policy.Read(bytes.NewReader(out), "stream", policy.ReadOptions{})
	if err != nil {
		c.t.Fatalf("%s: the output does not read back: %v", c.name, err)
	}
	got.Ignored -= len(c.res.DefaultDeny)
	want.Normalize()
	got.Normalize()
	if !reflect.DeepEqual(want, got) {
		c.t.Errorf("%s: the output reads back as other objects:\n%s", c.name, out)
	}
}

// TestPropertyDeterministic: the stream is byte-identical across runs and
// across GOMAXPROCS 1 and 8.
func TestPropertyDeterministic(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for seed := range uint64(propertySeeds / 4) {
		rec := newGen(seed).recording()
		for _, level := range Levels {
			opts := options(level)
			opts.ServiceProfiles, opts.DefaultDeny = true, true
			var first []byte
			for _, procs := range []int{1, 8, 1, 8} {
				runtime.GOMAXPROCS(procs)
				res, err := Synthesize(rec, opts)
				if err != nil {
					t.Fatalf("seed %d, %s: %v", seed, level, err)
				}
				var out bytes.Buffer
				if err := WriteStream(&out, res); err != nil {
					t.Fatal(err)
				}
				if first == nil {
					first = out.Bytes()
				} else if !bytes.Equal(first, out.Bytes()) {
					t.Fatalf("seed %d, %s: output differs with GOMAXPROCS %d:\n%s", seed, level, procs, firstDiff(string(first), out.String()))
				}
			}
		}
	}
}

// hostile are strings a recording may carry where names and paths go:
// regular expression syntax, percent-encoding, unicode, NUL, 10 KB,
// template-looking literals, YAML syntax.
var hostile = []string{".*", "(", "a|b", "$", "^x", "[a-z]+", `\d`, "%2F", "%2e%2e", "a%20b", "héllo", "日本", "\u2028", "\ufeff",
	"\x00", "a\x00b", strings.Repeat("x", 10<<10), "{int}", "{{param}}", "{param}.json", "*", "&a", "*a", "!!str", "null", "~", "- x", ": ",
	"a: b", "#c", "'q'", `"d"`, "..", ".", "", " ", "\t", "\n", "a//b", "?x=1", "..%2f", `\`, "--- ", "yes", "0x1f", "1e3"}

// hostileField puts h into one field of a generated recording.
var hostileField = map[string]func(rec *recording.Recording, h string){
	"label value": func(rec *recording.Recording, h string) { genServer(rec).Labels["app"] = h },
	"label key":   func(rec *recording.Recording, h string) { genServer(rec).Labels[h] = "x" },
	"port name":   func(rec *recording.Recording, h string) { genServer(rec).Ports[0].Name = h },
	"service":     func(rec *recording.Recording, h string) { genServer(rec).Services = []string{h} },
	"probe path":  func(rec *recording.Recording, h string) { genServer(rec).Probes[0].Path = "/" + h },
	"server name": func(rec *recording.Recording, h string) { genServer(rec).Name = h },
	"server namespace": func(rec *recording.Recording, h string) {
		genServer(rec).Namespace = h
	},
	"client service account": func(rec *recording.Recording, h string) { genClientWorkload(rec).ServiceAccount = h },
	"client namespace":       func(rec *recording.Recording, h string) { genClientWorkload(rec).Namespace = h },
	"client identity":        func(rec *recording.Recording, h string) { genClientWorkload(rec).Identity = h },
	"window source":          func(rec *recording.Recording, h string) { rec.Windows[0].Source = h },
	"identity peer": func(rec *recording.Recording, h string) {
		id := recording.PeerID("identity:" + h)
		rec.Peers = append(rec.Peers, recording.Peer{ID: id, Kind: recording.PeerIdentity})
		rec.Edges = append(rec.Edges, recording.Edge{Client: id, Server: genServer(rec).ID, Port: 8080, Protocol: recording.ProtocolHTTP, Requests: 2,
			TLS: map[string]int64{"true": 2}, Routes: []recording.Route{{Method: "GET", Path: "/login", Requests: 2}}})
	},
	"gRPC path": func(rec *recording.Recording, h string) {
		rec.Edges = append(rec.Edges, recording.Edge{Client: genClientWorkload(rec).ID, Server: genServer(rec).ID, Port: 9090, Protocol: recording.ProtocolGRPC, Requests: 2,
			TLS: map[string]int64{"true": 2}, Routes: []recording.Route{{Method: "POST", Path: "/" + h, Requests: 1}, {Method: "POST", Path: "/a.B/" + h, Requests: 1}}})
	},
}

func genServer(rec *recording.Recording) *recording.Workload {
	i := slices.IndexFunc(rec.Workloads, func(w recording.Workload) bool { return strings.HasPrefix(w.Name, "srv") })
	return &rec.Workloads[i]
}

func genClientWorkload(rec *recording.Recording) *recording.Workload {
	i := slices.IndexFunc(rec.Workloads, func(w recording.Workload) bool { return strings.HasPrefix(w.Name, "c-") })
	return &rec.Workloads[i]
}

// TestPropertyHostileFields: a strange string in any field of a recording
// never makes synth fail or write a manifest Kubernetes would refuse or
// read differently, never grants a wildcard, and never widens what a
// level admits.
func TestPropertyHostileFields(t *testing.T) {
	fields := slices.Sorted(maps.Keys(hostileField))
	for f, field := range fields {
		for i, h := range hostile {
			// Every string at every level, across fields and seeds.
			seed, level := uint64(i%3), Levels[(i+f)%len(Levels)]
			g := newGen(seed)
			g.servers = 1
			rec := g.recording()
			hostileField[field](rec, h)
			rec.Normalize()
			opts := options(level)
			opts.ServiceProfiles, opts.DefaultDeny = true, true
			c := synthesizeChecked(t, fmt.Sprintf("%s %.20q, seed %d, %s", field, h, seed, level), rec, opts)
			c.checkRoundTrip()
			c.checkNoWildcards()
			c.checkNothingElse(g.clients)
		}
	}
}

// TestPropertyHostilePaths: observed paths full of expression syntax,
// encodings and oddities are admitted, and at route level nothing else
// is: the same path with a character more or less, in front or behind,
// stays denied for every client, whether the path is a route of its own
// or a literal before a typed segment.
func TestPropertyHostilePaths(t *testing.T) {
	for i, h := range hostile {
		seed := uint64(i % 4)
		g := newGen(seed)
		rec := g.recording()
		server := genServer(rec).ID
		client := genClientWorkload(rec).ID
		observed := []string{"/h/" + h, "/h/" + h + "/12", "/h/" + h + "/13"}
		e := recording.Edge{Client: client, Server: server, Port: 8080, Protocol: recording.ProtocolHTTP, TLS: map[string]int64{}}
		for _, p := range observed {
			e.Routes = append(e.Routes, recording.Route{Method: "GET", Path: p, Requests: 2})
			e.Requests += 2
		}
		e.TLS["true"] = e.Requests
		rec.Edges = slices.DeleteFunc(rec.Edges, func(o recording.Edge) bool { return o.Key() == e.Key() })
		rec.Edges = append(rec.Edges, e)
		rec.Normalize()
		for _, level := range Levels {
			opts := options(level)
			opts.Mode, opts.ServiceProfiles = ModeEnforce, true
			name := fmt.Sprintf("path %.20q, seed %d, %s", h, seed, level)
			c := synthesizeChecked(t, name, rec, opts)
			c.checkObserved()
			c.checkNothingElse(g.clients)
			c.checkRoundTrip()
			if !c.routeLevel(portKey{server, 8080}) {
				continue
			}
			seen := map[string]bool{}
			for _, p := range observed {
				path, _, _ := strings.Cut(p, "?")
				seen[path] = true
			}
			// The path changed a little, and short strings an unescaped
			// expression of it would match ("a" for "a|b", "1" for `\d`).
			var mutations []string
			for _, m := range []string{h + "Z", "Z" + h, h + "/", h + "/Z", h + "Z/12", "Z" + h + "/12", h + "/12Z", h + "/12/Z",
				"", "a", "b", "x", "1", "Z", "xx", "ab", "a b", "%", "(", "/", "\x00"} {
				mutations = append(mutations, "/h/"+m, "/h/"+m+"/12")
			}
			if h != "" {
				mutations = append(mutations, "/h/"+h[1:], "/h/"+h[:len(h)-1]+"/12")
			}
			for _, m := range mutations {
				if path, _, _ := strings.Cut(m, "?"); seen[path] {
					continue
				}
				for _, cl := range g.clients {
					if cl.identity == "" {
						continue
					}
					q := request{client: cl.id, server: server, port: 8080, identity: cl.identity, method: "GET", path: m}
					if ok, d := c.authorized(q); ok {
						t.Errorf("%s: GET %q, never observed, is authorized for %s by %s", name, m, cl.id, d.Authorization)
					}
				}
			}
		}
	}
}
