package kafka

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// SASLMechanism names a SASL mechanism the brokers offer.
type SASLMechanism string

// The SASL mechanisms Junction speaks.
const (
	SASLPlain       SASLMechanism = "PLAIN"
	SASLSCRAMSHA256 SASLMechanism = "SCRAM-SHA-256"
	SASLSCRAMSHA512 SASLMechanism = "SCRAM-SHA-512"
)

// SASL is how a client authenticates to the brokers.
type SASL struct {
	Mechanism SASLMechanism
	Username  string
	Password  string
}

// Validate reports settings no broker could accept, wrapping ErrInvalidClientConfig.
func (s SASL) Validate() error {
	switch s.Mechanism {
	case SASLPlain, SASLSCRAMSHA256, SASLSCRAMSHA512:
	default:
		return fmt.Errorf("%w: SASL mechanism %q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", ErrInvalidClientConfig, s.Mechanism)
	}
	if s.Username == "" {
		return fmt.Errorf("%w: SASL username is empty", ErrInvalidClientConfig)
	}
	if s.Password == "" {
		return fmt.Errorf("%w: SASL password is empty", ErrInvalidClientConfig)
	}
	return nil
}

func (s SASL) apply(cfg *sarama.Config) {
	cfg.Net.SASL.Enable = true
	cfg.Net.SASL.Mechanism = sarama.SASLMechanism(s.Mechanism)
	cfg.Net.SASL.User = s.Username
	cfg.Net.SASL.Password = s.Password
	// Kafka 4 dropped SaslHandshake v0: always the v1 handshake followed by SaslAuthenticate.
	cfg.Net.SASL.Handshake = true
	cfg.Net.SASL.Version = sarama.SASLHandshakeV1
	switch s.Mechanism {
	case SASLSCRAMSHA256:
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA256} }
	case SASLSCRAMSHA512:
		cfg.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.SHA512} }
	}
}

// scramClient is sarama's SCRAMClient over xdg-go/scram; one per connection attempt.
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (c *scramClient) Begin(user, password, authzID string) error {
	client, err := c.hash.NewClient(user, password, authzID)
	if err != nil {
		return fmt.Errorf("SCRAM: %w", err)
	}
	c.conv = client.NewConversation()
	return nil
}

func (c *scramClient) Step(challenge string) (string, error) {
	return c.conv.Step(challenge)
}

func (c *scramClient) Done() bool {
	return c.conv.Done()
}

// NewTLSConfig builds a client TLS configuration from PEM data. caPEM holds the certificates
// trusted to sign the brokers' certificates; empty means the system roots. certPEM and keyPEM
// are the client certificate (chain) and its private key, for brokers that require client
// authentication; both or neither. Errors wrap ErrInvalidClientConfig and say which part is wrong.
func NewTLSConfig(caPEM, certPEM, keyPEM []byte) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(caPEM) > 0 {
		pool, err := certPool(caPEM)
		if err != nil {
			return nil, fmt.Errorf("%w: TLS CA: %v", ErrInvalidClientConfig, err)
		}
		cfg.RootCAs = pool
	}
	switch {
	case len(certPEM) == 0 && len(keyPEM) == 0:
	case len(certPEM) == 0:
		return nil, fmt.Errorf("%w: TLS client certificate: a private key without a certificate", ErrInvalidClientConfig)
	case len(keyPEM) == 0:
		return nil, fmt.Errorf("%w: TLS client certificate: a certificate without a private key", ErrInvalidClientConfig)
	default:
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("%w: TLS client certificate: %v", ErrInvalidClientConfig, err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// certPool parses every CERTIFICATE block of data, refusing data that holds none or a block that
// does not parse (x509.CertPool.AppendCertsFromPEM would skip it silently).
func certPool(data []byte) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	n := 0
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		n++
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %v", n, err)
		}
		pool.AddCert(cert)
	}
	if n == 0 {
		return nil, fmt.Errorf("no PEM-encoded certificate found")
	}
	return pool, nil
}

// isTLSError reports whether err comes from a failed TLS handshake rather than from the network.
func isTLSError(err error) bool {
	var (
		verify   *tls.CertificateVerificationError
		alert    tls.AlertError
		header   tls.RecordHeaderError
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		op       *net.OpError
	)
	// A TLS alert from the broker (for example "certificate required") arrives as a
	// net.OpError with Op "remote error".
	if errors.As(err, &op) && op.Op == "remote error" {
		return true
	}
	return errors.As(err, &verify) || errors.As(err, &alert) || errors.As(err, &header) ||
		errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid)
}
