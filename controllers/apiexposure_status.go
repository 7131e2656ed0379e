package controllers

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"

	"github.com/junction-dev/junction/api/v1alpha1"
)

// setExposureStatus writes the exposure's status: Ready only when every topic is Ready and the
// bridge Deployment is available.
func setExposureStatus(e *v1alpha1.ApiExposure, s *exposureScope, err error) {
	var o outcome
	switch {
	case s.outcome != nil:
		o = *s.outcome
	case err != nil:
		o = outcome{kind: outcomeFailed, reason: "ReconcileError", message: err.Error()}
	default:
		o = exposureReadiness(e, s)
	}
	if o.kind == outcomeReady || s.deployment != nil {
		name := bridgeName(e.Name)
		host := fmt.Sprintf("%s.%s.svc", name, e.Namespace)
		e.Status.Endpoints = &v1alpha1.Endpoints{
			REST: fmt.Sprintf("http://%s:%d", host, restPort(e)),
			GRPC: fmt.Sprintf("%s:%d", host, grpcPort(e)),
		}
		e.Status.ServedVersions = nil
		for _, v := range e.Spec.Versions {
			e.Status.ServedVersions = append(e.Status.ServedVersions, v.Name)
		}
	}
	if s.openAPI != "" {
		e.Status.OpenAPIConfigMap = s.openAPI
	}
	applyOutcome(&e.Status.Conditions, &e.Status.ObservedGeneration, e.Generation, o)
}

// exposureReadiness judges topics and the Deployment once the children are applied.
func exposureReadiness(e *v1alpha1.ApiExposure, s *exposureScope) outcome {
	var notReady []string
	for _, name := range referencedTopics(e) {
		if t := s.topics[name]; !meta.IsStatusConditionTrue(t.Status.Conditions, v1alpha1.ConditionReady) {
			notReady = append(notReady, name)
		}
	}
	if len(notReady) > 0 {
		return outcome{kind: outcomeWaiting, reason: "TopicNotReady",
			message: "waiting for MessageTopic(s) to be Ready: " + strings.Join(notReady, ", ")}
	}
	if o := replyTopicsReadiness(s); o != nil {
		return *o
	}
	if !deploymentAvailable(s.deployment) {
		return outcome{kind: outcomeWaiting, reason: "BridgeUnavailable",
			message: fmt.Sprintf("waiting for Deployment %s to be available", bridgeName(e.Name))}
	}
	return outcome{kind: outcomeReady, reason: "Serving",
		message: fmt.Sprintf("bridge serves %d version(s) on %d route(s)", len(e.Spec.Versions), countRoutes(e))}
}

// deploymentAvailable reports whether d has rolled out its current spec and is Available.
func deploymentAvailable(d *appsv1.Deployment) bool {
	if d == nil || d.Status.ObservedGeneration < d.Generation {
		return false
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	if d.Status.UpdatedReplicas < want || d.Status.AvailableReplicas < want {
		return false
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func countRoutes(e *v1alpha1.ApiExposure) int {
	n := 0
	for _, v := range e.Spec.Versions {
		n += len(v.Routes)
	}
	return n
}
