package install

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	"github.com/twmb/franz-go/pkg/kfake"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/junction-dev/junction/controllers"
)

// TestManagerWithChartRBACReconcilesSamples installs the chart, then runs the manager as the
// chart's ServiceAccount (impersonation, so the API server applies exactly the chart's RBAC)
// with leader election and secure metrics on, against an embedded Kafka. The samples must
// reach Ready, the bridge must run the chart's bridge image under the restricted profile, and
// only a caller bound to the metrics-reader ClusterRole may read /metrics.
func TestManagerWithChartRBACReconcilesSamples(t *testing.T) {
	g := NewWithT(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const ns, release = "junction-rbac", "rbac"
	createNamespace(ctx, t, ns)
	helm(t, "install", release, "charts/junction", "--namespace", ns)
	_, objs := split(helmTemplate(t, release, ns))
	refreshClient(t)

	sa := find(t, objs, "ServiceAccount", "")
	bridgeImage := flagValue(t, toDeployment(t, find(t, objs, "Deployment", "")), "--bridge-image")

	kafka, err := kfake.NewCluster(kfake.NumBrokers(1))
	g.Expect(err).NotTo(HaveOccurred())
	defer kafka.Close()

	cfg := rest.CopyConfig(restConfig)
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: fmt.Sprintf("system:serviceaccount:%s:%s", ns, sa.GetName()),
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"},
	}
	metricsAddr := freeAddr(t)
	done := make(chan error, 1)
	go func() {
		done <- controllers.Run(ctx, cfg, controllers.Options{
			MetricsAddr: metricsAddr, MetricsSecure: true, ProbeAddr: "0",
			LeaderElection: true, LeaderElectionNamespace: ns, BridgeImage: bridgeImage,
		})
	}()
	defer func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("manager: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("manager did not stop")
		}
	}()

	samplesNS := "rbac-samples"
	createNamespace(ctx, t, samplesNS)
	samples := loadSamples(t, samplesNS, func(o *unstructured.Unstructured) {
		if o.GetKind() == "MessageBroker" {
			g.Expect(unstructured.SetNestedStringSlice(o.Object, kafka.ListenAddrs(), "spec", "kafka", "bootstrapServers")).To(Succeed())
		}
	})
	for _, s := range samples {
		g.Expect(adminC.Create(ctx, s)).To(Succeed(), key(s))
	}

	// The manager leads, through the chart's leader-election Role.
	g.Eventually(func(g Gomega) {
		select {
		case err := <-done:
			g.Expect(err).NotTo(HaveOccurred(), "manager stopped")
		default:
		}
		lease := &coordinationv1.Lease{}
		g.Expect(adminC.Get(ctx, client.ObjectKey{Namespace: ns, Name: "junction-manager.messaging.junction.dev"}, lease)).To(Succeed())
		g.Expect(lease.Spec.HolderIdentity).NotTo(BeNil())
	}, eventually, poll).Should(Succeed())

	for _, kind := range []string{"MessageBroker", "MessageTopic"} {
		s := find(t, samples, kind, "")
		g.Eventually(func(g Gomega) { expectReady(g, s) }, eventually, poll).Should(Succeed())
	}

	// envtest has no deployment controller or kubelet: check the bridge's pod template, then
	// report the Deployment available the way the deployment controller would.
	exposure := find(t, samples, "ApiExposure", "")
	var bridge appsv1.Deployment
	g.Eventually(func(g Gomega) {
		list := &appsv1.DeploymentList{}
		g.Expect(adminC.List(ctx, list, client.InNamespace(samplesNS))).To(Succeed())
		g.Expect(list.Items).To(HaveLen(1), "no bridge Deployment; %s", readyMessage(exposure))
		bridge = list.Items[0]
	}, eventually, poll).Should(Succeed())
	g.Expect(bridge.Spec.Template.Spec.Containers[0].Image).To(Equal(bridgeImage))
	g.Expect(*bridge.Spec.Template.Spec.AutomountServiceAccountToken).To(BeFalse(), "bridge pods get no API access")
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&bridge)
	g.Expect(err).NotTo(HaveOccurred())
	ud := &unstructured.Unstructured{Object: u}
	ud.SetKind("Deployment")
	assertRestrictedPod(ctx, t, samplesNS, ud)
	markAvailable(ctx, g, &bridge)
	g.Eventually(func(g Gomega) { expectReady(g, exposure) }, eventually, poll).Should(Succeed())

	t.Run("metrics only for the metrics-reader role", func(t *testing.T) {
		checkSecureMetrics(ctx, t, ns, "https://"+metricsAddr+"/metrics", release+"-junction-metrics-reader")
	})
}

