// Package prom builds a recording from Linkerd proxy metrics held by
// anything that answers Prometheus' HTTP query API (Prometheus, Thanos,
// Mimir, VictoriaMetrics, Cortex). Metrics are not sampled and cover weeks,
// and they are the only source of denied clients and TCP edges; they carry
// no paths (docs/linkerd.md, "Metrics and audit mode"). RecordNamed is the whole flow of observe
// --from-prometheus: record, then name the clients from cluster objects.
//
// It imports the standard library, observe/recording and observe/cluster.
package prom

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Client queries a Prometheus HTTP API with a timeout per query, retries
// with backoff on timeouts and 5xx answers, and at most Concurrency queries
// in flight.
type Client struct {
	base    *url.URL
	http    *http.Client
	header  http.Header
	timeout time.Duration
	retries int
	backoff time.Duration
	sem     chan struct{}
}

// ClientOptions configure a Client. Zero values take the defaults.
type ClientOptions struct {
	// HTTP is the client to use (its Transport carries TLS settings);
	// default http.DefaultClient.
	HTTP *http.Client
	// Header is added to every request (e.g. Authorization, X-Scope-OrgID).
	Header http.Header
	// Timeout bounds each attempt of a query (default 2m); it is also
	// passed to Prometheus as the query's timeout.
	Timeout time.Duration
	// Retries is how many times a query is retried after a timeout or a
	// 5xx answer (default 3); Backoff is the first wait (default 1s),
	// doubled after each try.
	Retries int
	Backoff time.Duration
	// Concurrency is the number of queries in flight at most (default 4).
	Concurrency int
}

// NewClient returns a client of the API at rawURL (the Prometheus base
// URL, without /api/v1).
func NewClient(rawURL string, opts ClientOptions) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("prometheus url %q: want http(s)://host[:port][/path]", rawURL)
	}
	c := &Client{base: u, http: opts.HTTP, header: opts.Header, timeout: opts.Timeout,
		retries: opts.Retries, backoff: opts.Backoff}
	if c.http == nil {
		c.http = http.DefaultClient
	}
	if c.timeout <= 0 {
		c.timeout = 2 * time.Minute
	}
	if opts.Retries == 0 {
		c.retries = 3
	}
	if c.backoff <= 0 {
		c.backoff = time.Second
	}
	n := opts.Concurrency
	if n <= 0 {
		n = 4
	}
	c.sem = make(chan struct{}, n)
	return c, nil
}

// URL is the API's base URL as given.
func (c *Client) URL() string { return c.base.String() }

// Sample is one series of an instant vector.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Error is an answer with "status": "error" from Prometheus.
type Error struct {
	Type    string
	Message string
}

func (e *Error) Error() string {
	msg := cmpOr(e.Message, "(no message)")
	if e.Type == "" {
		return msg
	}
	return e.Type + ": " + msg
}

// retryable marks failures worth another try.
type retryable struct{ err error }

func (r retryable) Error() string { return r.err.Error() }
func (r retryable) Unwrap() error { return r.err }

// Query evaluates an instant query at t. Errors name the query and the URL.
func (c *Client) Query(ctx context.Context, query string, at time.Time) ([]Sample, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-c.sem }()
	wait := c.backoff
	for try := 0; ; try++ {
		out, err := c.query(ctx, query, at)
		var r retryable
		if err == nil || !errors.As(err, &r) || try >= c.retries || ctx.Err() != nil {
			if err != nil {
				return nil, fmt.Errorf("query %s at %s: %w", query, c.base.Redacted(), err)
			}
			return out, nil
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil, fmt.Errorf("query %s at %s: %w", query, c.base.Redacted(), ctx.Err())
		}
		wait *= 2
	}
}

func (c *Client) query(ctx context.Context, query string, at time.Time) ([]Sample, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	form := url.Values{
		"query":   {query},
		"time":    {strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)},
		"timeout": {c.timeout.String()},
	}
	u := c.base.JoinPath("api", "v1", "query")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	for k, vs := range c.header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil {
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			return nil, retryable{err}
		}
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, retryable{fmt.Errorf("read answer: %w", err)}
	}
	return decodeAnswer(resp.StatusCode, resp.Status, data)
}

// decodeAnswer decodes an answer of /api/v1/query with the HTTP status
// code and line it came with: an instant vector, or the error it carries.
// Errors worth another try (5xx answers, Prometheus' timeouts) are
// retryable.
func decodeAnswer(code int, status string, data []byte) ([]Sample, error) {
	var body struct {
		Status    string `json:"status"`
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
		Data      struct {
			ResultType string          `json:"resultType"`
			Result     json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if jerr := json.Unmarshal(data, &body); jerr != nil || body.Status == "" {
		err := fmt.Errorf("%s: answer is not Prometheus API JSON: %.200q", status, data)
		if code >= 500 {
			return nil, retryable{err}
		}
		return nil, err
	}
	if body.Status != "success" {
		var err error = &Error{Type: body.ErrorType, Message: body.Error}
		if body.Status != "error" {
			err = fmt.Errorf("%s: answer status %.50q, want success or error", status, body.Status)
		}
		if code >= 500 || body.ErrorType == "timeout" {
			return nil, retryable{err}
		}
		return nil, err
	}
	if body.Data.ResultType != "vector" {
		return nil, fmt.Errorf("result type %.50q, want vector", body.Data.ResultType)
	}
	if body.Data.Result == nil {
		return nil, errors.New("vector answer without a result")
	}
	var result []struct {
		Metric map[string]string `json:"metric"`
		Value  []json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(body.Data.Result, &result); err != nil {
		return nil, fmt.Errorf("vector result: %w", err)
	}
	out := make([]Sample, 0, len(result))
	for i, r := range result {
		v, err := sampleValue(r.Value)
		if err != nil {
			return nil, fmt.Errorf("sample %d of the vector: %w", i, err)
		}
		out = append(out, Sample{Labels: r.Metric, Value: v})
	}
	return out, nil
}

// sampleValue decodes a sample's [time, "value"] pair: Prometheus writes
// the value as a string, which may be "NaN", "+Inf" or "-Inf".
func sampleValue(pair []json.RawMessage) (float64, error) {
	if len(pair) != 2 {
		return 0, fmt.Errorf("value has %d elements, want [time, \"value\"]", len(pair))
	}
	var s string
	if err := json.Unmarshal(pair[1], &s); err != nil {
		return 0, fmt.Errorf("value is JSON %.50q, want a string", pair[1])
	}
	v, err := strconv.ParseFloat(s, 64)
	if errors.Is(err, strconv.ErrRange) {
		return 0, fmt.Errorf("value %.50q is out of range", s)
	}
	if err != nil {
		return 0, fmt.Errorf("value %.50q is not a number", s)
	}
	return v, nil
}
