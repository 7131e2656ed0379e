package controllers

import (
	"context"
	"fmt"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/bridgeconfig"
)

// TestApiExposureBackendWaitsForDependencies: a route's dead-letter MessageTopic and its
// backend Service are dependencies like its topic (Ready=False naming what is missing, no
// bridge until they exist, then on without an edit), and the rendered backend carries the
// dead-letter topic's Kafka name and the retry policy.
func TestApiExposureBackendWaitsForDependencies(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	createBroker(t, ns)
	g.Expect(k8sClient.Create(ctx, newTopic(ns, "orders", ns+".orders", 1))).To(Succeed())

	exposure := newExposure(ns)
	attempts := int32(7)
	exposure.Spec.Versions[0].Routes[0].Backend = &v1alpha1.Backend{
		URL:     "http://payments." + ns + ".svc:8080/payments",
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
	g.Eventually(func(g Gomega) {
		c := readyCondition(g, exposure)
		g.Expect(c.Reason).To(Equal("BackendNotFound"))
		g.Expect(c.Message).To(Equal("route v1/orders: backend Service " + ns + "/payments does not exist"))
	}, eventually, poll).Should(Succeed())
	cm := &corev1.ConfigMap{}
	g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: "orders-api-bridge"}, cm)).NotTo(Succeed(),
		"no bridge while its backend is missing")

	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "payments"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	g.Expect(k8sClient.Create(ctx, svc)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(readyCondition(g, exposure).Message).To(Equal("route v1/orders: backend Service " + ns + "/payments has no port 8080"))
	}, eventually, poll).Should(Succeed())
	svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: "alt", Port: 8080})
	g.Expect(k8sClient.Update(ctx, svc)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: "orders-api-bridge"}, cm)).To(Succeed())
	}, eventually, poll).Should(Succeed())
	cfg, err := bridgeconfig.Parse([]byte(cm.Data[bridgeconfig.FileName]))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg.Versions[0].Routes[0].Backend).To(Equal(&bridgeconfig.Backend{
		URL: "http://payments." + ns + ".svc:8080/payments", Method: "POST", Timeout: bridgeconfig.Duration(3 * time.Second),
		Retry: bridgeconfig.Retry{MaxAttempts: 7, InitialBackoff: bridgeconfig.Duration(100 * time.Millisecond),
			MaxRetryAfter: bridgeconfig.Duration(20 * time.Second)},
		DeadLetterTopic: ns + ".orders.dlq", PassHeaders: []string{"X-Tenant"}, Ordering: "perKey",
	}))
	g.Eventually(func(g Gomega) {
		g.Expect(readyCondition(g, exposure).Reason).NotTo(BeElementOf("TopicNotFound", "BackendNotFound"))
	}, eventually, poll).Should(Succeed())
}

func TestBackendService(t *testing.T) {
	for in, want := range map[string]string{
		"http://payments/p":                              "shop/payments:80",
		"https://payments/p":                             "shop/payments:443",
		"http://payments.billing.svc:8080/p":             "billing/payments:8080",
		"http://payments.billing.svc.cluster.local:81/p": "billing/payments:81",
		"http://Payments.Billing.SVC./p":                 "billing/payments:80",
		"http://payments.billing:8080/p":                 "",
		"http://api.example.com/p":                       "",
		"http://127.0.0.1:9000/p":                        "",
		"http://[::1]:9000/p":                            "",
		"http://localhost:9000/p":                        "",
		"http://9payments/p":                             "",
	} {
		name, port, ok := backendService(in, "shop")
		got := ""
		if ok {
			got = fmt.Sprintf("%s:%d", name, port)
		}
		if got != want {
			t.Errorf("backendService(%q) = %q, want %q", in, got, want)
		}
	}
}
