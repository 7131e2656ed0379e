package controllers

import (
	"errors"
	"testing"

	. "github.com/onsi/gomega"

	"github.com/junction-dev/junction/internal/kafka"
)

func TestDiffTopic(t *testing.T) {
	desired := kafka.TopicSpec{Name: "orders", Partitions: 6, ReplicationFactor: 1, Config: map[string]string{"retention.ms": "1000"}}
	observed := func(partitions int32, config map[string]string) *kafka.TopicState {
		return &kafka.TopicState{Name: "orders", Partitions: partitions, ReplicationFactor: 1, Config: config, Brokers: []int32{1}}
	}
	tests := []struct {
		name     string
		observed *kafka.TopicState
		managed  []string
		want     topicPlan
		wantErr  string
	}{
		{name: "missing topic is created", observed: nil, want: topicPlan{Create: &desired}},
		{name: "in sync is idle", observed: observed(6, map[string]string{"retention.ms": "1000"}), managed: []string{"retention.ms"}},
		{name: "partitions grow", observed: observed(3, map[string]string{"retention.ms": "1000"}), want: topicPlan{Partitions: 6}},
		{name: "partitions never shrink", observed: observed(9, nil),
			wantErr: "partitions cannot decrease: topic orders has 9, spec asks for 6"},
		{name: "drifted value is set", observed: observed(6, map[string]string{"retention.ms": "5"}),
			want: topicPlan{SetConfig: map[string]string{"retention.ms": "1000"}}},
		{name: "inherited value is set as an override", observed: observed(6, map[string]string{}),
			want: topicPlan{SetConfig: map[string]string{"retention.ms": "1000"}}},
		{name: "formerly managed key is removed", observed: observed(6, map[string]string{"retention.ms": "1000", "cleanup.policy": "compact"}),
			managed: []string{"cleanup.policy", "retention.ms"}, want: topicPlan{RemoveConfig: []string{"cleanup.policy"}}},
		{name: "unmanaged override is left alone", observed: observed(6, map[string]string{"retention.ms": "1000", "segment.ms": "10"}),
			managed: []string{"retention.ms"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewWithT(t)
			plan, err := diffTopic(desired, tt.observed, tt.managed)
			if tt.wantErr != "" {
				g.Expect(err).To(MatchError(tt.wantErr))
				var pe *planError
				g.Expect(errors.As(err, &pe)).To(BeTrue())
				return
			}
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(plan).To(Equal(tt.want))
			g.Expect(plan.Empty()).To(Equal(tt.want.Empty()))
		})
	}
}

func TestDiffTopicReplicationFactor(t *testing.T) {
	g := NewWithT(t)
	observed := &kafka.TopicState{Name: "orders", Partitions: 3, ReplicationFactor: 1,
		Replicas: [][]int32{{1}, {2}, {3}}, Brokers: []int32{1, 2, 3}}

	plan, err := diffTopic(kafka.TopicSpec{Name: "orders", Partitions: 3, ReplicationFactor: 3}, observed, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(plan.Reassign).To(Equal([][]int32{{1, 2, 3}, {2, 1, 3}, {3, 1, 2}}))

	_, err = diffTopic(kafka.TopicSpec{Name: "orders", Partitions: 3, ReplicationFactor: 5}, observed, nil)
	g.Expect(err).To(MatchError("replicationFactor 5 exceeds the 3 broker(s) of the cluster; topic orders keeps replication factor 1"))
}

func TestReassignShrinksFromTheEndAndSpreadsLoad(t *testing.T) {
	g := NewWithT(t)
	g.Expect(reassign([][]int32{{1, 2, 3}, {2, 3, 1}}, 2, []int32{1, 2, 3})).To(Equal([][]int32{{1, 2}, {2, 3}}))
	g.Expect(reassign([][]int32{{1}, {1}, {1}}, 2, []int32{1, 2, 3})).To(Equal([][]int32{{1, 2}, {1, 3}, {1, 2}}))
}
