package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Operation is what clients may do on a route.
// +kubebuilder:validation:Enum=publish;subscribe
type Operation string

const (
	// OperationPublish lets clients write records to the topic.
	OperationPublish Operation = "publish"
	// OperationSubscribe lets clients read records from the topic.
	OperationSubscribe Operation = "subscribe"
)

// ApiExposureSpec is how a set of topics is offered to clients over REST and gRPC.
type ApiExposureSpec struct {
	// versions are served side by side under /{version}/.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +listType=map
	// +listMapKey=name
	Versions []ApiVersion `json:"versions"`

	// rest configures the HTTP listener.
	// +optional
	REST RESTSpec `json:"rest,omitempty"`

	// grpc configures the gRPC listener.
	// +optional
	GRPC GRPCSpec `json:"grpc,omitempty"`

	// replicas is the number of bridge pods.
	// +optional
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	Replicas *int32 `json:"replicas,omitempty"`

	// resources of the bridge container.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// auth requires an API key on every route when set; without it the routes are open.
	// +optional
	Auth *AuthSpec `json:"auth,omitempty"`

	// rateLimit bounds the requests of all clients together, per bridge replica.
	// +optional
	RateLimit *RateLimitSpec `json:"rateLimit,omitempty"`
}

// AuthSpec names the Secret holding the API keys and what each key may do.
type AuthSpec struct {
	// apiKeysSecretRef names a Secret (same namespace) whose data maps a key name to the API
	// key itself. The operator renders only SHA-256 digests into the bridge config.
	// +required
	APIKeysSecretRef LocalObjectReference `json:"apiKeysSecretRef"`

	// keys grant routes and operations to the keys of the Secret, by name. A Secret entry
	// not listed here is refused (403); a listed name missing from the Secret is an error.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=256
	// +listType=map
	// +listMapKey=name
	Keys []APIKeyGrant `json:"keys"`
}

// APIKeyGrant is what one API key may do.
type APIKeyGrant struct {
	// name is the data key of the API key in the Secret; it appears in logs instead of the key.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Name string `json:"name"`

	// grants are the routes and operations the key may use.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	Grants []Grant `json:"grants"`

	// rateLimit bounds this key's requests, per bridge replica.
	// +optional
	RateLimit *RateLimitSpec `json:"rateLimit,omitempty"`
}

// Grant allows operations on a route of a version; "*" matches every version or route.
type Grant struct {
	// version is a version name or "*".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	Version string `json:"version"`

	// route is a route name or "*".
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Route string `json:"route"`

	// operations the key may use there.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	// +listType=set
	Operations []Operation `json:"operations"`
}

// BackendOrdering is how the dispatcher orders deliveries.
// +kubebuilder:validation:Enum=perKey;unordered
type BackendOrdering string

const (
	// BackendOrderingPerKey delivers the records of one key one at a time, in order.
	BackendOrderingPerKey BackendOrdering = "perKey"
	// BackendOrderingUnordered trades order for throughput.
	BackendOrderingUnordered BackendOrdering = "unordered"
)

