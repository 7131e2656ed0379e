package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/junction-dev/junction/api/v1alpha1"
)

func TestApplyOutcome(t *testing.T) {
	tests := []struct {
		name            string
		outcome         outcome
		wantReady       metav1.ConditionStatus
		wantReconciling bool
		wantStalled     bool
		wantObservedGen int64
	}{
		{name: "ready is final", outcome: outcome{kind: outcomeReady, reason: "Ready", message: "ok"},
			wantReady: metav1.ConditionTrue, wantObservedGen: 3},
		{name: "stalled is final", outcome: outcome{kind: outcomeStalled, reason: reasonPartitionDecrease, message: "no"},
			wantReady: metav1.ConditionFalse, wantStalled: true, wantObservedGen: 3},
		{name: "waiting is in progress", outcome: outcome{kind: outcomeWaiting, reason: "BrokerNotReady", message: "wait"},
			wantReady: metav1.ConditionFalse, wantReconciling: true, wantObservedGen: 1},
		{name: "failure is in progress", outcome: outcome{kind: outcomeFailed, reason: "KafkaError", message: "down"},
			wantReady: metav1.ConditionFalse, wantReconciling: true, wantObservedGen: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			// Start from the opposite state so stale conditions must be cleared.
			conds := []metav1.Condition{
				{Type: v1alpha1.ConditionReconciling, Status: metav1.ConditionTrue, Reason: "Old"},
				{Type: v1alpha1.ConditionStalled, Status: metav1.ConditionTrue, Reason: "Old"},
			}
			observed := int64(1)
			applyOutcome(&conds, &observed, 3, tt.outcome)

			ready := meta.FindStatusCondition(conds, v1alpha1.ConditionReady)
			g.Expect(ready).NotTo(BeNil())
			g.Expect(ready.Status).To(Equal(tt.wantReady))
			g.Expect(ready.Reason).To(Equal(tt.outcome.reason))
			g.Expect(ready.Message).To(Equal(tt.outcome.message))
			g.Expect(meta.IsStatusConditionTrue(conds, v1alpha1.ConditionReconciling)).To(Equal(tt.wantReconciling))
			g.Expect(meta.FindStatusCondition(conds, v1alpha1.ConditionReconciling) != nil).To(Equal(tt.wantReconciling))
			g.Expect(meta.FindStatusCondition(conds, v1alpha1.ConditionStalled) != nil).To(Equal(tt.wantStalled))
			g.Expect(observed).To(Equal(tt.wantObservedGen))
		})
	}
}
