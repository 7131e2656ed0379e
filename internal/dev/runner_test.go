package dev

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/junction-dev/junction/internal/bridgeconfig"
)

// fakeBridgeEnv makes the test binary act as a bridge: the runner is tested on its own, with
// a process that loads the config and answers /readyz like bin/bridge does.
const fakeBridgeEnv = "JUNCTION_DEV_TEST_FAKE_BRIDGE"

func TestMain(m *testing.M) {
	if os.Getenv(fakeBridgeEnv) == "1" {
		os.Exit(fakeBridge(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// fakeBridge serves /readyz and /info (pid and route names) on --http-addr and accepts TCP on
// --grpc-addr until SIGTERM.
func fakeBridge(args []string) int {
	flags := map[string]string{}
	for i := 0; i+1 < len(args); i += 2 {
		flags[args[i]] = args[i+1]
	}
	cfg, err := bridgeconfig.Load(flags["--config"])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	grpcLn, err := net.Listen("tcp", flags["--grpc-addr"])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	defer grpcLn.Close()
	mux := http.NewServeMux()
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	mux.HandleFunc("/info", func(w http.ResponseWriter, _ *http.Request) {
		var routes []string
		for _, v := range cfg.Versions {
			for _, r := range v.Routes {
				routes = append(routes, v.Name+"/"+r.Name)
			}
		}
		_ = json.NewEncoder(w).Encode(fakeInfo{PID: os.Getpid(), Routes: routes})
	})
	ln, err := net.Listen("tcp", flags["--http-addr"])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	go func() { _ = http.Serve(ln, mux) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM)
	<-sig
	return 0
}

type fakeInfo struct {
	PID    int      `json:"pid"`
	Routes []string `json:"routes"`
}

func assetsDir(t *testing.T) string {
	dir := os.Getenv("KUBEBUILDER_ASSETS")
	if dir == "" {
		dir, _ = filepath.Abs(filepath.Join("..", "..", "bin", "k8s"))
	}
	if _, err := os.Stat(filepath.Join(dir, "kube-apiserver")); err != nil {
		t.Skipf("kube-apiserver not found in %s: run `make envtest` (or set KUBEBUILDER_ASSETS)", dir)
	}
	return dir
}

func TestRunner(t *testing.T) {
	g := NewWithT(t)
	env := &envtest.Environment{
		BinaryAssetsDirectory: assetsDir(t),
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	t.Cleanup(func() { _ = env.Stop() }) // also after a partial start
	cfg, err := env.Start()
	g.Expect(err).NotTo(HaveOccurred())

	exe, err := os.Executable()
	g.Expect(err).NotTo(HaveOccurred())
	t.Setenv(fakeBridgeEnv, "1")
	dir := t.TempDir()
	state, err := newStateFile(filepath.Join(dir, StateFileName), State{Kafka: "127.0.0.1:1"})
	g.Expect(err).NotTo(HaveOccurred())
	runner, mgr, err := newRunner(cfg, exe, filepath.Join(dir, "bridges"), state, t.Logf)
	g.Expect(err).NotTo(HaveOccurred())
	ctx, cancel := context.WithCancel(context.Background())
	mgrDone := make(chan struct{})
	go func() { defer close(mgrDone); _ = mgr.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-mgrDone; runner.StopAll() })

	c, err := client.New(cfg, client.Options{})
	g.Expect(err).NotTo(HaveOccurred())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "runner-test"}}
	g.Expect(c.Create(ctx, ns)).To(Succeed())
	key := types.NamespacedName{Namespace: ns.Name, Name: "orders-api"}

	// The owner, as the operator would have it; no operator runs here.
	exposure := &unstructured.Unstructured{Object: map[string]any{
		"spec": map[string]any{"versions": []any{map[string]any{"name": "v1", "routes": []any{
			map[string]any{"name": "orders", "topicRef": map[string]any{"name": "orders"}, "operations": []any{"publish"}},
		}}}},
	}}
	exposure.SetGroupVersionKind(exposureGVK)
	exposure.SetNamespace(key.Namespace)
	exposure.SetName("orders")
	g.Expect(c.Create(ctx, exposure)).To(Succeed())
	owner := []metav1.OwnerReference{{APIVersion: exposureGVK.GroupVersion().String(), Kind: exposureGVK.Kind,
		Name: exposure.GetName(), UID: exposure.GetUID(), Controller: ptr.To(true), BlockOwnerDeletion: ptr.To(true)}}

	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: "orders-api-bridge", OwnerReferences: owner},
		Data:       map[string]string{bridgeconfig.FileName: bridgeJSON(t, "orders")},
	}
	g.Expect(c.Create(ctx, cm)).To(Succeed())
	dep := bridgeDeployment(key, cm.Name, "one")
	dep.Labels["app.kubernetes.io/instance"] = exposure.GetName()
	dep.OwnerReferences = owner
	g.Expect(c.Create(ctx, dep)).To(Succeed())
	unowned := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: "someone-elses"}}
	g.Expect(c.Create(ctx, unowned)).To(Succeed())

	By := func(step string) { t.Logf("--- %s", step) }

	By("the runner starts a bridge and reports the Deployment available")
	first := waitForBridge(ctx, g, c, state, key, 0)
	g.Expect(first.Routes).To(Equal([]string{"v1/orders"}))
	g.Expect(os.ReadFile(filepath.Join(dir, "bridges", key.Namespace, key.Name, bridgeconfig.FileName))).
		To(MatchJSON(cm.Data[bridgeconfig.FileName]))

	By("a new config checksum restarts the bridge with the new config")
	cm.Data[bridgeconfig.FileName] = bridgeJSON(t, "payments")
	g.Expect(c.Update(ctx, cm)).To(Succeed())
	g.Expect(c.Get(ctx, key, dep)).To(Succeed())
	dep.Spec.Template.Annotations["messaging.junction.dev/config-checksum"] = "two"
	g.Expect(c.Update(ctx, dep)).To(Succeed())
	second := waitForBridge(ctx, g, c, state, key, first.PID)
	g.Expect(second.Routes).To(Equal([]string{"v1/payments"}))
	g.Expect(processAlive(first.PID)).To(BeFalse(), "the old bridge process still runs")

	By("a bridge that dies makes the Deployment unavailable and is restarted")
	sawUnavailable := make(chan bool, 1)
	go func() {
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			var d appsv1.Deployment
			if c.Get(ctx, key, &d) == nil && d.Status.AvailableReplicas == 0 {
				sawUnavailable <- true
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		sawUnavailable <- false
	}()
	g.Expect(syscall.Kill(second.PID, syscall.SIGKILL)).To(Succeed())
	g.Expect(<-sawUnavailable).To(BeTrue(), "the Deployment never became unavailable")
	third := waitForBridge(ctx, g, c, state, key, second.PID)
	g.Expect(third.Routes).To(Equal([]string{"v1/payments"}))

	By("deleting the ApiExposure collects its children, which stops the bridge")
	g.Expect(c.Delete(ctx, exposure)).To(Succeed())
	g.Eventually(func() bool { return processAlive(third.PID) }, 20*time.Second, 100*time.Millisecond).Should(BeFalse())
	g.Eventually(func() map[string]BridgeAddrs { return readStateBridges(g, state.path) }, 5*time.Second).Should(BeEmpty())
	g.Eventually(func() bool { return apierrors.IsNotFound(c.Get(ctx, key, &appsv1.Deployment{})) }, 5*time.Second).Should(BeTrue())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(c.Get(ctx, client.ObjectKeyFromObject(cm), &corev1.ConfigMap{}))
	}, 5*time.Second).Should(BeTrue())
	g.Expect(c.Get(ctx, client.ObjectKeyFromObject(unowned), &corev1.ConfigMap{})).To(Succeed(), "collected a ConfigMap it did not own")
}

