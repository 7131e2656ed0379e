//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/IBM/sarama"
	. "github.com/onsi/gomega"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/kafka"
	"github.com/junction-dev/junction/test/e2e/kafkaharness"
)

const converge = 60 * time.Second

// Behaviour 1: only listed keys are managed; out-of-band changes to them are reverted on resync
// with an event; unmanaged overrides and broker defaults are left alone; a key removed from the
// spec returns to the broker default.
func TestTopic1ConfigOwnershipAndDriftRevert(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	e := startOperator(t, kafkaharness.Start(t, 1), 3*time.Second)
	topic := e.topic("drift", 1, 1, map[string]v1alpha1.ConfigValue{"retention.ms": "3600000", "cleanup.policy": "delete"})
	g.Expect(e.client.Create(ctx, topic)).To(Succeed())
	e.waitReady(t, topic, converge)

	// Someone changes a managed key and sets an unmanaged one, incrementally.
	g.Expect(e.admin.AlterTopicConfig(ctx, "drift", map[string]string{"retention.ms": "5000", "segment.ms": "600000"}, nil)).To(Succeed())
	g.Eventually(func(g Gomega) {
		state, err := e.admin.DescribeTopic(ctx, "drift")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(state.Config).To(HaveKeyWithValue("retention.ms", "3600000"))
		g.Expect(state.Config).To(HaveKeyWithValue("segment.ms", "600000"), "an unmanaged key is never touched")
		g.Expect(e.events(g, topic, "DriftReverted")).To(ContainElement(ContainSubstring(`retention.ms "5000" -> "3600000"`)))
	}, converge, 500*time.Millisecond).Should(Succeed())

	// Removing a key from the spec returns it to the broker default (no topic-level override).
	g.Expect(e.client.Get(ctx, client.ObjectKeyFromObject(topic), topic)).To(Succeed())
	patch := client.MergeFrom(topic.DeepCopy())
	topic.Spec.Config = map[string]v1alpha1.ConfigValue{"retention.ms": "3600000"}
	g.Expect(e.client.Patch(ctx, topic, patch)).To(Succeed())
	g.Eventually(func(g Gomega) {
		state, err := e.admin.DescribeTopic(ctx, "drift")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(state.Config).NotTo(HaveKey("cleanup.policy"))
		g.Expect(state.Config).To(HaveKeyWithValue("segment.ms", "600000"))
	}, converge, 500*time.Millisecond).Should(Succeed())
	e.waitReady(t, topic, converge)
	g.Expect(topic.Status.Config).To(Equal(map[string]string{"retention.ms": "3600000"}), "the managed config as Kafka reports it")
}

// Behaviour 2: a value Kafka rejects stalls the topic naming the key and the broker's reason,
// changes nothing else, and fixing the spec recovers.
func TestTopic2BadConfigValueStallsAndRecovers(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	e := startOperator(t, kafkaharness.Start(t, 1), time.Minute)
	topic := e.topic("badvalue", 2, 1, map[string]v1alpha1.ConfigValue{"retention.ms": "3600000"})
	g.Expect(e.client.Create(ctx, topic)).To(Succeed())
	e.waitReady(t, topic, converge)

	patch := client.MergeFrom(topic.DeepCopy())
	topic.Spec.Partitions = 2
	topic.Spec.Config = map[string]v1alpha1.ConfigValue{"retention.ms": "1d"}
	g.Expect(e.client.Patch(ctx, topic, patch)).To(Succeed())
	g.Eventually(func(g Gomega) {
		c := e.ready(g, topic)
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal("InvalidConfig"))
		g.Expect(c.Message).To(ContainSubstring(`retention.ms="1d"`))
		g.Expect(meta.IsStatusConditionTrue(topic.Status.Conditions, v1alpha1.ConditionStalled)).To(BeTrue())
	}, converge, 200*time.Millisecond).Should(Succeed())
	t.Logf("message: %s", meta.FindStatusCondition(topic.Status.Conditions, v1alpha1.ConditionReady).Message)
	state, err := e.admin.DescribeTopic(ctx, "badvalue")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(state.Config).To(HaveKeyWithValue("retention.ms", "3600000"))
	g.Expect(state.Partitions).To(Equal(int32(2)))

	patch = client.MergeFrom(topic.DeepCopy())
	topic.Spec.Config = map[string]v1alpha1.ConfigValue{"retention.ms": "86400000"}
	g.Expect(e.client.Patch(ctx, topic, patch)).To(Succeed())
	e.waitReady(t, topic, converge)
	g.Expect(meta.FindStatusCondition(topic.Status.Conditions, v1alpha1.ConditionStalled)).To(BeNil())
	state, err = e.admin.DescribeTopic(ctx, "badvalue")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(state.Config).To(HaveKeyWithValue("retention.ms", "86400000"))

	// Unquoted numbers are refused at admission with a message saying to quote them.
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "messaging.junction.dev/v1alpha1", "kind": "MessageTopic",
		"metadata": map[string]any{"name": "unquoted", "namespace": e.namespace},
		"spec": map[string]any{"brokerRef": map[string]any{"name": "kafka"}, "partitions": int64(1), "replicationFactor": int64(1),
			"config": map[string]any{"retention.ms": int64(604800000)}},
	}}
	g.Expect(e.client.Create(ctx, u)).To(MatchError(ContainSubstring("quote numbers")))
}

