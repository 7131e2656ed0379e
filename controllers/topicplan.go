package controllers

import (
	"fmt"
	"sort"

	"github.com/junction-dev/junction/internal/kafka"
)

// topicPlan is what must change in Kafka to bring a topic to its spec. A zero plan means idle.
type topicPlan struct {
	// Create is set when the topic does not exist.
	Create *kafka.TopicSpec
	// Partitions is the new total when the topic must grow; 0 means no change.
	Partitions int32
	// SetConfig and RemoveConfig are incremental config changes.
	SetConfig    map[string]string
	RemoveConfig []string
}

// Empty reports whether the plan changes nothing.
func (p topicPlan) Empty() bool {
	return p.Create == nil && p.Partitions == 0 && len(p.SetConfig) == 0 && len(p.RemoveConfig) == 0
}

// planError is a change Kafka cannot make; Reason becomes the Stalled condition's reason.
type planError struct {
	Reason  string
	Message string
}

func (e *planError) Error() string { return e.Message }

const (
	reasonPartitionDecrease = "PartitionDecreaseNotSupported"
	reasonReplicationChange = "ReplicationFactorChangeNotSupported"
)

// diffTopic compares the desired topic with what Kafka reports. observed is nil when the topic
// does not exist. managed lists the config keys Junction set before (status.managedConfig):
// a key that left spec.config is removed only if Junction managed it, so keys set by others
// are never touched.
func diffTopic(desired kafka.TopicSpec, observed *kafka.TopicState, managed []string) (topicPlan, error) {
	if observed == nil {
		spec := desired
		return topicPlan{Create: &spec}, nil
	}
	var plan topicPlan
	switch {
	case desired.Partitions < observed.Partitions:
		return topicPlan{}, &planError{Reason: reasonPartitionDecrease, Message: fmt.Sprintf(
			"partitions cannot decrease: topic %s has %d, spec asks for %d", observed.Name, observed.Partitions, desired.Partitions)}
	case desired.Partitions > observed.Partitions:
		plan.Partitions = desired.Partitions
	}
	if observed.ReplicationFactor != 0 && desired.ReplicationFactor != observed.ReplicationFactor {
		return topicPlan{}, &planError{Reason: reasonReplicationChange, Message: fmt.Sprintf(
			"replicationFactor cannot change yet: topic %s has %d, spec asks for %d", observed.Name, observed.ReplicationFactor, desired.ReplicationFactor)}
	}
	for k, v := range desired.Config {
		if cur, ok := observed.Config[k]; !ok || cur != v {
			if plan.SetConfig == nil {
				plan.SetConfig = map[string]string{}
			}
			plan.SetConfig[k] = v
		}
	}
	for _, k := range managed {
		if _, wanted := desired.Config[k]; wanted {
			continue
		}
		if _, set := observed.Config[k]; set {
			plan.RemoveConfig = append(plan.RemoveConfig, k)
		}
	}
	sort.Strings(plan.RemoveConfig)
	return plan, nil
}
