package controllers

import (
	"errors"
	"fmt"
	"strings"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/kafka"
)

// Reasons of a MessageBroker that the cluster refuses.
const (
	reasonAuthenticationFailed = "AuthenticationFailed"
	reasonTLSHandshakeFailed   = "TLSHandshakeFailed"
)

// setBrokerStatus writes the broker's status from what the reconcile observed.
func setBrokerStatus(b *v1alpha1.MessageBroker, s *brokerScope) {
	if s.err != nil {
		applyOutcome(&b.Status.Conditions, &b.Status.ObservedGeneration, b.Generation, brokerErrorOutcome(b, s.err))
		return
	}
	b.Status.ClusterID = s.info.ClusterID
	b.Status.Brokers = s.info.Brokers
	controller := s.info.Controller
	b.Status.Controller = &controller
	applyOutcome(&b.Status.Conditions, &b.Status.ObservedGeneration, b.Generation, outcome{
		kind: outcomeReady, reason: "Connected",
		message: fmt.Sprintf("cluster %s answers with %d broker(s)", s.info.ClusterID, s.info.Brokers)})
}

// brokerErrorOutcome says why the broker cannot be used. Nothing here is terminal: a Secret can
// be created or corrected, and a cluster can come back or learn the credentials, without any
// change to the MessageBroker, so each case waits and retries.
func brokerErrorOutcome(b *v1alpha1.MessageBroker, err error) outcome {
	servers := b.Spec.Kafka.BootstrapServers
	if se, ok := asSecretError(err); ok {
		return outcome{kind: outcomeWaiting, reason: se.reason, message: se.Error()}
	}
	switch {
	case errors.Is(err, errReadingSecret):
		return outcome{kind: outcomeFailed, reason: "SecretReadFailed", message: err.Error()}
	case errors.Is(err, kafka.ErrAuthenticationFailed) && b.Spec.Kafka.SASL != nil:
		return outcome{kind: outcomeWaiting, reason: reasonAuthenticationFailed, message: fmt.Sprintf(
			"Kafka at %v refused the %s credentials from Secret %s/%s: %s",
			servers, b.Spec.Kafka.SASL.Mechanism, b.Namespace, b.Spec.Kafka.SASL.SecretRef.Name, cause(err, kafka.ErrAuthenticationFailed))}
	case errors.Is(err, kafka.ErrTLSHandshake):
		return outcome{kind: outcomeWaiting, reason: reasonTLSHandshakeFailed, message: fmt.Sprintf(
			"TLS handshake with Kafka at %v failed: %s", servers, cause(err, kafka.ErrTLSHandshake))}
	}
	return outcome{kind: outcomeWaiting, reason: reasonKafkaUnavailable,
		message: fmt.Sprintf("cannot reach Kafka at %v: %v", servers, err)}
}

// cause is err's text without the sentinel's own words, which the message already says.
func cause(err, sentinel error) string {
	return strings.TrimPrefix(err.Error(), sentinel.Error()+": ")
}