// Behaviour 3: partitions only grow. A decrease is refused at admission, and at reconcile for a
// topic that already has more: Stalled with both numbers, stable over resyncs, data kept.
func TestTopic3PartitionsOnlyGrow(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	cluster := kafkaharness.Start(t, 1)
	e := startOperator(t, cluster, 2*time.Second)

	// Admission refuses a decrease of the object.
	grow := e.topic("grow", 2, 1, nil)
	g.Expect(e.client.Create(ctx, grow)).To(Succeed())
	e.waitReady(t, grow, converge)
	patch := client.MergeFrom(grow.DeepCopy())
	grow.Spec.Partitions = 1
	g.Expect(e.client.Patch(ctx, grow, patch)).To(MatchError(ContainSubstring("partitions cannot decrease")))
	g.Expect(e.client.Get(ctx, client.ObjectKeyFromObject(grow), grow)).To(Succeed())
	patch = client.MergeFrom(grow.DeepCopy())
	grow.Spec.Partitions = 4
	g.Expect(e.client.Patch(ctx, grow, patch)).To(Succeed())
	e.waitReady(t, grow, converge)
	g.Expect(grow.Status.Partitions).To(Equal(int32(4)))

	// A pre-existing topic with more partitions than the spec: stalled, never shrunk or recreated.
	g.Expect(e.admin.CreateTopic(ctx, kafka.TopicSpec{Name: "wide", Partitions: 6, ReplicationFactor: 1})).To(Succeed())
	produceOne(t, cluster, "wide")
	before, err := e.admin.DescribeTopic(ctx, "wide")
	g.Expect(err).NotTo(HaveOccurred())
	wide := e.topic("wide", 3, 1, nil)
	g.Expect(e.client.Create(ctx, wide)).To(Succeed())
	var first metav1.Condition
	g.Eventually(func(g Gomega) {
		c := e.ready(g, wide)
		g.Expect(c.Reason).To(Equal("PartitionDecreaseNotSupported"))
		g.Expect(c.Message).To(Equal("partitions cannot decrease: topic wide has 6, spec asks for 3"))
		first = *meta.FindStatusCondition(wide.Status.Conditions, v1alpha1.ConditionStalled)
	}, converge, 200*time.Millisecond).Should(Succeed())
	// Stable across several resyncs (2s each): same message, same transition time.
	g.Consistently(func(g Gomega) {
		g.Expect(e.client.Get(ctx, client.ObjectKeyFromObject(wide), wide)).To(Succeed())
		stalled := meta.FindStatusCondition(wide.Status.Conditions, v1alpha1.ConditionStalled)
		g.Expect(stalled).NotTo(BeNil())
		g.Expect(stalled.Message).To(Equal(first.Message))
		g.Expect(stalled.LastTransitionTime).To(Equal(first.LastTransitionTime))
	}, 7*time.Second, time.Second).Should(Succeed())
	after, err := e.admin.DescribeTopic(ctx, "wide")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(after.Partitions).To(Equal(int32(6)))
	g.Expect(after.ID).To(Equal(before.ID), "the topic was never recreated")
	g.Expect(endOffsetSum(t, cluster, "wide")).To(Equal(int64(1)), "the record is still there")
}

