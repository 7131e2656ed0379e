package controllers

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/kafka"
)

// selfSignedPEM returns a throwaway self-signed CA certificate in PEM.
func selfSignedPEM(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func secret(name string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop"}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func brokerWith(tls *v1alpha1.KafkaTLS, sasl *v1alpha1.KafkaSASL) *v1alpha1.MessageBroker {
	return &v1alpha1.MessageBroker{
		ObjectMeta: metav1.ObjectMeta{Name: "kafka", Namespace: "shop"},
		Spec: v1alpha1.MessageBrokerSpec{Kafka: v1alpha1.KafkaConnection{
			BootstrapServers: []string{"kafka:9093"}, ClientID: "junction", TLS: tls, SASL: sasl}},
	}
}

var (
	scramFromUser = &v1alpha1.KafkaSASL{Mechanism: v1alpha1.SASLSCRAMSHA512, SecretRef: v1alpha1.LocalObjectReference{Name: "user"}}
	caFromSecret  = &v1alpha1.KafkaTLS{CASecretRef: &v1alpha1.SecretKeyReference{Name: "ca", Key: "ca.crt"}}
)

func TestClientConfigFromSecrets(t *testing.T) {
	testCA := selfSignedPEM(t)
	for _, tc := range []struct {
		name       string
		broker     *v1alpha1.MessageBroker
		secrets    []*corev1.Secret
		wantReason string // empty: no error
		wantMsg    string
		check      func(t *testing.T, cfg kafka.ClientConfig)
	}{
		{name: "no TLS, no SASL", broker: brokerWith(nil, nil), check: func(t *testing.T, cfg kafka.ClientConfig) {
			if cfg.TLS != nil || cfg.SASL != nil || cfg.ClientID != "junction" || cfg.BootstrapServers[0] != "kafka:9093" {
				t.Errorf("config %+v", cfg)
			}
		}},
		{name: "SCRAM from a Secret", broker: brokerWith(nil, scramFromUser),
			secrets: []*corev1.Secret{secret("user", map[string]string{"username": "shop-user", "password": "p4ss"})},
			check: func(t *testing.T, cfg kafka.ClientConfig) {
				if cfg.SASL == nil || *cfg.SASL != (kafka.SASL{Mechanism: kafka.SASLSCRAMSHA512, Username: "shop-user", Password: "p4ss"}) {
					t.Errorf("SASL %+v", cfg.SASL)
				}
			}},
		{name: "TLS with system roots", broker: brokerWith(&v1alpha1.KafkaTLS{}, nil), check: func(t *testing.T, cfg kafka.ClientConfig) {
			if cfg.TLS == nil || cfg.TLS.RootCAs != nil {
				t.Errorf("TLS %+v", cfg.TLS)
			}
		}},
		{name: "TLS with a CA", broker: brokerWith(caFromSecret, nil),
			secrets: []*corev1.Secret{secret("ca", map[string]string{"ca.crt": testCA})},
			check: func(t *testing.T, cfg kafka.ClientConfig) {
				if cfg.TLS == nil || cfg.TLS.RootCAs == nil {
					t.Errorf("TLS %+v", cfg.TLS)
				}
			}},
		{name: "SASL Secret missing", broker: brokerWith(nil, scramFromUser),
			wantReason: reasonSecretNotFound, wantMsg: `Secret shop/user (key "username") does not exist`},
		{name: "SASL password key missing", broker: brokerWith(nil, scramFromUser),
			secrets:    []*corev1.Secret{secret("user", map[string]string{"username": "junction"})},
			wantReason: reasonSecretNotFound, wantMsg: `Secret shop/user has no key "password"`},
		{name: "SASL password empty", broker: brokerWith(nil, scramFromUser),
			secrets:    []*corev1.Secret{secret("user", map[string]string{"username": "junction", "password": ""})},
			wantReason: reasonInvalidSecret, wantMsg: "Secret shop/user (keys username, password): invalid client configuration: SASL password is empty"},
		{name: "CA Secret missing", broker: brokerWith(caFromSecret, nil),
			wantReason: reasonSecretNotFound, wantMsg: `Secret shop/ca (key "ca.crt") does not exist`},
		{name: "CA not PEM", broker: brokerWith(caFromSecret, nil),
			secrets:    []*corev1.Secret{secret("ca", map[string]string{"ca.crt": "not a certificate"})},
			wantReason: reasonInvalidSecret, wantMsg: "Secret shop/ca (key ca.crt): invalid client configuration: TLS CA: no PEM-encoded certificate found"},
		{name: "client certificate without key", broker: brokerWith(&v1alpha1.KafkaTLS{ClientCertSecretRef: &v1alpha1.LocalObjectReference{Name: "tls"}}, nil),
			secrets:    []*corev1.Secret{secret("tls", map[string]string{"tls.crt": testCA})},
			wantReason: reasonSecretNotFound, wantMsg: `Secret shop/tls has no key "tls.key"`},
		{name: "client certificate that does not parse", broker: brokerWith(&v1alpha1.KafkaTLS{ClientCertSecretRef: &v1alpha1.LocalObjectReference{Name: "tls"}}, nil),
			secrets:    []*corev1.Secret{secret("tls", map[string]string{"tls.crt": testCA, "tls.key": "nope"})},
			wantReason: reasonInvalidSecret, wantMsg: "Secret shop/tls (keys tls.crt, tls.key): invalid client configuration: TLS client certificate:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := fake.NewClientBuilder().WithScheme(NewScheme())
			for _, s := range tc.secrets {
				b = b.WithObjects(s)
			}
			cfg, key, err := clientConfig(context.Background(), b.Build(), tc.broker)
			if tc.wantReason != "" {
				se, ok := asSecretError(err)
				if !ok || se.reason != tc.wantReason || !strings.Contains(se.Error(), tc.wantMsg) {
					t.Fatalf("error = %v, want %s with %q", err, tc.wantReason, tc.wantMsg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(key, specKey(tc.broker)+"|") {
				t.Errorf("key %q does not start with the spec key", key)
			}
			for _, s := range tc.secrets {
				for _, v := range s.Data {
					if strings.Contains(key, string(v)) {
						t.Errorf("key %q holds Secret data", key)
					}
				}
			}
			tc.check(t, cfg)
		})
	}
}

// The pool key changes when the Secret data changes and only then; the spec key never does.
func TestClientConfigKeyFollowsSecretData(t *testing.T) {
	user := secret("user", map[string]string{"username": "junction", "password": "one"})
	c := fake.NewClientBuilder().WithScheme(NewScheme()).WithObjects(user).Build()
	ctx := context.Background()
	b := brokerWith(nil, scramFromUser)
	_, k1, err := clientConfig(ctx, c, b)
	if err != nil {
		t.Fatal(err)
	}
	_, again, _ := clientConfig(ctx, c, b)
	if again != k1 {
		t.Errorf("key changed without a change: %q -> %q", k1, again)
	}
	user.Data["password"] = []byte("two")
	if err := c.Update(ctx, user); err != nil {
		t.Fatal(err)
	}
	_, k2, err := clientConfig(ctx, c, b)
	if err != nil {
		t.Fatal(err)
	}
	if k2 == k1 {
		t.Error("key unchanged after the password changed")
	}
	if !strings.HasPrefix(k2, specKey(b)+"|") || !strings.HasPrefix(k1, specKey(b)+"|") {
		t.Error("spec key changed with the Secret data")
	}
	b2 := brokerWith(nil, &v1alpha1.KafkaSASL{Mechanism: v1alpha1.SASLSCRAMSHA256, SecretRef: scramFromUser.SecretRef})
	if specKey(b2) == specKey(b) {
		t.Error("spec key unchanged after the mechanism changed")
	}
}

func TestBrokerErrorOutcome(t *testing.T) {
	b := brokerWith(nil, scramFromUser)
	for _, tc := range []struct {
		err        error
		kind       outcomeKind
		reason     string
		msgContain string
	}{
		{&secretError{reason: reasonSecretNotFound, msg: `Secret shop/user (key "username") does not exist`},
			outcomeWaiting, reasonSecretNotFound, `Secret shop/user (key "username") does not exist`},
		{fmt.Errorf("%w: %v", kafka.ErrAuthenticationFailed, "invalid credentials with SASL mechanism SCRAM-SHA-512"),
			outcomeWaiting, reasonAuthenticationFailed, "Kafka at [kafka:9093] refused the SCRAM-SHA-512 credentials from Secret shop/user: invalid credentials"},
		{fmt.Errorf("%w: %v", kafka.ErrTLSHandshake, "x509: certificate signed by unknown authority"),
			outcomeWaiting, reasonTLSHandshakeFailed, "TLS handshake with Kafka at [kafka:9093] failed: x509: certificate signed"},
		{errors.Join(kafka.ErrUnavailable, errors.New("connection refused")),
			outcomeWaiting, reasonKafkaUnavailable, "cannot reach Kafka at [kafka:9093]: "},
		{errors.Join(errReadingSecret, errors.New("etcd timeout")), outcomeFailed, "SecretReadFailed", "etcd timeout"},
	} {
		o := brokerErrorOutcome(b, tc.err)
		if o.kind != tc.kind || o.reason != tc.reason || !strings.Contains(o.message, tc.msgContain) {
			t.Errorf("%v: outcome %+v, want kind %d reason %s message with %q", tc.err, o, tc.kind, tc.reason, tc.msgContain)
		}
	}
}
