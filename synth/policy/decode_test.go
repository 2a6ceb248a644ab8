package policy

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestReadPathsWalksDirectories(t *testing.T) {
	set, err := ReadPaths([]string{"testdata/tree"}, ReadOptions{KeepOthers: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Servers) != 1 || len(set.AuthorizationPolicies) != 1 || len(set.MeshTLSAuthentications) != 1 ||
		len(set.HTTPRoutes) != 1 || len(set.ServiceProfiles) != 1 {
		t.Fatalf("want 1 Server, AuthorizationPolicy, MeshTLSAuthentication, HTTPRoute, ServiceProfile; got %d, %d, %d, %d, %d",
			len(set.Servers), len(set.AuthorizationPolicies), len(set.MeshTLSAuthentications), len(set.HTTPRoutes),
			len(set.ServiceProfiles))
	}
	srv := set.Servers[0]
	if srv.Name != "voting-grpc" || srv.Namespace != "emojivoto" || srv.Spec.Port != intstr.FromString("grpc") ||
		srv.Spec.ProxyProtocol != ProtocolGRPC || srv.Spec.PodSelector.MatchLabels["app"] != "voting-svc" {
		t.Errorf("Server decoded as %+v", srv)
	}
	rt := set.HTTPRoutes[0]
	if rt.Group() != GroupGateway || rt.CreationTimestamp == nil ||
		!rt.CreationTimestamp.Time.Equal(time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("HTTPRoute from a JSON List decoded as %+v", rt)
	}
	if got := rt.Spec.Rules[0].Matches[0]; got.Method != "GET" || got.Path.Value != "/api" {
		t.Errorf("HTTPRoute match decoded as %+v", got)
	}
	var others []string
	for _, d := range set.Others {
		others = append(others, d.Kind+"@"+d.Source+":"+strconv.Itoa(d.Line))
	}
	want := []string{"Namespace@testdata/tree/emojivoto.yaml:42", "Pod@testdata/tree/sub/list.json:1"}
	if strings.Join(others, " ") != strings.Join(want, " ") {
		t.Errorf("Others = %v, want %v", others, want)
	}

	set, err = ReadPaths([]string{"testdata/tree"}, ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Others) != 0 || set.Ignored != 2 {
		t.Errorf("without KeepOthers: %d others, %d ignored; want 0, 2", len(set.Others), set.Ignored)
	}
}

func TestReadErrorsNameFileAndLine(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			name: "type error names the document's first line",
			in:   "---\napiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {name: a}\nspec: {port: 80}\n---\n\napiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {name: b}\nspec: {port: [80]}\n",
			want: `in.yaml:8: Server "b": json: cannot unmarshal`,
		},
		{
			name: "yaml syntax error names the line of the error",
			in:   "apiVersion: v1\nkind: Pod\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: [x\n",
			want: "in.yaml:7: yaml:",
		},
		{
			name: "document without kind",
			in:   "apiVersion: v1\nkind: Pod\n---\nmetadata: {name: x}\n",
			want: "in.yaml:4: document without kind",
		},
		{
			name: "bad List item",
			in:   "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: policy.linkerd.io/v1alpha1, kind: NetworkAuthentication, metadata: {name: net}, spec: {networks: 3}}\n",
			want: `in.yaml:1: item 0: NetworkAuthentication "net": json: cannot unmarshal`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tt.in), "in.yaml", ReadOptions{})
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error = %v, want prefix %q", err, tt.want)
			}
		})
	}
}

func TestReadSkipsEmptyDocuments(t *testing.T) {
	in := "# only a comment\n---\n---\n\n---\napiVersion: policy.linkerd.io/v1alpha1\nkind: NetworkAuthentication\nmetadata: {name: net, namespace: x}\nspec: {networks: [{cidr: 10.0.0.0/8}]}\n---\n"
	set, err := Read(strings.NewReader(in), "in.yaml", ReadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.NetworkAuthentications) != 1 || set.Len() != 1 || set.Ignored != 0 {
		t.Fatalf("got %+v", set)
	}
}

// FuzzRead feeds arbitrary manifests to the reader: it must never panic,
// validation must not panic on whatever it accepts, and what it accepts
// must encode and read back to the same bytes.
func FuzzRead(f *testing.F) {
	if golden, err := os.ReadFile("testdata/encode.golden.yaml"); err == nil {
		f.Add(golden)
	}
	f.Add([]byte("apiVersion: policy.linkerd.io/v1beta3\nkind: Server\nmetadata: {name: a, namespace: b}\nspec: {port: 80, podSelector: {matchLabels: {app: a}}}\n"))
	f.Add([]byte("kind: List\nitems: [{kind: NetworkAuthentication, apiVersion: policy.linkerd.io/v1alpha1, metadata: {name: n}, spec: {networks: [{cidr: 10.0.0.0/8, except: [10.1.0.0/16]}]}}]\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		set, err := Read(bytes.NewReader(in), "fuzz.yaml", ReadOptions{})
		if err != nil {
			return
		}
		Validate(set)
		var once bytes.Buffer
		if err := Encode(&once, set); err != nil {
			t.Fatalf("encode an accepted set: %v", err)
		}
		again, err := Read(bytes.NewReader(once.Bytes()), "again.yaml", ReadOptions{})
		if err != nil {
			t.Fatalf("read what was encoded: %v\n%s", err, once.Bytes())
		}
		var twice bytes.Buffer
		if err := Encode(&twice, again); err != nil || !bytes.Equal(once.Bytes(), twice.Bytes()) {
			t.Fatalf("encoding is not stable (%v):\n%s\n---\n%s", err, once.Bytes(), twice.Bytes())
		}
	})
}
