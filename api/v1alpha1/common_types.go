package v1alpha1

// Condition types and reasons shared by all kinds (kstatus: Ready always present,
// Reconciling and Stalled only while true).
const (
	ConditionReady       = "Ready"
	ConditionReconciling = "Reconciling"
	ConditionStalled     = "Stalled"

	// Finalizer guards state Junction owns outside the API server (Kafka topics).
	Finalizer = "messaging.junction.dev/finalizer"

	// ReconcileAnnotation set to ReconcilePaused stops every write to Kafka for the object.
	ReconcileAnnotation = "messaging.junction.dev/reconcile"
	ReconcilePaused     = "paused"

	// ReleaseAnnotation set to "true" lets a MessageTopic being deleted go without touching
	// Kafka, for when its broker is gone or unreachable for good.
	ReleaseAnnotation = "messaging.junction.dev/release"
)

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	// name of the referenced object.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}
