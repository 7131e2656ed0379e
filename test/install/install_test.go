package install

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	eventually = 60 * time.Second
	poll       = 200 * time.Millisecond
)

// TestHelmInstallAndUpgradeKeepsCRs installs the chart with helm into the envtest API server,
// checks every rendered object exists, creates the samples, upgrades the release with other
// values and checks the samples survived untouched and the upgrade took effect.
func TestHelmInstallAndUpgradeKeepsCRs(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	const ns, release = "junction-system", "junction"
	createNamespace(ctx, t, ns)

	notes := string(helm(t, "install", release, "charts/junction", "--namespace", ns))
	g.Expect(notes).To(ContainSubstring("kubectl -n junction-system rollout status deployment/junction-manager"), "NOTES.txt")
	rendered := helmTemplate(t, release, ns)
	crds, objs := split(rendered)
	refreshClient(t)
	for _, o := range append(crds, objs...) {
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(o.GroupVersionKind())
		g.Expect(adminC.Get(ctx, client.ObjectKeyFromObject(o), got)).To(Succeed(), "%s after helm install", key(o))
	}
	g.Expect(string(helm(t, "status", release, "--namespace", ns))).To(ContainSubstring("STATUS: deployed"))

	samplesNS := "install-samples"
	createNamespace(ctx, t, samplesNS)
	samples := loadSamples(t, samplesNS, nil)
	for _, s := range samples {
		g.Expect(adminC.Create(ctx, s)).To(Succeed(), key(s))
	}

	helm(t, "upgrade", release, "charts/junction", "--namespace", ns,
		"--set", "image.manager.tag=0.2.0", "--set", "replicaCount=2", "--set", "metrics.serviceMonitor.enabled=false")
	g.Expect(string(helm(t, "history", release, "--namespace", ns))).To(ContainSubstring("Upgrade complete"))

	d := &appsv1.Deployment{}
	g.Expect(adminC.Get(ctx, client.ObjectKey{Namespace: ns, Name: "junction-manager"}, d)).To(Succeed())
	g.Expect(d.Spec.Template.Spec.Containers[0].Image).To(Equal("junction/manager:0.2.0"))
	g.Expect(*d.Spec.Replicas).To(BeEquivalentTo(2))
	for _, s := range samples {
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(s.GroupVersionKind())
		g.Expect(adminC.Get(ctx, client.ObjectKeyFromObject(s), got)).To(Succeed(), "%s after upgrade", key(s))
		g.Expect(got.GetUID()).To(Equal(s.GetUID()), "%s was recreated", key(s))
		g.Expect(got.Object["spec"]).To(Equal(s.Object["spec"]), "%s spec changed", key(s))
	}
	// The CRDs outlive the release: helm uninstall leaves them, and so the CRs.
	helm(t, "uninstall", release, "--namespace", ns)
	for _, s := range samples {
		got := &unstructured.Unstructured{}
		got.SetGroupVersionKind(s.GroupVersionKind())
		g.Expect(adminC.Get(ctx, client.ObjectKeyFromObject(s), got)).To(Succeed(), "%s after uninstall", key(s))
	}
	cr := &rbacv1.ClusterRole{}
	g.Expect(client.IgnoreNotFound(adminC.Get(ctx, client.ObjectKey{Name: "junction-manager"}, cr))).To(Succeed())
	g.Expect(cr.Name).To(BeEmpty(), "uninstall removes the manager's ClusterRole")
}

