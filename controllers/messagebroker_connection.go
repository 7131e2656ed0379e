package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/kafka"
)

// Reasons of a MessageBroker whose Secrets cannot be used.
const (
	reasonSecretNotFound = "SecretNotFound"
	reasonInvalidSecret  = "InvalidSecret"
)

// Keys of the Secrets a MessageBroker reads.
const (
	saslUsernameKey = "username"
	saslPasswordKey = "password"
)

// secretError is a Secret named by a MessageBroker that is missing, lacks a key, or holds data
// no client could use. The user fixes it by creating or editing the Secret; the broker
// reconciler re-reads it on its next recheck.
type secretError struct {
	reason string // reasonSecretNotFound or reasonInvalidSecret
	msg    string
}

func (e *secretError) Error() string { return e.msg }

// errReadingSecret marks a failure to ask the API server for a Secret: transient, retried with
// backoff, and no verdict on the Secret itself.
var errReadingSecret = errors.New("reading Secret")

// secretReader reads the Secrets a MessageBroker names, each at most once per resolution.
// It reads through an uncached client: the manager needs only `get` on the Secrets it is told
// about, never a cluster-wide list/watch of every Secret.
type secretReader struct {
	reader    client.Reader
	namespace string
	secrets   map[string]*corev1.Secret
	digest    []string // "name/key=sha256" for every value used, for the pool key
}

func (s *secretReader) value(ctx context.Context, name, key string) ([]byte, error) {
	secret, ok := s.secrets[name]
	if !ok {
		if s.reader == nil {
			return nil, fmt.Errorf("%w %s/%s: no reader configured", errReadingSecret, s.namespace, name)
		}
		secret = &corev1.Secret{}
		err := s.reader.Get(ctx, types.NamespacedName{Namespace: s.namespace, Name: name}, secret)
		if apierrors.IsNotFound(err) {
			return nil, &secretError{reason: reasonSecretNotFound,
				msg: fmt.Sprintf("Secret %s/%s (key %q) does not exist", s.namespace, name, key)}
		}
		if err != nil {
			return nil, fmt.Errorf("%w %s/%s: %w", errReadingSecret, s.namespace, name, err)
		}
		s.secrets[name] = secret
	}
	v, ok := secret.Data[key]
	if !ok {
		return nil, &secretError{reason: reasonSecretNotFound,
			msg: fmt.Sprintf("Secret %s/%s has no key %q", s.namespace, name, key)}
	}
	sum := sha256.Sum256(v)
	s.digest = append(s.digest, name+"/"+key+"="+hex.EncodeToString(sum[:]))
	return v, nil
}

// invalid reports unusable data in Secret name (keys), keeping the cause's text.
func (s *secretReader) invalid(name, keys string, err error) error {
	return &secretError{reason: reasonInvalidSecret, msg: fmt.Sprintf("Secret %s/%s (%s): %v", s.namespace, name, keys, err)}
}

// specKey identifies a MessageBroker's connection settings, without the Secret data they name.
func specKey(b *v1alpha1.MessageBroker) string {
	k := b.Spec.Kafka
	auth, _ := json.Marshal(struct {
		TLS  *v1alpha1.KafkaTLS  `json:"tls,omitempty"`
		SASL *v1alpha1.KafkaSASL `json:"sasl,omitempty"`
	}{k.TLS, k.SASL})
	return fmt.Sprintf("%s|%s|%s", strings.Join(k.BootstrapServers, ","), k.ClientID, auth)
}

// clientConfig is the Kafka client configuration a MessageBroker describes, with the TLS
// material and SASL credentials read from its Secrets through r. key identifies the settings
// and changes whenever the data of a Secret they use changes (it holds digests, never the data).
// A missing or unusable Secret is a *secretError.
func clientConfig(ctx context.Context, r client.Reader, b *v1alpha1.MessageBroker) (cfg kafka.ClientConfig, key string, err error) {
	k := b.Spec.Kafka
	cfg = kafka.ClientConfig{BootstrapServers: k.BootstrapServers, ClientID: k.ClientID}
	s := &secretReader{reader: r, namespace: b.Namespace, secrets: map[string]*corev1.Secret{}}
	if k.TLS != nil {
		var ca, cert, certKey []byte
		if ref := k.TLS.CASecretRef; ref != nil {
			if ca, err = s.value(ctx, ref.Name, ref.Key); err != nil {
				return kafka.ClientConfig{}, "", err
			}
			if _, err := kafka.NewTLSConfig(ca, nil, nil); err != nil {
				return kafka.ClientConfig{}, "", s.invalid(ref.Name, "key "+ref.Key, err)
			}
		}
		if ref := k.TLS.ClientCertSecretRef; ref != nil {
			if cert, err = s.value(ctx, ref.Name, corev1.TLSCertKey); err != nil {
				return kafka.ClientConfig{}, "", err
			}
			if certKey, err = s.value(ctx, ref.Name, corev1.TLSPrivateKeyKey); err != nil {
				return kafka.ClientConfig{}, "", err
			}
		}
		if cfg.TLS, err = kafka.NewTLSConfig(ca, cert, certKey); err != nil {
			// The CA alone was fine, so the client certificate is at fault.
			return kafka.ClientConfig{}, "", s.invalid(k.TLS.ClientCertSecretRef.Name, "keys tls.crt, tls.key", err)
		}
	}
	if k.SASL != nil {
		name := k.SASL.SecretRef.Name
		user, err := s.value(ctx, name, saslUsernameKey)
		if err != nil {
			return kafka.ClientConfig{}, "", err
		}
		password, err := s.value(ctx, name, saslPasswordKey)
		if err != nil {
			return kafka.ClientConfig{}, "", err
		}
		cfg.SASL = &kafka.SASL{Mechanism: kafka.SASLMechanism(k.SASL.Mechanism), Username: string(user), Password: string(password)}
		if err := cfg.SASL.Validate(); err != nil {
			return kafka.ClientConfig{}, "", s.invalid(name, "keys username, password", err)
		}
	}
	sum := sha256.Sum256([]byte(strings.Join(s.digest, ",")))
	return cfg, specKey(b) + "|" + hex.EncodeToString(sum[:]), nil
}

// asSecretError returns err as a *secretError, if it is one.
func asSecretError(err error) (*secretError, bool) {
	var se *secretError
	ok := errors.As(err, &se)
	return se, ok
}
