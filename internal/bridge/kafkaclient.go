package bridge

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/junction-dev/junction/internal/bridgeconfig"
	"github.com/junction-dev/junction/internal/kafka"
)

// kafkaSecurity reads the mounted TLS material and SASL credentials. It is called on every
// connection attempt, so a rotated Secret is picked up when the bridge reconnects.
func kafkaSecurity(k bridgeconfig.Kafka) (*tls.Config, *kafka.SASL, error) {
	var tlsCfg *tls.Config
	if t := k.TLS; t != nil {
		var ca, cert, key []byte
		var err error
		for _, f := range []struct {
			path string
			dst  *[]byte
		}{{t.CAFile, &ca}, {t.CertFile, &cert}, {t.KeyFile, &key}} {
			if f.path == "" {
				continue
			}
			if *f.dst, err = os.ReadFile(f.path); err != nil {
				return nil, nil, fmt.Errorf("%w: %w", kafka.ErrInvalidClientConfig, err)
			}
		}
		if tlsCfg, err = kafka.NewTLSConfig(ca, cert, key); err != nil {
			return nil, nil, err
		}
	}
	var s *kafka.SASL
	if a := k.SASL; a != nil {
		user, err := os.ReadFile(a.UsernameFile)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", kafka.ErrInvalidClientConfig, err)
		}
		pass, err := os.ReadFile(a.PasswordFile)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", kafka.ErrInvalidClientConfig, err)
		}
		s = &kafka.SASL{Mechanism: kafka.SASLMechanism(a.Mechanism),
			Username: strings.TrimRight(string(user), "\r\n"), Password: strings.TrimRight(string(pass), "\r\n")}
		if err := s.Validate(); err != nil {
			return nil, nil, err
		}
	}
	return tlsCfg, s, nil
}

// producerConfig is the sarama producer's client configuration.
func producerConfig(k bridgeconfig.Kafka) (kafka.ClientConfig, error) {
	tlsCfg, s, err := kafkaSecurity(k)
	if err != nil {
		return kafka.ClientConfig{}, err
	}
	return kafka.ClientConfig{BootstrapServers: k.BootstrapServers, ClientID: k.ClientID, TLS: tlsCfg, SASL: s}, nil
}

// newConsumerClient is a franz-go client with the same security as the producer.
func newConsumerClient(k bridgeconfig.Kafka, opts ...kgo.Opt) (*kgo.Client, error) {
	tlsCfg, s, err := kafkaSecurity(k)
	if err != nil {
		return nil, err
	}
	base := []kgo.Opt{kgo.SeedBrokers(k.BootstrapServers...), kgo.ClientID(k.ClientID + "-consumer")}
	if tlsCfg != nil {
		base = append(base, kgo.Dialer((&tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second}, Config: tlsCfg}).DialContext))
	}
	if s != nil {
		var m sasl.Mechanism
		switch s.Mechanism {
		case kafka.SASLPlain:
			m = plain.Auth{User: s.Username, Pass: s.Password}.AsMechanism()
		case kafka.SASLSCRAMSHA256:
			m = scram.Auth{User: s.Username, Pass: s.Password}.AsSha256Mechanism()
		case kafka.SASLSCRAMSHA512:
			m = scram.Auth{User: s.Username, Pass: s.Password}.AsSha512Mechanism()
		}
		base = append(base, kgo.SASL(m))
	}
	return kgo.NewClient(append(base, opts...)...)
}

// dialConsumer creates a consumer client for a long-running reader, retrying with backoff
// (250ms doubling to 10s) while the configuration cannot be used yet (a mounted certificate
// not there yet, say). It returns nil when ctx ends first.
func dialConsumer(ctx context.Context, log *slog.Logger, who string, k bridgeconfig.Kafka, opts ...kgo.Opt) *kgo.Client {
	backoff := 250 * time.Millisecond
	for {
		cl, err := newConsumerClient(k, opts...)
		if err == nil {
			return cl
		}
		log.Warn(who+" cannot create its Kafka client, retrying", "error", err, "in", backoff)
		if !sleepCtx(ctx, backoff) {
			return nil
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

// sleepCtx waits d; false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
