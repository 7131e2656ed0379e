package controllers

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/junction-dev/junction/api/v1alpha1"
)

// outcomeKind classifies how a reconcile ended, following the three error classes.
type outcomeKind int

const (
	// outcomeReady: everything observed matches the spec.
	outcomeReady outcomeKind = iota
	// outcomeWaiting: a dependency is missing or not ready; it will be retried.
	outcomeWaiting
	// outcomeFailed: a transient error (Kafka or API server); it will be retried with backoff.
	outcomeFailed
	// outcomeStalled: the spec asks for something that cannot be done; only a spec change helps.
	outcomeStalled
	// outcomePaused: the user stopped reconciliation; nothing is in progress and nothing is wrong.
	outcomePaused
)

// Reasons shared by several kinds.
const (
	reasonKafkaUnavailable = "KafkaUnavailable"
	// conditionDeletionBlocked is True while a MessageTopic cannot finish deleting.
	conditionDeletionBlocked = "DeletionBlocked"
)

// outcome is the single verdict a reconcile reaches; status functions compute it from the facts
// the steps recorded.
type outcome struct {
	kind    outcomeKind
	reason  string
	message string
}

// applyOutcome writes the kstatus conditions for o: Ready always, Reconciling and Stalled only
// while true, observedGeneration only when the result is final (ready or stalled).
func applyOutcome(conds *[]metav1.Condition, observedGeneration *int64, generation int64, o outcome) {
	ready := metav1.Condition{Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse,
		Reason: o.reason, Message: o.message, ObservedGeneration: generation}
	switch o.kind {
	case outcomeReady:
		ready.Status = metav1.ConditionTrue
		meta.RemoveStatusCondition(conds, v1alpha1.ConditionReconciling)
		meta.RemoveStatusCondition(conds, v1alpha1.ConditionStalled)
		*observedGeneration = generation
	case outcomePaused:
		meta.RemoveStatusCondition(conds, v1alpha1.ConditionReconciling)
		meta.RemoveStatusCondition(conds, v1alpha1.ConditionStalled)
		*observedGeneration = generation
	case outcomeStalled:
		meta.RemoveStatusCondition(conds, v1alpha1.ConditionReconciling)
		meta.SetStatusCondition(conds, metav1.Condition{Type: v1alpha1.ConditionStalled, Status: metav1.ConditionTrue,
			Reason: o.reason, Message: o.message, ObservedGeneration: generation})
		*observedGeneration = generation
	default:
		meta.RemoveStatusCondition(conds, v1alpha1.ConditionStalled)
		meta.SetStatusCondition(conds, metav1.Condition{Type: v1alpha1.ConditionReconciling, Status: metav1.ConditionTrue,
			Reason: o.reason, Message: o.message, ObservedGeneration: generation})
	}
	meta.SetStatusCondition(conds, ready)
}
