package policy

import (
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// FieldError is one problem with one field of one object.
type FieldError struct {
	Object Key
	// Field is the path from the object's root, like
	// spec.rules[0].matches[1].path.value.
	Field  string
	Detail string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("%s: %s: %s", e.Object, e.Field, e.Detail)
}

// MaxPathLength is the longest path match value the HTTPRoute schemas
// allow.
const MaxPathLength = 1024

// Limits of the CRD schemas.
const (
	maxRules      = 16
	maxMatches    = 8
	maxHeaders    = 16
	maxParentRefs = 32
	maxHostnames  = 16
)

// Validate checks every object of s against the policy controller's
// admission rules (docs/linkerd.md, "Admission rules") and the essentials of the CRD schemas:
// required fields, enums, DNS-1123 names of at most 63 characters, list
// limits, references that Linkerd would ignore. It returns *FieldError
// values, object by object in the order of Objects, fields in the order
// they were checked.
func Validate(s *Set) []error {
	var errs []error
	seen := map[string]bool{}
	for _, o := range s.Objects() {
		t, m := typeOf(o), o.Meta()
		v := &validator{key: KeyOf(o), typ: t, errs: &errs}
		id := t.Group() + "/" + t.Kind + "/" + m.Namespace + "/" + m.Name
		if seen[id] {
			v.add("metadata.name", "duplicate object: another %s of this name is in the set", t.Kind)
		}
		seen[id] = true
		switch o := o.(type) {
		case *Server:
			v.meta(m, KindServer, versions("policy.linkerd.io/", "v1alpha1", "v1beta1", "v1beta2", "v1beta3"), true)
			v.server(o)
		case *ServerAuthorization:
			v.meta(m, KindServerAuthorization, versions("policy.linkerd.io/", "v1alpha1", "v1beta1"), true)
			v.serverAuthorization(o)
		case *HTTPRoute:
			v.meta(m, KindHTTPRoute, append(versions("policy.linkerd.io/", "v1alpha1", "v1beta1", "v1beta2", "v1beta3"),
				versions("gateway.networking.k8s.io/", "v1", "v1beta1")...), true)
			v.httpRoute(o)
		case *GRPCRoute:
			v.meta(m, KindGRPCRoute, versions("gateway.networking.k8s.io/", "v1", "v1alpha2"), true)
			v.grpcRoute(o)
		case *MeshTLSAuthentication:
			v.meta(m, KindMeshTLSAuthentication, versions("policy.linkerd.io/", "v1alpha1"), true)
			v.meshTLS(o)
		case *NetworkAuthentication:
			v.meta(m, KindNetworkAuthentication, versions("policy.linkerd.io/", "v1alpha1"), true)
			v.networks("spec.networks", o.Spec.Networks, true)
		case *AuthorizationPolicy:
			v.meta(m, KindAuthorizationPolicy, versions("policy.linkerd.io/", "v1alpha1"), true)
			v.authorizationPolicy(o)
		case *ServiceProfile:
			v.meta(m, KindServiceProfile, versions("linkerd.io/", "v1alpha1", "v1alpha2"), false)
			v.serviceProfile(o)
		}
	}
	return errs
}

func versions(group string, vs ...string) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = group + v
	}
	return out
}

type validator struct {
	key  Key
	typ  TypeMeta // with defaults filled in
	errs *[]error
}

func (v *validator) add(field, format string, args ...any) {
	*v.errs = append(*v.errs, &FieldError{Object: v.key, Field: field, Detail: fmt.Sprintf(format, args...)})
}

func (v *validator) addList(list field.ErrorList) {
	for _, e := range list {
		*v.errs = append(*v.errs, &FieldError{Object: v.key, Field: e.Field, Detail: e.ErrorBody()})
	}
}

// dnsLabel checks a name we generate: a DNS-1123 label (<= 63 characters).
func (v *validator) dnsLabel(field, name string) {
	if name == "" {
		v.add(field, "required")
		return
	}
	for _, msg := range validation.IsDNS1123Label(name) {
		v.add(field, "%q: %s", name, msg)
	}
}