// Behaviour 5: two MessageTopics naming one Kafka topic: the older owns it, the other reports
// ResourceConflict naming the owner, and deleting the other never touches the topic.
func TestTopic5OneOwnerPerKafkaTopic(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	cluster := kafkaharness.Start(t, 1)
	e := startOperator(t, cluster, time.Minute)
	owner := e.topic("owner", 2, 1, nil)
	owner.Spec.TopicName = "shared"
	g.Expect(e.client.Create(ctx, owner)).To(Succeed())
	e.waitReady(t, owner, converge)
	produceOne(t, cluster, "shared")

	time.Sleep(1100 * time.Millisecond) // creationTimestamp has one-second resolution
	other := e.topic("other", 2, 1, nil)
	other.Spec.TopicName = "shared"
	g.Expect(e.client.Create(ctx, other)).To(Succeed())
	g.Eventually(func(g Gomega) {
		c := e.ready(g, other)
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal("ResourceConflict"))
		g.Expect(c.Message).To(ContainSubstring(`MessageTopic "owner"`))
	}, converge, 200*time.Millisecond).Should(Succeed())

	g.Expect(e.client.Delete(ctx, other)).To(Succeed())
	g.Eventually(func() bool {
		err := e.client.Get(ctx, client.ObjectKeyFromObject(other), other)
		return err != nil && client.IgnoreNotFound(err) == nil
	}, converge, 200*time.Millisecond).Should(BeTrue())
	g.Expect(endOffsetSum(t, cluster, "shared")).To(Equal(int64(1)))
	e.waitReady(t, owner, converge)
}

// Behaviour 7: deleting a MessageTopic and creating one with the same name converges to a new,
// empty topic (Kafka deletes asynchronously).
func TestTopic7DeleteAndRecreateGivesEmptyTopic(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	cluster := kafkaharness.Start(t, 1)
	e := startOperator(t, cluster, 5*time.Second)
	topic := e.topic("recycle", 1, 1, nil)
	g.Expect(e.client.Create(ctx, topic.DeepCopy())).To(Succeed())
	e.waitReady(t, topic, converge)
	oldID := topic.Status.TopicID
	produceOne(t, cluster, "recycle")

	g.Expect(e.client.Delete(ctx, topic)).To(Succeed())
	g.Eventually(func() bool {
		err := e.client.Get(ctx, client.ObjectKeyFromObject(topic), &v1alpha1.MessageTopic{})
		return err != nil && client.IgnoreNotFound(err) == nil
	}, converge, 200*time.Millisecond).Should(BeTrue())

	again := e.topic("recycle", 1, 1, nil)
	g.Expect(e.client.Create(ctx, again)).To(Succeed())
	g.Eventually(func(g Gomega) {
		e.waitReady(t, again, converge)
		g.Expect(again.Status.TopicID).NotTo(Equal(oldID))
	}, converge, time.Second).Should(Succeed())
	g.Expect(endOffsetSum(t, cluster, "recycle")).To(Equal(int64(0)))
}

