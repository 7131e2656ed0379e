//go:build e2e

package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/test/e2e/kafkaharness"
)

// Behaviour 11 (TLS): a MessageBroker that knows only an SSL listener requiring client
// certificates, with the CA and a kubernetes.io/tls client certificate from Secrets, becomes
// Ready and creates a topic through it. Without the client certificate the broker refuses the
// handshake and the MessageBroker says so (TLSHandshakeFailed).
func TestTopic11MutualTLSConnection(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	pki := newPKI(t)
	dir := t.TempDir()
	serverPEM := filepath.Join(dir, "server.pem") // Kafka's PEM keystore: key and chain in one file
	caPEM := filepath.Join(dir, "ca.pem")
	g.Expect(os.WriteFile(serverPEM, append(append([]byte{}, pki.serverKey...), pki.serverCert...), 0o600)).To(Succeed())
	g.Expect(os.WriteFile(caPEM, pki.ca, 0o600)).To(Succeed())
	cluster := kafkaharness.StartWithOptions(t, kafkaharness.Options{
		Brokers:        1,
		ExtraListeners: []kafkaharness.Listener{{Name: "TLS", SecurityProtocol: "SSL"}},
		ServerProperties: map[string]string{
			"listener.name.tls.ssl.keystore.type":       "PEM",
			"listener.name.tls.ssl.keystore.location":   serverPEM,
			"listener.name.tls.ssl.truststore.type":     "PEM",
			"listener.name.tls.ssl.truststore.location": caPEM,
			"listener.name.tls.ssl.client.auth":         "required",
		},
	})
	tlsAddrs := cluster.Listeners["TLS"]
	e := startOperator(t, cluster, 5*time.Second)

	g.Expect(e.client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "kafka-ca", Namespace: e.namespace},
		Data: map[string][]byte{"ca.crt": pki.ca}})).To(Succeed())
	g.Expect(e.client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "junction-tls", Namespace: e.namespace},
		Type: corev1.SecretTypeTLS, Data: map[string][]byte{"tls.crt": pki.clientCert, "tls.key": pki.clientKey}})).To(Succeed())

	broker := tlsBroker(e.namespace, "mtls", tlsAddrs, &v1alpha1.LocalObjectReference{Name: "junction-tls"})
	g.Expect(e.client.Create(ctx, broker)).To(Succeed())
	e.waitReady(t, broker, converge)
	g.Expect(broker.Status.ClusterID).To(Equal(cluster.ClusterID))

	topic := &v1alpha1.MessageTopic{
		ObjectMeta: metav1.ObjectMeta{Name: "tls-orders", Namespace: e.namespace},
		Spec:       v1alpha1.MessageTopicSpec{BrokerRef: v1alpha1.LocalObjectReference{Name: "mtls"}, Partitions: 2, ReplicationFactor: 1},
	}
	g.Expect(e.client.Create(ctx, topic)).To(Succeed())
	e.waitReady(t, topic, converge)
	state, err := e.admin.DescribeTopic(ctx, "tls-orders")
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(state.Partitions).To(Equal(int32(2)))

	// Without a client certificate the broker refuses the handshake.
	anonymous := tlsBroker(e.namespace, "no-client-cert", tlsAddrs, nil)
	g.Expect(e.client.Create(ctx, anonymous)).To(Succeed())
	g.Eventually(func(g Gomega) {
		c := e.ready(g, anonymous)
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal("TLSHandshakeFailed"), c.Message)
	}, converge, 200*time.Millisecond).Should(Succeed())
	t.Logf("without client certificate: %s", e.readyMessage(anonymous))
}

func tlsBroker(ns, name string, addrs []string, clientCert *v1alpha1.LocalObjectReference) *v1alpha1.MessageBroker {
	return &v1alpha1.MessageBroker{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.MessageBrokerSpec{Kafka: v1alpha1.KafkaConnection{BootstrapServers: addrs,
			TLS: &v1alpha1.KafkaTLS{CASecretRef: &v1alpha1.SecretKeyReference{Name: "kafka-ca", Key: "ca.crt"}, ClientCertSecretRef: clientCert}}},
	}
}

// pki is a throwaway CA with a server certificate for 127.0.0.1 and a client certificate, in PEM
// (keys PKCS#8, which Kafka's PEM keystore requires).
type pki struct {
	ca, serverCert, serverKey, clientCert, clientKey []byte
}

func newPKI(t *testing.T) pki {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "junction e2e CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	}
	p := pki{ca: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})}
	p.serverCert, p.serverKey = issue(2, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = issue(3, "junction", x509.ExtKeyUsageClientAuth)
	return p
}