// meta checks the type and metadata of an object of the given kind; label
// says whether its name must be a DNS-1123 label (else a subdomain).
func (v *validator) meta(m *ObjectMeta, kind string, apiVersions []string, label bool) {
	t := v.typ
	if t.Kind != kind {
		v.add("kind", "%q among objects of kind %s", t.Kind, kind)
	}
	if !slices.Contains(apiVersions, t.APIVersion) {
		v.add("apiVersion", "%q is not a served version of %s (want one of %s)", t.APIVersion, kind,
			strings.Join(apiVersions, ", "))
	}
	if label {
		v.dnsLabel("metadata.name", m.Name)
	} else if m.Name == "" {
		v.add("metadata.name", "required")
	} else {
		for _, msg := range validation.IsDNS1123Subdomain(m.Name) {
			v.add("metadata.name", "%q: %s", m.Name, msg)
		}
	}
	if m.Namespace == "" {
		v.add("metadata.namespace", "required: policy objects are namespaced")
	} else {
		v.dnsLabel("metadata.namespace", m.Namespace)
	}
	v.addList(metav1validation.ValidateLabels(m.Labels, field.NewPath("metadata", "labels")))
}

func (v *validator) selector(path string, sel *metav1.LabelSelector) {
	v.addList(metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{},
		field.NewPath(path)))
}

func (v *validator) server(o *Server) {
	sp := o.Spec
	switch {
	case sp.PodSelector == nil && sp.ExternalWorkloadSelector == nil:
		v.add("spec.podSelector", "required: a Server selects pods (or external workloads)")
	case sp.PodSelector != nil && sp.ExternalWorkloadSelector != nil:
		v.add("spec", "podSelector and externalWorkloadSelector are exclusive")
	case sp.PodSelector != nil:
		v.selector("spec.podSelector", sp.PodSelector)
	default:
		v.selector("spec.externalWorkloadSelector", sp.ExternalWorkloadSelector)
	}
	v.port("spec.port", sp.Port)
	switch sp.ProxyProtocol {
	case "", ProtocolUnknown, ProtocolHTTP1, ProtocolHTTP2, ProtocolGRPC, ProtocolOpaque, ProtocolTLS:
	default:
		v.add("spec.proxyProtocol", "%q is not one of unknown, HTTP/1, HTTP/2, gRPC, opaque, TLS", sp.ProxyProtocol)
	}
	if sp.AccessPolicy != "" {
		if !IsDefaultPolicy(sp.AccessPolicy) {
			v.add("spec.accessPolicy", "%q is not one of all-unauthenticated, all-authenticated, "+
				"cluster-authenticated, cluster-unauthenticated, deny, audit", sp.AccessPolicy)
		}
		if v.typ.APIVersion != APIVersionServer {
			v.add("spec.accessPolicy", "needs %s: older versions drop the field (and the Server denies)", APIVersionServer)
		}
	}
}

func (v *validator) port(path string, p intstr.IntOrString) {
	if p.Type == intstr.Int {
		if p.IntVal < 1 || p.IntVal > 65535 {
			v.add(path, "%d is not a port number (1-65535)", p.IntVal)
		}
		return
	}
	if p.StrVal == "" {
		v.add(path, "required: a port number or a container port name")
		return
	}
	for _, msg := range validation.IsValidPortName(p.StrVal) {
		v.add(path, "%q is not a container port name: %s", p.StrVal, msg)
	}
}

