package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/bridgeconfig"
)

// TestApiExposureReplyTopic: a route with replies gets a reply MessageTopic owned by the
// exposure (compacted, with a retention, on the request topic's broker and partitions), its
// Kafka name reaches the bridge config, the exposure is not Ready while the reply topic is
// not (here: another MessageTopic already manages that Kafka topic), Ready once it is, and
// turning replies off deletes the reply topic.
func TestApiExposureReplyTopic(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	createBroker(t, ns)
	g.Expect(k8sClient.Create(ctx, newTopic(ns, "orders", ns+".orders", 2))).To(Succeed())
	kafkaName := "junction.replies." + ns + ".orders-api.v1.orders"
	// An older MessageTopic managing the same Kafka topic keeps the reply topic from being Ready.
	squatter := newTopic(ns, "a-squatter", kafkaName, 1) // older, or first by name within the same second
	g.Expect(k8sClient.Create(ctx, squatter)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(readyCondition(g, squatter).Status).To(Equal(metav1.ConditionTrue))
	}, eventually, poll).Should(Succeed())

	exposure := newExposure(ns)
	maxBytes := int32(1024)
	exposure.Spec.Versions[0].Routes[0].Backend = &v1alpha1.Backend{URL: "http://payments.example.com:8080/payments",
		Replies: true, ReplyHeaders: []string{"ETag"}, MaxReplyBytes: &maxBytes, ReplyRetention: &metav1.Duration{Duration: 2 * time.Hour}}
	g.Expect(k8sClient.Create(ctx, exposure)).To(Succeed())

	reply := &v1alpha1.MessageTopic{}
	replyName := types.NamespacedName{Namespace: ns, Name: "orders-api-v1-orders-replies"}
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, replyName, reply)).To(Succeed())
	}, eventually, poll).Should(Succeed())
	g.Expect(metav1.IsControlledBy(reply, exposure)).To(BeTrue())
	g.Expect(reply.Spec.TopicName).To(Equal(kafkaName))
	g.Expect(reply.Spec.BrokerRef.Name).To(Equal("kafka"))
	g.Expect(reply.Spec.Partitions).To(Equal(int32(2)))
	g.Expect(reply.Spec.Config).To(Equal(map[string]v1alpha1.ConfigValue{
		"cleanup.policy": "compact,delete", "retention.ms": "7200000", "segment.ms": "3600000"}))

	name := types.NamespacedName{Namespace: ns, Name: "orders-api-bridge"}
	cm := &corev1.ConfigMap{}
	deploy := &appsv1.Deployment{}
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, name, cm)).To(Succeed())
		g.Expect(k8sClient.Get(ctx, name, deploy)).To(Succeed())
	}, eventually, poll).Should(Succeed())
	cfg, err := bridgeconfig.Parse([]byte(cm.Data[bridgeconfig.FileName]))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg.Versions[0].Routes[0].Backend.Replies).To(Equal(&bridgeconfig.Replies{Topic: kafkaName, Headers: []string{"ETag"}, MaxBytes: 1024}))
	markAvailable(g, deploy)

	g.Eventually(func(g Gomega) {
		c := readyCondition(g, exposure)
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal("ReplyTopicNotReady"))
		g.Expect(c.Message).To(ContainSubstring("orders-api-v1-orders-replies (ResourceConflict"))
	}, eventually, poll).Should(Succeed())

	// The squatter goes (its Kafka topic with it); the reply topic creates its own, compacted.
	g.Expect(k8sClient.Delete(ctx, squatter)).To(Succeed())
	g.Eventually(func(g Gomega) {
		c := readyCondition(g, exposure)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
	}, 2*eventually, poll).Should(Succeed())
	state, err := testAdmin(t).DescribeTopic(ctx, kafkaName)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(state.Config).To(HaveKeyWithValue("cleanup.policy", "compact,delete"))
	g.Expect(state.Config).To(HaveKeyWithValue("retention.ms", "7200000"))

	// Replies off: the reply topic is deleted.
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(exposure), exposure)).To(Succeed())
	exposure.Spec.Versions[0].Routes[0].Backend = &v1alpha1.Backend{URL: "http://payments.example.com:8080/payments"}
	g.Expect(k8sClient.Update(ctx, exposure)).To(Succeed())
	g.Eventually(func(g Gomega) {
		err := k8sClient.Get(ctx, replyName, reply)
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "reply topic still there: %v", err)
	}, 2*eventually, poll).Should(Succeed())
}

// TestBackendReplyFieldsNeedReplies: the reply settings are refused without replies: true.
func TestBackendReplyFieldsNeedReplies(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	exposure := newExposure(ns)
	exposure.Spec.Versions[0].Routes[0].Backend = &v1alpha1.Backend{URL: "http://p.svc/p", ReplyHeaders: []string{"ETag"}}
	err := k8sClient.Create(context.Background(), exposure)
	g.Expect(err).To(HaveOccurred())
	g.Expect(err.Error()).To(ContainSubstring("require replies: true"))
}

func TestReplyKafkaTopicIsBounded(t *testing.T) {
	long := make([]byte, 253)
	for i := range long {
		long[i] = 'a'
	}
	n := replyKafkaTopic("ns", string(long), "v1", "r")
	if len(n) > 249 {
		t.Errorf("reply topic name has %d characters", len(n))
	}
	if replyKafkaTopic("ns", string(long), "v1", "r") != n || replyKafkaTopic("ns", string(long), "v1", "s") == n {
		t.Errorf("reply topic names are not stable and distinct")
	}
	if m := replyTopicName(string(long[:60]), "v1", "orders"); len(m) > 63 {
		t.Errorf("reply MessageTopic name has %d characters", len(m))
	}
}
