// Package tapapi speaks the viz tap API: it builds the TapByResourceRequest
// that `linkerd viz tap` sends and the aggregated-API URL it is posted to.
// Building the request is a pure function of its parameters.
//
// It imports only the standard library and protowire.
package tapapi

import (
	"fmt"
	"math"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// Target is what to tap, in the syntax of `linkerd viz tap`: "deploy/web",
// "ns/emojivoto", "sts/db", or a bare kind ("deploy") with a label selector.
type Target struct {
	Kind string // singular lower-case kind as the tap API names it: "deployment", "namespace", ...
	Name string
}

// kinds maps every spelling `linkerd viz tap` accepts to the tap API's kind
// and the plural used in URLs.
var kinds = map[string]struct{ kind, plural string }{}

func init() {
	for _, k := range []struct {
		kind, plural string
		aliases      []string
	}{
		{"namespace", "namespaces", []string{"ns"}},
		{"deployment", "deployments", []string{"deploy"}},
		{"statefulset", "statefulsets", []string{"sts"}},
		{"daemonset", "daemonsets", []string{"ds"}},
		{"pod", "pods", []string{"po"}},
		{"job", "jobs", nil},
		{"cronjob", "cronjobs", []string{"cj"}},
		{"replicaset", "replicasets", []string{"rs"}},
		{"replicationcontroller", "replicationcontrollers", []string{"rc"}},
	} {
		v := struct{ kind, plural string }{k.kind, k.plural}
		for _, name := range append([]string{k.kind, k.plural}, k.aliases...) {
			kinds[name] = v
		}
	}
}

// ParseTarget parses "kind/name" or a bare "kind".
func ParseTarget(s string) (Target, error) {
	kind, name, _ := strings.Cut(s, "/")
	k, ok := kinds[strings.ToLower(kind)]
	if !ok {
		return Target{}, fmt.Errorf("tap target %q: tap does not support kind %q (use namespace, deployment, statefulset, daemonset, pod, job, cronjob, replicaset or replicationcontroller)", s, kind)
	}
	if strings.Contains(name, "/") {
		return Target{}, fmt.Errorf("tap target %q: want KIND/NAME", s)
	}
	return Target{Kind: k.kind, Name: name}, nil
}

// Params are the parameters of one tap request, as `linkerd viz tap` takes
// them.
type Params struct {
	Target        Target
	Namespace     string // of the target; ignored for namespace targets
	To            *Target
	ToNamespace   string
	MaxRPS        float32
	Scheme        string
	Method        string
	Authority     string
	Path          string // prefix
	Extract       bool   // ask for headers
	LabelSelector string
}

// String names the target for messages: "namespace/shop",
// "deployment/web in namespace shop", or for a bare kind "deployments in
// namespace shop" (with " matching -l SELECTOR" when one is given).
func (p Params) String() string {
	switch {
	case p.Target.Kind == "namespace":
		return "namespace/" + p.Target.Name
	case p.Target.Name != "":
		return p.Target.Kind + "/" + p.Target.Name + " in namespace " + p.Namespace
	}
	s := Plural(p.Target.Kind) + " in namespace " + p.Namespace
	if p.LabelSelector != "" {
		s += " matching -l " + p.LabelSelector
	}
	return s
}

// Plural is the plural of a kind as the tap API names it ("deployments").
func Plural(kind string) string { return kinds[kind].plural }

// URL returns the path of the watch endpoint on the Kubernetes API server.
func (p Params) URL() string {
	if p.Target.Kind == "namespace" {
		return "/apis/tap.linkerd.io/v1alpha1/watch/namespaces/" + p.Target.Name + "/tap"
	}
	return fmt.Sprintf("/apis/tap.linkerd.io/v1alpha1/watch/namespaces/%s/%s/%s/tap", p.Namespace, Plural(p.Target.Kind), p.Target.Name)
}

// Body returns the unframed protobuf TapByResourceRequest.
func (p Params) Body() []byte {
	var b []byte
	b = appendMessage(b, 1, p.resourceSelection(p.Target, p.Namespace, p.LabelSelector))
	b = appendMessage(b, 2, p.match())
	b = protowire.AppendTag(b, 3, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, math.Float32bits(p.MaxRPS))
	var extract []byte
	if p.Extract {
		// Extract{http: Http{headers: Headers{}}}
		extract = appendMessage(nil, 1, appendMessage(nil, 1, nil))
	}
	return appendMessage(b, 4, extract)
}

// resourceSelection encodes ResourceSelection{resource: Resource{namespace,
// type, name}, label_selector}. A namespace target names itself, not a
// namespace it lives in.
func (p Params) resourceSelection(t Target, namespace, selector string) []byte {
	if t.Kind == "namespace" {
		namespace = ""
	}
	var res []byte
	res = appendString(res, 1, namespace)
	res = appendString(res, 2, t.Kind)
	res = appendString(res, 3, t.Name)
	b := appendMessage(nil, 1, res)
	return appendString(b, 2, selector)
}

// match encodes Match{all: Seq{matches}} with one match per filter, in the
// order the upstream CLI adds them: destination, scheme, method,
// authority, path.
func (p Params) match() []byte {
	var seq []byte
	if p.To != nil {
		seq = appendMessage(seq, 1, appendMessage(nil, 4, p.resourceSelection(*p.To, p.ToNamespace, "")))
	}
	for i, v := range []string{p.Scheme, p.Method, p.Authority, p.Path} {
		if v != "" {
			seq = appendMessage(seq, 1, appendMessage(nil, 5, appendString(nil, protowire.Number(i+1), v)))
		}
	}
	return appendMessage(nil, 1, seq)
}

func appendMessage(b []byte, num protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}

// appendString writes a string field, omitting it when empty as proto3 does.
func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}
