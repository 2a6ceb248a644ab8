// Package policy is cinch's model of the Linkerd policy resources: Server,
// AuthorizationPolicy, MeshTLSAuthentication, NetworkAuthentication,
// HTTPRoute (policy.linkerd.io and gateway.networking.k8s.io), GRPCRoute,
// ServiceProfile and the legacy ServerAuthorization (docs/linkerd.md, "Policy resources").
//
// It reads them from multi-document YAML or JSON manifests (Read,
// ReadPaths), writes them deterministically (Encode) so that regenerating a
// policy gives a minimal diff, and checks them against the policy
// controller's admission rules and the CRD schemas (Validate). It models
// the fields that decide who may call what, keeps a route rule's filters,
// backendRefs and timeouts (and a ServiceProfile's retry and response
// settings) as raw JSON, and drops other fields (status, managedFields,
// uid, ...) when it re-encodes an object.
//
// It imports only the standard library, sigs.k8s.io/yaml and
// k8s.io/apimachinery.
package policy

import (
	"encoding/json"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// API groups of the modelled resources.
const (
	GroupPolicy  = "policy.linkerd.io"
	GroupGateway = "gateway.networking.k8s.io"
	GroupLinkerd = "linkerd.io"
)

// apiVersions cinch writes (docs/linkerd.md, "Policy resources").
const (
	APIVersionServer                = "policy.linkerd.io/v1beta3"
	APIVersionAuthorizationPolicy   = "policy.linkerd.io/v1alpha1"
	APIVersionMeshTLSAuthentication = "policy.linkerd.io/v1alpha1"
	APIVersionNetworkAuthentication = "policy.linkerd.io/v1alpha1"
	APIVersionPolicyHTTPRoute       = "policy.linkerd.io/v1beta3"
	APIVersionGatewayHTTPRoute      = "gateway.networking.k8s.io/v1"
	APIVersionGRPCRoute             = "gateway.networking.k8s.io/v1"
	APIVersionServiceProfile        = "linkerd.io/v1alpha2"
	APIVersionServerAuthorization   = "policy.linkerd.io/v1beta1"
)

// Kinds of the modelled resources and of the core objects they refer to.
const (
	KindServer                = "Server"
	KindAuthorizationPolicy   = "AuthorizationPolicy"
	KindMeshTLSAuthentication = "MeshTLSAuthentication"
	KindNetworkAuthentication = "NetworkAuthentication"
	KindHTTPRoute             = "HTTPRoute"
	KindGRPCRoute             = "GRPCRoute"
	KindServiceProfile        = "ServiceProfile"
	KindServerAuthorization   = "ServerAuthorization"
	KindNamespace             = "Namespace"
	KindServiceAccount        = "ServiceAccount"
)

// Default inbound policies: the values of the
// config.linkerd.io/default-inbound-policy annotation, of the cluster-wide
// default and of a Server's accessPolicy.
const (
	AllUnauthenticated     = "all-unauthenticated"
	AllAuthenticated       = "all-authenticated"
	ClusterAuthenticated   = "cluster-authenticated"
	ClusterUnauthenticated = "cluster-unauthenticated"
	Deny                   = "deny"
	Audit                  = "audit"
)

// IsDefaultPolicy reports whether s names one of the default policies.
func IsDefaultPolicy(s string) bool {
	switch s {
	case AllUnauthenticated, AllAuthenticated, ClusterAuthenticated, ClusterUnauthenticated, Deny, Audit:
		return true
	}
	return false
}

// Server proxyProtocol values.
const (
	ProtocolUnknown = "unknown"
	ProtocolHTTP1   = "HTTP/1"
	ProtocolHTTP2   = "HTTP/2"
	ProtocolGRPC    = "gRPC"
	ProtocolOpaque  = "opaque"
	ProtocolTLS     = "TLS"
)

// Match types of route paths, headers, query parameters and gRPC methods.
const (
	MatchExact             = "Exact"
	MatchPathPrefix        = "PathPrefix"
	MatchRegularExpression = "RegularExpression"
)

// TypeMeta is an object's apiVersion and kind.
type TypeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// Type returns the object's type fields as written.
func (t *TypeMeta) Type() TypeMeta { return *t }

func (t *TypeMeta) typeMeta() *TypeMeta { return t }

// Group is the API group of the apiVersion ("" for the core group).
func (t *TypeMeta) Group() string {
	for i := 0; i < len(t.APIVersion); i++ {
		if t.APIVersion[i] == '/' {
			return t.APIVersion[:i]
		}
	}
	return ""
}

// ObjectMeta is the part of Kubernetes object metadata policy depends on.
// CreationTimestamp orders Servers and routes ("oldest wins"); it is nil
// for objects not yet applied.
type ObjectMeta struct {
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace,omitempty"`
	Labels            map[string]string `json:"labels,omitempty"`
	Annotations       map[string]string `json:"annotations,omitempty"`
	CreationTimestamp *metav1.Time      `json:"creationTimestamp,omitempty"`
}

// Meta returns the object's metadata.
func (m *ObjectMeta) Meta() *ObjectMeta { return m }

// Object is any of the modelled resources.
type Object interface {
	Type() TypeMeta
	Meta() *ObjectMeta
	typeMeta() *TypeMeta
}

// Key names an object in messages and indexes.
type Key struct {
	Kind      string
	Namespace string
	Name      string
}

// KeyOf returns o's key; an empty kind is taken from o's Go type.
func KeyOf(o Object) Key {
	m := o.Meta()
	return Key{Kind: typeOf(o).Kind, Namespace: m.Namespace, Name: m.Name}
}

func (k Key) String() string { return fmt.Sprintf("%s %s/%s", k.Kind, k.Namespace, k.Name) }

// Server describes a port of the pods its podSelector selects
// (policy.linkerd.io/v1beta3).
type Server struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       ServerSpec `json:"spec"`
}

