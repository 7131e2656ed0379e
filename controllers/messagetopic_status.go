package controllers

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/junction-dev/junction/internal/kafka"

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
	if s.schemaChecked {
		t.Status.Schema = s.schemaStatus
	}
	var o outcome
	switch {
	case s.outcome != nil:
		o = *s.outcome
	case errors.Is(err, kafka.ErrUnavailable):
		o = outcome{kind: outcomeFailed, reason: reasonKafkaUnavailable, message: err.Error()}
	case err != nil:
		o = outcome{kind: outcomeFailed, reason: "KafkaError", message: err.Error()}
	case s.observed == nil:
		o = outcome{kind: outcomeFailed, reason: "TopicNotFound", message: "topic " + t.KafkaTopicName() + " is not in Kafka yet"}
	default:
		t.Status.Config = reportedConfig(t.Spec.Config, s.observed.Config)
		o = outcome{kind: outcomeReady, reason: "TopicReady", message: fmt.Sprintf(
			"topic %s has %d partitions, replication factor %d", s.observed.Name, s.observed.Partitions, s.observed.ReplicationFactor)}
	}
	if s.schemaProblem != nil && o.kind == outcomeReady {
		// The topic itself is fine; the refused schema is what the user must fix.
		o = *s.schemaProblem
	}
	applyOutcome(&t.Status.Conditions, &t.Status.ObservedGeneration, t.Generation, o)
}

// setDeletionStatus reports why a MessageTopic being deleted cannot finish, or clears that.
func setDeletionStatus(t *v1alpha1.MessageTopic, s *topicScope) {
	if s.blocked == nil {
		meta.RemoveStatusCondition(&t.Status.Conditions, conditionDeletionBlocked)
		return
	}
	meta.SetStatusCondition(&t.Status.Conditions, metav1.Condition{Type: conditionDeletionBlocked, Status: metav1.ConditionTrue,
		Reason: s.blocked.reason, Message: s.blocked.message, ObservedGeneration: t.Generation})
}

// reportedConfig is the value Kafka reports for each key in spec.config.
func reportedConfig(spec map[string]v1alpha1.ConfigValue, observed map[string]string) map[string]string {
	if len(spec) == 0 {
		return nil
	}
	out := make(map[string]string, len(spec))
	for k := range spec {
		out[k] = observed[k]
	}
	return out
}
