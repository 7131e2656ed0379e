package controllers

import (
	"context"
	"errors"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/kafka"
)

const (
	eventually = 30 * time.Second
	poll       = 100 * time.Millisecond
)

func createBroker(t *testing.T, ns string) *v1alpha1.MessageBroker {
	t.Helper()
	b := &v1alpha1.MessageBroker{
		ObjectMeta: metav1.ObjectMeta{Name: "kafka", Namespace: ns},
		Spec:       v1alpha1.MessageBrokerSpec{Kafka: v1alpha1.KafkaConnection{BootstrapServers: kafkaAddrs, ClientID: "junction-test"}},
	}
	NewWithT(t).Expect(k8sClient.Create(context.Background(), b)).To(Succeed())
	return b
}

func newTopic(ns, name, kafkaName string, partitions int32) *v1alpha1.MessageTopic {
	return &v1alpha1.MessageTopic{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.MessageTopicSpec{
			BrokerRef: v1alpha1.LocalObjectReference{Name: "kafka"}, TopicName: kafkaName,
			Partitions: partitions, ReplicationFactor: 1,
		},
	}
}

// readyCondition reads obj afresh and returns its Ready condition, failing g while there is none.
func readyCondition(g Gomega, obj client.Object) *metav1.Condition {
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)).To(Succeed())
	c := meta.FindStatusCondition(statusOf(obj).conditions, v1alpha1.ConditionReady)
	g.Expect(c).NotTo(BeNil(), "no Ready condition yet")
	return c
}

func TestMessageBrokerReportsCluster(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	b := createBroker(t, ns)
	g.Eventually(func(g Gomega) {
		c := readyCondition(g, b)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
	}, eventually, poll).Should(Succeed())
	g.Expect(b.Status.Brokers).To(Equal(int32(1)))
	g.Expect(b.Status.ClusterID).NotTo(BeEmpty())
	g.Expect(b.Status.ObservedGeneration).To(Equal(b.Generation))
}

func TestMessageBrokerUnreachable(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	b := &v1alpha1.MessageBroker{
		ObjectMeta: metav1.ObjectMeta{Name: "nowhere", Namespace: ns},
		Spec:       v1alpha1.MessageBrokerSpec{Kafka: v1alpha1.KafkaConnection{BootstrapServers: []string{"127.0.0.1:1"}}},
	}
	g.Expect(k8sClient.Create(context.Background(), b)).To(Succeed())
	g.Eventually(func(g Gomega) {
		c := readyCondition(g, b)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal("KafkaUnavailable"))
		g.Expect(c.Message).To(ContainSubstring("127.0.0.1:1"))
		g.Expect(meta.IsStatusConditionTrue(b.Status.Conditions, v1alpha1.ConditionReconciling)).To(BeTrue())
	}, eventually, poll).Should(Succeed())
}

