package webhook

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	crwebhook "sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/junction-dev/junction/api/v1alpha1"
	jschema "github.com/junction-dev/junction/internal/schema"
)

// These tests run the webhook for real: envtest installs config/webhook's generated
// ValidatingWebhookConfiguration pointed at a local server with its own certificates.
var k8sClient client.Client

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join("..", "..", "bin", "k8s")
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
		WebhookInstallOptions: envtest.WebhookInstallOptions{Paths: []string{filepath.Join("..", "..", "config", "webhook")}},
	}
	defer func() { _ = env.Stop() }()
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting envtest (run `make envtest` to build bin/k8s): %v\n", err)
		return 1
	}
	scheme := runtime.NewScheme()
	_ = clientgoscheme.AddToScheme(scheme)
	_ = v1alpha1.AddToScheme(scheme)
	wio := env.WebhookInstallOptions
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  scheme,
		Metrics: metricsserver.Options{BindAddress: "0"},
		WebhookServer: crwebhook.NewServer(crwebhook.Options{
			Host: wio.LocalServingHost, Port: wio.LocalServingPort, CertDir: wio.LocalServingCertDir}),
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "creating manager: %v\n", err)
		return 1
	}
	if err := Setup(mgr, mgr.GetAPIReader()); err != nil {
		fmt.Fprintf(os.Stderr, "setting up webhooks: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = mgr.Start(ctx) }()
	addr := net.JoinHostPort(wio.LocalServingHost, strconv.Itoa(wio.LocalServingPort))
	deadline := time.Now().Add(20 * time.Second)
	for {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a readiness probe of the local test server
		if err == nil {
			_ = conn.Close()
			break
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "webhook server did not start: %v\n", err)
			return 1
		}
		time.Sleep(100 * time.Millisecond)
	}
	if k8sClient, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintf(os.Stderr, "creating client: %v\n", err)
		return 1
	}
	return m.Run()
}

func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "webhook-"}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

const (
	v1Schema  = `{"type":"object","additionalProperties":false,"properties":{"id":{"type":"string"},"amount":{"type":"number"},"status":{"enum":["NEW","PAID"]}}}`
	v2Schema  = `{"type":"object","additionalProperties":false,"properties":{"id":{"type":"string"},"amount":{"type":"number"},"status":{"enum":["NEW","PAID"]},"note":{"type":"string"}}}`
	badSchema = `{"type":"object","additionalProperties":false,"required":["id"],"properties":{"id":{"type":"string"},"amount":{"type":"integer"},"status":{"enum":["NEW"]}}}`
)

func newTopic(ns, name, schemaText string) *v1alpha1.MessageTopic {
	return &v1alpha1.MessageTopic{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1alpha1.MessageTopicSpec{BrokerRef: v1alpha1.LocalObjectReference{Name: "kafka"}, Partitions: 3, ReplicationFactor: 1,
			Schema: &v1alpha1.TopicSchema{JSONSchema: schemaText}},
	}
}

func TestTopicSchemaChangesAreChecked(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	topic := newTopic(ns, "orders", v1Schema)
	g.Expect(k8sClient.Create(ctx, topic)).To(Succeed())

	// An incompatible schema is refused with every reason.
	patch := client.MergeFrom(topic.DeepCopy())
	topic.Spec.Schema.JSONSchema = badSchema
	err := k8sClient.Patch(ctx, topic, patch)
	g.Expect(err).To(HaveOccurred())
	for _, want := range []string{
		`admission webhook "vmessagetopic-v1alpha1.messaging.junction.dev" denied the request`,
		"spec.schema.jsonSchema: Forbidden: not BACKWARD compatible with version 1: `/properties/amount` narrowed from number to integer",
		"not BACKWARD compatible with version 1: `/properties/id` became required",
		"not BACKWARD compatible with version 1: `/properties/status` enum value `PAID` removed",
	} {
		g.Expect(err.Error()).To(ContainSubstring(want))
	}

	// A compatible one, and unrelated edits, are admitted.
	topic.Spec.Schema.JSONSchema = v2Schema
	g.Expect(k8sClient.Patch(ctx, topic, patch)).To(Succeed())
	patch = client.MergeFrom(topic.DeepCopy())
	topic.Labels = map[string]string{"team": "shop"}
	topic.Spec.Partitions = 6
	g.Expect(k8sClient.Patch(ctx, topic, patch)).To(Succeed())

	// Under NONE anything goes.
	patch = client.MergeFrom(topic.DeepCopy())
	topic.Spec.Schema.JSONSchema = badSchema
	topic.Spec.Schema.Compatibility = "NONE"
	g.Expect(k8sClient.Patch(ctx, topic, patch)).To(Succeed())
}

