package kafka

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/xdg-go/scram"
)

func TestSaramaConfigSASL(t *testing.T) {
	for _, tc := range []struct {
		mechanism SASLMechanism
		scram     bool
	}{
		{SASLPlain, false},
		{SASLSCRAMSHA256, true},
		{SASLSCRAMSHA512, true},
	} {
		t.Run(string(tc.mechanism), func(t *testing.T) {
			cfg := ClientConfig{BootstrapServers: []string{"k:9092"},
				SASL: &SASL{Mechanism: tc.mechanism, Username: "junction", Password: "s3cret"}}.saramaConfig()
			sasl := cfg.Net.SASL
			if !sasl.Enable || string(sasl.Mechanism) != string(tc.mechanism) || sasl.User != "junction" || sasl.Password != "s3cret" {
				t.Fatalf("SASL config = %+v", sasl)
			}
			if !sasl.Handshake || sasl.Version != sarama.SASLHandshakeV1 {
				t.Errorf("handshake %v version %d, want the v1 handshake Kafka 4 requires", sasl.Handshake, sasl.Version)
			}
			if got := sasl.SCRAMClientGeneratorFunc != nil; got != tc.scram {
				t.Errorf("SCRAM client generator set = %v, want %v", got, tc.scram)
			}
			if cfg.Net.TLS.Enable {
				t.Error("TLS enabled without a TLS config")
			}
			if err := cfg.Validate(); err != nil {
				t.Errorf("sarama refuses the config: %v", err)
			}
		})
	}
}

func TestSaramaConfigPlain(t *testing.T) {
	cfg := ClientConfig{BootstrapServers: []string{"k:9092"}}.saramaConfig()
	if cfg.Net.SASL.Enable || cfg.Net.TLS.Enable {
		t.Errorf("SASL %v TLS %v, want neither", cfg.Net.SASL.Enable, cfg.Net.TLS.Enable)
	}
}

// The SCRAM client completes a conversation with a SCRAM server (xdg-go's own), and fails one
// with the wrong password.
func TestSCRAMClientConversation(t *testing.T) {
	for _, tc := range []struct {
		name string
		hash scram.HashGeneratorFcn
		mech SASLMechanism
	}{
		{"SHA-256", scram.SHA256, SASLSCRAMSHA256},
		{"SHA-512", scram.SHA512, SASLSCRAMSHA512},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := ClientConfig{SASL: &SASL{Mechanism: tc.mech, Username: "junction", Password: "right"}}.saramaConfig()
			for _, password := range []string{"right", "wrong"} {
				err := converse(t, tc.hash, cfg.Net.SASL.SCRAMClientGeneratorFunc(), password)
				if (err == nil) != (password == "right") {
					t.Errorf("password %q: conversation error = %v", password, err)
				}
			}
		})
	}
}

// converse runs client against a server that knows user junction with password "right".
func converse(t *testing.T, hash scram.HashGeneratorFcn, client sarama.SCRAMClient, password string) error {
	t.Helper()
	kf := scram.KeyFactors{Salt: "c2FsdA==", Iters: 4096}
	known, err := hash.NewClient("junction", "right", "")
	if err != nil {
		t.Fatal(err)
	}
	stored := known.GetStoredCredentials(kf)
	server, err := hash.NewServer(func(string) (scram.StoredCredentials, error) { return stored, nil })
	if err != nil {
		t.Fatal(err)
	}
	conv := server.NewConversation()
	if err := client.Begin("junction", password, ""); err != nil {
		return err
	}
	msg, err := client.Step("")
	for err == nil && !client.Done() {
		var reply string
		if reply, err = conv.Step(msg); err != nil {
			return err
		}
		msg, err = client.Step(reply)
	}
	if err == nil && !conv.Valid() {
		return errors.New("server did not accept the client")
	}
	return err
}