func TestMessageTopicLifecycle(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	admin := testAdmin(t)
	createBroker(t, ns)
	topic := newTopic(ns, "orders", ns+".orders", 2)
	topic.Spec.Config = map[string]v1alpha1.ConfigValue{"retention.ms": "3600000", "cleanup.policy": "delete"}
	g.Expect(k8sClient.Create(ctx, topic)).To(Succeed())

	// Created in Kafka with the listed config, Ready with what Kafka reports.
	g.Eventually(func(g Gomega) {
		c := readyCondition(g, topic)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
	}, eventually, poll).Should(Succeed())
	state, err := admin.DescribeTopic(ctx, ns+".orders")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(state.Partitions).To(Equal(int32(2)))
	g.Expect(state.Config).To(HaveKeyWithValue("retention.ms", "3600000"))
	g.Expect(topic.Status.Partitions).To(Equal(int32(2)))
	g.Expect(topic.Status.TopicName).To(Equal(ns + ".orders"))
	g.Expect(topic.Status.Config).To(Equal(map[string]string{"cleanup.policy": "delete", "retention.ms": "3600000"}))
	g.Expect(topic.Finalizers).To(ContainElement(v1alpha1.Finalizer))

	// Grow partitions, change one key and drop another from the spec.
	patch := client.MergeFrom(topic.DeepCopy())
	topic.Spec.Partitions = 5
	topic.Spec.Config = map[string]v1alpha1.ConfigValue{"retention.ms": "7200000"}
	g.Expect(k8sClient.Patch(ctx, topic, patch)).To(Succeed())
	g.Eventually(func(g Gomega) {
		state, err := admin.DescribeTopic(ctx, ns+".orders")
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(state.Partitions).To(Equal(int32(5)))
		g.Expect(state.Config).To(HaveKeyWithValue("retention.ms", "7200000"))
		g.Expect(state.Config).NotTo(HaveKey("cleanup.policy"))
		c := readyCondition(g, topic)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue))
		g.Expect(topic.Status.ObservedGeneration).To(Equal(topic.Generation))
		g.Expect(topic.Status.Partitions).To(Equal(int32(5)))
	}, eventually, poll).Should(Succeed())

	// Delete removes the topic from Kafka, then the object.
	g.Expect(k8sClient.Delete(ctx, topic)).To(Succeed())
	g.Eventually(func(g Gomega) {
		_, err := admin.DescribeTopic(ctx, ns+".orders")
		g.Expect(errors.Is(err, kafka.ErrTopicNotFound)).To(BeTrue(), "describe: %v", err)
		err = k8sClient.Get(ctx, client.ObjectKeyFromObject(topic), &v1alpha1.MessageTopic{})
		g.Expect(client.IgnoreNotFound(err)).To(Succeed())
		g.Expect(err).To(HaveOccurred())
	}, eventually, poll).Should(Succeed())
}

func TestMessageTopicRetainKeepsKafkaTopic(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	admin := testAdmin(t)
	createBroker(t, ns)
	topic := newTopic(ns, "kept", ns+".kept", 1)
	topic.Spec.DeletionPolicy = v1alpha1.DeletionPolicyRetain
	g.Expect(k8sClient.Create(ctx, topic)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(readyCondition(g, topic).Status).To(Equal(metav1.ConditionTrue))
	}, eventually, poll).Should(Succeed())
	g.Expect(k8sClient.Delete(ctx, topic)).To(Succeed())
	g.Eventually(func() bool {
		err := k8sClient.Get(ctx, client.ObjectKeyFromObject(topic), &v1alpha1.MessageTopic{})
		return client.IgnoreNotFound(err) == nil && err != nil
	}, eventually, poll).Should(BeTrue())
	_, err := admin.DescribeTopic(ctx, ns+".kept")
	g.Expect(err).NotTo(HaveOccurred())
}

func TestMessageTopicPartitionDecreaseStalls(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	admin := testAdmin(t)
	createBroker(t, ns)
	// The topic exists in Kafka with more partitions than the spec asks for (CEL only guards
	// updates of the object, not an object created against an existing topic).
	g.Expect(admin.CreateTopic(ctx, kafka.TopicSpec{Name: ns + ".big", Partitions: 6, ReplicationFactor: 1})).To(Succeed())
	topic := newTopic(ns, "big", ns+".big", 3)
	g.Expect(k8sClient.Create(ctx, topic)).To(Succeed())
	g.Eventually(func(g Gomega) {
		c := readyCondition(g, topic)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(reasonPartitionDecrease))
		stalled := meta.FindStatusCondition(topic.Status.Conditions, v1alpha1.ConditionStalled)
		g.Expect(stalled).NotTo(BeNil())
		g.Expect(stalled.Message).To(Equal("partitions cannot decrease: topic " + ns + ".big has 6, spec asks for 3"))
	}, eventually, poll).Should(Succeed())
	state, err := admin.DescribeTopic(ctx, ns+".big")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(state.Partitions).To(Equal(int32(6)))
}

