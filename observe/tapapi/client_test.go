package tapapi

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	fixtures "github.com/cinchmesh/cinch/fixtures/upstream"

	"google.golang.org/protobuf/encoding/protowire"

	"github.com/cinchmesh/cinch/observe/event"
	"github.com/cinchmesh/cinch/observe/tapstream"
)

func TestWatchStreamsFramedEvents(t *testing.T) {
	stream := fixtures.Read(t, "booksapp.tap.bin.gz")
	params := Params{Target: Target{Kind: "deployment", Name: "webapp"}, Namespace: "booksapp", MaxRPS: 100}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != params.URL() || !bytes.Equal(body, params.Body()) {
			http.Error(w, "unexpected request "+r.Method+" "+r.URL.Path+" "+base64.StdEncoding.EncodeToString(body), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		// Chunks that cut frames anywhere, flushed one by one, as a
		// streaming response arrives.
		for rest := stream; len(rest) > 0; {
			n := min(len(rest), 4093)
			w.Write(rest[:n])
			w.(http.Flusher).Flush()
			rest = rest[n:]
		}
	}))
	defer srv.Close()

	c := &Client{HTTP: srv.Client(), Host: srv.URL}
	s, err := c.Watch(context.Background(), params, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ev event.Event
	n := 0
	for {
		err := s.Next(&ev)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("event %d: %v", n+1, err)
		}
		n++
	}
	if n != 17700 {
		t.Errorf("events = %d, want 17700", n)
	}
}

func TestWatchMidStreamBreak(t *testing.T) {
	stream := fixtures.Read(t, "booksapp.tap.bin.gz")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(stream[:10000])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // the connection breaks mid-frame
	}))
	defer srv.Close()
	c := &Client{HTTP: srv.Client(), Host: srv.URL}
	s, err := c.Watch(context.Background(), Params{Target: Target{Kind: "namespace", Name: "booksapp"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var ev event.Event
	n := 0
	for err = s.Next(&ev); err == nil; err = s.Next(&ev) {
		n++
	}
	var de *tapstream.DecodeError
	if n == 0 || err == io.EOF || !errors.As(err, &de) {
		t.Errorf("after %d events: err = %v, want a decode error for the broken stream", n, err)
	}
}

func TestWatchErrorShapes(t *testing.T) {
	reason := "no pods to tap for type=\"deployment\" name=\"web\"\n1 pods found with tap not enabled:\n\t* web-5d8f-x1\nrestart these pods to enable tap and make them valid tap targets\n"
	apiError := protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), reason)
	// As the tap service writes it: a 4-byte little-endian length, then
	// the message, as for events.
	framed := binary.LittleEndian.AppendUint32(nil, uint32(len(apiError)))
	framed = append(framed, apiError...)
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		code    int
		want    []string
	}{
		{"linkerd-error framed", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("linkerd-error", "Internal Server Error")
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Write(framed)
		}, 0, []string{"tap deployment/web in namespace shop: no pods to tap", "web-5d8f-x1", "restart these pods"}},
		{"linkerd-error unframed", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("linkerd-error", "Internal Server Error")
			w.Write(apiError)
		}, 0, []string{"no pods to tap", "restart these pods"}},
		{"linkerd-error without a body", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("linkerd-error", "Bad Request")
		}, 0, []string{"tap deployment/web in namespace shop: Bad Request"}},
		{"tap service json", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"error":"tap authorization failed (not authorized to access deployments.tap.linkerd.io), visit https://linkerd.io/tap-rbac for more information"}`))
		}, 403, []string{"tap authorization failed", "docs/rbac.md"}},
		{"rbac", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusForbidden)
			w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","message":"deployments.tap.linkerd.io \"web\" is forbidden: User \"dev\" cannot watch resource \"deployments/tap\" in API group \"tap.linkerd.io\"","reason":"Forbidden","code":403}`))
		}, 403, []string{"forbidden", "linkerd-linkerd-viz-tap-admin", "docs/rbac.md"}},
		{"viz missing", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`404 page not found`))
		}, 404, []string{"404", "linkerd-viz installed"}},
		{"viz unavailable", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte(`{"kind":"Status","message":"service unavailable","reason":"ServiceUnavailable","code":503}`))
		}, 503, []string{"service unavailable", "v1alpha1.tap.linkerd.io"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			c := &Client{HTTP: srv.Client(), Host: srv.URL}
			_, err := c.Watch(context.Background(), Params{Target: Target{Kind: "deployment", Name: "web"}, Namespace: "shop"}, nil)
			var ae *APIError
			if !errors.As(err, &ae) || ae.Code != tc.code {
				t.Fatalf("err = %v, want an APIError with code %d", err, tc.code)
			}
			if strings.HasSuffix(err.Error(), "\n") || strings.Contains(err.Error(), "\x00") {
				t.Errorf("error %q ends in a newline or carries framing bytes", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