// Backend is the HTTP service a route's records are delivered to.
// +kubebuilder:validation:XValidation:rule="(has(self.replies) && self.replies) || (!has(self.replyHeaders) && !has(self.maxReplyBytes) && !has(self.replyRetention))",message="replyHeaders, maxReplyBytes and replyRetention require replies: true"
type Backend struct {
	// url is the absolute http(s) URL each record is sent to, e.g. a Service's cluster DNS name.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=2048
	// +kubebuilder:validation:Pattern=`^https?://[^/\s]+.*$`
	URL string `json:"url"`

	// method is the HTTP method of each delivery.
	// +optional
	// +kubebuilder:default=POST
	// +kubebuilder:validation:Enum=POST;PUT;PATCH
	Method string `json:"method,omitempty"`

	// timeout bounds one delivery attempt (default 10s).
	// +optional
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// retry is how failed deliveries are retried.
	// +optional
	Retry *RetryPolicy `json:"retry,omitempty"`

	// deadLetterTopicRef names the MessageTopic (same namespace, same MessageBroker) that
	// receives records that cannot be delivered, with failure metadata in headers. Without
	// it such records are logged, counted and skipped.
	// +optional
	DeadLetterTopicRef *LocalObjectReference `json:"deadLetterTopicRef,omitempty"`

	// passHeaders are request headers copied into the record at publish and sent to the
	// backend on delivery.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=set
	// +kubebuilder:validation:items:MaxLength=128
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z0-9-]+$`
	PassHeaders []string `json:"passHeaders,omitempty"`

	// ordering is perKey (records of one key one at a time, in order: each partition has
	// one delivery in flight) or unordered (up to maxConcurrency deliveries in flight, in
	// any order).
	// +optional
	// +kubebuilder:default=perKey
	Ordering BackendOrdering `json:"ordering,omitempty"`

	// maxConcurrency bounds the deliveries in flight at once in each bridge replica when
	// ordering is unordered (default 16). It has no effect with perKey.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=256
	MaxConcurrency *int32 `json:"maxConcurrency,omitempty"`

	// replies keeps the backend's answer to each request (status, Content-Type and the
	// replyHeaders, body up to maxReplyBytes), or the dead-letter outcome, in a compacted reply
	// topic the operator creates as a MessageTopic owned by the exposure;
	// GET /{version}/{route}/requests/{id} then answers it.
	// +optional
	Replies bool `json:"replies,omitempty"`

	// replyHeaders are backend response headers kept with a reply besides Content-Type.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +listType=set
	// +kubebuilder:validation:items:MaxLength=128
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z0-9-]+$`
	ReplyHeaders []string `json:"replyHeaders,omitempty"`

	// maxReplyBytes bounds the reply body kept (default 65536; 0 keeps none); a larger body is
	// not kept and the reply says so.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=524288
	MaxReplyBytes *int32 `json:"maxReplyBytes,omitempty"`

	// replyRetention is how long replies are kept in the reply topic (default 24h; at least 1m).
	// +optional
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m')",message="replyRetention must be at least 1m"
	ReplyRetention *metav1.Duration `json:"replyRetention,omitempty"`
}

// RetryPolicy bounds the retries of connection errors, timeouts, 408, 429 and 5xx.
type RetryPolicy struct {
	// maxAttempts is the number of attempts, the first included, before a record is
	// dead-lettered (default 5).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	MaxAttempts *int32 `json:"maxAttempts,omitempty"`

	// initialBackoff is the wait before the first retry; each retry doubles it, with jitter
	// (default 200ms).
	// +optional
	InitialBackoff *metav1.Duration `json:"initialBackoff,omitempty"`

	// maxBackoff caps the wait between attempts (default 30s).
	// +optional
	MaxBackoff *metav1.Duration `json:"maxBackoff,omitempty"`

	// maxRetryAfter caps how long a backend's Retry-After is honoured (default 60s).
	// +optional
	MaxRetryAfter *metav1.Duration `json:"maxRetryAfter,omitempty"`
}

// RateLimitSpec is a token bucket.
type RateLimitSpec struct {
	// requestsPerSecond is the sustained rate.
	// +required
	// +kubebuilder:validation:Minimum=1
	RequestsPerSecond int32 `json:"requestsPerSecond"`

	// burst is how many requests may arrive at once; defaults to requestsPerSecond.
	// +optional
	// +kubebuilder:validation:Minimum=1
	Burst int32 `json:"burst,omitempty"`
}

// CORSSpec is the browser cross-origin policy of the REST API.
type CORSSpec struct {
	// allowedOrigins are exact origins (https://shop.example) or "*".
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +listType=set
	AllowedOrigins []string `json:"allowedOrigins"`

	// allowedHeaders are extra request headers browsers may send.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +listType=set
	AllowedHeaders []string `json:"allowedHeaders,omitempty"`

	// maxAgeSeconds is how long browsers may cache a preflight answer.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=86400
	MaxAgeSeconds int32 `json:"maxAgeSeconds,omitempty"`
}

