//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/bridgeconfig"
	"github.com/junction-dev/junction/test/e2e/kafkaharness"
)

// TestBridgeFromOperatorE2E runs the whole path: the manager (envtest) renders an ApiExposure
// with API keys from a Secret into a ConfigMap, publishes the OpenAPI document to the
// ConfigMap named in status, and a real bridge process started from exactly that rendered
// config serves the keys' grants against the real broker.
func TestBridgeFromOperatorE2E(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	cluster := kafkaharness.Start(t, 1)
	env := startOperator(t, cluster, time.Minute)
	ns := env.namespace

	topic := env.topic("orders", 2, 1, map[string]v1alpha1.ConfigValue{"max.message.bytes": "2048"})
	topic.Spec.Schema = &v1alpha1.TopicSchema{JSONSchema: e2eSchema}
	g.Expect(env.client.Create(ctx, topic)).To(Succeed())
	const key = "operator-e2e-key-0123456789"
	g.Expect(env.client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "api-keys", Namespace: ns},
		Data: map[string][]byte{"shop": []byte(key), "unlisted": []byte("unlisted-key")}})).To(Succeed())
	exposure := &v1alpha1.ApiExposure{
		ObjectMeta: metav1.ObjectMeta{Name: "shop-api", Namespace: ns},
		Spec: v1alpha1.ApiExposureSpec{
			Versions: []v1alpha1.ApiVersion{
				{Name: "v1", Deprecated: true, Routes: []v1alpha1.Route{{Name: "orders", TopicRef: v1alpha1.LocalObjectReference{Name: "orders"},
					Operations: []v1alpha1.Operation{v1alpha1.OperationPublish}}}},
				{Name: "v2", Routes: []v1alpha1.Route{{Name: "orders", TopicRef: v1alpha1.LocalObjectReference{Name: "orders"},
					Operations: []v1alpha1.Operation{v1alpha1.OperationPublish, v1alpha1.OperationSubscribe}}}},
			},
			Auth: &v1alpha1.AuthSpec{APIKeysSecretRef: v1alpha1.LocalObjectReference{Name: "api-keys"},
				Keys: []v1alpha1.APIKeyGrant{{Name: "shop", Grants: []v1alpha1.Grant{{Version: "v2", Route: "orders",
					Operations: []v1alpha1.Operation{v1alpha1.OperationPublish}}}}}},
		},
	}
	g.Expect(env.client.Create(ctx, exposure)).To(Succeed())

	cm := &corev1.ConfigMap{}
	doc := &corev1.ConfigMap{}
	g.Eventually(func(g Gomega) {
		g.Expect(env.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "shop-api-bridge"}, cm)).To(Succeed())
		g.Expect(env.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: exposure.Name}, exposure)).To(Succeed())
		g.Expect(exposure.Status.OpenAPIConfigMap).NotTo(BeEmpty())
		g.Expect(env.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: exposure.Status.OpenAPIConfigMap}, doc)).To(Succeed())
	}, 60*time.Second, 200*time.Millisecond).Should(Succeed())
	rendered := cm.Data[bridgeconfig.FileName]
	g.Expect(rendered).NotTo(ContainSubstring(key), "the ConfigMap holds a usable key")
	cfg, err := bridgeconfig.Parse([]byte(rendered))
	g.Expect(err).NotTo(HaveOccurred())

	// Play kubelet: run the bridge on the rendered config, then report the Deployment available.
	b := startBridgeProc(t, cfg)
	d := &appsv1.Deployment{}
	g.Expect(env.client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "shop-api-bridge"}, d)).To(Succeed())
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue, Reason: "MinimumReplicasAvailable",
			LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now()}}}
	g.Expect(env.client.Status().Update(ctx, d)).To(Succeed())
	env.waitReady(t, exposure, 60*time.Second)

	// The published document is the one the bridge serves.
	resp, served := call(t, http.MethodGet, b.baseURL+"/openapi.json", "", nil, nil)
	g.Expect(resp.StatusCode).To(Equal(200))
	g.Expect(bytes.Equal(served, []byte(doc.Data["openapi.json"]))).To(BeTrue(), "ConfigMap and /openapi.json differ")
	g.Expect(doc.Data["openapi.json"]).To(ContainSubstring(`"deprecated": true`))

	body := `{"id": "from-operator", "qty": 1}`
	for _, tc := range []struct {
		name, path, key string
		status          int
	}{
		{"granted key", "/v2/orders", key, 200},
		{"key in the Secret but not granted", "/v2/orders", "unlisted-key", 401},
		{"no key", "/v2/orders", "", 401},
		{"outside the grant", "/v1/orders", key, 403},
	} {
		h := http.Header{}
		if tc.key != "" {
			h.Set("Authorization", "Bearer "+tc.key)
		}
		resp, data := call(t, http.MethodPost, b.baseURL+tc.path, "application/json", strings.NewReader(body), h)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d: %s", tc.name, resp.StatusCode, tc.status, data)
		}
	}
	// The max.message.bytes of the MessageTopic is the bridge's limit.
	big := `{"id": "` + strings.Repeat("x", 2100) + `", "qty": 1}`
	resp, data := call(t, http.MethodPost, b.baseURL+"/v2/orders", "application/json", strings.NewReader(big), http.Header{"X-Api-Key": {key}})
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(data), "2048") {
		t.Errorf("oversized: %d %s", resp.StatusCode, data)
	}
	recs := readAll(t, cluster, cfg.Versions[1].Routes[0].Topic)
	if len(recs) != 1 || !strings.Contains(string(recs[0].Value), "from-operator") {
		t.Errorf("topic holds %d records, want only the granted one", len(recs))
	}
}
