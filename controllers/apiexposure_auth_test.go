package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/bridgeconfig"
)

// TestApiExposureAuthAndOpenAPI: the rendered config holds key digests (never the keys), waits
// for the Secret, and the OpenAPI document is published to the ConfigMap named in status.
func TestApiExposureAuthAndOpenAPI(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	createBroker(t, ns)
	g.Expect(k8sClient.Create(ctx, newTopic(ns, "orders", ns+".orders", 1))).To(Succeed())
	exposure := newExposure(ns)
	exposure.Spec.Versions[0].Deprecated = true
	exposure.Spec.Versions = append(exposure.Spec.Versions, v1alpha1.ApiVersion{Name: "v2", Routes: exposure.Spec.Versions[0].Routes})
	exposure.Spec.Auth = &v1alpha1.AuthSpec{
		APIKeysSecretRef: v1alpha1.LocalObjectReference{Name: "keys"},
		Keys: []v1alpha1.APIKeyGrant{{Name: "checkout", Grants: []v1alpha1.Grant{{Version: "v2", Route: "orders",
			Operations: []v1alpha1.Operation{v1alpha1.OperationPublish}}}, RateLimit: &v1alpha1.RateLimitSpec{RequestsPerSecond: 5}}},
	}
	exposure.Spec.RateLimit = &v1alpha1.RateLimitSpec{RequestsPerSecond: 100, Burst: 200}
	exposure.Spec.REST.CORS = &v1alpha1.CORSSpec{AllowedOrigins: []string{"https://shop.example"}}
	g.Expect(k8sClient.Create(ctx, exposure)).To(Succeed())

	g.Eventually(func(g Gomega) {
		c := readyCondition(g, exposure)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal("SecretNotFound"))
	}, eventually, poll).Should(Succeed())

	const key = "s3cr3t-checkout-key"
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "keys", Namespace: ns}, Data: map[string][]byte{"checkout": []byte(key)}}
	g.Expect(k8sClient.Create(ctx, secret)).To(Succeed())

	cm := &corev1.ConfigMap{}
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: "orders-api-bridge"}, cm)).To(Succeed())
	}, eventually, poll).Should(Succeed())
	raw := cm.Data[bridgeconfig.FileName]
	g.Expect(raw).NotTo(ContainSubstring(key))
	cfg, err := bridgeconfig.Parse([]byte(raw))
	g.Expect(err).NotTo(HaveOccurred())
	sum := sha256.Sum256([]byte(key))
	g.Expect(cfg.Auth.Keys).To(HaveLen(1))
	g.Expect(cfg.Auth.Keys[0].SHA256).To(Equal(hex.EncodeToString(sum[:])))
	g.Expect(cfg.Auth.Keys[0].RateLimit.RequestsPerSecond).To(Equal(int32(5)))
	g.Expect(cfg.RateLimit.Burst).To(Equal(int32(200)))
	g.Expect(cfg.CORS.AllowedOrigins).To(Equal([]string{"https://shop.example"}))
	g.Expect(cfg.Versions[0].DeprecatedSince).NotTo(BeNil())

	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: exposure.Name}, exposure)).To(Succeed())
		g.Expect(exposure.Status.OpenAPIConfigMap).To(Equal("orders-api-openapi"))
		doc := &corev1.ConfigMap{}
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: exposure.Status.OpenAPIConfigMap}, doc)).To(Succeed())
		g.Expect(doc.Data["openapi.json"]).To(ContainSubstring(`"openapi": "3.1.0"`))
		g.Expect(doc.Data["openapi.json"]).To(ContainSubstring(`"securitySchemes"`))
		g.Expect(strings.Count(doc.Data["openapi.json"], `"deprecated": true`)).To(Equal(1))
	}, eventually, poll).Should(Succeed())

	// Rotating the key in the Secret re-renders the digest.
	secret.Data["checkout"] = []byte("rotated")
	g.Expect(k8sClient.Update(ctx, secret)).To(Succeed())
	rotated := sha256.Sum256([]byte("rotated"))
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: "orders-api-bridge"}, cm)).To(Succeed())
		g.Expect(cm.Data[bridgeconfig.FileName]).To(ContainSubstring(hex.EncodeToString(rotated[:])))
	}, eventually, poll).Should(Succeed())
}
