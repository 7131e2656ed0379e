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
}

// ApiVersion is one version of the API, e.g. v1.
// +kubebuilder:validation:XValidation:rule="!has(self.sunset) || self.deprecated",message="sunset requires deprecated: true"
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
}

// RESTSpec configures the bridge's HTTP listener.
type RESTSpec struct {
	// port the bridge serves HTTP on.
	// +optional
	// +kubebuilder:default=8080
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port,omitempty"`
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
