package eval

import (
	"cmp"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cinchmesh/cinch/synth/policy"
)

// indexAuthorizationPolicies compiles each AuthorizationPolicy and
// attaches it to its target: a route (route-level), a Server or every
// Server of the namespace (server-level).
func (b *builder) indexAuthorizationPolicies(set *policy.Set) {
	for i := range set.AuthorizationPolicies {
		ap := &set.AuthorizationPolicies[i]
		k := policy.KeyOf(ap)
		t := ap.Spec.TargetRef
		g := &grantBuild{namespace: ap.Namespace}
		var attach func(*authorization)
		switch {
		case isKind(t.Group, t.Kind, policy.GroupPolicy, policy.KindServer):
			var srv *server
			if nss := b.servers[ap.Namespace]; nss != nil {
				srv = nss.byName[t.Name]
			}
			if srv == nil {
				b.warn(k, "targets Server %q, which does not exist: no effect", t.Name)
				continue
			}
			g.target = Ref{Group: policy.GroupPolicy, Kind: policy.KindServer, Name: t.Name}
			g.servers = []*server{srv}
			attach = func(a *authorization) { srv.policies = append(srv.policies, a) }
		case isKind(t.Group, t.Kind, "", policy.KindNamespace):
			if t.Name != ap.Namespace {
				b.warn(k, "targets namespace %q, not its own: admission rejects it, ignored", t.Name)
				continue
			}
			g.target = Ref{Kind: policy.KindNamespace, Name: t.Name}
			if nss := b.servers[ap.Namespace]; nss != nil {
				g.servers = nss.list
			}
			attach = func(a *authorization) {
				for _, srv := range g.servers {
					srv.policies = append(srv.policies, a)
				}
			}
		case isKind(t.Group, t.Kind, policy.GroupPolicy, policy.KindHTTPRoute),
			isKind(t.Group, t.Kind, policy.GroupGateway, policy.KindHTTPRoute),
			isKind(t.Group, t.Kind, policy.GroupGateway, policy.KindGRPCRoute):
			r := b.routes[routeKey(ap.Namespace, t.Group, t.Kind, t.Name)]
			if r == nil {
				b.warn(k, "targets %s %q (%s), which does not exist or is ignored: no effect", t.Kind, t.Name, t.Group)
				continue
			}
			if len(r.servers) == 0 {
				b.warn(k, "targets %s %q, which no Server accepts: no effect", t.Kind, t.Name)
			}
			g.target, g.route = r.ref, r
			attach = func(a *authorization) { r.authz = append(r.authz, a) }
		default:
			b.warn(k, "unsupported targetRef %s %q (group %q): Linkerd ignores it", t.Kind, t.Name, t.Group)
			continue
		}
		a, err := b.policyAuthorization(ap)
		if err != nil {
			b.warn(k, "%v: Linkerd ignores it", err)
			continue
		}
		attach(a)
		g.authz = a
		b.grantList = append(b.grantList, g)
	}
}

// policyAuthorization compiles what an AuthorizationPolicy requires: all
// of its references at once (at most one identity source and one
// NetworkAuthentication); without identities it does not require TLS,
// without networks it admits every address.
func (b *builder) policyAuthorization(ap *policy.AuthorizationPolicy) (*authorization, error) {
	var (
		ids  *identities
		nets []network
	)
	for _, r := range ap.Spec.RequiredAuthenticationRefs {
		ns := cmp.Or(r.Namespace, ap.Namespace)
		switch {
		case isKind(r.Group, r.Kind, policy.GroupPolicy, policy.KindMeshTLSAuthentication):
			m := b.meshTLS[nsName{ns, r.Name}]
			switch {
			case m == nil:
				return nil, fmt.Errorf("MeshTLSAuthentication %s/%s does not exist", ns, r.Name)
			case ids != nil:
				return nil, fmt.Errorf("more than one identity source (MeshTLSAuthentication or ServiceAccount)")
			}
			ids = m
		case isKind(r.Group, r.Kind, "", policy.KindServiceAccount):
			if ids != nil {
				return nil, fmt.Errorf("more than one identity source (MeshTLSAuthentication or ServiceAccount)")
			}
			ids = &identities{}
			ids.add(b.opts.identity(r.Name, ns))
		case isKind(r.Group, r.Kind, policy.GroupPolicy, policy.KindNetworkAuthentication):
			n, ok := b.networks[nsName{ns, r.Name}]
			switch {
			case !ok:
				return nil, fmt.Errorf("NetworkAuthentication %s/%s does not exist", ns, r.Name)
			case nets != nil:
				return nil, fmt.Errorf("more than one NetworkAuthentication")
			}
			nets = n
		default:
			return nil, fmt.Errorf("unsupported authentication %s %q (group %q)", r.Kind, r.Name, r.Group)
		}
	}
	if nets == nil {
		nets = networksOf(allNetworks)
	}
	ref := Ref{Group: policy.GroupPolicy, Kind: "authorizationpolicy", Name: ap.Name}
	if ids == nil {
		return newAuthorization(ref, nets, authnNone, identities{}, &b.opts), nil
	}
	return newAuthorization(ref, nets, authnIdentity, *ids, &b.opts), nil
}

