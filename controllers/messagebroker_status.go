package controllers

import (
	"fmt"

	"github.com/junction-dev/junction/api/v1alpha1"
)

// setBrokerStatus writes the broker's status from what the reconcile observed.
func setBrokerStatus(b *v1alpha1.MessageBroker, s *brokerScope) {
	if s.err != nil {
		applyOutcome(&b.Status.Conditions, &b.Status.ObservedGeneration, b.Generation, outcome{
			kind: outcomeWaiting, reason: reasonKafkaUnavailable,
			message: fmt.Sprintf("cannot reach Kafka at %v: %v", b.Spec.Kafka.BootstrapServers, s.err)})
		return
	}
	b.Status.ClusterID = s.info.ClusterID
	b.Status.Brokers = s.info.Brokers
	controller := s.info.Controller
	b.Status.Controller = &controller
	applyOutcome(&b.Status.Conditions, &b.Status.ObservedGeneration, b.Generation, outcome{
		kind: outcomeReady, reason: "Connected",
		message: fmt.Sprintf("cluster %s answers with %d broker(s)", s.info.ClusterID, s.info.Brokers)})
}
