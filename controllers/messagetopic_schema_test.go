package controllers

import (
	"context"
	"encoding/json"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/bridgeconfig"
	"github.com/junction-dev/junction/internal/schema"
)

func TestServedSchemaIsTheAcceptedOne(t *testing.T) {
	g := NewWithT(t)
	topic := newTopic("ns", "orders", "", 1)
	g.Expect(servedSchema(topic)).To(BeEmpty())
	topic.Spec.Schema = &v1alpha1.TopicSchema{JSONSchema: `{"type":"integer"}`}
	g.Expect(servedSchema(topic)).To(Equal(`{"type":"integer"}`), "not yet checked: the spec")
	topic.Status.Schema = &v1alpha1.TopicSchemaStatus{Version: 3, JSONSchema: `{"type":"number"}`}
	g.Expect(servedSchema(topic)).To(Equal(`{"type":"number"}`), "refused or unchecked: the accepted version")

	e := newExposure("ns")
	broker := &v1alpha1.MessageBroker{Spec: v1alpha1.MessageBrokerSpec{Kafka: v1alpha1.KafkaConnection{BootstrapServers: []string{"k:9092"}}}}
	cfg, err := renderBridgeConfig(e, map[string]*v1alpha1.MessageTopic{"orders": topic}, broker, nil)
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg.Versions[0].Routes[0].Schema).To(Equal(`{"type":"number"}`))
}

func TestMessageTopicSchemaEvolution(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	createBroker(t, ns)

	v1 := `{"type":"object","additionalProperties":false,"properties":{"id":{"type":"string"},"amount":{"type":"number"},"status":{"enum":["NEW","PAID"]}}}`
	v2 := `{"type":"object","additionalProperties":false,"properties":{"id":{"type":"string"},"amount":{"type":"number"},"status":{"enum":["NEW","PAID","SHIPPED"]},"note":{"type":"string"}}}`
	bad := `{"type":"object","additionalProperties":false,"required":["id"],"properties":{"id":{"type":"string"},"amount":{"type":"integer"},"status":{"enum":["NEW","SHIPPED"]},"note":{"type":"string"}}}`

	topic := newTopic(ns, "orders", ns+".orders", 1)
	topic.Spec.Schema = &v1alpha1.TopicSchema{JSONSchema: v1}
	g.Expect(k8sClient.Create(ctx, topic)).To(Succeed())
	g.Expect(topic.Spec.Schema.Compatibility).To(Equal(v1alpha1.CompatibilityMode("BACKWARD")), "defaulted")
	exposure := newExposure(ns)
	g.Expect(k8sClient.Create(ctx, exposure)).To(Succeed())

	historyKey := types.NamespacedName{Namespace: ns, Name: "orders-schema-history"}
	g.Eventually(func(g Gomega) {
		c := readyCondition(g, topic)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
		g.Expect(topic.Status.Schema).NotTo(BeNil())
		g.Expect(topic.Status.Schema.Version).To(Equal(int32(1)))
		g.Expect(topic.Status.Schema.Fingerprint).To(Equal(schema.Fingerprint(v1)))
		g.Expect(topic.Status.Schema.HistoryConfigMap).To(Equal(historyKey.Name))
	}, eventually, poll).Should(Succeed())

	// A compatible change (BACKWARD: an enum value and an optional field added to a closed model).
	patch := client.MergeFrom(topic.DeepCopy())
	topic.Spec.Schema.JSONSchema = v2
	g.Expect(k8sClient.Patch(ctx, topic, patch)).To(Succeed())
	g.Eventually(func(g Gomega) {
		c := readyCondition(g, topic)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
		g.Expect(topic.Status.Schema.Version).To(Equal(int32(2)))
		g.Expect(topic.Status.ObservedGeneration).To(Equal(topic.Generation))
	}, eventually, poll).Should(Succeed())

	// The history ConfigMap is owned by the topic and holds both versions.
	cm := &corev1.ConfigMap{}
	g.Expect(apiClient.Get(ctx, historyKey, cm)).To(Succeed())
	g.Expect(cm.OwnerReferences).To(HaveLen(1))
	g.Expect(cm.OwnerReferences[0].Kind).To(Equal("MessageTopic"))
	g.Expect(cm.OwnerReferences[0].UID).To(Equal(topic.UID))
	g.Expect(cm.Data).To(HaveKeyWithValue("v1.json", v1))
	g.Expect(cm.Data).To(HaveKeyWithValue("v2.json", v2))
	var index []schema.Version
	g.Expect(json.Unmarshal([]byte(cm.Data[schema.HistoryKey]), &index)).To(Succeed())
	g.Expect(index).To(HaveLen(2))
	g.Expect(index[1].Fingerprint).To(Equal(schema.Fingerprint(v2)))

	// An incompatible change stalls with every reason; version 2 stays accepted and served.
	patch = client.MergeFrom(topic.DeepCopy())
	topic.Spec.Schema.JSONSchema = bad
	g.Expect(k8sClient.Patch(ctx, topic, patch)).To(Succeed())
	g.Eventually(func(g Gomega) {
		c := readyCondition(g, topic)
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(reasonIncompatibleSchema))
		stalled := meta.FindStatusCondition(topic.Status.Conditions, v1alpha1.ConditionStalled)
		g.Expect(stalled).NotTo(BeNil())
		g.Expect(stalled.Reason).To(Equal(reasonIncompatibleSchema))
		for _, want := range []string{
			"schema is not BACKWARD compatible",
			"BACKWARD against version 2: `/properties/id` became required",
			"`/properties/amount` narrowed from number to integer",
			"`/properties/status` enum value `PAID` removed",
			"bridges keep serving version 2",
		} {
			g.Expect(stalled.Message).To(ContainSubstring(want))
		}
		g.Expect(topic.Status.ObservedGeneration).To(Equal(topic.Generation))
	}, eventually, poll).Should(Succeed())
	g.Expect(topic.Status.Schema.Version).To(Equal(int32(2)))
	g.Expect(topic.Status.Schema.JSONSchema).To(Equal(v2))

	bridgeCM := &corev1.ConfigMap{}
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: "orders-api-bridge"}, bridgeCM)).To(Succeed())
		cfg, err := bridgeconfig.Parse([]byte(bridgeCM.Data[bridgeconfig.FileName]))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(cfg.Versions[0].Routes[0].Schema).To(Equal(v2))
	}, eventually, poll).Should(Succeed())

	// Under NONE the same schema is accepted as version 3 and served.
	patch = client.MergeFrom(topic.DeepCopy())
	topic.Spec.Schema.Compatibility = "NONE"
	g.Expect(k8sClient.Patch(ctx, topic, patch)).To(Succeed())
	g.Eventually(func(g Gomega) {
		c := readyCondition(g, topic)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
		g.Expect(topic.Status.Schema.Version).To(Equal(int32(3)))
		g.Expect(meta.FindStatusCondition(topic.Status.Conditions, v1alpha1.ConditionStalled)).To(BeNil())
		g.Expect(k8sClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: "orders-api-bridge"}, bridgeCM)).To(Succeed())
		cfg, err := bridgeconfig.Parse([]byte(bridgeCM.Data[bridgeconfig.FileName]))
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(cfg.Versions[0].Routes[0].Schema).To(Equal(bad))
	}, eventually, poll).Should(Succeed())

	// An unknown mode is refused at admission.
	patch = client.MergeFrom(topic.DeepCopy())
	topic.Spec.Schema.Compatibility = "SIDEWAYS"
	g.Expect(k8sClient.Patch(ctx, topic, patch)).To(MatchError(ContainSubstring("compatibility")))
}
