package policy

import (
	"cmp"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Set is a collection of policy objects, one slice per kind. HTTPRoutes of
// both API groups share a slice.
type Set struct {
	Servers                []Server
	ServerAuthorizations   []ServerAuthorization
	HTTPRoutes             []HTTPRoute
	GRPCRoutes             []GRPCRoute
	MeshTLSAuthentications []MeshTLSAuthentication
	NetworkAuthentications []NetworkAuthentication
	AuthorizationPolicies  []AuthorizationPolicy
	ServiceProfiles        []ServiceProfile

	// Others are the documents of other kinds (Pods, Namespaces, ...) when
	// the reader was asked to keep them; otherwise Ignored counts them.
	Others  []Document
	Ignored int
}

// Document is a manifest document of a kind this package does not model.
type Document struct {
	// Source and Line say where the document starts (for an item of a
	// List, where the List starts).
	Source     string
	Line       int
	APIVersion string
	Kind       string
	// JSON is the document (or List item) converted to JSON.
	JSON []byte
}

// Add appends the objects and documents of o to s.
func (s *Set) Add(o *Set) {
	s.Servers = append(s.Servers, o.Servers...)
	s.ServerAuthorizations = append(s.ServerAuthorizations, o.ServerAuthorizations...)
	s.HTTPRoutes = append(s.HTTPRoutes, o.HTTPRoutes...)
	s.GRPCRoutes = append(s.GRPCRoutes, o.GRPCRoutes...)
	s.MeshTLSAuthentications = append(s.MeshTLSAuthentications, o.MeshTLSAuthentications...)
	s.NetworkAuthentications = append(s.NetworkAuthentications, o.NetworkAuthentications...)
	s.AuthorizationPolicies = append(s.AuthorizationPolicies, o.AuthorizationPolicies...)
	s.ServiceProfiles = append(s.ServiceProfiles, o.ServiceProfiles...)
	s.Others = append(s.Others, o.Others...)
	s.Ignored += o.Ignored
}

// Len is the number of policy objects in s (not counting Others).
func (s *Set) Len() int {
	return len(s.Servers) + len(s.ServerAuthorizations) + len(s.HTTPRoutes) + len(s.GRPCRoutes) +
		len(s.MeshTLSAuthentications) + len(s.NetworkAuthentications) + len(s.AuthorizationPolicies) +
		len(s.ServiceProfiles)
}

// Objects returns pointers to the objects of s, kind by kind in the order
// a reader wants them (what is referred to before what refers to it), each
// kind in the order of its slice.
func (s *Set) Objects() []Object {
	out := make([]Object, 0, s.Len())
	out = appendPtrs(out, s.Servers)
	out = appendPtrs(out, s.ServerAuthorizations)
	out = appendPtrs(out, s.HTTPRoutes)
	out = appendPtrs(out, s.GRPCRoutes)
	out = appendPtrs(out, s.MeshTLSAuthentications)
	out = appendPtrs(out, s.NetworkAuthentications)
	out = appendPtrs(out, s.AuthorizationPolicies)
	out = appendPtrs(out, s.ServiceProfiles)
	return out
}

func appendPtrs[T any, PT interface {
	*T
	Object
}](out []Object, s []T) []Object {
	for i := range s {
		out = append(out, PT(&s[i]))
	}
	return out
}

// Normalize puts s in its canonical order, in place: missing apiVersion and
// kind are filled in with the ones cinch writes, objects of a kind are
// sorted by namespace and name, and lists whose order has no meaning
// (identities, networks, references, hostnames, parentRefs, header and
// query matches, selector requirements) are sorted. Route rules and their
// matches keep their order: it breaks ties between equal matches.
func (s *Set) Normalize() {
	for _, o := range s.Objects() {
		*o.typeMeta() = typeOf(o)
	}
	for i := range s.Servers {
		o := &s.Servers[i]
		normalizeSelector(o.Spec.PodSelector)
		normalizeSelector(o.Spec.ExternalWorkloadSelector)
	}
	for i := range s.ServerAuthorizations {
		o := &s.ServerAuthorizations[i]
		normalizeSelector(o.Spec.Server.Selector)
		normalizeNetworks(o.Spec.Client.Networks)
		if m := o.Spec.Client.MeshTLS; m != nil {
			slices.Sort(m.Identities)
			slices.SortFunc(m.ServiceAccounts, func(a, b ServiceAccountRef) int {
				return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
			})
		}
	}
	for i := range s.HTTPRoutes {
		o := &s.HTTPRoutes[i]
		normalizeParents(o.Spec.ParentRefs)
		slices.Sort(o.Spec.Hostnames)
		for _, r := range o.Spec.Rules {
			for _, m := range r.Matches {
				sortValueMatches(m.Headers)
				sortValueMatches(m.QueryParams)
			}
		}
	}
	for i := range s.GRPCRoutes {
		o := &s.GRPCRoutes[i]
		normalizeParents(o.Spec.ParentRefs)
		slices.Sort(o.Spec.Hostnames)
		for _, r := range o.Spec.Rules {
			for _, m := range r.Matches {
				sortValueMatches(m.Headers)
			}
		}
	}
	for i := range s.MeshTLSAuthentications {
		o := &s.MeshTLSAuthentications[i]
		slices.Sort(o.Spec.Identities)
		sortRefs(o.Spec.IdentityRefs)
	}
	for i := range s.NetworkAuthentications {
		o := &s.NetworkAuthentications[i]
		normalizeNetworks(o.Spec.Networks)
	}
	for i := range s.AuthorizationPolicies {
		o := &s.AuthorizationPolicies[i]
		sortRefs(o.Spec.RequiredAuthenticationRefs)
	}
	sortObjects(s.Servers)
	sortObjects(s.ServerAuthorizations)
	sortObjects(s.HTTPRoutes)
	sortObjects(s.GRPCRoutes)
	sortObjects(s.MeshTLSAuthentications)
	sortObjects(s.NetworkAuthentications)
	sortObjects(s.AuthorizationPolicies)
	sortObjects(s.ServiceProfiles)
}

// typeOf returns o's type fields, with the apiVersion and kind cinch
// writes filled in where they are empty.
func typeOf(o Object) TypeMeta {
	t := o.Type()
	var apiVersion, kind string
	switch o.(type) {
	case *Server:
		apiVersion, kind = APIVersionServer, KindServer
	case *ServerAuthorization:
		apiVersion, kind = APIVersionServerAuthorization, KindServerAuthorization
	case *HTTPRoute:
		apiVersion, kind = APIVersionPolicyHTTPRoute, KindHTTPRoute
	case *GRPCRoute:
		apiVersion, kind = APIVersionGRPCRoute, KindGRPCRoute
	case *MeshTLSAuthentication:
		apiVersion, kind = APIVersionMeshTLSAuthentication, KindMeshTLSAuthentication
	case *NetworkAuthentication:
		apiVersion, kind = APIVersionNetworkAuthentication, KindNetworkAuthentication
	case *AuthorizationPolicy:
		apiVersion, kind = APIVersionAuthorizationPolicy, KindAuthorizationPolicy
	case *ServiceProfile:
		apiVersion, kind = APIVersionServiceProfile, KindServiceProfile
	}
	if t.APIVersion == "" {
		t.APIVersion = apiVersion
	}
	if t.Kind == "" {
		t.Kind = kind
	}
	return t
}

func sortObjects[T any, PT interface {
	*T
	Object
}](s []T) {
	slices.SortStableFunc(s, func(a, b T) int {
		ma, mb := PT(&a).Meta(), PT(&b).Meta()
		return cmp.Or(cmp.Compare(ma.Namespace, mb.Namespace), cmp.Compare(ma.Name, mb.Name),
			cmp.Compare(PT(&a).Type().APIVersion, PT(&b).Type().APIVersion))
	})
}

func normalizeSelector(sel *metav1.LabelSelector) {
	if sel == nil {
		return
	}
	for _, r := range sel.MatchExpressions {
		slices.Sort(r.Values)
	}
	slices.SortFunc(sel.MatchExpressions, func(a, b metav1.LabelSelectorRequirement) int {
		return cmp.Or(cmp.Compare(a.Key, b.Key), cmp.Compare(a.Operator, b.Operator),
			slices.Compare(a.Values, b.Values))
	})
}

func normalizeNetworks(nets []Network) {
	for _, n := range nets {
		slices.Sort(n.Except)
	}
	slices.SortFunc(nets, func(a, b Network) int {
		return cmp.Or(cmp.Compare(a.CIDR, b.CIDR), slices.Compare(a.Except, b.Except))
	})
}

func normalizeParents(refs []ParentReference) {
	slices.SortFunc(refs, func(a, b ParentReference) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name),
			cmp.Compare(a.Group, b.Group), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.SectionName, b.SectionName))
	})
}

func sortRefs(refs []NamespacedTargetRef) {
	slices.SortFunc(refs, func(a, b NamespacedTargetRef) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Group, b.Group),
			cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
}

func sortValueMatches(ms []ValueMatch) {
	slices.SortFunc(ms, func(a, b ValueMatch) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Type, b.Type), cmp.Compare(a.Value, b.Value))
	})
}
