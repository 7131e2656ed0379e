package controllers

import (
	"testing"

	. "github.com/onsi/gomega"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/bridgeconfig"
)

// TestBridgeKafkaSecurityIsMountedNotCopied: the bridge config names files; the Deployment
// mounts the MessageBroker's Secrets there; no credential is in the rendered config.
func TestBridgeKafkaSecurityIsMountedNotCopied(t *testing.T) {
	g := NewWithT(t)
	broker := &v1alpha1.MessageBroker{Spec: v1alpha1.MessageBrokerSpec{Kafka: v1alpha1.KafkaConnection{
		BootstrapServers: []string{"kafka:9093"},
		TLS: &v1alpha1.KafkaTLS{CASecretRef: &v1alpha1.SecretKeyReference{Name: "kafka-ca", Key: "ca.pem"},
			ClientCertSecretRef: &v1alpha1.LocalObjectReference{Name: "client-tls"}},
		SASL: &v1alpha1.KafkaSASL{Mechanism: v1alpha1.SASLSCRAMSHA512, SecretRef: v1alpha1.LocalObjectReference{Name: "kafka-user"}},
	}}}
	k := renderKafka(broker)
	g.Expect(k.TLS).To(Equal(&bridgeconfig.KafkaTLS{CAFile: "/etc/junction/kafka/ca/ca.crt",
		CertFile: "/etc/junction/kafka/client/tls.crt", KeyFile: "/etc/junction/kafka/client/tls.key"}))
	g.Expect(k.SASL).To(Equal(&bridgeconfig.KafkaSASL{Mechanism: "SCRAM-SHA-512",
		UsernameFile: "/etc/junction/kafka/sasl/username", PasswordFile: "/etc/junction/kafka/sasl/password"}))

	e := newExposure("ns")
	e.ObjectMeta = metav1.ObjectMeta{Name: "orders-api", Namespace: "ns", UID: "u"}
	d, err := bridgeDeployment(e, broker, "img", "sum")
	g.Expect(err).NotTo(HaveOccurred())
	pod := d.Spec.Template.Spec
	secrets := map[string]string{}
	for _, v := range pod.Volumes {
		if v.Secret != nil {
			secrets[*v.Name] = *v.Secret.SecretName
		}
	}
	g.Expect(secrets).To(Equal(map[string]string{"kafka-ca": "kafka-ca", "kafka-client-cert": "client-tls", "kafka-sasl": "kafka-user"}))
	mounts := map[string]string{}
	for _, m := range pod.Containers[0].VolumeMounts {
		mounts[*m.Name] = *m.MountPath
	}
	g.Expect(mounts).To(HaveKeyWithValue("kafka-ca", "/etc/junction/kafka/ca"))
	g.Expect(mounts).To(HaveKeyWithValue("kafka-sasl", "/etc/junction/kafka/sasl"))

	plain, vols := kafkaSecretVolumes(&v1alpha1.MessageBroker{})
	g.Expect(plain).To(BeEmpty())
	g.Expect(vols).To(BeEmpty())
}
