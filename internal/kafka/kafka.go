// Package kafka holds the small Kafka interfaces Junction owns and their sarama adapters.
// Callers never see sarama types or errors: the adapters map them to the sentinels below.
package kafka

import (
	"crypto/tls"
	"errors"
	"time"

	"github.com/IBM/sarama"
)

var (
	// ErrTopicNotFound means the topic does not exist in the cluster.
	ErrTopicNotFound = errors.New("topic not found")
	// ErrInvalidConfig means the broker rejected a topic config key or value.
	ErrInvalidConfig = errors.New("invalid topic config")
	// ErrInvalidPartitions means the requested partition count is not allowed.
	ErrInvalidPartitions = errors.New("invalid partitions")
	// ErrInvalidReplicationFactor means the cluster cannot place that many replicas.
	ErrInvalidReplicationFactor = errors.New("invalid replication factor")
	// ErrUnavailable means the cluster could not be reached or did not answer in time.
	ErrUnavailable = errors.New("kafka unavailable")
	// ErrMessageTooLarge means the broker refused a record for its size.
	ErrMessageTooLarge = errors.New("message too large")
	// ErrAuthenticationFailed means the broker refused the SASL credentials.
	ErrAuthenticationFailed = errors.New("authentication failed")
	// ErrTLSHandshake means the TLS handshake failed: the broker's certificate was not trusted,
	// or the broker refused the client certificate (or its absence).
	ErrTLSHandshake = errors.New("TLS handshake failed")
	// ErrInvalidClientConfig means the connection settings themselves are unusable, for example
	// a CA that holds no PEM certificate or a SASL user without a password.
	ErrInvalidClientConfig = errors.New("invalid client configuration")
)

// ClientConfig is how to reach one Kafka cluster.
type ClientConfig struct {
	BootstrapServers []string
	ClientID         string
	// Timeout bounds dialing and each request; zero means 10s.
	Timeout time.Duration
	// TLS, when set, encrypts every connection (see NewTLSConfig).
	TLS *tls.Config
	// SASL, when set, authenticates every connection.
	SASL *SASL
}

// saramaConfig returns the base sarama configuration shared by the admin and the producer.
func (c ClientConfig) saramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	if c.ClientID != "" {
		cfg.ClientID = c.ClientID
	} else {
		cfg.ClientID = "junction"
	}
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	cfg.Net.DialTimeout = timeout
	cfg.Net.ReadTimeout = timeout
	cfg.Net.WriteTimeout = timeout
	cfg.Admin.Timeout = timeout
	cfg.Metadata.Retry.Max = 1
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	if c.TLS != nil {
		cfg.Net.TLS.Enable = true
		cfg.Net.TLS.Config = c.TLS.Clone()
	}
	if c.SASL != nil {
		c.SASL.apply(cfg)
	}
	return cfg
}
