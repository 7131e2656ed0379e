package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MessageBrokerSpec is how to reach one Kafka cluster.
type MessageBrokerSpec struct {
	// kafka holds the client settings for the cluster.
	// +required
	Kafka KafkaConnection `json:"kafka"`
}

// KafkaConnection is the client configuration of one Kafka cluster.
type KafkaConnection struct {
	// bootstrapServers are the host:port pairs used for the first connection.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=255
	// +kubebuilder:validation:items:Pattern=`^[^\s:]+:[0-9]{1,5}$`
	// +listType=atomic
	BootstrapServers []string `json:"bootstrapServers"`

	// clientID is sent to Kafka with every request; defaults to "junction".
	// +optional
	// +kubebuilder:validation:MaxLength=249
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9._-]*$`
	ClientID string `json:"clientID,omitempty"`

	// tls, when set, encrypts every connection to the brokers. Without caSecretRef the
	// system's trusted roots verify the brokers' certificates.
	// +optional
	TLS *KafkaTLS `json:"tls,omitempty"`

	// sasl, when set, authenticates every connection with a user name and password.
	// +optional
	SASL *KafkaSASL `json:"sasl,omitempty"`
}

// KafkaTLS is the client side of TLS to the brokers. The Secrets are read from the
// MessageBroker's namespace; a change to their data is picked up within a minute.
type KafkaTLS struct {
	// caSecretRef names the Secret key holding the PEM certificates that sign the brokers'
	// certificates.
	// +optional
	CASecretRef *SecretKeyReference `json:"caSecretRef,omitempty"`

	// clientCertSecretRef names a Secret of type kubernetes.io/tls whose tls.crt and tls.key
	// are presented to brokers that require client authentication.
	// +optional
	ClientCertSecretRef *LocalObjectReference `json:"clientCertSecretRef,omitempty"`
}

// SASLMechanism is a SASL mechanism the brokers offer.
// +kubebuilder:validation:Enum=PLAIN;SCRAM-SHA-256;SCRAM-SHA-512
type SASLMechanism string

// The SASL mechanisms Junction supports.
const (
	SASLPlain       SASLMechanism = "PLAIN"
	SASLSCRAMSHA256 SASLMechanism = "SCRAM-SHA-256"
	SASLSCRAMSHA512 SASLMechanism = "SCRAM-SHA-512"
)

// KafkaSASL authenticates to the brokers with credentials from a Secret.
type KafkaSASL struct {
	// mechanism is the SASL mechanism: PLAIN (use it with tls, as it sends the password in
	// clear), SCRAM-SHA-256 or SCRAM-SHA-512.
	// +required
	Mechanism SASLMechanism `json:"mechanism"`

	// secretRef names a Secret in the same namespace with the keys username and password.
	// +required
	SecretRef LocalObjectReference `json:"secretRef"`
}

// SecretKeyReference names one key of a Secret in the same namespace.
type SecretKeyReference struct {
	// name of the Secret.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// key within the Secret's data.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	Key string `json:"key"`
}

// MessageBrokerStatus is the observed state of the cluster.
type MessageBrokerStatus struct {
	// conditions: Ready is always present; Reconciling and Stalled only while true.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// clusterID is the id the Kafka cluster reports.
	// +optional
	ClusterID string `json:"clusterID,omitempty"`

	// brokers is the number of brokers the cluster reports.
	// +optional
	Brokers int32 `json:"brokers,omitempty"`

	// controller is the id of the broker acting as controller.
	// +optional
	Controller *int32 `json:"controller,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mb,categories=junction
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Brokers",type=integer,JSONPath=`.status.brokers`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// MessageBroker is a connection to one Kafka cluster.
type MessageBroker struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired connection.
	// +required
	Spec MessageBrokerSpec `json:"spec"`

	// status is the observed state.
	// +optional
	Status MessageBrokerStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// MessageBrokerList is a list of MessageBroker.
type MessageBrokerList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MessageBroker `json:"items"`
}

func init() {
	SchemeBuilder.Register(&MessageBroker{}, &MessageBrokerList{})
}