// dnsIdentity is the form of a DNS-like mesh identity (exact, "*" or
// "*.suffix"), as the policy controller's admission checks it.
var dnsIdentity = regexp.MustCompile(`^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

func (v *validator) identity(path, id string) {
	if err := CheckIdentity(id); err != nil {
		v.add(path, "%s", err)
	}
}

// CheckIdentity checks a MeshTLSAuthentication identity as the policy
// controller's admission does: a DNS-like name, "*" or "*.suffix", or a
// SPIFFE ID.
func CheckIdentity(id string) error {
	if td, ok := strings.CutPrefix(id, "spiffe://"); ok {
		td, p, _ := strings.Cut(td, "/")
		if td == "" || strings.Trim(td, "abcdefghijklmnopqrstuvwxyz0123456789-._") != "" {
			return fmt.Errorf("%q: invalid SPIFFE trust domain", id)
		}
		if p != "" && (strings.HasSuffix(p, "/") || slices.ContainsFunc(strings.Split(p, "/"), func(seg string) bool {
			return seg == "" || seg == "." || seg == ".." ||
				strings.Trim(seg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") != ""
		})) {
			return fmt.Errorf("%q: invalid SPIFFE path", id)
		}
		return nil
	}
	if !dnsIdentity.MatchString(id) {
		return fmt.Errorf("%q is not a valid identity (a DNS-like name, \"*\" or \"*.suffix\", or a SPIFFE ID)", id)
	}
	return nil
}

func (v *validator) networks(path string, nets []Network, required bool) {
	if required && len(nets) == 0 {
		v.add(path, "at least one network is required")
	}
	for i, n := range nets {
		np := fmt.Sprintf("%s[%d]", path, i)
		cidr, err := ParseCIDR(n.CIDR)
		if err != nil {
			v.add(np+".cidr", "%v", err)
			continue
		}
		for j, e := range n.Except {
			ep := fmt.Sprintf("%s.except[%d]", np, j)
			ex, err := ParseCIDR(e)
			switch {
			case err != nil:
				v.add(ep, "%v", err)
			case ex.Bits() <= cidr.Bits() && ex.Contains(cidr.Addr()):
				v.add(ep, "%s negates all of cidr %s", e, n.CIDR)
			case ex.Bits() < cidr.Bits() || !cidr.Contains(ex.Addr()):
				v.add(ep, "%s is not inside cidr %s", e, n.CIDR)
			}
		}
	}
}

// ParseCIDR parses a network as Linkerd accepts it: a CIDR or a single
// address. The result is masked.
func ParseCIDR(s string) (netip.Prefix, error) {
	if p, err := netip.ParsePrefix(s); err == nil {
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%q is not a CIDR or an IP address", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func (v *validator) serverAuthorization(o *ServerAuthorization) {
	srv := o.Spec.Server
	switch {
	case srv.Name == "" && srv.Selector == nil:
		v.add("spec.server", "one of name or selector is required")
	case srv.Name != "" && srv.Selector != nil:
		v.add("spec.server", "name and selector are exclusive")
	case srv.Name != "":
		v.dnsLabel("spec.server.name", srv.Name)
	default:
		v.selector("spec.server.selector", srv.Selector)
	}
	c := o.Spec.Client
	v.networks("spec.client.networks", c.Networks, false)
	switch {
	case c.MeshTLS == nil && !c.Unauthenticated:
		v.add("spec.client", "no client authentication: set meshTLS or unauthenticated (Linkerd ignores it otherwise)")
	case c.MeshTLS != nil && c.Unauthenticated:
		v.add("spec.client.unauthenticated", "must be false when meshTLS is set")
	case c.MeshTLS != nil:
		m := c.MeshTLS
		n := len(m.Identities) + len(m.ServiceAccounts)
		if m.UnauthenticatedTLS && n > 0 {
			v.add("spec.client.meshTLS.unauthenticatedTLS", "must be false when identities or serviceAccounts are set")
		}
		if !m.UnauthenticatedTLS && n == 0 {
			v.add("spec.client.meshTLS", "authorizes no clients: set identities, serviceAccounts or unauthenticatedTLS")
		}
		for i, id := range m.Identities {
			v.identity(fmt.Sprintf("spec.client.meshTLS.identities[%d]", i), id)
		}
		for i, sa := range m.ServiceAccounts {
			p := fmt.Sprintf("spec.client.meshTLS.serviceAccounts[%d]", i)
			v.dnsLabel(p+".name", sa.Name)
			if sa.Namespace != "" {
				v.dnsLabel(p+".namespace", sa.Namespace)
			}
		}
	}
}

func (v *validator) meshTLS(o *MeshTLSAuthentication) {
	sp := o.Spec
	switch {
	case len(sp.Identities) == 0 && len(sp.IdentityRefs) == 0:
		v.add("spec", "one of identities or identityRefs is required (and must not be empty)")
	case len(sp.Identities) > 0 && len(sp.IdentityRefs) > 0:
		v.add("spec", "identities and identityRefs are exclusive")
	}
	for i, id := range sp.Identities {
		v.identity(fmt.Sprintf("spec.identities[%d]", i), id)
	}
	for i, r := range sp.IdentityRefs {
		p := fmt.Sprintf("spec.identityRefs[%d]", i)
		switch {
		case strings.EqualFold(r.Kind, KindServiceAccount):
			v.noGroup(p, r.Group, r.Kind)
			v.dnsLabel(p+".name", r.Name)
			if r.Namespace != "" {
				v.dnsLabel(p+".namespace", r.Namespace)
			}
		case strings.EqualFold(r.Kind, KindNamespace):
			v.noGroup(p, r.Group, r.Kind)
			v.dnsLabel(p+".name", r.Name)
			if r.Namespace != "" {
				v.add(p+".namespace", "must be empty: a Namespace is not namespaced")
			}
		default:
			v.add(p+".kind", "%q is not ServiceAccount or Namespace", r.Kind)
		}
	}
}

func (v *validator) noGroup(path, group, kind string) {
	if group != "" {
		v.add(path+".group", "must be empty for %s (core group), not %q", kind, group)
	}
}

// isKind reports whether group/kind name the given resource, the way the
// policy controller compares them (case-insensitively; an empty group is
// the core group).
func isKind(group, kind, wantGroup, wantKind string) bool {
	if group == "core" {
		group = ""
	}
	return strings.EqualFold(group, wantGroup) && strings.EqualFold(kind, wantKind)
}

func (v *validator) authorizationPolicy(o *AuthorizationPolicy) {
	t := o.Spec.TargetRef
	switch {
	case t.Kind == "" || t.Name == "":
		v.add("spec.targetRef", "kind and name are required")
	case strings.EqualFold(t.Kind, KindNamespace):
		v.noGroup("spec.targetRef", t.Group, t.Kind)
		if t.Name != o.Namespace {
			v.add("spec.targetRef.name", "cannot target another namespace: %q (the policy is in %q)", t.Name, o.Namespace)
		}
	case isKind(t.Group, t.Kind, GroupPolicy, KindServer),
		isKind(t.Group, t.Kind, GroupPolicy, KindHTTPRoute),
		isKind(t.Group, t.Kind, GroupGateway, KindHTTPRoute),
		isKind(t.Group, t.Kind, GroupGateway, KindGRPCRoute):
		v.dnsLabel("spec.targetRef.name", t.Name)
	case strings.EqualFold(t.Kind, KindServer), strings.EqualFold(t.Kind, KindHTTPRoute), strings.EqualFold(t.Kind, KindGRPCRoute):
		v.add("spec.targetRef.group", "%q is not a group of %s (policy.linkerd.io, or gateway.networking.k8s.io for routes)",
			t.Group, t.Kind)
	default:
		v.add("spec.targetRef.kind", "unsupported target %q: want Server, HTTPRoute, GRPCRoute or Namespace", t.Kind)
	}
	refs := o.Spec.RequiredAuthenticationRefs
	if refs == nil {
		v.add("spec.requiredAuthenticationRefs", "required (an empty list allows every client)")
	}
	var mtls, sas, nets int
	for i, r := range refs {
		p := fmt.Sprintf("spec.requiredAuthenticationRefs[%d]", i)
		switch {
		case strings.EqualFold(r.Kind, KindServiceAccount):
			sas++
			v.noGroup(p, r.Group, r.Kind)
		case isKind(r.Group, r.Kind, GroupPolicy, KindMeshTLSAuthentication):
			mtls++
		case isKind(r.Group, r.Kind, GroupPolicy, KindNetworkAuthentication):
			nets++
		case strings.EqualFold(r.Kind, KindMeshTLSAuthentication), strings.EqualFold(r.Kind, KindNetworkAuthentication):
			v.add(p+".group", "must be policy.linkerd.io, not %q", r.Group)
			continue
		default:
			v.add(p+".kind", "unsupported authentication %q: want MeshTLSAuthentication, NetworkAuthentication or ServiceAccount", r.Kind)
			continue
		}
		v.dnsLabel(p+".name", r.Name)
		if r.Namespace != "" {
			v.dnsLabel(p+".namespace", r.Namespace)
		}
	}
	switch {
	case mtls > 1:
		v.add("spec.requiredAuthenticationRefs", "only a single MeshTLSAuthentication may be set")
	case sas > 1:
		v.add("spec.requiredAuthenticationRefs", "only a single ServiceAccount may be set")
	case mtls+sas > 1:
		v.add("spec.requiredAuthenticationRefs", "a MeshTLSAuthentication and a ServiceAccount may not be set together")
	}
	if nets > 1 {
		v.add("spec.requiredAuthenticationRefs", "only a single NetworkAuthentication may be set")
	}
}

// parents checks the parentRefs of a route in group routeGroup: each must
// name a Server of the route's namespace, without port or sectionName.
func (v *validator) parents(refs []ParentReference, routeGroup, ns string) {
	if len(refs) == 0 {
		v.add("spec.parentRefs", "a route without a parent Server has no effect")
	}
	if len(refs) > maxParentRefs {
		v.add("spec.parentRefs", "%d parentRefs, at most %d allowed", len(refs), maxParentRefs)
	}
	seen := map[ParentReference]bool{}
	for i, r := range refs {
		p := fmt.Sprintf("spec.parentRefs[%d]", i)
		group := r.Group
		if group == "" && routeGroup == GroupPolicy {
			group = GroupPolicy // the policy.linkerd.io CRD's default
		}
		switch {
		case r.Kind == "":
			v.add(p+".kind", "required: it defaults to Gateway, set it to Server")
		case !strings.EqualFold(r.Kind, KindServer):
			v.add(p+".kind", "%q: inbound routes attach to a Server", r.Kind)
		case !strings.EqualFold(group, GroupPolicy):
			v.add(p+".group", "%q: a Server's group is policy.linkerd.io", r.Group)
		}
		v.dnsLabel(p+".name", r.Name)
		if r.Namespace != "" && r.Namespace != ns {
			v.add(p+".namespace", "%q: a route may only attach to a Server of its own namespace %q", r.Namespace, ns)
		}
		if r.Port != nil {
			v.add(p+".port", "must not be set for a Server parent")
		}
		if r.SectionName != "" {
			v.add(p+".sectionName", "must not be set for a Server parent")
		}
		k := r
		k.Port = nil
		if seen[k] {
			v.add(p, "duplicate parent reference")
		}
		seen[k] = true
	}
}

var hostname = regexp.MustCompile(`^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

func (v *validator) hostnames(hosts []string) {
	if len(hosts) > maxHostnames {
		v.add("spec.hostnames", "%d hostnames, at most %d allowed", len(hosts), maxHostnames)
	}
	for i, h := range hosts {
		p := fmt.Sprintf("spec.hostnames[%d]", i)
		if _, err := netip.ParseAddr(h); err == nil {
			v.add(p, "%q: a hostname must not be an IP address", h)
		} else if len(h) > 253 || !hostname.MatchString(h) {
			v.add(p, "%q is not a hostname (lower-case RFC 1123, optionally starting with \"*.\")", h)
		}
	}
}

var (
	pathChars       = regexp.MustCompile(`^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|[%][0-9a-fA-F]{2})+$`)
	headerName      = regexp.MustCompile("^[A-Za-z0-9!#$%&'*+\\-.^_`|~]+$")
	grpcServiceName = regexp.MustCompile(`^(?i)\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$`)
	grpcMethodName  = regexp.MustCompile(`^[A-Za-z_][A-Za-z_0-9]*$`)
)

var httpMethods = []string{"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

func (v *validator) httpRoute(o *HTTPRoute) {
	group := v.typ.Group()
	v.parents(o.Spec.ParentRefs, group, o.Namespace)
	v.hostnames(o.Spec.Hostnames)
	if n := len(o.Spec.Rules); n > maxRules {
		v.add("spec.rules", "%d rules, at most %d allowed", n, maxRules)
	}
	for i, r := range o.Spec.Rules {
		rp := fmt.Sprintf("spec.rules[%d]", i)
		if n := len(r.Matches); n > maxMatches {
			v.add(rp+".matches", "%d matches, at most %d allowed", n, maxMatches)
		}
		for j, m := range r.Matches {
			mp := fmt.Sprintf("%s.matches[%d]", rp, j)
			if m.Path != nil {
				v.path(mp+".path", *m.Path, group == GroupGateway)
			}
			if m.Method != "" && !slices.Contains(httpMethods, m.Method) {
				v.add(mp+".method", "%q is not one of %s", m.Method, strings.Join(httpMethods, ", "))
			}
			v.valueMatches(mp+".headers", m.Headers, true)
			v.valueMatches(mp+".queryParams", m.QueryParams, false)
		}
	}
}

func (v *validator) path(p string, m HTTPPathMatch, gateway bool) {
	for _, e := range CheckPathMatch(m, gateway) {
		v.add(p+"."+e.Field, "%s", e.Detail)
	}
}

// CheckPathMatch checks an HTTPRoute path match as the CRD schemas do;
// gateway says the route is a gateway.networking.k8s.io one, whose Exact
// and PathPrefix values must be plain absolute paths. Each error's Field
// is "value" or "type".
func CheckPathMatch(m HTTPPathMatch, gateway bool) []*FieldError {
	var errs []*FieldError
	add := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Detail: fmt.Sprintf(format, args...)})
	}
	value := m.Value
	if value == "" {
		value = "/"
	}
	if len(value) > MaxPathLength {
		add("value", "longer than %d characters", MaxPathLength)
	}
	switch m.Type {
	case "", MatchPathPrefix, MatchExact:
		if !strings.HasPrefix(value, "/") {
			add("value", "%q must be an absolute path starting with /", value)
			return errs
		}
		if !gateway {
			return errs
		}
		for _, bad := range []string{"//", "/./", "/../", "%2f", "%2F", "#"} {
			if strings.Contains(value, bad) {
				add("value", "%q must not contain %q", value, bad)
			}
		}
		if strings.HasSuffix(value, "/..") || strings.HasSuffix(value, "/.") {
			add("value", "%q must not end with /. or /..", value)
		}
		if !pathChars.MatchString(value) {
			add("value", "%q contains characters not valid in a path", value)
		}
	case MatchRegularExpression:
		if _, err := regexp.Compile(value); err != nil {
			add("value", "invalid regular expression: %v", err)
		}
	default:
		add("type", "%q is not one of Exact, PathPrefix, RegularExpression", m.Type)
	}
	return errs
}

