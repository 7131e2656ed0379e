package controllers

import (
	"context"
	"testing"

	. "github.com/onsi/gomega"
	"github.com/twmb/franz-go/pkg/kfake"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/kafka"
)

// A MessageBroker whose credentials Secret is missing waits with SecretNotFound naming the
// Secret and the key, and becomes Ready once the Secret is complete; a topic through it is then
// created over SCRAM-SHA-512 (kfake with SASL).
func TestMessageBrokerSCRAMWaitsForSecret(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "junction", "s3cret"))
	g.Expect(err).NotTo(HaveOccurred())
	t.Cleanup(cluster.Close)
	ns := newNamespace(t)

	b := &v1alpha1.MessageBroker{
		ObjectMeta: metav1.ObjectMeta{Name: "secure", Namespace: ns},
		Spec: v1alpha1.MessageBrokerSpec{Kafka: v1alpha1.KafkaConnection{BootstrapServers: cluster.ListenAddrs(),
			SASL: &v1alpha1.KafkaSASL{Mechanism: v1alpha1.SASLSCRAMSHA512, SecretRef: v1alpha1.LocalObjectReference{Name: "kafka-user"}}}},
	}
	g.Expect(k8sClient.Create(ctx, b)).To(Succeed())
	waitBrokerReason(t, b, reasonSecretNotFound, `Secret `+ns+`/kafka-user (key "username") does not exist`)
	g.Expect(meta.IsStatusConditionTrue(b.Status.Conditions, v1alpha1.ConditionReconciling)).To(BeTrue())

	user := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "kafka-user", Namespace: ns},
		Data: map[string][]byte{"username": []byte("junction")}}
	g.Expect(k8sClient.Create(ctx, user)).To(Succeed())
	waitBrokerReason(t, b, reasonSecretNotFound, `Secret `+ns+`/kafka-user has no key "password"`)

	user.Data["password"] = []byte("s3cret")
	g.Expect(k8sClient.Update(ctx, user)).To(Succeed())
	g.Eventually(func(g Gomega) {
		c := readyCondition(g, b)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
	}, eventually, poll).Should(Succeed())
	g.Expect(b.Status.Brokers).To(Equal(int32(1)))
	g.Expect(b.Status.ClusterID).NotTo(BeEmpty())

	topic := newTopic(ns, "payments", "payments", 3)
	topic.Spec.BrokerRef.Name = "secure"
	g.Expect(k8sClient.Create(ctx, topic)).To(Succeed())
	g.Eventually(func(g Gomega) {
		c := readyCondition(g, topic)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
	}, eventually, poll).Should(Succeed())
	admin, err := kafka.NewAdmin(kafka.ClientConfig{BootstrapServers: cluster.ListenAddrs(),
		SASL: &kafka.SASL{Mechanism: kafka.SASLSCRAMSHA512, Username: "junction", Password: "s3cret"}})
	g.Expect(err).NotTo(HaveOccurred())
	defer admin.Close()
	state, err := admin.DescribeTopic(ctx, "payments")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(state.Partitions).To(Equal(int32(3)))
}

// TLS settings name their Secrets too: a missing CA key and a CA that is not PEM each say which
// Secret and key to fix.
func TestMessageBrokerTLSSecretProblems(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	b := &v1alpha1.MessageBroker{
		ObjectMeta: metav1.ObjectMeta{Name: "tls", Namespace: ns},
		Spec: v1alpha1.MessageBrokerSpec{Kafka: v1alpha1.KafkaConnection{BootstrapServers: kafkaAddrs,
			TLS: &v1alpha1.KafkaTLS{CASecretRef: &v1alpha1.SecretKeyReference{Name: "kafka-ca", Key: "ca.crt"}}}},
	}
	g.Expect(k8sClient.Create(ctx, b)).To(Succeed())
	waitBrokerReason(t, b, reasonSecretNotFound, `Secret `+ns+`/kafka-ca (key "ca.crt") does not exist`)

	ca := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "kafka-ca", Namespace: ns},
		Data: map[string][]byte{"ca.crt": []byte("not PEM")}}
	g.Expect(k8sClient.Create(ctx, ca)).To(Succeed())
	waitBrokerReason(t, b, reasonInvalidSecret, `Secret `+ns+`/kafka-ca (key ca.crt): invalid client configuration: TLS CA: no PEM-encoded certificate found`)
}

// waitBrokerReason waits until b is Ready=False with reason and a message containing msg.
func waitBrokerReason(t *testing.T, b *v1alpha1.MessageBroker, reason, msg string) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		c := readyCondition(g, b)
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(reason), c.Message)
		g.Expect(c.Message).To(ContainSubstring(msg))
	}, eventually, poll).Should(Succeed())
	t.Logf("%s: %s", reason, meta.FindStatusCondition(b.Status.Conditions, v1alpha1.ConditionReady).Message)
}
