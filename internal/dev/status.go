package dev

import (
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// podState is what the runner knows about the one local process behind a Deployment.
type podState struct {
	// Ready is true while the bridge process runs and answers /readyz.
	Ready bool
	// Message says why it is not ready ("waiting for ConfigMap ...", "bridge exited: ...").
	Message string
}

// Reasons the deployment controller itself uses, so tools that know Deployments read them right.
const (
	reasonMinimumReplicasAvailable   = "MinimumReplicasAvailable"
	reasonMinimumReplicasUnavailable = "MinimumReplicasUnavailable"
	reasonNewReplicaSetAvailable     = "NewReplicaSetAvailable"
	reasonReplicaSetUpdated          = "ReplicaSetUpdated"
)

// desiredReplicas is spec.replicas with the API default of 1.
func desiredReplicas(dep *appsv1.Deployment) int32 {
	if dep.Spec.Replicas == nil {
		return 1
	}
	return *dep.Spec.Replicas
}

// deploymentStatus returns the status the deployment controller and the kubelet would report
// for dep, given the state of its local process. The sandbox runs one process per Deployment
// and, when it is ready, reports all spec.replicas as ready. Conditions keep their timestamps
// when nothing about them changed, so an unchanged state yields an identical status and the
// runner writes nothing.
func deploymentStatus(dep *appsv1.Deployment, pod podState, now metav1.Time) appsv1.DeploymentStatus {
	want := desiredReplicas(dep)
	st := appsv1.DeploymentStatus{
		ObservedGeneration: dep.Generation,
		Replicas:           want,
		UpdatedReplicas:    want,
		Conditions:         append([]appsv1.DeploymentCondition(nil), dep.Status.Conditions...),
	}
	available := want == 0 || pod.Ready
	if available {
		st.ReadyReplicas = want
		st.AvailableReplicas = want
		st.Conditions = setDeploymentCondition(st.Conditions, appsv1.DeploymentCondition{
			Type:    appsv1.DeploymentAvailable,
			Status:  corev1.ConditionTrue,
			Reason:  reasonMinimumReplicasAvailable,
			Message: "Deployment has minimum availability.",
		}, now)
		st.Conditions = setDeploymentCondition(st.Conditions, appsv1.DeploymentCondition{
			Type:    appsv1.DeploymentProgressing,
			Status:  corev1.ConditionTrue,
			Reason:  reasonNewReplicaSetAvailable,
			Message: "junction dev runs this bridge as a local process.",
		}, now)
		return st
	}
	st.UnavailableReplicas = want
	msg := "Deployment does not have minimum availability."
	if pod.Message != "" {
		msg = pod.Message
	}
	st.Conditions = setDeploymentCondition(st.Conditions, appsv1.DeploymentCondition{
		Type:    appsv1.DeploymentAvailable,
		Status:  corev1.ConditionFalse,
		Reason:  reasonMinimumReplicasUnavailable,
		Message: msg,
	}, now)
	st.Conditions = setDeploymentCondition(st.Conditions, appsv1.DeploymentCondition{
		Type:    appsv1.DeploymentProgressing,
		Status:  corev1.ConditionTrue,
		Reason:  reasonReplicaSetUpdated,
		Message: "junction dev is starting this bridge as a local process.",
	}, now)
	return st
}

// setDeploymentCondition sets c in conds, keeping the timestamps of an identical condition and
// the transition time of one whose status did not change.
func setDeploymentCondition(conds []appsv1.DeploymentCondition, c appsv1.DeploymentCondition, now metav1.Time) []appsv1.DeploymentCondition {
	for i := range conds {
		if conds[i].Type != c.Type {
			continue
		}
		old := conds[i]
		if old.Status == c.Status && old.Reason == c.Reason && old.Message == c.Message {
			return conds
		}
		c.LastUpdateTime = now
		c.LastTransitionTime = now
		if old.Status == c.Status {
			c.LastTransitionTime = old.LastTransitionTime
		}
		conds[i] = c
		return conds
	}
	c.LastUpdateTime = now
	c.LastTransitionTime = now
	return append(conds, c)
}