// TestKustomizeAgreesWithChart compares config/default with the chart rendered as release
// junction in junction-system: the same objects (kustomize adds the Namespace), identical CRDs,
// identical RBAC, and the same manager pod apart from how the bridge image arrives.
func TestKustomizeAgreesWithChart(t *testing.T) {
	g := NewWithT(t)
	kust := decode(t, runCmd(t, kustomizeBin(t), "build", "config/default"))
	chart := helmTemplate(t, "junction", "junction-system")

	var kustKeys []string
	for _, k := range keys(kust) {
		if k != "Namespace /junction-system" {
			kustKeys = append(kustKeys, k)
		}
	}
	g.Expect(kustKeys).To(Equal(keys(chart)))

	byKey := map[string]*unstructured.Unstructured{}
	for _, o := range chart {
		byKey[key(o)] = o
	}
	for _, k := range kust {
		c := byKey[key(k)]
		switch k.GetKind() {
		case "CustomResourceDefinition":
			g.Expect(k.Object).To(Equal(c.Object), "CRD %s", k.GetName())
		case "ClusterRole", "Role":
			g.Expect(k.Object["rules"]).To(Equal(c.Object["rules"]), "rules of %s", key(k))
		case "ClusterRoleBinding", "RoleBinding":
			g.Expect(k.Object["roleRef"]).To(Equal(c.Object["roleRef"]), key(k))
			g.Expect(k.Object["subjects"]).To(Equal(c.Object["subjects"]), key(k))
		case "ServiceAccount":
			g.Expect(k.Object["automountServiceAccountToken"]).To(Equal(c.Object["automountServiceAccountToken"]))
		case "Service":
			g.Expect(k.Object["spec"]).To(Equal(c.Object["spec"]), key(k))
		case "Deployment":
			kd, cd := toDeployment(t, k), toDeployment(t, c)
			g.Expect(kd.Spec.Selector).To(Equal(cd.Spec.Selector))
			kp, cp := kd.Spec.Template.Spec, cd.Spec.Template.Spec
			g.Expect(kp.SecurityContext).To(Equal(cp.SecurityContext))
			g.Expect(kp.ServiceAccountName).To(Equal(cp.ServiceAccountName))
			g.Expect(kp.AutomountServiceAccountToken).To(Equal(cp.AutomountServiceAccountToken))
			kc, cc := kp.Containers[0], cp.Containers[0]
			g.Expect(kc.Image).To(Equal(cc.Image), "both default to the chart's appVersion")
			g.Expect(kc.SecurityContext).To(Equal(cc.SecurityContext))
			g.Expect(kc.Resources).To(Equal(cc.Resources))
			g.Expect(kc.Ports).To(Equal(cc.Ports))
			g.Expect(kc.LivenessProbe).To(Equal(cc.LivenessProbe))
			g.Expect(kc.ReadinessProbe).To(Equal(cc.ReadinessProbe))
			// The chart writes the bridge image into the flag; kustomize through $(BRIDGE_IMAGE).
			g.Expect(kc.Env).To(HaveLen(1))
			kargs := make([]string, len(kc.Args))
			for i, a := range kc.Args {
				if a == "--bridge-image=$(BRIDGE_IMAGE)" {
					a = "--bridge-image=" + kc.Env[0].Value
				}
				kargs[i] = a
			}
			g.Expect(kargs).To(Equal(cc.Args))
		}
	}
}

// TestBuildInstaller runs make build-installer with other image coordinates and checks
// dist/install.yaml carries them and passes a server-side dry run.
func TestBuildInstaller(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	kustomizeBin(t)
	// -o manifests: regenerating is make verify's job, not this test's.
	runCmd(t, "make", "-s", "-o", "manifests", "build-installer", "IMG_REGISTRY=ci-mirror/platform", "VERSION=9.9.9")
	data, err := os.ReadFile(filepath.Join(repoRoot, "dist", "install.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	objs := decode(t, data)
	d := toDeployment(t, find(t, objs, "Deployment", "junction-manager"))
	c := d.Spec.Template.Spec.Containers[0]
	g.Expect(c.Image).To(Equal("ci-mirror/platform/junction/manager:9.9.9"))
	g.Expect(c.Env).To(ConsistOf(HaveField("Value", "ci-mirror/platform/junction/bridge:9.9.9")))

	crds, rest := split(objs)
	establish(ctx, t, crds)
	// The Namespace first, for real: dry-run objects cannot live in a dry-run namespace.
	ns := find(t, rest, "Namespace", "junction-system")
	apply(ctx, t, adminC, []*unstructured.Unstructured{ns}, false)
	apply(ctx, t, adminC, rest, true)
	assertRestrictedPod(ctx, t, "junction-system", find(t, rest, "Deployment", ""))
}

func toDeployment(t *testing.T, u *unstructured.Unstructured) *appsv1.Deployment {
	t.Helper()
	d := &appsv1.Deployment{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, d); err != nil {
		t.Fatal(err)
	}
	return d
}

// loadSamples reads config/samples into namespace ns; edit may change each one.
func loadSamples(t *testing.T, ns string, edit func(*unstructured.Unstructured)) []*unstructured.Unstructured {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(repoRoot, "config", "samples", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	var objs []*unstructured.Unstructured
	for _, f := range files {
		for _, o := range decode(t, []byte(readFile(t, f))) {
			o.SetNamespace(ns)
			if edit != nil {
				edit(o)
			}
			objs = append(objs, o)
		}
	}
	return objs
}

// refreshClient gives adminC a REST mapper that knows kinds installed since it was made.
func refreshClient(t *testing.T) {
	t.Helper()
	c, err := client.New(restConfig, client.Options{Scheme: adminC.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	adminC = c
}