// valueMatches checks header (header true) or query parameter matches.
func (v *validator) valueMatches(path string, ms []ValueMatch, header bool) {
	if len(ms) > maxHeaders {
		v.add(path, "%d matches, at most %d allowed", len(ms), maxHeaders)
	}
	seen := map[string]bool{}
	for i, m := range ms {
		p := fmt.Sprintf("%s[%d]", path, i)
		name := m.Name
		if header {
			name = strings.ToLower(name)
		}
		switch {
		case m.Name == "":
			v.add(p+".name", "required")
		case len(m.Name) > 256 || !headerName.MatchString(m.Name):
			v.add(p+".name", "%q is not a valid name", m.Name)
		case seen[name]:
			v.add(p+".name", "%q is matched twice", m.Name)
		}
		seen[name] = true
		if m.Value == "" {
			v.add(p+".value", "required")
		}
		switch m.Type {
		case "", MatchExact:
		case MatchRegularExpression:
			if _, err := regexp.Compile(m.Value); err != nil {
				v.add(p+".value", "invalid regular expression: %v", err)
			}
		default:
			v.add(p+".type", "%q is not one of Exact, RegularExpression", m.Type)
		}
	}
}

func (v *validator) grpcRoute(o *GRPCRoute) {
	v.parents(o.Spec.ParentRefs, v.typ.Group(), o.Namespace)
	v.hostnames(o.Spec.Hostnames)
	if n := len(o.Spec.Rules); n > maxRules {
		v.add("spec.rules", "%d rules, at most %d allowed", n, maxRules)
	}
	for i, r := range o.Spec.Rules {
		rp := fmt.Sprintf("spec.rules[%d]", i)
		if n := len(r.Matches); n > maxMatches {
			v.add(rp+".matches", "%d matches, at most %d allowed", n, maxMatches)
		}
		for j, m := range r.Matches {
			mp := fmt.Sprintf("%s.matches[%d]", rp, j)
			if mm := m.Method; mm != nil {
				switch mm.Type {
				case "", MatchExact:
					if mm.Service == "" && mm.Method == "" {
						v.add(mp+".method", "one or both of service and method must be set")
					}
					if mm.Service != "" && !grpcServiceName.MatchString(mm.Service) {
						v.add(mp+".method.service", "%q is not a gRPC service name", mm.Service)
					}
					if mm.Method != "" && !grpcMethodName.MatchString(mm.Method) {
						v.add(mp+".method.method", "%q is not a gRPC method name", mm.Method)
					}
				case MatchRegularExpression:
					v.add(mp+".method.type", "RegularExpression is not supported by Linkerd (it ignores the route)")
				default:
					v.add(mp+".method.type", "%q is not one of Exact, RegularExpression", mm.Type)
				}
			}
			v.valueMatches(mp+".headers", m.Headers, true)
		}
	}
}

