package install

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// valueCases are the values the chart is rendered with: the defaults and two sets that change
// everything the chart offers.
var valueCases = map[string][]string{
	"defaults":             nil,
	"full":                 {"-f", "test/install/testdata/values-full.yaml"},
	"self-managed-webhook": {"-f", "test/install/testdata/values-selfmanaged-webhook.yaml"},
}

func TestChartCarriesGeneratedManifests(t *testing.T) {
	g := NewWithT(t)
	bases, err := filepath.Glob(filepath.Join(repoRoot, "config", "crd", "bases", "*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(bases).NotTo(BeEmpty())
	copies, err := filepath.Glob(filepath.Join(repoRoot, "charts", "junction", "crds", "*.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(names(copies)).To(Equal(names(bases)), "charts/junction/crds holds exactly config/crd/bases: run make manifests")
	for _, b := range bases {
		g.Expect(readFile(t, filepath.Join(repoRoot, "charts", "junction", "crds", filepath.Base(b)))).
			To(Equal(readFile(t, b)), "%s differs from its chart copy: run make manifests", b)
	}
	g.Expect(readFile(t, filepath.Join(repoRoot, "charts", "junction", "files", "manager-role.yaml"))).
		To(Equal(readFile(t, filepath.Join(repoRoot, "config", "rbac", "role.yaml"))), "run make manifests")
}

func TestHelmLint(t *testing.T) {
	for name, values := range valueCases {
		t.Run(name, func(t *testing.T) {
			out := runCmd(t, helmBin(t), append([]string{"lint", "--strict", "charts/junction"}, values...)...)
			NewWithT(t).Expect(string(out)).To(ContainSubstring("0 chart(s) failed"))
		})
	}
}

func TestValuesSchemaRejectsMistakes(t *testing.T) {
	for name, set := range map[string]string{
		"unknown key":          "replicas=2",
		"bad pull policy":      "image.pullPolicy=Sometimes",
		"bad failure policy":   "webhook.failurePolicy=Maybe",
		"port out of range":    "metrics.port=70000",
		"duration":             "syncPeriod=often",
		"extra arg not a flag": "extraArgs[0]=debug",
	} {
		t.Run(name, func(t *testing.T) {
			cmd := runFail(t, helmBin(t), "template", "x", "charts/junction", "--set", set)
			NewWithT(t).Expect(cmd).To(ContainSubstring("values don't meet the specifications of the schema"))
		})
	}
	t.Run("an enabled webhook is served by the manager", func(t *testing.T) {
		g := NewWithT(t)
		for _, enabled := range []bool{true, false} {
			args := []string{"--set", fmt.Sprintf("webhook.enabled=%t", enabled), "--set", "webhook.certManager.enabled=true"}
			var managerArgs []any
			for _, obj := range helmTemplate(t, "x", "junction-system", args...) {
				if obj.GetKind() == "Deployment" {
					containers, _, _ := unstructured.NestedSlice(obj.Object, "spec", "template", "spec", "containers")
					managerArgs, _, _ = unstructured.NestedSlice(containers[0].(map[string]any), "args")
				}
			}
			if enabled {
				g.Expect(managerArgs).To(ContainElement("--enable-webhooks"))
			} else {
				g.Expect(managerArgs).NotTo(ContainElement("--enable-webhooks"))
			}
		}
	})
	t.Run("self-managed webhook needs a CA bundle", func(t *testing.T) {
		out := runFail(t, helmBin(t), "template", "x", "charts/junction", "--set", "webhook.enabled=true", "--set", "webhook.certManager.enabled=false")
		NewWithT(t).Expect(out).To(ContainSubstring("webhook.certificate.caBundle is required"))
	})
}

// TestRenderedChartPassesDryRun renders the chart with each set of values and has the API server
// validate every object (server-side apply, dry run). Third-party kinds (ServiceMonitor,
// cert-manager) are checked against schemaless stand-in CRDs: their group, version, kind and
// scope are real, their fields are not validated.
func TestRenderedChartPassesDryRun(t *testing.T) {
	ctx := context.Background()
	for name, values := range valueCases {
		t.Run(name, func(t *testing.T) {
			g := NewWithT(t)
			ns := "dryrun-" + name
			objs := helmTemplate(t, "junction", ns, values...)
			crds, rest := split(objs)
			g.Expect(keys(crds)).To(HaveLen(3))
			establish(ctx, t, append(crds, thirdPartyCRDs()...))
			createNamespace(ctx, t, ns)
			for _, o := range rest {
				if o.GetNamespace() != "" {
					g.Expect(o.GetNamespace()).To(Equal(ns), key(o))
				}
			}
			apply(ctx, t, adminC, rest, true)

			d := find(t, rest, "Deployment", "")
			assertRestrictedPod(ctx, t, ns, d)
		})
	}
}

// assertRestrictedPod creates (dry run) a Pod from the Deployment's template in a namespace that
// enforces the restricted Pod Security profile: the API server refuses any violation.
func assertRestrictedPod(ctx context.Context, t *testing.T, ns string, d *unstructured.Unstructured) {
	t.Helper()
	tmpl, found, err := unstructured.NestedMap(d.Object, "spec", "template")
	if err != nil || !found {
		t.Fatalf("%s has no pod template: %v", key(d), err)
	}
	pod := &corev1.Pod{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(tmpl, pod); err != nil {
		t.Fatal(err)
	}
	pod.Namespace, pod.Name = ns, d.GetName()+"-pss"
	// The control: the same pod without its security context must be refused, or the
	// namespace does not enforce anything.
	bare := pod.DeepCopy()
	bare.Spec.SecurityContext = nil
	bare.Spec.Containers[0].SecurityContext = nil
	if err := adminC.Create(ctx, bare, client.DryRunAll); err == nil || !strings.Contains(err.Error(), "violates PodSecurity") {
		t.Fatalf("namespace %s does not enforce the restricted profile (err %v)", ns, err)
	}
	if err := adminC.Create(ctx, pod, client.DryRunAll); err != nil {
		t.Fatalf("pod of %s violates the restricted Pod Security profile: %v", key(d), err)
	}
	c := pod.Spec.Containers[0].SecurityContext
	g := NewWithT(t)
	g.Expect(c).NotTo(BeNil())
	g.Expect(*c.ReadOnlyRootFilesystem).To(BeTrue(), "read-only root filesystem")
	g.Expect(*c.AllowPrivilegeEscalation).To(BeFalse())
	g.Expect(c.Capabilities.Drop).To(ConsistOf(corev1.Capability("ALL")))
}

// thirdPartyCRDs stand in for prometheus-operator's and cert-manager's CRDs.
func thirdPartyCRDs() []*unstructured.Unstructured {
	return []*unstructured.Unstructured{
		stubCRD("monitoring.coreos.com", "v1", "ServiceMonitor", "servicemonitors"),
		stubCRD("cert-manager.io", "v1", "Issuer", "issuers"),
		stubCRD("cert-manager.io", "v1", "Certificate", "certificates"),
	}
}

func stubCRD(group, version, kind, plural string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1",
		"kind":       "CustomResourceDefinition",
		"metadata":   map[string]any{"name": plural + "." + group},
		"spec": map[string]any{
			"group": group,
			"scope": "Namespaced",
			"names": map[string]any{"kind": kind, "plural": plural, "singular": strings.ToLower(kind), "listKind": kind + "List"},
			"versions": []any{map[string]any{
				"name": version, "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{
					"type": "object", "x-kubernetes-preserve-unknown-fields": true,
				}},
			}},
		},
	}}
	return u
}

// find returns the one object of kind whose name ends in suffix.
func find(t *testing.T, objs []*unstructured.Unstructured, kind, suffix string) *unstructured.Unstructured {
	t.Helper()
	var hits []*unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == kind && strings.HasSuffix(o.GetName(), suffix) {
			hits = append(hits, o)
		}
	}
	if len(hits) != 1 {
		t.Fatalf("want one %s named *%s, found %d in %v", kind, suffix, len(hits), keys(objs))
	}
	return hits[0]
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func names(paths []string) []string {
	var n []string
	for _, p := range paths {
		n = append(n, filepath.Base(p))
	}
	return n
}

// runFail runs a command that must fail and returns its combined output.
func runFail(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := execIn(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err == nil {
		t.Fatalf("%s %s succeeded, want an error:\n%s", filepath.Base(bin), strings.Join(args, " "), out.String())
	}
	return out.String()
}
