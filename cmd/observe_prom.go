package cmd

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/cinchmesh/cinch/observe/cluster"
	"github.com/cinchmesh/cinch/observe/prom"
)

// promOptions are the flags of observe --from-prometheus.
type promOptions struct {
	url             string
	window          time.Duration
	end             string
	seriesLimit     int
	concurrency     int
	timeout         time.Duration
	headers         []string
	bearerTokenFile string
	caFile          string
	insecure        bool
}

func (p *promOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&p.url, "from-prometheus", "", "record from the Linkerd proxy metrics of this Prometheus HTTP API (Prometheus, Thanos, Mimir, ...): unsampled edges, TCP edges and denied clients, no paths; needs -n or -A")
	p.window = 14 * 24 * time.Hour
	fs.Var((*daysDuration)(&p.window), "window", "metrics: how far back from --end to count traffic (a Go duration, or whole days such as 14d)")
	fs.StringVar(&p.end, "end", "", "metrics: end of the window (RFC 3339; default now)")
	fs.IntVar(&p.seriesLimit, "series-limit", 10000, "metrics: a namespace with more series than this is queried per workload")
	fs.IntVar(&p.concurrency, "concurrency", 4, "metrics: queries in flight at most")
	fs.DurationVar(&p.timeout, "query-timeout", 2*time.Minute, "metrics: timeout of each query (retried 3 times with backoff on timeouts and 5xx)")
	fs.StringArrayVar(&p.headers, "header", nil, "metrics: HTTP header K=V sent with every query (e.g. X-Scope-OrgID=team); repeatable")
	fs.StringVar(&p.bearerTokenFile, "prometheus-bearer-token-file", "", "metrics: file holding a bearer token for the Prometheus API")
	fs.StringVar(&p.caFile, "prometheus-ca-file", "", "metrics: PEM CA bundle to verify the Prometheus API's certificate")
	fs.BoolVar(&p.insecure, "prometheus-insecure-skip-tls-verify", false, "metrics: do not verify the Prometheus API's certificate")
}

// client builds the Prometheus API client the flags describe.
func (p *promOptions) client() (*prom.Client, error) {
	header := http.Header{}
	for _, h := range p.headers {
		k, v, ok := strings.Cut(h, "=")
		if !ok || k == "" {
			return nil, usageErrorf("--header %q: want NAME=VALUE", h)
		}
		header.Add(k, v)
	}
	if p.bearerTokenFile != "" {
		tok, err := os.ReadFile(p.bearerTokenFile)
		if err != nil {
			return nil, fmt.Errorf("--prometheus-bearer-token-file: %w", err)
		}
		header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: p.insecure}
	if p.caFile != "" {
		pem, err := os.ReadFile(p.caFile)
		if err != nil {
			return nil, fmt.Errorf("--prometheus-ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--prometheus-ca-file %s: no PEM certificates", p.caFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	if p.concurrency < 1 {
		return nil, usageErrorf("--concurrency must be at least 1")
	}
	if p.timeout <= 0 {
		return nil, usageErrorf("--query-timeout must be positive")
	}
	c, err := prom.NewClient(p.url, prom.ClientOptions{HTTP: &http.Client{Transport: tr}, Header: header,
		Timeout: p.timeout, Concurrency: p.concurrency})
	if err != nil {
		return nil, usageErrorf("--from-prometheus: %w", err)
	}
	return c, nil
}

// runProm records a window from the Prometheus API's metrics.
func (o *observeOptions) runProm(c *cobra.Command, s Streams, args []string) error {
	p := &o.prom
	if len(args) > 0 || len(o.fromFiles) > 0 {
		return usageErrorf("give either --from-prometheus, tap targets or --from-file")
	}
	if (len(o.kube.namespaces) == 0) == !o.allNamespaces {
		return usageErrorf("--from-prometheus needs -n NAMESPACE or -A (every namespace), not both; -n takes one or more")
	}
	if p.window <= 0 {
		return usageErrorf("--window must be positive")
	}
	if p.seriesLimit < 1 {
		return usageErrorf("--series-limit must be at least 1")
	}
	opts := prom.Options{Window: p.window, SeriesLimit: p.seriesLimit, End: time.Now()}
	opts.Namespaces = o.kube.namespaces
	end, err := parseTime("--end", p.end)
	if err != nil {
		return err
	}
	if end != nil {
		opts.End = *end
	}
	client, err := p.client()
	if err != nil {
		return err
	}
	base, err := o.appendBase()
	if err != nil {
		return err
	}
	naming, err := o.promNaming(s)
	if err != nil {
		return err
	}
	rec, err := prom.RecordNamed(c.Context(), client, opts, naming)
	if err != nil {
		return err
	}
	return o.write(s, base, rec)
}

// promNaming says where the cluster objects that name the clients of a
// recording from metrics come from: --cluster-file when given, else the
// kubeconfig's API server. Without any kubeconfig the recording keeps
// identities, and a note says so.
func (o *observeOptions) promNaming(s Streams) (prom.Naming, error) {
	naming := prom.Naming{AllNamespaces: o.allNamespaces, TrustDomain: o.trustDomain, Limits: o.limits}
	if len(o.clusterFiles) > 0 {
		objs, err := readClusterFiles(o.clusterFiles)
		naming.Objects = objs
		return naming, err
	}
	kc, err := o.kube.connect()
	if errors.Is(err, errNoKubeconfig) {
		fmt.Fprintln(s.Err, "note: no kubeconfig, so clients stay mesh identities and workloads have no labels: give --cluster-file or a kube context to name them")
		return naming, nil
	}
	if err != nil {
		return naming, err
	}
	naming.List = func(ctx context.Context, namespaces []string) (*cluster.Objects, error) {
		return cluster.List(ctx, kc.Clientset, namespaces)
	}
	return naming, nil
}

// daysDuration is a duration flag that also takes whole days ("14d").
type daysDuration time.Duration

func (d *daysDuration) String() string {
	v := time.Duration(*d)
	if v > 0 && v%(24*time.Hour) == 0 {
		return fmt.Sprintf("%dd", v/(24*time.Hour))
	}
	return v.String()
}

func (d *daysDuration) Set(s string) error {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil {
			return fmt.Errorf("want a duration such as 14d or 36h")
		}
		*d = daysDuration(time.Duration(n) * 24 * time.Hour)
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("want a duration such as 14d or 36h")
	}
	*d = daysDuration(v)
	return nil
}

func (d *daysDuration) Type() string { return "duration" }