// Behaviour 8: the pause annotation stops all writes to Kafka, and status says so.
func TestTopic8PauseStopsKafkaWrites(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	e := startOperator(t, kafkaharness.Start(t, 1), 2*time.Second)
	topic := e.topic("pausable", 1, 1, map[string]v1alpha1.ConfigValue{"retention.ms": "3600000"})
	g.Expect(e.client.Create(ctx, topic)).To(Succeed())
	e.waitReady(t, topic, converge)

	patch := client.MergeFrom(topic.DeepCopy())
	topic.Annotations = map[string]string{v1alpha1.ReconcileAnnotation: v1alpha1.ReconcilePaused}
	topic.Spec.Partitions = 3
	g.Expect(e.client.Patch(ctx, topic, patch)).To(Succeed())
	g.Eventually(func(g Gomega) {
		c := e.ready(g, topic)
		g.Expect(c.Reason).To(Equal("ReconcilePaused"))
	}, converge, 200*time.Millisecond).Should(Succeed())
	g.Expect(e.admin.AlterTopicConfig(ctx, "pausable", map[string]string{"retention.ms": "5000"}, nil)).To(Succeed())
	g.Consistently(func(g Gomega) {
		state, err := e.admin.DescribeTopic(ctx, "pausable")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(state.Partitions).To(Equal(int32(1)))
		g.Expect(state.Config).To(HaveKeyWithValue("retention.ms", "5000"))
	}, 5*time.Second, time.Second).Should(Succeed())

	patch = client.MergeFrom(topic.DeepCopy())
	delete(topic.Annotations, v1alpha1.ReconcileAnnotation)
	g.Expect(e.client.Patch(ctx, topic, patch)).To(Succeed())
	e.waitReady(t, topic, converge)
	g.Expect(topic.Status.Partitions).To(Equal(int32(3)))
}

// Behaviour 9: with Kafka down the operator stays up, topics report KafkaUnavailable, and
// they converge when the broker returns.
func TestTopic9KafkaOutage(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	cluster := kafkaharness.Start(t, 1)
	e := startOperator(t, cluster, 2*time.Second)
	broker := &v1alpha1.MessageBroker{}
	g.Expect(e.client.Get(ctx, client.ObjectKey{Namespace: e.namespace, Name: "kafka"}, broker)).To(Succeed())
	e.waitReady(t, broker, converge)

	id := cluster.Brokers()[0].ID
	g.Expect(cluster.StopBroker(id)).To(Succeed())
	topic := e.topic("during-outage", 1, 1, nil)
	g.Expect(e.client.Create(ctx, topic)).To(Succeed())
	g.Eventually(func(g Gomega) {
		c := e.ready(g, topic)
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal("KafkaUnavailable"))
	}, 2*converge, 500*time.Millisecond).Should(Succeed())

	g.Expect(cluster.StartBroker(id)).To(Succeed())
	e.waitReady(t, topic, 2*converge)
	// The test's own admin reconnects on its next request after the restart.
	g.Eventually(func() error {
		_, err := e.admin.DescribeTopic(ctx, "during-outage")
		return err
	}, converge, time.Second).Should(Succeed())
}

// Behaviour 12: status a GitOps tool reads: kstatus computes Current for a Ready topic.
func TestTopic12StatusIsCurrentUnderKstatus(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	e := startOperator(t, kafkaharness.Start(t, 1), time.Minute)
	topic := e.topic("gitops", 2, 1, map[string]v1alpha1.ConfigValue{"retention.ms": "3600000"})
	g.Expect(e.client.Create(ctx, topic)).To(Succeed())
	e.waitReady(t, topic, converge)
	g.Expect(topic.Status.TopicName).To(Equal("gitops"))
	g.Expect(topic.Status.TopicID).NotTo(BeEmpty())
	g.Expect(topic.Status.Partitions).To(Equal(int32(2)))
	g.Expect(topic.Status.ReplicationFactor).To(Equal(int32(1)))

	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(topic)
	g.Expect(err).NotTo(HaveOccurred())
	res, err := status.Compute(&unstructured.Unstructured{Object: obj})
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(res.Status).To(Equal(status.CurrentStatus), res.Message)

	// A stalled topic computes to Failed, so a GitOps tool stops waiting and reports it.
	bad := e.topic("gitops-bad", 1, 1, map[string]v1alpha1.ConfigValue{"retention.ms": "soon"})
	g.Expect(e.client.Create(ctx, bad)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(e.client.Get(ctx, client.ObjectKeyFromObject(bad), bad)).To(Succeed())
		obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(bad)
		g.Expect(err).NotTo(HaveOccurred())
		res, err := status.Compute(&unstructured.Unstructured{Object: obj})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(res.Status).To(Equal(status.FailedStatus), res.Message)
	}, converge, 200*time.Millisecond).Should(Succeed())
}