func TestMessageTopicPartitionDecreaseRefusedAtAdmission(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	topic := newTopic(ns, "shrink", "", 4)
	g.Expect(k8sClient.Create(ctx, topic)).To(Succeed())
	patch := client.MergeFrom(topic.DeepCopy())
	topic.Spec.Partitions = 2
	err := k8sClient.Patch(ctx, topic, patch)
	g.Expect(err).To(MatchError(ContainSubstring("partitions cannot decrease")))
}

func TestMessageTopicWaitsForBroker(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	topic := newTopic(ns, "early", ns+".early", 1)
	g.Expect(k8sClient.Create(context.Background(), topic)).To(Succeed())
	g.Eventually(func(g Gomega) {
		c := readyCondition(g, topic)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal("BrokerNotFound"))
	}, eventually, poll).Should(Succeed())
	// The broker appearing wakes the topic through the watch, without waiting for a resync.
	createBroker(t, ns)
	g.Eventually(func(g Gomega) {
		g.Expect(readyCondition(g, topic).Status).To(Equal(metav1.ConditionTrue))
	}, 20*time.Second, poll).Should(Succeed())
}

func TestMessageTopicIdleReconcileWritesNothing(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	createBroker(t, ns)
	topic := newTopic(ns, "idle", ns+".idle", 1)
	topic.Spec.Config = map[string]v1alpha1.ConfigValue{"retention.ms": "86400000"}
	g.Expect(k8sClient.Create(ctx, topic)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(readyCondition(g, topic).Status).To(Equal(metav1.ConditionTrue))
	}, eventually, poll).Should(Succeed())

	// An annotation change triggers a reconcile that finds nothing to do: the object's
	// resourceVersion must stay where the annotation left it (no status write).
	patch := client.MergeFrom(topic.DeepCopy())
	topic.Annotations = map[string]string{"poke": "1"}
	g.Expect(apiClient.Patch(ctx, topic, patch)).To(Succeed())
	rv := topic.ResourceVersion
	g.Consistently(func(g Gomega) {
		g.Expect(apiClient.Get(ctx, client.ObjectKeyFromObject(topic), topic)).To(Succeed())
		g.Expect(topic.ResourceVersion).To(Equal(rv))
	}, 2*time.Second, 200*time.Millisecond).Should(Succeed())
}

func TestMessageTopicUnquotedConfigRefusedAtAdmission(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	topic := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "messaging.junction.dev/v1alpha1", "kind": "MessageTopic",
		"metadata": map[string]any{"name": "unquoted", "namespace": ns},
		"spec": map[string]any{"brokerRef": map[string]any{"name": "kafka"}, "partitions": int64(1), "replicationFactor": int64(1),
			"config": map[string]any{"retention.ms": int64(604800000)}},
	}}
	err := apiClient.Create(context.Background(), topic)
	g.Expect(err).To(MatchError(ContainSubstring(`config values must be strings: quote numbers and booleans in YAML, e.g. retention.ms: "604800000"`)))
}

func TestMessageTopicPausedMakesNoKafkaChanges(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	admin := testAdmin(t)
	createBroker(t, ns)
	topic := newTopic(ns, "paused", ns+".paused", 1)
	topic.Annotations = map[string]string{v1alpha1.ReconcileAnnotation: v1alpha1.ReconcilePaused}
	g.Expect(k8sClient.Create(ctx, topic)).To(Succeed())
	g.Eventually(func(g Gomega) {
		c := readyCondition(g, topic)
		g.Expect(c.Reason).To(Equal("ReconcilePaused"))
		g.Expect(c.Message).To(ContainSubstring("paused"))
		g.Expect(meta.FindStatusCondition(topic.Status.Conditions, v1alpha1.ConditionReconciling)).To(BeNil())
	}, eventually, poll).Should(Succeed())
	_, err := admin.DescribeTopic(ctx, ns+".paused")
	g.Expect(errors.Is(err, kafka.ErrTopicNotFound)).To(BeTrue(), "a paused topic must not be created: %v", err)

	// Unpausing creates it.
	patch := client.MergeFrom(topic.DeepCopy())
	delete(topic.Annotations, v1alpha1.ReconcileAnnotation)
	g.Expect(k8sClient.Patch(ctx, topic, patch)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(readyCondition(g, topic).Status).To(Equal(metav1.ConditionTrue))
	}, eventually, poll).Should(Succeed())
}

