package controllers

import (
	"fmt"

	"github.com/junction-dev/junction/api/v1alpha1"
)

// setTopicStatus writes the topic's status from what the reconcile observed; err is the
// reconcile's transient error, if any.
func setTopicStatus(t *v1alpha1.MessageTopic, s *topicScope, err error) {
	if s.observed != nil {
		t.Status.TopicName = s.observed.Name
		t.Status.TopicID = s.observed.ID
		t.Status.Partitions = s.observed.Partitions
		t.Status.ReplicationFactor = s.observed.ReplicationFactor
	}
	var o outcome
	switch {
	case s.outcome != nil:
		o = *s.outcome
	case err != nil:
		o = outcome{kind: outcomeFailed, reason: "KafkaError", message: err.Error()}
	case s.observed == nil:
		o = outcome{kind: outcomeFailed, reason: "TopicNotFound", message: "topic " + t.KafkaTopicName() + " is not in Kafka yet"}
	default:
		t.Status.ManagedConfig = managedConfigKeys(t.Spec.Config)
		o = outcome{kind: outcomeReady, reason: "TopicReady", message: fmt.Sprintf(
			"topic %s has %d partitions, replication factor %d", s.observed.Name, s.observed.Partitions, s.observed.ReplicationFactor)}
	}
	applyOutcome(&t.Status.Conditions, &t.Status.ObservedGeneration, t.Generation, o)
}