// produceOne writes one record to topic with an idempotent acks=all producer.
func produceOne(t *testing.T, cluster *kafkaharness.Cluster, topic string) {
	t.Helper()
	cfg := kafkaharness.SaramaConfig()
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Net.MaxOpenRequests = 1
	p, err := sarama.NewSyncProducer(cluster.BootstrapServers, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("kept")}); err != nil {
		t.Fatalf("produce to %s: %v", topic, err)
	}
}

// endOffsetSum is the number of records ever written to topic (sum of partition end offsets).
func endOffsetSum(t *testing.T, cluster *kafkaharness.Cluster, topic string) int64 {
	t.Helper()
	c, err := sarama.NewClient(cluster.BootstrapServers, kafkaharness.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	parts, err := c.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	var sum int64
	for _, p := range parts {
		off, err := c.GetOffset(topic, p, sarama.OffsetNewest)
		if err != nil {
			t.Fatal(err)
		}
		sum += off
	}
	return sum
}

// Behaviour 4: a replication factor change is carried out by partition reassignment on three
// brokers (Reconciling while replicas move, Ready when done); a factor above the broker count
// is refused with a clear message and not retried.
func TestTopic4ReplicationFactorByReassignment(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	cluster := kafkaharness.Start(t, 3)
	e := startOperator(t, cluster, 5*time.Second)
	topic := e.topic("replicated", 3, 1, nil)
	g.Expect(e.client.Create(ctx, topic)).To(Succeed())
	e.waitReady(t, topic, converge)
	produceOne(t, cluster, "replicated")

	patch := client.MergeFrom(topic.DeepCopy())
	topic.Spec.ReplicationFactor = 3
	g.Expect(e.client.Patch(ctx, topic, patch)).To(Succeed())
	e.waitReady(t, topic, 2*converge)
	g.Expect(topic.Status.ReplicationFactor).To(Equal(int32(3)))
	state, err := e.admin.DescribeTopic(ctx, "replicated")
	g.Expect(err).NotTo(HaveOccurred())
	for p, replicas := range state.Replicas {
		g.Expect(replicas).To(ConsistOf(int32(1), int32(2), int32(3)), "partition %d", p)
	}
	g.Expect(e.events(g, topic, "ReplicasReassigned")).NotTo(BeEmpty())
	g.Expect(endOffsetSum(t, cluster, "replicated")).To(Equal(int64(1)))

	patch = client.MergeFrom(topic.DeepCopy())
	topic.Spec.ReplicationFactor = 2
	g.Expect(e.client.Patch(ctx, topic, patch)).To(Succeed())
	e.waitReady(t, topic, 2*converge)
	state, err = e.admin.DescribeTopic(ctx, "replicated")
	g.Expect(err).NotTo(HaveOccurred())
	for p, replicas := range state.Replicas {
		g.Expect(replicas).To(HaveLen(2), "partition %d", p)
	}

	patch = client.MergeFrom(topic.DeepCopy())
	topic.Spec.ReplicationFactor = 5
	g.Expect(e.client.Patch(ctx, topic, patch)).To(Succeed())
	g.Eventually(func(g Gomega) {
		c := e.ready(g, topic)
		g.Expect(c.Reason).To(Equal("ReplicationFactorTooLarge"))
		g.Expect(c.Message).To(Equal("replicationFactor 5 exceeds the 3 broker(s) of the cluster; topic replicated keeps replication factor 2"))
		g.Expect(meta.IsStatusConditionTrue(topic.Status.Conditions, v1alpha1.ConditionStalled)).To(BeTrue())
	}, converge, 200*time.Millisecond).Should(Succeed())
}

// Behaviour 10: with topics converged, resyncs write nothing to Kafka or the API server, and read
// the broker's state in a constant number of batched requests, not one round per topic.
func TestTopic10IdleResyncIsIdle(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	const topics, period = 100, 3 * time.Second
	e := startOperator(t, kafkaharness.Start(t, 1), period)
	for i := range topics {
		topic := e.topic(fmt.Sprintf("idle-%03d", i), 1, 1, map[string]v1alpha1.ConfigValue{"retention.ms": "3600000"})
		g.Expect(e.client.Create(ctx, topic)).To(Succeed())
	}
	g.Eventually(func(g Gomega) {
		var list v1alpha1.MessageTopicList
		g.Expect(e.client.List(ctx, &list, client.InNamespace(e.namespace))).To(Succeed())
		g.Expect(list.Items).To(HaveLen(topics))
		for _, t := range list.Items {
			c := meta.FindStatusCondition(t.Status.Conditions, v1alpha1.ConditionReady)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Status).To(Equal(metav1.ConditionTrue), "%s: %s", t.Name, c.Message)
		}
	}, 3*converge, time.Second).Should(Succeed())
	time.Sleep(period) // let the reconciles that Ready itself triggered settle

	versions := func() map[string]string {
		var list v1alpha1.MessageTopicList
		g.Expect(e.client.List(ctx, &list, client.InNamespace(e.namespace))).To(Succeed())
		rv := map[string]string{}
		for _, t := range list.Items {
			rv[t.Name] = t.ResourceVersion
		}
		return rv
	}
	before, reads, writes := versions(), adminRequests("metadata", "describe_configs"), adminRequests(kafka.WriteAPIs()...)
	const periods = 3
	time.Sleep(periods * period)
	after, readsAfter, writesAfter := versions(), adminRequests("metadata", "describe_configs"), adminRequests(kafka.WriteAPIs()...)

	g.Expect(after).To(Equal(before), "no API-server writes while idle")
	g.Expect(writesAfter-writes).To(BeZero(), "no Kafka writes while idle")
	// Each resync reads each broker's topics in one batch (metadata + DescribeConfigs), plus the
	// broker's own health check; one per topic would be at least 100 per period.
	perPeriod := (readsAfter - reads) / periods
	t.Logf("%d topics idle over %d resync periods: %.0f Kafka reads (%.1f per period), 0 writes", topics, periods, readsAfter-reads, perPeriod)
	g.Expect(readsAfter-reads).To(BeNumerically(">", 0), "resyncs did run")
	g.Expect(perPeriod).To(BeNumerically("<=", 6))
}

