package dev

import (
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestDeploymentStatus(t *testing.T) {
	t0 := metav1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	t1 := metav1.NewTime(t0.Add(time.Minute))
	dep := func(replicas *int32, conds ...appsv1.DeploymentCondition) *appsv1.Deployment {
		return &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "orders-api", Namespace: "shop", Generation: 3},
			Spec:       appsv1.DeploymentSpec{Replicas: replicas},
			Status:     appsv1.DeploymentStatus{Conditions: conds},
		}
	}
	cond := func(typ appsv1.DeploymentConditionType, status corev1.ConditionStatus, reason, msg string, at metav1.Time) appsv1.DeploymentCondition {
		return appsv1.DeploymentCondition{Type: typ, Status: status, Reason: reason, Message: msg, LastUpdateTime: at, LastTransitionTime: at}
	}
	availableTrue := func(at metav1.Time) appsv1.DeploymentCondition {
		return cond(appsv1.DeploymentAvailable, corev1.ConditionTrue, reasonMinimumReplicasAvailable, "Deployment has minimum availability.", at)
	}
	progressingDone := func(at metav1.Time) appsv1.DeploymentCondition {
		return cond(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonNewReplicaSetAvailable, "junction dev runs this bridge as a local process.", at)
	}
	progressingStarting := func(at metav1.Time) appsv1.DeploymentCondition {
		return cond(appsv1.DeploymentProgressing, corev1.ConditionTrue, reasonReplicaSetUpdated, "junction dev is starting this bridge as a local process.", at)
	}
	availableFalse := func(msg string, at metav1.Time) appsv1.DeploymentCondition {
		return cond(appsv1.DeploymentAvailable, corev1.ConditionFalse, reasonMinimumReplicasUnavailable, msg, at)
	}

	tests := []struct {
		name string
		dep  *appsv1.Deployment
		pod  podState
		want appsv1.DeploymentStatus
	}{{
		name: "ready process reports every desired replica available",
		dep:  dep(ptr.To[int32](2)),
		pod:  podState{Ready: true},
		want: appsv1.DeploymentStatus{
			ObservedGeneration: 3, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 2, AvailableReplicas: 2,
			Conditions: []appsv1.DeploymentCondition{availableTrue(t1), progressingDone(t1)},
		},
	}, {
		name: "replicas defaults to one",
		dep:  dep(nil),
		pod:  podState{Ready: true},
		want: appsv1.DeploymentStatus{
			ObservedGeneration: 3, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
			Conditions: []appsv1.DeploymentCondition{availableTrue(t1), progressingDone(t1)},
		},
	}, {
		name: "unchanged conditions keep their timestamps",
		dep:  dep(nil, availableTrue(t0), progressingDone(t0)),
		pod:  podState{Ready: true},
		want: appsv1.DeploymentStatus{
			ObservedGeneration: 3, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
			Conditions: []appsv1.DeploymentCondition{availableTrue(t0), progressingDone(t0)},
		},
	}, {
		name: "a dead process makes it unavailable with the cause",
		dep:  dep(nil, availableTrue(t0), progressingDone(t0)),
		pod:  podState{Message: "bridge exited: exit status 1; restarting in 1s"},
		want: appsv1.DeploymentStatus{
			ObservedGeneration: 3, Replicas: 1, UpdatedReplicas: 1, UnavailableReplicas: 1,
			Conditions: []appsv1.DeploymentCondition{
				availableFalse("bridge exited: exit status 1; restarting in 1s", t1),
				{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionTrue, Reason: reasonReplicaSetUpdated,
					Message: "junction dev is starting this bridge as a local process.", LastUpdateTime: t1, LastTransitionTime: t0},
			},
		},
	}, {
		name: "a new message on an unavailable deployment keeps the transition time",
		dep:  dep(nil, availableFalse("waiting", t0), progressingStarting(t0)),
		pod:  podState{Message: "bridge was not ready within 30s"},
		want: appsv1.DeploymentStatus{
			ObservedGeneration: 3, Replicas: 1, UpdatedReplicas: 1, UnavailableReplicas: 1,
			Conditions: []appsv1.DeploymentCondition{
				{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionFalse, Reason: reasonMinimumReplicasUnavailable,
					Message: "bridge was not ready within 30s", LastUpdateTime: t1, LastTransitionTime: t0},
				progressingStarting(t0),
			},
		},
	}, {
		name: "zero replicas is available with nothing running",
		dep:  dep(ptr.To[int32](0)),
		pod:  podState{},
		want: appsv1.DeploymentStatus{
			ObservedGeneration: 3,
			Conditions:         []appsv1.DeploymentCondition{availableTrue(t1), progressingDone(t1)},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.dep.DeepCopy()
			got := deploymentStatus(tt.dep, tt.pod, t1)
			if !equality.Semantic.DeepEqual(got, tt.want) {
				t.Errorf("deploymentStatus() =\n%+v\nwant\n%+v", got, tt.want)
			}
			if !equality.Semantic.DeepEqual(before, tt.dep) {
				t.Errorf("deploymentStatus modified its input")
			}
		})
	}
}

// An unchanged process state must produce an identical status, so the runner writes nothing.
func TestDeploymentStatusIsIdempotent(t *testing.T) {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: 1}}
	for _, pod := range []podState{{Ready: true}, {Message: "bridge exited"}} {
		d.Status = deploymentStatus(d, pod, metav1.NewTime(time.Unix(100, 0)))
		again := deploymentStatus(d, pod, metav1.NewTime(time.Unix(200, 0)))
		if !equality.Semantic.DeepEqual(again, d.Status) {
			t.Errorf("pod %+v: second status differs:\n%+v\n%+v", pod, again, d.Status)
		}
	}
}

func TestTemplateRevisionFollowsTheChecksum(t *testing.T) {
	d := &appsv1.Deployment{}
	d.Spec.Template.Annotations = map[string]string{"messaging.junction.dev/config-checksum": "a"}
	a := templateRevision(d)
	d.Spec.Replicas = ptr.To[int32](3)
	if templateRevision(d) != a {
		t.Errorf("scaling changed the revision")
	}
	d.Spec.Template.Annotations["messaging.junction.dev/config-checksum"] = "b"
	if templateRevision(d) == a {
		t.Errorf("a new config checksum did not change the revision")
	}
}
