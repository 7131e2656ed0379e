//go:build e2e

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/controllers"
	"github.com/junction-dev/junction/internal/kafka"
	"github.com/junction-dev/junction/test/e2e/kafkaharness"
)

// setLogger gives controller-runtime a logger once per test binary (errors only).
var setLogger sync.Once

// operatorEnv is the manager running on a real API server (envtest) against a real Kafka.
type operatorEnv struct {
	client    client.Client
	kafka     *kafkaharness.Cluster
	admin     kafka.Admin
	namespace string
}

// startOperator starts an API server and the manager, with every controller, reconciling
// against cluster; everything stops when t ends. syncPeriod short makes drift visible quickly.
func startOperator(t *testing.T, cluster *kafkaharness.Cluster, syncPeriod time.Duration) *operatorEnv {
	t.Helper()
	setLogger.Do(func() { ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.Level(zapcore.ErrorLevel))) })
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join("..", "..", "bin", "k8s")
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	// Stop even when Start fails part-way, or etcd and kube-apiserver outlive the test.
	t.Cleanup(func() { _ = env.Stop() })
	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting envtest (run `make envtest`): %v", err)
	}

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:  controllers.NewScheme(),
		Metrics: metricsserver.Options{BindAddress: "0"},
		Cache:   cache.Options{SyncPeriod: &syncPeriod},
		// Each test runs its own manager in this process; controller names repeat on purpose.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := controllers.Setup(mgr, controllers.Options{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := mgr.Start(ctx); err != nil {
			t.Errorf("manager: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Errorf("manager did not stop")
		}
	})

	c, err := client.New(cfg, client.Options{Scheme: controllers.NewScheme()})
	if err != nil {
		t.Fatal(err)
	}
	admin, err := kafka.NewAdmin(kafka.ClientConfig{BootstrapServers: cluster.BootstrapServers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "e2e-"}}
	if err := c.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	e := &operatorEnv{client: c, kafka: cluster, admin: admin, namespace: ns.Name}
	broker := &v1alpha1.MessageBroker{
		ObjectMeta: metav1.ObjectMeta{Name: "kafka", Namespace: ns.Name},
		Spec:       v1alpha1.MessageBrokerSpec{Kafka: v1alpha1.KafkaConnection{BootstrapServers: cluster.BootstrapServers}},
	}
	if err := c.Create(ctx, broker); err != nil {
		t.Fatal(err)
	}
	return e
}

// topic returns a MessageTopic on the env's broker.
func (e *operatorEnv) topic(name string, partitions, replicas int32, config map[string]v1alpha1.ConfigValue) *v1alpha1.MessageTopic {
	return &v1alpha1.MessageTopic{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: e.namespace},
		Spec: v1alpha1.MessageTopicSpec{BrokerRef: v1alpha1.LocalObjectReference{Name: "kafka"},
			Partitions: partitions, ReplicationFactor: replicas, Config: config},
	}
}

// ready reads obj and returns its Ready condition, failing g while there is none.
func (e *operatorEnv) ready(g Gomega, obj client.Object) *metav1.Condition {
	g.Expect(e.client.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)).To(Succeed())
	var conds []metav1.Condition
	switch o := obj.(type) {
	case *v1alpha1.MessageTopic:
		conds = o.Status.Conditions
	case *v1alpha1.MessageBroker:
		conds = o.Status.Conditions
	case *v1alpha1.ApiExposure:
		conds = o.Status.Conditions
	}
	c := meta.FindStatusCondition(conds, v1alpha1.ConditionReady)
	g.Expect(c).NotTo(BeNil(), "no Ready condition yet")
	return c
}

// waitReady waits until obj is Ready=True for its current generation.
func (e *operatorEnv) waitReady(t *testing.T, obj client.Object, timeout time.Duration) {
	t.Helper()
	NewWithT(t).Eventually(func(g Gomega) {
		c := e.ready(g, obj)
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), "%s: %s", c.Reason, c.Message)
		g.Expect(c.ObservedGeneration).To(Equal(obj.GetGeneration()))
	}, timeout, 200*time.Millisecond).Should(Succeed())
}

// events lists the event notes recorded for obj.
func (e *operatorEnv) events(g Gomega, obj client.Object, reason string) []string {
	var list corev1.EventList
	g.Expect(e.client.List(context.Background(), &list, client.InNamespace(obj.GetNamespace()))).To(Succeed())
	var notes []string
	for _, ev := range list.Items {
		if ev.InvolvedObject.Name == obj.GetName() && ev.Reason == reason {
			notes = append(notes, ev.Message)
		}
	}
	return notes
}