// ApiVersion is one version of the API, e.g. v1.
// +kubebuilder:validation:XValidation:rule="!has(self.sunset) || self.deprecated",message="sunset requires deprecated: true"
// +kubebuilder:validation:XValidation:rule="!has(self.deprecatedSince) || self.deprecated",message="deprecatedSince requires deprecated: true"
type ApiVersion struct {
	// name is the path segment of the version.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:Pattern=`^v[0-9]+([a-z0-9]*)$`
	Name string `json:"name"`

	// deprecated marks the version as deprecated in headers and in the OpenAPI document.
	// +optional
	Deprecated bool `json:"deprecated,omitempty"`

	// deprecatedSince is the date announced in the Deprecation header (RFC 9745); defaults
	// to the creation time of the ApiExposure.
	// +optional
	DeprecatedSince *metav1.Time `json:"deprecatedSince,omitempty"`

	// sunset is when the version stops being served.
	// +optional
	Sunset *metav1.Time `json:"sunset,omitempty"`

	// routes are the topics offered under this version.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +listType=map
	// +listMapKey=name
	Routes []Route `json:"routes"`
}

// Route offers one MessageTopic at /{version}/{route}.
type Route struct {
	// name is the path segment of the route.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// topicRef names the MessageTopic (same namespace) behind the route.
	// +required
	TopicRef LocalObjectReference `json:"topicRef"`

	// operations are what clients may do on the route.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=2
	// +listType=set
	Operations []Operation `json:"operations"`

	// backend, when set, makes the route a queue in front of a REST API: publish answers
	// 202 Accepted with a request id, and the bridge delivers each record to the backend.
	// +optional
	Backend *Backend `json:"backend,omitempty"`
}

// RESTSpec configures the bridge's HTTP listener.
type RESTSpec struct {
	// port the bridge serves HTTP on.
	// +optional
	// +kubebuilder:default=8080
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`

	// cors answers browser preflights for the listed origins.
	// +optional
	CORS *CORSSpec `json:"cors,omitempty"`
}

// GRPCSpec configures the bridge's gRPC listener.
type GRPCSpec struct {
	// port the bridge serves gRPC on.
	// +optional
	// +kubebuilder:default=9090
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`
}

// ApiExposureStatus is the observed state of the exposure.
type ApiExposureStatus struct {
	// conditions: Ready is always present; Reconciling and Stalled only while true.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// endpoints are the in-cluster addresses of the bridge.
	// +optional
	Endpoints *Endpoints `json:"endpoints,omitempty"`

	// servedVersions are the versions the bridge serves.
	// +optional
	// +listType=atomic
	ServedVersions []string `json:"servedVersions,omitempty"`

	// openAPIConfigMap names the ConfigMap (same namespace) holding the generated OpenAPI
	// document under the key openapi.json.
	// +optional
	OpenAPIConfigMap string `json:"openAPIConfigMap,omitempty"`
}

// Endpoints are the addresses clients use.
type Endpoints struct {
	// rest is the base URL of the REST API.
	// +optional
	REST string `json:"rest,omitempty"`
	// grpc is the host:port of the gRPC API.
	// +optional
	GRPC string `json:"grpc,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=apix,categories=junction
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="REST",type=string,JSONPath=`.status.endpoints.rest`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// ApiExposure offers MessageTopics to clients over REST and gRPC through a bridge Deployment.
type ApiExposure struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired exposure.
	// +required
	Spec ApiExposureSpec `json:"spec"`

	// status is the observed exposure.
	// +optional
	Status ApiExposureStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// ApiExposureList is a list of ApiExposure.
type ApiExposureList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ApiExposure `json:"items"`
}

func init() {
	SchemeBuilder.Register(&ApiExposure{}, &ApiExposureList{})
}