// ServerSpec is a Server's spec. Port is a number or a container port name.
// An empty AccessPolicy means the CRD default, deny.
type ServerSpec struct {
	PodSelector              *metav1.LabelSelector `json:"podSelector,omitempty"`
	ExternalWorkloadSelector *metav1.LabelSelector `json:"externalWorkloadSelector,omitempty"`
	Port                     intstr.IntOrString    `json:"port"`
	ProxyProtocol            string                `json:"proxyProtocol,omitempty"`
	AccessPolicy             string                `json:"accessPolicy,omitempty"`
}

// AuthorizationPolicy authorizes the clients that meet all of its
// required authentications to reach its target (policy.linkerd.io/v1alpha1).
type AuthorizationPolicy struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       AuthorizationPolicySpec `json:"spec"`
}

// AuthorizationPolicySpec is an AuthorizationPolicy's spec. A nil
// RequiredAuthenticationRefs is a missing (required) field; an empty one
// allows every client.
type AuthorizationPolicySpec struct {
	TargetRef                  LocalTargetRef        `json:"targetRef"`
	RequiredAuthenticationRefs []NamespacedTargetRef `json:"requiredAuthenticationRefs,omitzero"`
}

// LocalTargetRef names an object in the referrer's namespace.
type LocalTargetRef struct {
	Group string `json:"group,omitempty"`
	Kind  string `json:"kind"`
	Name  string `json:"name"`
}

// NamespacedTargetRef names an object, by default in the referrer's
// namespace.
type NamespacedTargetRef struct {
	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind"`
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

// MeshTLSAuthentication is a set of mesh identities
// (policy.linkerd.io/v1alpha1).
type MeshTLSAuthentication struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       MeshTLSAuthenticationSpec `json:"spec"`
}

// MeshTLSAuthenticationSpec lists identities ("name", "*" or "*.suffix")
// or references to ServiceAccounts and Namespaces.
type MeshTLSAuthenticationSpec struct {
	Identities   []string              `json:"identities,omitempty"`
	IdentityRefs []NamespacedTargetRef `json:"identityRefs,omitempty"`
}

// NetworkAuthentication is a set of client networks
// (policy.linkerd.io/v1alpha1).
type NetworkAuthentication struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       NetworkAuthenticationSpec `json:"spec"`
}

// NetworkAuthenticationSpec is a NetworkAuthentication's spec.
type NetworkAuthenticationSpec struct {
	Networks []Network `json:"networks"`
}

// Network is a CIDR (or a single address) minus the networks in Except.
type Network struct {
	CIDR   string   `json:"cidr"`
	Except []string `json:"except,omitempty"`
}

// HTTPRoute matches HTTP requests to a Server; its APIVersion says which
// of the two groups (policy.linkerd.io, gateway.networking.k8s.io) it is.
type HTTPRoute struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       HTTPRouteSpec `json:"spec"`
}

// HTTPRouteSpec is an HTTPRoute's spec.
type HTTPRouteSpec struct {
	ParentRefs []ParentReference `json:"parentRefs,omitempty"`
	Hostnames  []string          `json:"hostnames,omitempty"`
	Rules      []HTTPRouteRule   `json:"rules,omitempty"`
}

// ParentReference attaches a route to a parent. For inbound policy the
// parent is a Server: kind Server, group policy.linkerd.io, no port or
// sectionName. An empty Group or Kind means the CRD default (the route's
// own group for HTTPRoute in policy.linkerd.io, else
// gateway.networking.k8s.io; kind Gateway).
type ParentReference struct {
	Group       string `json:"group,omitempty"`
	Kind        string `json:"kind,omitempty"`
	Namespace   string `json:"namespace,omitempty"`
	Name        string `json:"name"`
	SectionName string `json:"sectionName,omitempty"`
	Port        *int32 `json:"port,omitempty"`
}

// HTTPRouteRule is one rule: a request matches it when it matches any of
// Matches (or always, when there are none). Filters, BackendRefs and
// Timeouts do not affect authorization and are kept as written.
type HTTPRouteRule struct {
	Matches     []HTTPRouteMatch  `json:"matches,omitempty"`
	Filters     []json.RawMessage `json:"filters,omitempty"`
	BackendRefs []json.RawMessage `json:"backendRefs,omitempty"`
	Timeouts    json.RawMessage   `json:"timeouts,omitempty"`
}

