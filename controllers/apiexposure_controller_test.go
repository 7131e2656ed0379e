package controllers

import (
	"context"
	"encoding/json"
	"testing"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/internal/bridgeconfig"
)

const testSchema = `{"type":"object","required":["id"],"properties":{"id":{"type":"string"}}}`

func newExposure(ns string) *v1alpha1.ApiExposure {
	return &v1alpha1.ApiExposure{
		ObjectMeta: metav1.ObjectMeta{Name: "orders-api", Namespace: ns},
		Spec: v1alpha1.ApiExposureSpec{Versions: []v1alpha1.ApiVersion{{
			Name: "v1",
			Routes: []v1alpha1.Route{{Name: "orders", TopicRef: v1alpha1.LocalObjectReference{Name: "orders"},
				Operations: []v1alpha1.Operation{v1alpha1.OperationPublish}}},
		}}},
	}
}

// markAvailable plays the deployment controller and kubelet, which envtest does not run.
func markAvailable(g Gomega, d *appsv1.Deployment) {
	d.Status = appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue,
			Reason: "MinimumReplicasAvailable", LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
	}
	g.Expect(k8sClient.Status().Update(context.Background(), d)).To(Succeed())
}

func TestApiExposureRendersBridge(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	exposure := newExposure(ns)
	g.Expect(k8sClient.Create(ctx, exposure)).To(Succeed())

	// Without its topic the exposure waits and says which topic is missing.
	g.Eventually(func(g Gomega) {
		c := readyCondition(g, exposure)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Reason).To(Equal("TopicNotFound"))
		g.Expect(c.Message).To(ContainSubstring("orders"))
	}, eventually, poll).Should(Succeed())

	createBroker(t, ns)
	topic := newTopic(ns, "orders", ns+".orders", 1)
	topic.Spec.Schema = &v1alpha1.TopicSchema{JSONSchema: testSchema}
	topic.Spec.Config = map[string]v1alpha1.ConfigValue{"max.message.bytes": "2048"}
	g.Expect(k8sClient.Create(ctx, topic)).To(Succeed())

	name := types.NamespacedName{Namespace: ns, Name: "orders-api-bridge"}
	cm := &corev1.ConfigMap{}
	deploy := &appsv1.Deployment{}
	svc := &corev1.Service{}
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, name, cm)).To(Succeed())
		g.Expect(k8sClient.Get(ctx, name, deploy)).To(Succeed())
		g.Expect(k8sClient.Get(ctx, name, svc)).To(Succeed())
	}, eventually, poll).Should(Succeed())

	// The ConfigMap holds the config the bridge reads, with the topic's schema and size limit.
	cfg, err := bridgeconfig.Parse([]byte(cm.Data[bridgeconfig.FileName]))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(cfg.Kafka.BootstrapServers).To(Equal(kafkaAddrs))
	g.Expect(cfg.Versions).To(HaveLen(1))
	route := cfg.Versions[0].Routes[0]
	g.Expect(route.Topic).To(Equal(ns + ".orders"))
	g.Expect(route.Schema).To(Equal(testSchema))
	g.Expect(route.MaxMessageBytes).To(Equal(int32(2048)))

	// Children are controlled by the exposure; the Deployment mounts the ConfigMap and runs
	// restricted; the Service names its ports and protocols.
	for _, obj := range []client.Object{cm, deploy, svc} {
		refs := obj.GetOwnerReferences()
		g.Expect(refs).To(HaveLen(1))
		g.Expect(refs[0].Kind).To(Equal("ApiExposure"))
		g.Expect(*refs[0].Controller).To(BeTrue())
	}
	pod := deploy.Spec.Template.Spec
	g.Expect(pod.Containers[0].Args).To(Equal([]string{"--config", "/etc/junction/bridge.json", "--drain-delay", "5s"}))
	g.Expect(*pod.TerminationGracePeriodSeconds).To(Equal(int64(35)))
	g.Expect(pod.Containers[0].Image).To(Equal("junction/bridge:test"))
	g.Expect(pod.Volumes[0].ConfigMap.Name).To(Equal("orders-api-bridge"))
	g.Expect(*pod.Containers[0].SecurityContext.ReadOnlyRootFilesystem).To(BeTrue())
	g.Expect(*pod.SecurityContext.RunAsNonRoot).To(BeTrue())
	g.Expect(svc.Spec.Ports).To(HaveLen(2))
	g.Expect(svc.Spec.Ports[0].Name).To(Equal("http"))
	g.Expect(svc.Spec.Ports[1].Name).To(Equal("grpc"))
	g.Expect(*svc.Spec.Ports[1].AppProtocol).To(Equal("grpc"))

	// Topic Ready but Deployment not yet available: still waiting, naming the Deployment.
	g.Eventually(func(g Gomega) {
		c := readyCondition(g, exposure)
		g.Expect(c.Reason).To(Equal("BridgeUnavailable"))
	}, eventually, poll).Should(Succeed())

	markAvailable(g, deploy)
	g.Eventually(func(g Gomega) {
		c := readyCondition(g, exposure)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Message)
		g.Expect(exposure.Status.Endpoints.REST).To(Equal("http://orders-api-bridge." + ns + ".svc:8080"))
		g.Expect(exposure.Status.Endpoints.GRPC).To(Equal("orders-api-bridge." + ns + ".svc:9090"))
		g.Expect(exposure.Status.ServedVersions).To(Equal([]string{"v1"}))
	}, eventually, poll).Should(Succeed())

	// A schema change re-renders the config and rolls the Deployment via the checksum.
	oldSum := deploy.Spec.Template.Annotations[checksumAnnotation]
	patch := client.MergeFrom(topic.DeepCopy())
	topic.Spec.Schema.JSONSchema = `{"type":"object"}`
	g.Expect(k8sClient.Patch(ctx, topic, patch)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, name, deploy)).To(Succeed())
		g.Expect(deploy.Spec.Template.Annotations[checksumAnnotation]).NotTo(Equal(oldSum))
		g.Expect(k8sClient.Get(ctx, name, cm)).To(Succeed())
		var cfg bridgeconfig.Config
		g.Expect(json.Unmarshal([]byte(cm.Data[bridgeconfig.FileName]), &cfg)).To(Succeed())
		g.Expect(cfg.Versions[0].Routes[0].Schema).To(Equal(`{"type":"object"}`))
	}, eventually, poll).Should(Succeed())
}

func TestBridgeNameIsDNSSafe(t *testing.T) {
	g := NewWithT(t)
	g.Expect(bridgeName("orders-api")).To(Equal("orders-api-bridge"))
	long := "a-very-long-exposure-name-that-goes-on-and-on-past-the-kubernetes-limit"
	n := bridgeName(long)
	g.Expect(len(n)).To(BeNumerically("<=", 63))
	g.Expect(n).NotTo(Equal(bridgeName(long + "x")))
	g.Expect(n).To(MatchRegexp(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`))
}