// checkSecureMetrics reads url without a token, as an unbound ServiceAccount and as one bound
// to readerRole.
func checkSecureMetrics(ctx context.Context, t *testing.T, ns, url, readerRole string) {
	g := NewWithT(t)
	cs, err := kubernetes.NewForConfig(restConfig)
	g.Expect(err).NotTo(HaveOccurred())
	token := func(name string) string {
		_, err := cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		tr, err := cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		return tr.Status.Token
	}
	scraper, stranger := token("scraper"), token("stranger")
	g.Expect(adminC.Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "install-test-scraper"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: readerRole},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "scraper", Namespace: ns}},
	})).To(Succeed())

	// The certificate is the manager's self-signed one.
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec
	get := func(token string) (int, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		g.Expect(err).NotTo(HaveOccurred())
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer func() { _ = resp.Body.Close() }()
		var b strings.Builder
		buf := make([]byte, 4096)
		n, _ := resp.Body.Read(buf)
		b.Write(buf[:n])
		return resp.StatusCode, b.String()
	}
	g.Eventually(func() int { code, _ := get(scraper); return code }, eventually, poll).Should(Equal(http.StatusOK))
	code, body := get(scraper)
	g.Expect(code).To(Equal(http.StatusOK))
	g.Expect(body).To(ContainSubstring("# HELP"))
	code, _ = get(stranger)
	g.Expect(code).To(Equal(http.StatusForbidden))
	code, _ = get("")
	g.Expect(code).To(Equal(http.StatusUnauthorized))
	_, body = getPlain(ctx, strings.Replace(url, "https://", "http://", 1))
	g.Expect(body).NotTo(ContainSubstring("# HELP"), "metrics must not be served over plain HTTP")
}

func getPlain(ctx context.Context, url string) (int, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err.Error()
	}
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer func() { _ = resp.Body.Close() }()
	buf := make([]byte, 4096)
	n, _ := resp.Body.Read(buf)
	return resp.StatusCode, string(buf[:n])
}

// readyMessage describes the Ready condition of o, for failure messages.
func readyMessage(o *unstructured.Unstructured) string {
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(o.GroupVersionKind())
	if err := adminC.Get(context.Background(), client.ObjectKeyFromObject(o), got); err != nil {
		return err.Error()
	}
	conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
	return fmt.Sprintf("%s conditions: %v", key(o), conds)
}

func expectReady(g Gomega, o *unstructured.Unstructured) {
	got := &unstructured.Unstructured{}
	got.SetGroupVersionKind(o.GroupVersionKind())
	g.Expect(adminC.Get(context.Background(), client.ObjectKeyFromObject(o), got)).To(Succeed())
	conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Ready" {
			g.Expect(m["status"]).To(Equal("True"), "%s: %s: %s", key(o), m["reason"], m["message"])
			return
		}
	}
	g.Expect(conds).NotTo(BeEmpty(), "%s has no Ready condition yet", key(o))
}

// markAvailable plays the deployment controller and kubelet, which envtest does not run.
func markAvailable(ctx context.Context, g Gomega, d *appsv1.Deployment) {
	d.Status = appsv1.DeploymentStatus{
		ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue,
			Reason: "MinimumReplicasAvailable", LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
	}
	g.Expect(adminC.Status().Update(ctx, d)).To(Succeed())
}

// flagValue returns the value of --name=value in the manager container's args.
func flagValue(t *testing.T, d *appsv1.Deployment, name string) string {
	t.Helper()
	for _, a := range d.Spec.Template.Spec.Containers[0].Args {
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v
		}
	}
	t.Fatalf("%s not in %v", name, d.Spec.Template.Spec.Containers[0].Args)
	return ""
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String()
}