func TestMessageTopicOneOwnerPerKafkaTopic(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	admin := testAdmin(t)
	createBroker(t, ns)
	first := newTopic(ns, "first", ns+".shared", 2)
	g.Expect(k8sClient.Create(ctx, first)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(readyCondition(g, first).Status).To(Equal(metav1.ConditionTrue))
	}, eventually, poll).Should(Succeed())
	// creationTimestamp has one-second resolution: make sure the second is strictly younger.
	time.Sleep(1100 * time.Millisecond)
	second := newTopic(ns, "second", ns+".shared", 4)
	g.Expect(k8sClient.Create(ctx, second)).To(Succeed())
	g.Eventually(func(g Gomega) {
		c := readyCondition(g, second)
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal("ResourceConflict"))
		g.Expect(c.Message).To(ContainSubstring(`managed by MessageTopic "first"`))
	}, eventually, poll).Should(Succeed())

	// Deleting the non-owner leaves the topic, with the owner's partitions, in Kafka.
	g.Expect(k8sClient.Delete(ctx, second)).To(Succeed())
	g.Eventually(func() bool {
		err := k8sClient.Get(ctx, client.ObjectKeyFromObject(second), &v1alpha1.MessageTopic{})
		return client.IgnoreNotFound(err) == nil && err != nil
	}, eventually, poll).Should(BeTrue())
	state, err := admin.DescribeTopic(ctx, ns+".shared")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(state.Partitions).To(Equal(int32(2)))
}

func TestMessageTopicDeletionBlockedUntilReleased(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	admin := testAdmin(t)
	broker := createBroker(t, ns)
	topic := newTopic(ns, "orphan", ns+".orphan", 1)
	g.Expect(k8sClient.Create(ctx, topic)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(readyCondition(g, topic).Status).To(Equal(metav1.ConditionTrue))
	}, eventually, poll).Should(Succeed())

	g.Expect(k8sClient.Delete(ctx, broker)).To(Succeed())
	g.Expect(k8sClient.Delete(ctx, topic)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(apiClient.Get(ctx, client.ObjectKeyFromObject(topic), topic)).To(Succeed())
		c := meta.FindStatusCondition(topic.Status.Conditions, conditionDeletionBlocked)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal("BrokerNotFound"))
		g.Expect(c.Message).To(ContainSubstring(v1alpha1.ReleaseAnnotation + "=true"))
	}, eventually, poll).Should(Succeed())

	patch := client.MergeFrom(topic.DeepCopy())
	topic.Annotations = map[string]string{v1alpha1.ReleaseAnnotation: "true"}
	g.Expect(apiClient.Patch(ctx, topic, patch)).To(Succeed())
	g.Eventually(func() bool {
		err := apiClient.Get(ctx, client.ObjectKeyFromObject(topic), &v1alpha1.MessageTopic{})
		return client.IgnoreNotFound(err) == nil && err != nil
	}, eventually, poll).Should(BeTrue())
	_, err := admin.DescribeTopic(ctx, ns+".orphan")
	g.Expect(err).NotTo(HaveOccurred(), "a released topic stays in Kafka")
}

func TestRevertedDrift(t *testing.T) {
	g := NewWithT(t)
	g.Expect(revertedDrift(map[string]string{"retention.ms": "5"}, map[string]string{"retention.ms": "1000", "segment.ms": "1"},
		[]string{"retention.ms"})).To(Equal(`retention.ms "5" -> "1000"`))
	g.Expect(revertedDrift(map[string]string{}, map[string]string{"retention.ms": "1000"}, []string{"retention.ms"})).
		To(Equal(`retention.ms (removed) -> "1000"`))
	g.Expect(revertedDrift(nil, map[string]string{"retention.ms": "1000"}, nil)).To(BeEmpty())
}