// adminRequests sums the operator's Kafka admin request counter over apis.
func adminRequests(apis ...string) float64 {
	var sum float64
	for _, api := range apis {
		sum += testutil.ToFloat64(kafka.AdminRequests.WithLabelValues(api))
	}
	return sum
}

// Behaviour 6: a topic that already exists in Kafka is adopted when a MessageTopic names it:
// its data, id and unmanaged overrides are kept, listed keys become managed.
func TestTopic6ExistingTopicIsAdopted(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	cluster := kafkaharness.Start(t, 1)
	e := startOperator(t, cluster, 5*time.Second)
	g.Expect(e.admin.CreateTopic(ctx, kafka.TopicSpec{Name: "legacy", Partitions: 4, ReplicationFactor: 1,
		Config: map[string]string{"segment.ms": "600000"}})).To(Succeed())
	produceOne(t, cluster, "legacy")
	before, err := e.admin.DescribeTopic(ctx, "legacy")
	g.Expect(err).NotTo(HaveOccurred())

	topic := e.topic("legacy", 4, 1, map[string]v1alpha1.ConfigValue{"retention.ms": "3600000"})
	g.Expect(e.client.Create(ctx, topic)).To(Succeed())
	e.waitReady(t, topic, converge)
	after, err := e.admin.DescribeTopic(ctx, "legacy")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(after.ID).To(Equal(before.ID))
	g.Expect(after.Partitions).To(Equal(int32(4)))
	g.Expect(after.Config).To(HaveKeyWithValue("retention.ms", "3600000"))
	g.Expect(after.Config).To(HaveKeyWithValue("segment.ms", "600000"))
	g.Expect(endOffsetSum(t, cluster, "legacy")).To(Equal(int64(1)))
	g.Expect(topic.Status.TopicID).To(Equal(before.ID))
}

