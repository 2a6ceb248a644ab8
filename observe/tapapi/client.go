package tapapi

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/cinchmesh/cinch/observe/event"
	"github.com/cinchmesh/cinch/observe/tapstream"
)

// Client posts tap requests to a Kubernetes API server, which forwards them
// to linkerd-viz's tap service through the aggregation layer. HTTP must be
// authenticated for the API server (client-go's transport for a kubeconfig)
// and must have no overall timeout: a tap stream lasts the whole window.
type Client struct {
	HTTP *http.Client
	// Host is the API server's base URL, e.g. https://127.0.0.1:6443.
	Host string
}

// Stream is an open tap stream.
type Stream struct {
	tapstream.Decoder
	body io.Closer
}

// Close ends the stream.
func (s *Stream) Close() error { return s.body.Close() }

// APIError is a refusal by the API server or the tap service.
type APIError struct {
	Target  string
	Code    int    // HTTP status; 0 for a linkerd-error answer
	Reason  string // Kubernetes Status reason, when given
	Message string
}

func (e *APIError) Error() string {
	msg := fmt.Sprintf("tap %s: %s", e.Target, e.Message)
	switch {
	case e.Code == http.StatusForbidden:
		msg += "; the user needs `watch` on resource `*` in API group tap.linkerd.io: bind linkerd-viz's ClusterRole linkerd-linkerd-viz-tap-admin, or the minimal one in docs/rbac.md"
	case e.Code == http.StatusNotFound || e.Code == http.StatusServiceUnavailable:
		msg += "; the tap API (APIService v1alpha1.tap.linkerd.io) is missing or unavailable: is linkerd-viz installed and its tap pod running? (linkerd viz check)"
	}
	return msg
}

// Temporary says whether the refusal is the tap service being unavailable
// for now (bad gateway, service unavailable, gateway timeout) rather than
// missing or forbidding.
func (e *APIError) Temporary() bool {
	switch e.Code {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// Watch opens a tap stream for p. Events are decoded with in (nil: a
// private interner).
func (c *Client) Watch(ctx context.Context, p Params, in *event.Interner) (*Stream, error) {
	target := p.String()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(c.Host, "/")+p.URL(), bytes.NewReader(p.Body()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("tap %s: %w", target, err)
	}
	if header := resp.Header.Get("linkerd-error"); header != "" {
		// The tap service answers a request it cannot serve (no pod to
		// tap, a body that does not match the URL) with HTTP 200, this
		// header, and the reason as a protobuf ApiError framed like the
		// events.
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		msg, ok := apiErrorMessage(body)
		if !ok {
			msg = header
		}
		return nil, &APIError{Target: target, Code: 0, Message: msg}
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		e := &APIError{Target: target, Code: resp.StatusCode, Message: resp.Status}
		// A Kubernetes Status from the API server, or the tap service's
		// own {"error": ...} (a request it could not route or authorize).
		var status struct {
			Message string `json:"message"`
			Reason  string `json:"reason"`
			Error   string `json:"error"`
		}
		switch {
		case json.Unmarshal(body, &status) != nil:
			if s := strings.TrimSpace(string(body)); s != "" {
				e.Message = resp.Status + ": " + s
			}
		case status.Message != "":
			e.Message, e.Reason = status.Message, status.Reason
		case status.Error != "":
			e.Message = status.Error
		}
		return nil, e
	}
	return &Stream{Decoder: tapstream.NewRawDecoder(resp.Body, in), body: resp.Body}, nil
}

// apiErrorMessage decodes the tap service's ApiError{error = 1}: framed
// with a 4-byte little-endian length as the events are, or, as older
// servers and proxies in between may send it, unframed. The reason is
// trimmed of the newline the tap service ends it with.
func apiErrorMessage(b []byte) (string, bool) {
	if len(b) >= 4 && int(binary.LittleEndian.Uint32(b)) == len(b)-4 {
		if msg, ok := apiErrorField(b[4:]); ok {
			return msg, true
		}
	}
	return apiErrorField(b)
}

// apiErrorField reads the error field of an unframed ApiError; a message
// without it, or one that does not parse, is not an ApiError.
func apiErrorField(b []byte) (string, bool) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return "", false
		}
		b = b[n:]
		if num == 1 && typ == protowire.BytesType {
			v, n := protowire.ConsumeBytes(b)
			if n < 0 || !utf8.Valid(v) {
				return "", false
			}
			return strings.TrimRight(string(v), "\n"), true
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return "", false
		}
		b = b[n:]
	}
	return "", false
}
