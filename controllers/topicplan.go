package controllers

import (
	"fmt"
	"slices"
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
	// Reassign, when set, is the new replica assignment per partition (replication factor change).
	Reassign [][]int32
}

// Empty reports whether the plan changes nothing.
func (p topicPlan) Empty() bool {
	return p.Create == nil && p.Partitions == 0 && len(p.SetConfig) == 0 && len(p.RemoveConfig) == 0 && p.Reassign == nil
}

// planError is a change Kafka cannot make; Reason becomes the Stalled condition's reason.
type planError struct {
	Reason  string
	Message string
}

func (e *planError) Error() string { return e.Message }

const (
	reasonPartitionDecrease   = "PartitionDecreaseNotSupported"
	reasonReplicationTooLarge = "ReplicationFactorTooLarge"
)

// diffTopic compares the desired topic with what Kafka reports. observed is nil when the topic
// does not exist. managed lists the config keys Junction set before (the keys of status.config):
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
		if int(desired.ReplicationFactor) > len(observed.Brokers) {
			return topicPlan{}, &planError{Reason: reasonReplicationTooLarge, Message: fmt.Sprintf(
				"replicationFactor %d exceeds the %d broker(s) of the cluster; topic %s keeps replication factor %d",
				desired.ReplicationFactor, len(observed.Brokers), observed.Name, observed.ReplicationFactor)}
		}
		plan.Reassign = reassign(observed.Replicas, int(desired.ReplicationFactor), observed.Brokers)
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

// reassign gives each partition want replicas: existing replicas stay in order (the preferred
// leader first), surplus ones are dropped from the end, and missing ones are taken from the
// brokers holding the fewest replicas so far, lowest id first.
func reassign(current [][]int32, want int, brokers []int32) [][]int32 {
	load := map[int32]int{}
	for _, replicas := range current {
		for _, b := range replicas {
			load[b]++
		}
	}
	out := make([][]int32, len(current))
	for p, replicas := range current {
		next := append([]int32(nil), replicas...)
		for len(next) > want {
			load[next[len(next)-1]]--
			next = next[:len(next)-1]
		}
		for len(next) < want {
			best := int32(-1)
			for _, b := range brokers {
				if slices.Contains(next, b) {
					continue
				}
				if best < 0 || load[b] < load[best] {
					best = b
				}
			}
			next = append(next, best)
			load[best]++
		}
		out[p] = next
	}
	return out
}
