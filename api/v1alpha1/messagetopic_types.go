package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DeletionPolicy says what happens to the Kafka topic when its MessageTopic is deleted.
// +kubebuilder:validation:Enum=Delete;Retain
type DeletionPolicy string

const (
	// DeletionPolicyDelete deletes the Kafka topic and its data.
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyRetain leaves the Kafka topic in place.
	DeletionPolicyRetain DeletionPolicy = "Retain"
)

// MessageTopicSpec is the desired state of one Kafka topic.
// +kubebuilder:validation:XValidation:rule="has(self.topicName) == has(oldSelf.topicName)",message="topicName cannot be added or removed after creation"
type MessageTopicSpec struct {
	// brokerRef names the MessageBroker (same namespace) whose cluster holds the topic.
	// +required
	BrokerRef LocalObjectReference `json:"brokerRef"`

	// topicName is the name of the topic in Kafka; defaults to metadata.name. Immutable.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=249
	// +kubebuilder:validation:Pattern=`^[a-zA-Z0-9._-]+$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="topicName is immutable"
	// +kubebuilder:validation:XValidation:rule="self != '.' && self != '..'",message="topicName cannot be '.' or '..'"
	TopicName string `json:"topicName,omitempty"`

	// partitions is the number of partitions; it may only grow.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	// +kubebuilder:validation:XValidation:rule="self >= oldSelf",message="partitions cannot decrease"
	Partitions int32 `json:"partitions"`

	// replicationFactor is the number of replicas of each partition.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=32767
	ReplicationFactor int32 `json:"replicationFactor"`

	// config holds topic-level overrides; only the keys listed here are managed by Junction.
	// Values are strings: quote numbers and booleans in YAML ("604800000").
	// +optional
	// +kubebuilder:validation:MaxProperties=128
	// +kubebuilder:validation:XValidation:rule="self.all(k, type(self[k]) == string)",message="config values must be strings: quote numbers and booleans in YAML, e.g. retention.ms: \"604800000\""
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[a-z0-9.]+$'))",message="config keys are Kafka topic config names such as retention.ms"
	Config map[string]ConfigValue `json:"config,omitempty"`

	// deletionPolicy says whether deleting this object deletes the Kafka topic.
	// +optional
	// +kubebuilder:default=Delete
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// schema describes the structure every message on this topic must have.
	// +optional
	Schema *TopicSchema `json:"schema,omitempty"`
}

// ConfigValue is one topic config value. Its schema also admits integers so that the rule on
// spec.config can refuse an unquoted number with a message saying to quote it, rather than the
// API server's bare type error; that rule guarantees a string by the time it is stored.
// +kubebuilder:validation:XIntOrString
type ConfigValue string

// KafkaConfig returns spec.config as plain strings, the form Kafka takes.
func (s *MessageTopicSpec) KafkaConfig() map[string]string {
	if s.Config == nil {
		return nil
	}
	out := make(map[string]string, len(s.Config))
	for k, v := range s.Config {
		out[k] = string(v)
	}
	return out
}

// TopicSchema is the message structure enforced by bridges that expose the topic.
type TopicSchema struct {
	// jsonSchema is an inline JSON Schema (draft 2020-12) document.
	// +required
	// +kubebuilder:validation:MinLength=2
	// +kubebuilder:validation:MaxLength=262144
	JSONSchema string `json:"jsonSchema"`

	// compatibility is how a new jsonSchema must relate to the accepted ones, with the meanings of
	// schema registries: BACKWARD (consumers using the new schema read data written with the
	// previous one), FORWARD (consumers using the previous schema read data written with the new
	// one), FULL (both), the _TRANSITIVE variants (against every previous version), NONE.
	// +optional
	// +kubebuilder:default=BACKWARD
	Compatibility CompatibilityMode `json:"compatibility,omitempty"`
}

// CompatibilityMode is a schema compatibility mode.
// +kubebuilder:validation:Enum=NONE;BACKWARD;FORWARD;FULL;BACKWARD_TRANSITIVE;FORWARD_TRANSITIVE;FULL_TRANSITIVE
type CompatibilityMode string

// TopicSchemaStatus describes the accepted schema version, the one bridges serve.
type TopicSchemaStatus struct {
	// version counts accepted schemas, from 1.
	// +required
	// +kubebuilder:validation:Minimum=1
	Version int32 `json:"version"`

	// fingerprint is "sha256:" and the hex digest of the accepted jsonSchema text.
	// +required
	// +kubebuilder:validation:MaxLength=71
	Fingerprint string `json:"fingerprint"`

	// acceptedAt is when this version was accepted.
	// +required
	AcceptedAt metav1.Time `json:"acceptedAt"`

	// historyConfigMap names the ConfigMap (owned by the topic) holding every accepted version.
	// +required
	// +kubebuilder:validation:MaxLength=253
	HistoryConfigMap string `json:"historyConfigMap"`

	// jsonSchema is the accepted document; it differs from spec.schema.jsonSchema while a new one
	// is refused as incompatible.
	// +required
	// +kubebuilder:validation:MaxLength=262144
	JSONSchema string `json:"jsonSchema"`
}

// MessageTopicStatus is the observed state of the topic.
type MessageTopicStatus struct {
	// conditions: Ready is always present; Reconciling and Stalled only while true.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// observedGeneration is the generation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// topicName is the name of the topic in Kafka.
	// +optional
	TopicName string `json:"topicName,omitempty"`

	// topicID is the id Kafka assigned to the topic.
	// +optional
	TopicID string `json:"topicID,omitempty"`

	// partitions is the partition count Kafka reports.
	// +optional
	Partitions int32 `json:"partitions,omitempty"`

	// replicationFactor is the replica count Kafka reports for the first partition.
	// +optional
	ReplicationFactor int32 `json:"replicationFactor,omitempty"`

	// config holds the managed config keys with their values as Kafka reports them. Its keys
	// are the keys Junction manages, so that a key removed from spec.config returns to the
	// broker default while keys set by others stay untouched.
	// +optional
	Config map[string]string `json:"config,omitempty"`

	// schema is the accepted schema version; bridges serve it and never a refused one.
	// +optional
	Schema *TopicSchemaStatus `json:"schema,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=mt,categories=junction
// +kubebuilder:printcolumn:name="Topic",type=string,JSONPath=`.status.topicName`
// +kubebuilder:printcolumn:name="Partitions",type=integer,JSONPath=`.status.partitions`
// +kubebuilder:printcolumn:name="Schema",type=integer,JSONPath=`.status.schema.version`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// MessageTopic is one Kafka topic managed by Junction.
type MessageTopic struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired topic.
	// +required
	Spec MessageTopicSpec `json:"spec"`

	// status is the observed topic.
	// +optional
	Status MessageTopicStatus `json:"status,omitempty"`
}

// KafkaTopicName is the name of the topic in Kafka: spec.topicName or metadata.name.
func (t *MessageTopic) KafkaTopicName() string {
	if t.Spec.TopicName != "" {
		return t.Spec.TopicName
	}
	return t.Name
}

// +kubebuilder:object:root=true

// MessageTopicList is a list of MessageTopic.
type MessageTopicList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MessageTopic `json:"items"`
}

func init() {
	SchemeBuilder.Register(&MessageTopic{}, &MessageTopicList{})
}
