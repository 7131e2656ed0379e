package controllers

import (
	"context"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/bridgeconfig"
)

// TestApiExposureBackendWaitsForDeadLetterTopic: a route's dead-letter MessageTopic is a
// dependency like its topic (Ready=False naming it, Ready again once it exists, no edit), and
// the rendered backend carries the dead-letter topic's Kafka name and the retry policy.
func TestApiExposureBackendWaitsForDeadLetterTopic(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	createBroker(t, ns)
	g.Expect(k8sClient.Create(ctx, newTopic(ns, "orders", ns+".orders", 1))).To(Succeed())

	exposure := newExposure(ns)
	attempts := int32(7)
	exposure.Spec.Versions[0].Routes[0].Backend = &v1alpha1.Backend{
		URL:     "http://payments.shop.svc:8080/payments",
		Timeout: &metav1.Duration{Duration: 3 * time.Second},
		Retry: &v1alpha1.RetryPolicy{MaxAttempts: &attempts, InitialBackoff: &metav1.Duration{Duration: 100 * time.Millisecond},
			MaxRetryAfter: &metav1.Duration{Duration: 20 * time.Second}},
		DeadLetterTopicRef: &v1alpha1.LocalObjectReference{Name: "orders-dlq"},
		PassHeaders:        []string{"X-Tenant"},
	}
	g.Expect(k8sClient.Create(ctx, exposure)).To(Succeed())
	g.Eventually(func(g Gomega) {
		c := readyCondition(g, exposure)
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal("TopicNotFound"))
		g.Expect(c.Message).To(ContainSubstring("orders-dlq"))
	}, eventually, poll).Should(Succeed())

	g.Expect(k8sClient.Create(ctx, newTopic(ns, "orders-dlq", ns+".orders.dlq", 1))).To(Succeed())
	cm := &corev1.ConfigMap{}
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: "orders-api-bridge"}, cm)).To(Succeed())
	}, eventually, poll).Should(Succeed())
	cfg, err := bridgeconfig.Parse([]byte(cm.Data[bridgeconfig.FileName]))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg.Versions[0].Routes[0].Backend).To(Equal(&bridgeconfig.Backend{
		URL: "http://payments.shop.svc:8080/payments", Method: "POST", Timeout: bridgeconfig.Duration(3 * time.Second),
		Retry: bridgeconfig.Retry{MaxAttempts: 7, InitialBackoff: bridgeconfig.Duration(100 * time.Millisecond),
			MaxRetryAfter: bridgeconfig.Duration(20 * time.Second)},
		DeadLetterTopic: ns + ".orders.dlq", PassHeaders: []string{"X-Tenant"}, Ordering: "perKey",
	}))
	g.Eventually(func(g Gomega) {
		g.Expect(readyCondition(g, exposure).Reason).NotTo(Equal("TopicNotFound"))
	}, eventually, poll).Should(Succeed())
}
