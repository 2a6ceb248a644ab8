package diff

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/cinchmesh/cinch/observe/cluster"
	"github.com/cinchmesh/cinch/synth/policy"
)

// ReadCluster reads what a policy is judged against from a cluster: the
// policy objects of the namespaces (as ListPolicy) and their cluster
// objects (workloads, pods, Services, as cluster.List). Neither without
// namespaces.
func ReadCluster(ctx context.Context, dyn dynamic.Interface, cs kubernetes.Interface, namespaces []string) (*policy.Set, *cluster.Objects, error) {
	if len(namespaces) == 0 {
		return &policy.Set{}, nil, nil
	}
	set, err := ListPolicy(ctx, dyn, namespaces)
	if err != nil {
		return nil, nil, err
	}
	objs, err := cluster.List(ctx, cs, namespaces)
	if err != nil {
		return nil, nil, err
	}
	return set, objs, nil
}

// ListNamespaces lists every namespace of a cluster, sorted, and those
// whose default inbound policy annotation is deny.
func ListNamespaces(ctx context.Context, cs kubernetes.Interface) (all, defaultDeny []string, err error) {
	list, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, nil, fmt.Errorf("list namespaces: %w", err)
	}
	for _, ns := range list.Items {
		all = append(all, ns.Name)
		if ns.Annotations[cluster.AnnotationDefaultInbound] == policy.Deny {
			defaultDeny = append(defaultDeny, ns.Name)
		}
	}
	slices.Sort(all)
	slices.Sort(defaultDeny)
	return all, defaultDeny, nil
}

// policyResource is a policy resource to read from a cluster, with the
// versions to try, newest first: a cluster serves the versions of the CRDs
// it has installed.
type policyResource struct {
	group, resource, kind string
	versions              []string
}

func (p *policyResource) String() string { return p.resource + "." + p.group }

// policyResources are the resources ListPolicy reads: everything that
// takes part in authorization (ServiceProfiles do not). A resource the
// cluster does not serve (Gateway API not installed) is skipped.
var policyResources = []policyResource{
	{policy.GroupPolicy, "servers", policy.KindServer, []string{"v1beta3", "v1beta2", "v1beta1"}},
	{policy.GroupPolicy, "serverauthorizations", policy.KindServerAuthorization, []string{"v1beta1"}},
	{policy.GroupPolicy, "httproutes", policy.KindHTTPRoute, []string{"v1beta3", "v1beta2", "v1beta1"}},
	{policy.GroupGateway, "httproutes", policy.KindHTTPRoute, []string{"v1", "v1beta1"}},
	{policy.GroupGateway, "grpcroutes", policy.KindGRPCRoute, []string{"v1", "v1alpha2"}},
	{policy.GroupPolicy, "meshtlsauthentications", policy.KindMeshTLSAuthentication, []string{"v1alpha1"}},
	{policy.GroupPolicy, "networkauthentications", policy.KindNetworkAuthentication, []string{"v1alpha1"}},
	{policy.GroupPolicy, "authorizationpolicies", policy.KindAuthorizationPolicy, []string{"v1alpha1"}},
}

// listPageSize bounds each list answer, as kubectl does.
const listPageSize = 500

// ListError is a refusal to read policy objects; it says which permission
// is missing.
type ListError struct {
	Resource  string
	Namespace string
	Err       error
}

func (e *ListError) Error() string {
	msg := fmt.Sprintf("list %s in namespace %s: %v", e.Resource, e.Namespace, e.Err)
	if apierrors.IsForbidden(e.Err) {
		msg += "; cinch diff --from-cluster needs list on the policy.linkerd.io and gateway.networking.k8s.io resources " +
			"of the recording's namespaces (docs/diff.md), or give the manifests with --policy"
	}
	return msg
}

func (e *ListError) Unwrap() error { return e.Err }

// ListPolicy reads the policy objects of the given namespaces from a
// cluster, and the MeshTLS and Network authentications that their
// AuthorizationPolicies refer to in other namespaces.
func ListPolicy(ctx context.Context, client dynamic.Interface, namespaces []string) (*policy.Set, error) {
	l := &lister{client: client, version: map[string]string{}}
	set := &policy.Set{}
	for _, ns := range namespaces {
		for i := range policyResources {
			if err := l.list(ctx, &policyResources[i], ns); err != nil {
				return nil, err
			}
		}
	}
	s, err := l.read()
	if err != nil {
		return nil, err
	}
	set.Add(s)
	var more []string
	for _, ap := range set.AuthorizationPolicies {
		for _, r := range ap.Spec.RequiredAuthenticationRefs {
			if r.Namespace != "" && !slices.Contains(namespaces, r.Namespace) {
				more = append(more, r.Namespace)
			}
		}
	}
	slices.Sort(more)
	for _, ns := range slices.Compact(more) {
		for i := range policyResources {
			if r := &policyResources[i]; r.kind == policy.KindMeshTLSAuthentication || r.kind == policy.KindNetworkAuthentication {
				if err := l.list(ctx, r, ns); err != nil {
					return nil, err
				}
			}
		}
	}
	if s, err = l.read(); err != nil {
		return nil, err
	}
	set.Add(s)
	return set, nil
}

// lister reads objects as one stream of JSON documents for policy.Read.
type lister struct {
	client dynamic.Interface
	// version is the version each resource is served at, once found; ""
	// when the cluster serves none of them.
	version map[string]string
	docs    bytes.Buffer
}

// list appends the objects of one resource in one namespace.
func (l *lister) list(ctx context.Context, r *policyResource, ns string) error {
	versions := r.versions
	if v, ok := l.version[r.String()]; ok {
		if v == "" {
			return nil
		}
		versions = []string{v}
	}
	for _, v := range versions {
		gvr := schema.GroupVersionResource{Group: r.group, Version: v, Resource: r.resource}
		opts := metav1.ListOptions{Limit: listPageSize}
		for {
			page, err := l.client.Resource(gvr).Namespace(ns).List(ctx, opts)
			if apierrors.IsNotFound(err) {
				break // not served at this version
			}
			if err != nil {
				return &ListError{Resource: r.String(), Namespace: ns, Err: err}
			}
			l.version[r.String()] = v
			for _, item := range page.Items {
				if item.GetAPIVersion() == "" {
					item.SetAPIVersion(gvr.GroupVersion().String())
				}
				if item.GetKind() == "" {
					item.SetKind(r.kind)
				}
				data, err := json.Marshal(item.Object)
				if err != nil {
					return fmt.Errorf("%s %s/%s: %w", r, ns, item.GetName(), err)
				}
				l.docs.WriteString("---\n")
				l.docs.Write(data)
				l.docs.WriteByte('\n')
			}
			if opts.Continue = page.GetContinue(); opts.Continue == "" {
				return nil
			}
		}
	}
	l.version[r.String()] = ""
	return nil
}

// read decodes what was listed since the last read.
func (l *lister) read() (*policy.Set, error) {
	s, err := policy.Read(&l.docs, "cluster", policy.ReadOptions{})
	l.docs.Reset()
	return s, err
}