// indexServerAuthorizations compiles the legacy ServerAuthorizations and
// attaches each to the Servers of its namespace it selects, by name or by
// the Servers' labels (no name and no selector selects all).
func (b *builder) indexServerAuthorizations(set *policy.Set) {
	for i := range set.ServerAuthorizations {
		sa := &set.ServerAuthorizations[i]
		k := policy.KeyOf(sa)
		a, err := b.serverAuthorization(sa)
		if err != nil {
			b.warn(k, "%v: Linkerd ignores it", err)
			continue
		}
		sel := labels.Everything()
		if s := sa.Spec.Server.Selector; sa.Spec.Server.Name == "" && s != nil {
			if sel, err = metav1.LabelSelectorAsSelector(s); err != nil {
				b.warn(k, "invalid server selector: %v: Linkerd ignores it", err)
				continue
			}
		}
		g := &grantBuild{namespace: sa.Namespace, authz: a}
		if name := sa.Spec.Server.Name; name != "" {
			g.target = Ref{Group: policy.GroupPolicy, Kind: policy.KindServer, Name: name}
		}
		if nss := b.servers[sa.Namespace]; nss != nil {
			for _, srv := range nss.list {
				if name := sa.Spec.Server.Name; (name != "" && srv.ref.Name == name) || (name == "" && sel.Matches(srv.labels)) {
					srv.sazs = append(srv.sazs, a)
					g.servers = append(g.servers, srv)
				}
			}
		}
		if len(g.servers) == 0 {
			b.warn(k, "selects no Server: no effect")
		}
		b.grantList = append(b.grantList, g)
	}
}

// serverAuthorization compiles a ServerAuthorization's client: without
// networks it admits the cluster networks.
func (b *builder) serverAuthorization(sa *policy.ServerAuthorization) (*authorization, error) {
	c := sa.Spec.Client
	nets, err := parseNetworks(c.Networks)
	if err != nil {
		return nil, err
	}
	if len(nets) == 0 {
		nets = networksOf(b.opts.ClusterNetworks)
	}
	ref := Ref{Group: policy.GroupPolicy, Kind: "serverauthorization", Name: sa.Name}
	switch {
	case c.Unauthenticated:
		return newAuthorization(ref, nets, authnNone, identities{}, &b.opts), nil
	case c.MeshTLS == nil:
		return nil, fmt.Errorf("no client authentication configured")
	case c.MeshTLS.UnauthenticatedTLS:
		return newAuthorization(ref, nets, authnTLS, identities{}, &b.opts), nil
	}
	var ids identities
	for _, id := range c.MeshTLS.Identities {
		ids.add(id)
	}
	for _, s := range c.MeshTLS.ServiceAccounts {
		ids.add(b.opts.identity(s.Name, cmp.Or(s.Namespace, sa.Namespace)))
	}
	if ids.empty() {
		return nil, fmt.Errorf("authorizes no clients")
	}
	return newAuthorization(ref, nets, authnIdentity, ids, &b.opts), nil
}