// Behaviour 7: deletion neither hangs silently nor hot-loops when Kafka is unreachable or the
// MessageBroker is gone: DeletionBlocked says why; Kafka's return completes it; the release
// annotation and a terminating namespace let the object go without touching Kafka.
func TestTopic7DeletionBlockedAndReleased(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	cluster := kafkaharness.Start(t, 1)
	e := startOperator(t, cluster, 5*time.Second)
	gone := func(obj client.Object) func() bool {
		return func() bool {
			err := e.client.Get(ctx, client.ObjectKeyFromObject(obj), obj)
			return err != nil && client.IgnoreNotFound(err) == nil
		}
	}
	blocked := func(g Gomega, topic *v1alpha1.MessageTopic, reason string) {
		g.Expect(e.client.Get(ctx, client.ObjectKeyFromObject(topic), topic)).To(Succeed())
		c := meta.FindStatusCondition(topic.Status.Conditions, "DeletionBlocked")
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal(reason))
		g.Expect(c.Message).To(ContainSubstring(v1alpha1.ReleaseAnnotation + "=true"))
	}

	// Kafka unreachable: blocked, then completed when Kafka returns.
	unreachable := e.topic("unreachable", 1, 1, nil)
	g.Expect(e.client.Create(ctx, unreachable)).To(Succeed())
	e.waitReady(t, unreachable, converge)
	id := cluster.Brokers()[0].ID
	g.Expect(cluster.StopBroker(id)).To(Succeed())
	g.Expect(e.client.Delete(ctx, unreachable)).To(Succeed())
	g.Eventually(func(g Gomega) { blocked(g, unreachable, "KafkaUnavailable") }, 2*converge, time.Second).Should(Succeed())
	g.Expect(cluster.StartBroker(id)).To(Succeed())
	g.Eventually(gone(unreachable), 3*converge, time.Second).Should(BeTrue())
	g.Eventually(func() error {
		_, err := e.admin.DescribeTopic(ctx, "unreachable")
		return err
	}, converge, time.Second).Should(MatchError(kafka.ErrTopicNotFound))

	// MessageBroker gone: blocked until released by annotation; the topic stays in Kafka.
	orphan := e.topic("orphan", 1, 1, nil)
	g.Expect(e.client.Create(ctx, orphan)).To(Succeed())
	e.waitReady(t, orphan, converge)
	broker := &v1alpha1.MessageBroker{}
	g.Expect(e.client.Get(ctx, client.ObjectKey{Namespace: e.namespace, Name: "kafka"}, broker)).To(Succeed())
	g.Expect(e.client.Delete(ctx, broker)).To(Succeed())
	g.Expect(e.client.Delete(ctx, orphan)).To(Succeed())
	g.Eventually(func(g Gomega) { blocked(g, orphan, "BrokerNotFound") }, converge, time.Second).Should(Succeed())
	patch := client.MergeFrom(orphan.DeepCopy())
	orphan.Annotations = map[string]string{v1alpha1.ReleaseAnnotation: "true"}
	g.Expect(e.client.Patch(ctx, orphan, patch)).To(Succeed())
	g.Eventually(gone(orphan), converge, time.Second).Should(BeTrue())
	_, err := e.admin.DescribeTopic(ctx, "orphan")
	g.Expect(err).NotTo(HaveOccurred(), "a released topic stays in Kafka")

	// A namespace being deleted with its broker always finishes: its topics are released.
	last := e.topic("last", 1, 1, nil)
	g.Expect(e.client.Create(ctx, last)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(e.client.Get(ctx, client.ObjectKeyFromObject(last), last)).To(Succeed())
		g.Expect(last.Finalizers).To(ContainElement(v1alpha1.Finalizer))
	}, converge, 200*time.Millisecond).Should(Succeed())
	ns := &corev1.Namespace{}
	g.Expect(e.client.Get(ctx, client.ObjectKey{Name: e.namespace}, ns)).To(Succeed())
	g.Expect(e.client.Delete(ctx, ns)).To(Succeed())
	// envtest runs no namespace controller: delete the object as it would.
	g.Expect(e.client.Delete(ctx, last)).To(Succeed())
	g.Eventually(gone(last), converge, time.Second).Should(BeTrue())
}
