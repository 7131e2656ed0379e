package controllers

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/junction-dev/junction/internal/kafka"
)

// The controller tests share one API server (envtest), one embedded Kafka (kfake) and one
// manager; each test works in a namespace of its own.
var (
	k8sClient client.Client
	// apiClient reads from the API server directly, not through the manager's cache.
	apiClient  client.Client
	restConfig *rest.Config
	kafkaAddrs []string
)

func TestMain(m *testing.M) {
	os.Exit(runSuite(m))
}

func runSuite(m *testing.M) int {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true), zap.Level(zapLevel())))
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join("..", "bin", "k8s")
	}
	env := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: assets,
	}
	// Stop even when Start fails part-way (e.g. a CRD is refused), or etcd and kube-apiserver outlive the test.
	defer func() { _ = env.Stop() }()
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting envtest (run `make envtest` to build bin/k8s): %v\n", err)
		return 1
	}
	restConfig = cfg

	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting kfake: %v\n", err)
		return 1
	}
	defer cluster.Close()
	kafkaAddrs = cluster.ListenAddrs()

	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: NewScheme(), Metrics: metricsserver.Options{BindAddress: "0"}})
	if err != nil {
		fmt.Fprintf(os.Stderr, "creating manager: %v\n", err)
		return 1
	}
	if err := Setup(mgr, Options{BridgeImage: "junction/bridge:test"}); err != nil {
		fmt.Fprintf(os.Stderr, "setting up controllers: %v\n", err)
		return 1
	}
	k8sClient = mgr.GetClient()
	if apiClient, err = client.New(cfg, client.Options{Scheme: NewScheme()}); err != nil {
		fmt.Fprintf(os.Stderr, "creating client: %v\n", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	defer func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
		}
	}()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		fmt.Fprintln(os.Stderr, "cache did not sync")
		return 1
	}
	return m.Run()
}

// zapLevel keeps test output to errors unless TEST_VERBOSE is set.
func zapLevel() zapcore.Level {
	if os.Getenv("TEST_VERBOSE") != "" {
		return zapcore.Level(-10)
	}
	return zapcore.ErrorLevel
}

// newNamespace creates a namespace for one test.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "test-"}}
	if err := k8sClient.Create(context.Background(), ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	return ns.Name
}

// testAdmin is a Kafka admin on the embedded cluster, for asserting what Kafka holds.
func testAdmin(t *testing.T) kafka.Admin {
	t.Helper()
	admin, err := kafka.NewAdmin(kafka.ClientConfig{BootstrapServers: kafkaAddrs})
	if err != nil {
		t.Fatalf("connecting to kfake: %v", err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	return admin
}