// waitForBridge waits until the Deployment is available and state.json names a bridge whose
// process is not notPID, and returns what that bridge says about itself.
func waitForBridge(ctx context.Context, g *WithT, c client.Client, state *stateFile, key types.NamespacedName, notPID int) fakeInfo {
	var info fakeInfo
	g.Eventually(func(g Gomega) {
		var d appsv1.Deployment
		g.Expect(c.Get(ctx, key, &d)).To(Succeed())
		g.Expect(d.Status.ObservedGeneration).To(Equal(d.Generation))
		g.Expect(d.Status.AvailableReplicas).To(Equal(int32(1)))
		g.Expect(d.Status.Conditions).To(ContainElement(And(
			HaveField("Type", appsv1.DeploymentAvailable), HaveField("Status", corev1.ConditionTrue))))
		addrs, ok := readStateBridges(g, state.path)[key.String()]
		g.Expect(ok).To(BeTrue(), "state.json has no entry for %s", key)
		resp, err := http.Get("http://" + addrs.HTTP + "/info")
		g.Expect(err).NotTo(HaveOccurred())
		defer resp.Body.Close()
		g.Expect(json.NewDecoder(resp.Body).Decode(&info)).To(Succeed())
		g.Expect(info.PID).NotTo(Equal(notPID))
	}, 30*time.Second, 100*time.Millisecond).Should(Succeed())
	return info
}

func readStateBridges(g Gomega, path string) map[string]BridgeAddrs {
	s, err := ReadState(path)
	g.Expect(err).NotTo(HaveOccurred())
	return s.Bridges
}

func processAlive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func bridgeJSON(t *testing.T, route string) string {
	cfg := bridgeconfig.Config{
		Namespace: "runner-test", Name: "orders-api",
		Kafka:    bridgeconfig.Kafka{BootstrapServers: []string{"127.0.0.1:1"}},
		HTTPPort: 8080, GRPCPort: 9090,
		Versions: []bridgeconfig.Version{{Name: "v1", Routes: []bridgeconfig.Route{{
			Name: route, Topic: "shop." + route, Operations: []bridgeconfig.Operation{bridgeconfig.OperationPublish},
		}}}},
	}
	data, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// bridgeDeployment is shaped like the Deployments the operator renders for an ApiExposure.
func bridgeDeployment(key types.NamespacedName, configMap, checksum string) *appsv1.Deployment {
	labels := map[string]string{
		"app.kubernetes.io/name":       "junction-bridge",
		"app.kubernetes.io/instance":   key.Name,
		"app.kubernetes.io/component":  "bridge",
		"app.kubernetes.io/managed-by": "junction",
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{
					Labels:      labels,
					Annotations: map[string]string{"messaging.junction.dev/config-checksum": checksum},
				},
				Spec: corev1.PodSpec{
					Containers: []corev1.Container{{
						Name: "bridge", Image: "junction/bridge:latest",
						Args:         []string{"--config", "/etc/junction/bridge.json"},
						VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/junction"}},
					}},
					Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{
						ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: configMap}},
					}}},
				},
			},
		},
	}
}
