package diff

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/cinchmesh/cinch/observe/recording"
	"github.com/cinchmesh/cinch/synth/policy"
)

func object(apiVersion, kind, ns, name string, spec map[string]any) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]any{"namespace": ns, "name": name, "uid": "x", "resourceVersion": "1"},
		"spec":     spec,
	}}
}

// fakePolicyCluster serves the booksapp walk-through's final policy the way
// a cluster with older CRDs would: Servers only at v1beta2, no Gateway API
// GRPCRoutes, AuthorizationPolicies in two pages; plus objects of other
// namespaces.
func fakePolicyCluster(t *testing.T) *dynamicfake.FakeDynamicClient {
	listKinds := map[schema.GroupVersionResource]string{}
	for _, r := range policyResources {
		for _, v := range r.versions {
			listKinds[schema.GroupVersionResource{Group: r.group, Version: v, Resource: r.resource}] = r.kind + "List"
		}
	}
	server := func(ns, name, app string) *unstructured.Unstructured {
		return object("policy.linkerd.io/v1beta2", "Server", ns, name, map[string]any{
			"podSelector": map[string]any{"matchLabels": map[string]any{"app": app}}, "port": "http"})
	}
	objs := []runtime.Object{
		server("shop", "api-http", "api"),
		server("other", "elsewhere", "api"),
		object("gateway.networking.k8s.io/v1", "HTTPRoute", "shop", "api-read", map[string]any{
			"parentRefs": []any{map[string]any{"group": "policy.linkerd.io", "kind": "Server", "name": "api-http"}},
			"rules":      []any{map[string]any{"matches": []any{map[string]any{"method": "GET"}}}},
		}),
		object("policy.linkerd.io/v1alpha1", "MeshTLSAuthentication", "linkerd", "web", map[string]any{
			"identities": []any{id("web", "shop")}}),
		object("policy.linkerd.io/v1alpha1", "NetworkAuthentication", "other", "unrelated", map[string]any{
			"networks": []any{map[string]any{"cidr": "0.0.0.0/0"}}}),
	}
	client := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds, objs...)
	notFound := func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewNotFound(a.GetResource().GroupResource(), "")
	}
	client.PrependReactor("list", "servers", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetResource().Version == "v1beta3" {
			return notFound(a)
		}
		return false, nil, nil
	})
	client.PrependReactor("list", "grpcroutes", notFound)
	pages := map[string]*unstructured.Unstructured{
		"": object("policy.linkerd.io/v1alpha1", "AuthorizationPolicy", "shop", "api-read", map[string]any{
			"targetRef": map[string]any{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "api-read"},
			"requiredAuthenticationRefs": []any{map[string]any{"group": "policy.linkerd.io", "kind": "MeshTLSAuthentication",
				"name": "web", "namespace": "linkerd"}},
		}),
		"page-2": object("policy.linkerd.io/v1alpha1", "AuthorizationPolicy", "shop", "nobody", map[string]any{
			"targetRef":                  map[string]any{"group": "policy.linkerd.io", "kind": "Server", "name": "api-http"},
			"requiredAuthenticationRefs": []any{map[string]any{"kind": "ServiceAccount", "name": "nobody"}},
		}),
	}
	client.PrependReactor("list", "authorizationpolicies", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetNamespace() != "shop" {
			return true, &unstructured.UnstructuredList{}, nil
		}
		cont := a.(k8stesting.ListActionImpl).GetListOptions().Continue
		list := &unstructured.UnstructuredList{Items: []unstructured.Unstructured{*pages[cont]}}
		if cont == "" {
			list.SetContinue("page-2")
		}
		return true, list, nil
	})
	return client
}

func names[T any, PT interface {
	*T
	policy.Object
}](objs []T) []string {
	out := []string{}
	for i := range objs {
		m := PT(&objs[i]).Meta()
		out = append(out, m.Namespace+"/"+m.Name)
	}
	slices.Sort(out)
	return out
}