func TestTopicSchemaCheckedAgainstHistory(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	// v1 then a v2 that widened amount to any number, as the operator would have recorded them.
	v1 := `{"type":"object","properties":{"amount":{"type":"integer"}}}`
	v2 := `{"type":"object","properties":{"amount":{"type":"number"}}}`
	topic := newTopic(ns, "payments", v2)
	topic.Spec.Schema.Compatibility = "FORWARD_TRANSITIVE"
	g.Expect(k8sClient.Create(ctx, topic)).To(Succeed())
	var h jschema.History
	h.Add(v1, time.Now())
	last := h.Add(v2, time.Now())
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "payments-schema-history", Namespace: ns}, Data: h.Data()}
	g.Expect(k8sClient.Create(ctx, cm)).To(Succeed())
	topic.Status.Schema = &v1alpha1.TopicSchemaStatus{Version: last.Version, Fingerprint: last.Fingerprint,
		AcceptedAt: metav1.Now(), HistoryConfigMap: cm.Name, JSONSchema: v2}
	g.Expect(k8sClient.Status().Update(ctx, topic)).To(Succeed())

	// Against v2 alone a bounded number would do; FORWARD_TRANSITIVE also asks readers on v1,
	// which expect integers.
	patch := client.MergeFrom(topic.DeepCopy())
	topic.Spec.Schema.JSONSchema = `{"type":"object","properties":{"amount":{"type":"number","maximum":100}}}`
	err := k8sClient.Patch(ctx, topic, patch)
	g.Expect(err).To(HaveOccurred())
	g.Expect(err.Error()).To(ContainSubstring("not FORWARD compatible with version 1: `/properties/amount` widened from integer to number (mode FORWARD_TRANSITIVE)"))
	g.Expect(err.Error()).NotTo(ContainSubstring("with version 2"))

	topic.Spec.Schema.JSONSchema = `{"type":"object","properties":{"amount":{"type":"integer","maximum":100}}}`
	g.Expect(k8sClient.Patch(ctx, topic, patch)).To(Succeed())
}

func TestExposureRemovals(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	route := func(name string) v1alpha1.Route {
		return v1alpha1.Route{Name: name, TopicRef: v1alpha1.LocalObjectReference{Name: name}, Operations: []v1alpha1.Operation{v1alpha1.OperationPublish}}
	}
	e := &v1alpha1.ApiExposure{
		ObjectMeta: metav1.ObjectMeta{Name: "orders-api", Namespace: ns},
		Spec: v1alpha1.ApiExposureSpec{Versions: []v1alpha1.ApiVersion{
			{Name: "v1", Routes: []v1alpha1.Route{route("orders")}},
			{Name: "v2", Routes: []v1alpha1.Route{route("orders"), route("payments")}},
		}},
	}
	g.Expect(k8sClient.Create(ctx, e)).To(Succeed())

	// Removing a live version, or a route of one, is refused.
	patch := client.MergeFrom(e.DeepCopy())
	e.Spec.Versions = []v1alpha1.ApiVersion{{Name: "v2", Routes: []v1alpha1.Route{route("orders")}}}
	err := k8sClient.Patch(ctx, e, patch)
	g.Expect(err).To(HaveOccurred())
	g.Expect(err.Error()).To(ContainSubstring(`admission webhook "vapiexposure-v1alpha1.messaging.junction.dev" denied the request`))
	g.Expect(err.Error()).To(ContainSubstring("spec.versions[v1]: Forbidden: version v1 removed: version v1 is not deprecated: mark it deprecated with a sunset date first"))
	g.Expect(err.Error()).To(ContainSubstring("spec.versions[v2].routes[payments]: Forbidden: route v2/payments removed"))

	// Deprecated with a sunset still ahead: still refused.
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(e), e)).To(Succeed())
	patch = client.MergeFrom(e.DeepCopy())
	future := metav1.NewTime(time.Now().Add(48 * time.Hour).Truncate(time.Second))
	e.Spec.Versions[0].Deprecated, e.Spec.Versions[0].Sunset = true, &future
	g.Expect(k8sClient.Patch(ctx, e, patch)).To(Succeed())
	patch = client.MergeFrom(e.DeepCopy())
	e.Spec.Versions = e.Spec.Versions[1:]
	err = k8sClient.Patch(ctx, e, patch)
	g.Expect(err).To(MatchError(ContainSubstring("which has not passed yet")))

	// Once the sunset has passed, the version may go.
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(e), e)).To(Succeed())
	patch = client.MergeFrom(e.DeepCopy())
	past := metav1.NewTime(time.Now().Add(-time.Hour).Truncate(time.Second))
	e.Spec.Versions[0].Sunset = &past
	g.Expect(k8sClient.Patch(ctx, e, patch)).To(Succeed())
	patch = client.MergeFrom(e.DeepCopy())
	e.Spec.Versions = e.Spec.Versions[1:]
	g.Expect(k8sClient.Patch(ctx, e, patch)).To(Succeed())
}

func TestTopicImmutableFieldsWhenCELIsBypassed(t *testing.T) {
	// CEL refuses these first at the API server; the webhook says the same for clusters where a
	// change arrives from an older CRD, and `junction check` relies on the same rules.
	g := NewWithT(t)
	old := newTopic("ns", "orders", v1Schema)
	old.Spec.TopicName = "shop.orders"
	new := old.DeepCopy()
	new.Spec.TopicName = "shop.orders.v2"
	new.Spec.Partitions = 1
	_, err := (&TopicValidator{}).ValidateUpdate(context.Background(), old, new)
	g.Expect(err).To(MatchError(ContainSubstring("spec.topicName: Forbidden: topicName is immutable: shop.orders → shop.orders.v2")))
	g.Expect(err).To(MatchError(ContainSubstring("spec.partitions: Forbidden: partitions cannot decrease: 3 → 1")))

	// A topic being deleted is always admitted, so finalizers can go.
	now := metav1.Now()
	new.DeletionTimestamp = &now
	_, err = (&TopicValidator{}).ValidateUpdate(context.Background(), old, new)
	g.Expect(err).NotTo(HaveOccurred())
}