func TestSASLValidate(t *testing.T) {
	for _, tc := range []struct {
		sasl SASL
		want string
	}{
		{SASL{Mechanism: SASLSCRAMSHA512, Username: "u", Password: "p"}, ""},
		{SASL{Mechanism: "GSSAPI", Username: "u", Password: "p"}, `SASL mechanism "GSSAPI" is not one of`},
		{SASL{Mechanism: SASLPlain, Password: "p"}, "SASL username is empty"},
		{SASL{Mechanism: SASLPlain, Username: "u"}, "SASL password is empty"},
	} {
		err := tc.sasl.Validate()
		if tc.want == "" {
			if err != nil {
				t.Errorf("%+v: %v", tc.sasl, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidClientConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want ErrInvalidClientConfig with %q", tc.sasl, err, tc.want)
		}
	}
}

func TestNewTLSConfig(t *testing.T) {
	pki := newTestPKI(t)
	otherPKI := newTestPKI(t)
	badBlock := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("not DER")})
	for _, tc := range []struct {
		name            string
		ca, cert, key   []byte
		wantErr         string
		wantRoots, pair bool
	}{
		{name: "system roots", wantRoots: false},
		{name: "CA only", ca: pki.caPEM, wantRoots: true},
		{name: "CA and client certificate", ca: pki.caPEM, cert: pki.clientCert, key: pki.clientKey, wantRoots: true, pair: true},
		{name: "client certificate only", cert: pki.clientCert, key: pki.clientKey, pair: true},
		{name: "CA is not PEM", ca: []byte("-----BEGIN NOTHING"), wantErr: "TLS CA: no PEM-encoded certificate found"},
		{name: "CA is a key", ca: pki.clientKey, wantErr: "TLS CA: no PEM-encoded certificate found"},
		{name: "CA block is not a certificate", ca: append(append([]byte{}, pki.caPEM...), badBlock...), wantErr: "TLS CA: certificate 2:"},
		{name: "certificate without key", ca: pki.caPEM, cert: pki.clientCert, wantErr: "a certificate without a private key"},
		{name: "key without certificate", ca: pki.caPEM, key: pki.clientKey, wantErr: "a private key without a certificate"},
		{name: "key is not PEM", cert: pki.clientCert, key: []byte("garbage"), wantErr: "TLS client certificate: tls: failed to find any PEM data in key input"},
		{name: "key of another certificate", cert: pki.clientCert, key: otherPKI.clientKey, wantErr: "TLS client certificate: tls: private key does not match public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := NewTLSConfig(tc.ca, tc.cert, tc.key)
			if tc.wantErr != "" {
				if !errors.Is(err, ErrInvalidClientConfig) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want ErrInvalidClientConfig with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (cfg.RootCAs != nil) != tc.wantRoots || (len(cfg.Certificates) == 1) != tc.pair || cfg.MinVersion != tls.VersionTLS12 {
				t.Errorf("roots %v, certificates %d, min version %x", cfg.RootCAs != nil, len(cfg.Certificates), cfg.MinVersion)
			}
			sc := ClientConfig{TLS: cfg}.saramaConfig()
			if !sc.Net.TLS.Enable || sc.Net.TLS.Config == nil || sc.Net.TLS.Config == cfg {
				t.Errorf("sarama TLS enable %v config %p (given %p), want enabled with a copy", sc.Net.TLS.Enable, sc.Net.TLS.Config, cfg)
			}
		})
	}
}

// The admin authenticates with each mechanism against kfake's SASL listener.
func TestAdminOverSASL(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(),
		kfake.Superuser("PLAIN", "plain-user", "plain-pass"),
		kfake.Superuser("SCRAM-SHA-256", "scram256", "pass-256"),
		kfake.Superuser("SCRAM-SHA-512", "scram512", "pass-512"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	for _, s := range []SASL{
		{SASLPlain, "plain-user", "plain-pass"},
		{SASLSCRAMSHA256, "scram256", "pass-256"},
		{SASLSCRAMSHA512, "scram512", "pass-512"},
	} {
		t.Run(string(s.Mechanism), func(t *testing.T) {
			admin, err := NewAdmin(ClientConfig{BootstrapServers: cluster.ListenAddrs(), SASL: &s, Timeout: 3 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close()
			if _, err := admin.DescribeCluster(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := admin.CreateTopic(context.Background(), TopicSpec{Name: "over-" + strings.ToLower(string(s.Mechanism)), Partitions: 1, ReplicationFactor: 1}); err != nil {
				t.Fatal(err)
			}
			wrong := s
			wrong.Password = "wrong"
			if admin, err := NewAdmin(ClientConfig{BootstrapServers: cluster.ListenAddrs(), SASL: &wrong, Timeout: 3 * time.Second}); err == nil {
				_ = admin.Close()
				t.Fatal("connected with a wrong password")
			}
		})
	}
}

// The admin speaks TLS to a broker that requires a client certificate; without it, or without
// trusting the broker's CA, the error says the handshake failed.
func TestAdminOverTLS(t *testing.T) {
	pki := newTestPKI(t)
	serverPair, err := tls.X509KeyPair(pki.serverCert, pki.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pki.caPEM)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(&tls.Config{
		Certificates: []tls.Certificate{serverPair}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	connect := func(ca, cert, key []byte) error {
		cfg, err := NewTLSConfig(ca, cert, key)
		if err != nil {
			t.Fatal(err)
		}
		admin, err := NewAdmin(ClientConfig{BootstrapServers: cluster.ListenAddrs(), TLS: cfg, Timeout: 3 * time.Second})
		if err != nil {
			return err
		}
		defer admin.Close()
		_, err = admin.DescribeCluster(context.Background())
		return err
	}
	if err := connect(pki.caPEM, pki.clientCert, pki.clientKey); err != nil {
		t.Fatalf("with CA and client certificate: %v", err)
	}
	if err := connect(pki.caPEM, nil, nil); !errors.Is(err, ErrTLSHandshake) {
		t.Errorf("without client certificate: %v, want ErrTLSHandshake", err)
	}
	if err := connect(newTestPKI(t).caPEM, pki.clientCert, pki.clientKey); !errors.Is(err, ErrTLSHandshake) || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("with another CA: %v, want ErrTLSHandshake about the certificate", err)
	}
}

// testPKI is a CA with a server certificate for 127.0.0.1 and a client certificate, in PEM.
type testPKI struct {
	caPEM, serverCert, serverKey, clientCert, clientKey []byte
}

func newTestPKI(t *testing.T) testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ = x509.ParseCertificate(caDER)
	issue := func(serial int64, cn string, usage x509.ExtKeyUsage) (certPEM, keyPEM []byte) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
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
	p := testPKI{caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})}
	p.serverCert, p.serverKey = issue(2, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = issue(3, "junction", x509.ExtKeyUsageClientAuth)
	return p
}
