package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/junction-dev/junction/api/v1alpha1"
)

// statusView is the part of a Junction object's status that patchStatus compares.
type statusView struct {
	value      any
	conditions []metav1.Condition
}

func statusOf(obj client.Object) statusView {
	switch o := obj.(type) {
	case *v1alpha1.MessageBroker:
		return statusView{o.Status, o.Status.Conditions}
	case *v1alpha1.MessageTopic:
		return statusView{o.Status, o.Status.Conditions}
	case *v1alpha1.ApiExposure:
		return statusView{o.Status, o.Status.Conditions}
	}
	panic("statusOf: not a Junction kind")
}

// patchStatus writes obj's status when it differs from before, and emits an event when Ready
// changes. A reconcile that changed nothing writes nothing.
func patchStatus(ctx context.Context, c client.Client, rec events.EventRecorder, before, obj client.Object) error {
	oldStatus, newStatus := statusOf(before), statusOf(obj)
	if equality.Semantic.DeepEqual(oldStatus.value, newStatus.value) {
		return nil
	}
	if err := c.Status().Patch(ctx, obj, client.MergeFrom(before)); err != nil {
		return client.IgnoreNotFound(err)
	}
	oldReady := meta.FindStatusCondition(oldStatus.conditions, v1alpha1.ConditionReady)
	newReady := meta.FindStatusCondition(newStatus.conditions, v1alpha1.ConditionReady)
	if newReady != nil && (oldReady == nil || oldReady.Status != newReady.Status || oldReady.Reason != newReady.Reason) {
		eventType := corev1.EventTypeNormal
		if newReady.Status != metav1.ConditionTrue {
			eventType = corev1.EventTypeWarning
		}
		rec.Eventf(obj, nil, eventType, newReady.Reason, "Reconcile", "%s", newReady.Message)
	}
	return nil
}