// HTTPRouteMatch matches when all its conditions hold.
type HTTPRouteMatch struct {
	Path        *HTTPPathMatch `json:"path,omitempty"`
	Headers     []ValueMatch   `json:"headers,omitempty"`
	QueryParams []ValueMatch   `json:"queryParams,omitempty"`
	Method      string         `json:"method,omitempty"`
}

// HTTPPathMatch is a path condition; the CRD defaults are type PathPrefix
// and value "/".
type HTTPPathMatch struct {
	Type  string `json:"type,omitempty"`
	Value string `json:"value,omitempty"`
}

// ValueMatch is a header or query parameter condition (type Exact by
// default, or RegularExpression).
type ValueMatch struct {
	Type  string `json:"type,omitempty"`
	Name  string `json:"name"`
	Value string `json:"value"`
}

// GRPCRoute matches gRPC requests to a Server
// (gateway.networking.k8s.io/v1).
type GRPCRoute struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       GRPCRouteSpec `json:"spec"`
}

// GRPCRouteSpec is a GRPCRoute's spec.
type GRPCRouteSpec struct {
	ParentRefs []ParentReference `json:"parentRefs,omitempty"`
	Hostnames  []string          `json:"hostnames,omitempty"`
	Rules      []GRPCRouteRule   `json:"rules,omitempty"`
}

// GRPCRouteRule is one rule of a GRPCRoute.
type GRPCRouteRule struct {
	Matches     []GRPCRouteMatch  `json:"matches,omitempty"`
	Filters     []json.RawMessage `json:"filters,omitempty"`
	BackendRefs []json.RawMessage `json:"backendRefs,omitempty"`
}

// GRPCRouteMatch matches a gRPC method and headers.
type GRPCRouteMatch struct {
	Method  *GRPCMethodMatch `json:"method,omitempty"`
	Headers []ValueMatch     `json:"headers,omitempty"`
}

// GRPCMethodMatch matches the service and method of "/service/method"; an
// empty field matches anything.
type GRPCMethodMatch struct {
	Type    string `json:"type,omitempty"`
	Service string `json:"service,omitempty"`
	Method  string `json:"method,omitempty"`
}

// ServiceProfile describes a Service's routes for the client side
// (linkerd.io/v1alpha2); its name is <service>.<namespace>.svc.<domain>.
type ServiceProfile struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       ServiceProfileSpec `json:"spec"`
}

// ServiceProfileSpec is a ServiceProfile's spec.
type ServiceProfileSpec struct {
	Routes       []ServiceProfileRoute `json:"routes,omitempty"`
	RetryBudget  json.RawMessage       `json:"retryBudget,omitempty"`
	OpaquePorts  []string              `json:"opaquePorts,omitempty"`
	DstOverrides json.RawMessage       `json:"dstOverrides,omitempty"`
}

// ServiceProfileRoute is one named route of a ServiceProfile.
type ServiceProfileRoute struct {
	Name            string          `json:"name"`
	Condition       RequestMatch    `json:"condition"`
	ResponseClasses json.RawMessage `json:"responseClasses,omitempty"`
	IsRetryable     bool            `json:"isRetryable,omitempty"`
	Timeout         string          `json:"timeout,omitempty"`
}

// RequestMatch is a ServiceProfile route condition.
type RequestMatch struct {
	Method    string            `json:"method,omitempty"`
	PathRegex string            `json:"pathRegex,omitempty"`
	All       []json.RawMessage `json:"all,omitempty"`
	Any       []json.RawMessage `json:"any,omitempty"`
	Not       json.RawMessage   `json:"not,omitempty"`
}

// ServerAuthorization is the legacy way to authorize clients of Servers
// (policy.linkerd.io/v1beta1).
type ServerAuthorization struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       ServerAuthorizationSpec `json:"spec"`
}

// ServerAuthorizationSpec is a ServerAuthorization's spec.
type ServerAuthorizationSpec struct {
	Server ServerAuthorizationServer `json:"server"`
	Client ServerAuthorizationClient `json:"client"`
}

// ServerAuthorizationServer selects Servers of the namespace by name or by
// their labels.
type ServerAuthorizationServer struct {
	Name     string                `json:"name,omitempty"`
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// ServerAuthorizationClient says which clients are authorized. Without
// Networks, the cluster networks apply.
type ServerAuthorizationClient struct {
	Networks        []Network      `json:"networks,omitempty"`
	Unauthenticated bool           `json:"unauthenticated,omitempty"`
	MeshTLS         *MeshTLSClient `json:"meshTLS,omitempty"`
}

// MeshTLSClient authorizes mTLS clients by identity or service account, or
// any TLS client (UnauthenticatedTLS).
type MeshTLSClient struct {
	UnauthenticatedTLS bool                `json:"unauthenticatedTLS,omitempty"`
	Identities         []string            `json:"identities,omitempty"`
	ServiceAccounts    []ServiceAccountRef `json:"serviceAccounts,omitempty"`
}

// ServiceAccountRef names a service account, by default in the
// ServerAuthorization's namespace.
type ServiceAccountRef struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}