func TestListPolicy(t *testing.T) {
	set, err := ListPolicy(context.Background(), fakePolicyCluster(t), []string{"shop"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		kind      string
		got, want []string
	}{
		{"Servers (served at v1beta2 only)", names(set.Servers), []string{"shop/api-http"}},
		{"HTTPRoutes", names(set.HTTPRoutes), []string{"shop/api-read"}},
		{"AuthorizationPolicies (two pages)", names(set.AuthorizationPolicies), []string{"shop/api-read", "shop/nobody"}},
		{"MeshTLSAuthentications (another namespace, referred to)", names(set.MeshTLSAuthentications), []string{"linkerd/web"}},
		{"NetworkAuthentications (another namespace, not referred to)", names(set.NetworkAuthentications), []string{}},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.kind, c.got, c.want)
		}
	}
	// What was read is what Linkerd would use: web may read from api,
	// batch may not.
	rep := evaluate(t, newRecording(workloads, webToAPI, mtls("jobs/batch", "shop/api", 8080, get("/v1/items/7", 1))), set, Options{})
	equalLines(t, "denied", describe(rep.Denied), []string{
		"jobs/batch as jobs/batch -> shop/api:8080 HTTPRoute.gateway.networking.k8s.io/api-read NoAuthorizationMatched: 1 requests, 1 paths (GET /v1/items/7)"})
	equalLines(t, "warnings", rep.Warnings, []string{})
}

func TestListPolicyForbidden(t *testing.T) {
	client := fakePolicyCluster(t)
	client.PrependReactor("list", "meshtlsauthentications", func(a k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(a.GetResource().GroupResource(), "", errors.New("no"))
	})
	_, err := ListPolicy(context.Background(), client, []string{"shop"})
	var le *ListError
	if !errors.As(err, &le) || le.Resource != "meshtlsauthentications.policy.linkerd.io" || le.Namespace != "shop" ||
		!strings.Contains(err.Error(), "--policy") {
		t.Errorf("error = %v, want a ListError for meshtlsauthentications in shop saying what to do", err)
	}
}

func TestServerNamespaces(t *testing.T) {
	rec := newRecording(workloads, webToAPI, mtls("shop/web", "jobs/batch", 8080, get("/", 1)),
		mtls("shop/web", "ip:192.0.2.1", 80, get("/", 1)))
	if got := ServerNamespaces(rec); !slices.Equal(got, []string{"jobs", "shop"}) {
		t.Errorf("ServerNamespaces = %v, want [jobs shop]", got)
	}
	if got := ServerNamespaces(rec, "shop", "other"); !slices.Equal(got, []string{"shop"}) {
		t.Errorf("ServerNamespaces(shop, other) = %v, want [shop]: only recorded server namespaces that -n names", got)
	}
	if got := ServerNamespaces(recording.New()); len(got) != 0 {
		t.Errorf("ServerNamespaces of an empty recording = %v", got)
	}
}

func TestReadCluster(t *testing.T) {
	cs := kubefake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "api-1"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "jobs", Name: "batch-1"}})
	set, objs, err := ReadCluster(context.Background(), fakePolicyCluster(t), cs, []string{"shop"})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(set.Servers); !slices.Equal(got, []string{"shop/api-http"}) {
		t.Errorf("Servers = %v, want shop/api-http", got)
	}
	if objs == nil || len(objs.Pods) != 1 || objs.Pods[0].Name != "api-1" {
		t.Errorf("cluster objects = %+v, want shop's pod api-1 alone", objs)
	}
	set, objs, err = ReadCluster(context.Background(), fakePolicyCluster(t), cs, nil)
	if err != nil || len(set.Servers) != 0 || objs != nil {
		t.Errorf("no namespaces: %v, %v, %v; want nothing read", set, objs, err)
	}
}

func TestListNamespaces(t *testing.T) {
	ns := func(name, defaultPolicy string) *corev1.Namespace {
		n := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if defaultPolicy != "" {
			n.Annotations = map[string]string{"config.linkerd.io/default-inbound-policy": defaultPolicy}
		}
		return n
	}
	cs := kubefake.NewClientset(ns("shop", "deny"), ns("jobs", "audit"), ns("apps", ""), ns("billing", "deny"))
	all, deny, err := ListNamespaces(context.Background(), cs)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(all, []string{"apps", "billing", "jobs", "shop"}) || !slices.Equal(deny, []string{"billing", "shop"}) {
		t.Errorf("ListNamespaces = %v, deny %v; want every namespace sorted, deny billing and shop", all, deny)
	}
}
