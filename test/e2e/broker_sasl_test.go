//go:build e2e

package e2e

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/kafka"
	"github.com/junction-dev/junction/test/e2e/kafkaharness"
)

// Behaviour 11 (SASL): a MessageBroker that knows only a SASL_PLAINTEXT SCRAM-SHA-512 listener
// and takes its credentials from a Secret becomes Ready with the cluster's id, brokers and
// controller, and a MessageTopic through it is created in Kafka. A wrong password gives
// Ready=False, reason AuthenticationFailed, naming the Secret and carrying Kafka's reason;
// correcting the Secret recovers without touching the MessageBroker.
func TestTopic11SCRAMConnection(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	password := randomPassword(t)
	cluster := kafkaharness.StartWithOptions(t, kafkaharness.Options{
		Brokers:        1,
		ExtraListeners: []kafkaharness.Listener{{Name: "SCRAM", SecurityProtocol: "SASL_PLAINTEXT"}},
		ServerProperties: map[string]string{
			"listener.name.scram.sasl.enabled.mechanisms":        "SCRAM-SHA-512",
			"listener.name.scram.scram-sha-512.sasl.jaas.config": "org.apache.kafka.common.security.scram.ScramLoginModule required;",
		},
		// The credential is in the metadata log from the start: no admin call needed to create it.
		FormatArgs: []string{"--add-scram", "SCRAM-SHA-512=[name=junction,password=" + password + "]"},
	})
	scramAddrs := cluster.Listeners["SCRAM"]
	e := startOperator(t, cluster, 5*time.Second)

	// The listener really demands SCRAM: a client without credentials gets nowhere.
	if admin, err := kafka.NewAdmin(kafka.ClientConfig{BootstrapServers: scramAddrs, Timeout: 3 * time.Second}); err == nil {
		_, err = admin.DescribeCluster(ctx)
		_ = admin.Close()
		g.Expect(err).To(HaveOccurred(), "the SCRAM listener answered a client without credentials")
	}

	g.Expect(e.client.Create(ctx, userSecret(e.namespace, "junction-kafka-user", "junction", password))).To(Succeed())
	broker := scramBroker(e.namespace, "scram", scramAddrs, "junction-kafka-user")
	g.Expect(e.client.Create(ctx, broker)).To(Succeed())
	e.waitReady(t, broker, converge)
	g.Expect(broker.Status.ClusterID).To(Equal(cluster.ClusterID))
	g.Expect(broker.Status.Brokers).To(Equal(int32(1)))
	g.Expect(broker.Status.Controller).NotTo(BeNil())
	g.Expect(*broker.Status.Controller).To(Equal(int32(1)))

	topic := &v1alpha1.MessageTopic{
		ObjectMeta: metav1.ObjectMeta{Name: "sasl-orders", Namespace: e.namespace},
		Spec: v1alpha1.MessageTopicSpec{BrokerRef: v1alpha1.LocalObjectReference{Name: "scram"},
			Partitions: 3, ReplicationFactor: 1, Config: map[string]v1alpha1.ConfigValue{"retention.ms": "3600000"}},
	}
	g.Expect(e.client.Create(ctx, topic)).To(Succeed())
	e.waitReady(t, topic, converge)
	state, err := e.admin.DescribeTopic(ctx, "sasl-orders")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(state.Partitions).To(Equal(int32(3)))
	g.Expect(state.Config).To(HaveKeyWithValue("retention.ms", "3600000"))
	g.Expect(topic.Status.TopicID).To(Equal(state.ID))

	// A wrong password: Ready=False with a message that says what to fix.
	g.Expect(e.client.Create(ctx, userSecret(e.namespace, "wrong-user", "junction", "not-"+password))).To(Succeed())
	wrong := scramBroker(e.namespace, "scram-wrong", scramAddrs, "wrong-user")
	g.Expect(e.client.Create(ctx, wrong)).To(Succeed())
	g.Eventually(func(g Gomega) {
		c := e.ready(g, wrong)
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal("AuthenticationFailed"), c.Message)
		g.Expect(c.Message).To(ContainSubstring("refused the SCRAM-SHA-512 credentials from Secret " + e.namespace + "/wrong-user"))
		g.Expect(c.Message).To(ContainSubstring("SASL"))
	}, converge, 200*time.Millisecond).Should(Succeed())
	t.Logf("wrong password: %s", e.readyMessage(wrong))

	// Correcting the Secret is enough.
	secret := &corev1.Secret{}
	g.Expect(e.client.Get(ctx, client.ObjectKey{Namespace: e.namespace, Name: "wrong-user"}, secret)).To(Succeed())
	secret.Data["password"] = []byte(password)
	g.Expect(e.client.Update(ctx, secret)).To(Succeed())
	e.waitReady(t, wrong, converge)
}

func scramBroker(ns, name string, addrs []string, secret string) *v1alpha1.MessageBroker {
	return &v1alpha1.MessageBroker{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.MessageBrokerSpec{Kafka: v1alpha1.KafkaConnection{BootstrapServers: addrs, ClientID: "junction",
			SASL: &v1alpha1.KafkaSASL{Mechanism: v1alpha1.SASLSCRAMSHA512, SecretRef: v1alpha1.LocalObjectReference{Name: secret}}}},
	}
}

func userSecret(ns, name, user, password string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Data: map[string][]byte{"username": []byte(user), "password": []byte(password)}}
}

func randomPassword(t *testing.T) string {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// readyMessage returns the message of obj's Ready condition as last read.
func (e *operatorEnv) readyMessage(b *v1alpha1.MessageBroker) string {
	for _, c := range b.Status.Conditions {
		if c.Type == v1alpha1.ConditionReady {
			return c.Reason + ": " + c.Message
		}
	}
	return ""
}