func (v *validator) serviceProfile(o *ServiceProfile) {
	if o.Namespace != "" && !strings.Contains(o.Name, "."+o.Namespace+".svc.") {
		v.add("metadata.name", "%q is not <service>.%s.svc.<cluster domain>", o.Name, o.Namespace)
	}
	names := map[string]bool{}
	for i, r := range o.Spec.Routes {
		p := fmt.Sprintf("spec.routes[%d]", i)
		switch {
		case r.Name == "":
			v.add(p+".name", "required")
		case names[r.Name]:
			v.add(p+".name", "%q is used twice", r.Name)
		}
		names[r.Name] = true
		c := r.Condition
		if c.Method == "" && c.PathRegex == "" && len(c.All) == 0 && len(c.Any) == 0 && len(c.Not) == 0 {
			v.add(p+".condition", "a condition needs at least one of method, pathRegex, all, any, not")
		}
		if c.Method != "" {
			for _, msg := range validation.IsHTTPHeaderName(c.Method) {
				v.add(p+".condition.method", "%q: %s", c.Method, msg)
			}
		}
		if c.PathRegex != "" {
			if _, err := regexp.Compile(c.PathRegex); err != nil {
				v.add(p+".condition.pathRegex", "invalid regular expression: %v", err)
			}
		}
		if r.Timeout != "" {
			if _, err := time.ParseDuration(r.Timeout); err != nil {
				v.add(p+".timeout", "%v", err)
			}
		}
	}
}
