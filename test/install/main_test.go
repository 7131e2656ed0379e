package install

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/junction-dev/junction/controllers"
)

// The install tests share one API server; each test installs into namespaces of its own.
var (
	repoRoot   string
	restConfig *rest.Config
	kubeconfig string
	// helmHome keeps Helm's cache, config and data out of the user's home.
	helmHome string
	adminC   client.Client
)

const fieldOwner = client.FieldOwner("junction-install-test")

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true), zap.Level(zapLevel())))
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	repoRoot = root
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(repoRoot, "bin", "k8s")
	}
	// No CRDs here: installing them is part of what the tests check.
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	cfg, err := env.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "starting envtest (run `make envtest` to build bin/k8s): %v\n", err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	restConfig = cfg
	dir, err := os.MkdirTemp("", "junction-install-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = os.RemoveAll(dir) }()
	helmHome = filepath.Join(dir, "helm")
	kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, env.KubeConfig, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if adminC, err = client.New(cfg, client.Options{Scheme: controllers.NewScheme()}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

func zapLevel() zapcore.Level {
	if os.Getenv("TEST_VERBOSE") != "" {
		return zapcore.Level(-10)
	}
	return zapcore.ErrorLevel
}

// tool returns the path of a binary in bin/, skipping the test when it has not been built.
func tool(t *testing.T, name, target string) string {
	t.Helper()
	p := filepath.Join(repoRoot, "bin", name)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("JUNCTION_REQUIRE_INSTALL_TOOLS") != "" {
			t.Fatalf("%s is missing: run `make %s`", p, target)
		}
		t.Skipf("%s is missing: run `make %s` to run this test", p, target)
	}
	return p
}

func helmBin(t *testing.T) string { return tool(t, "helm", "helm") }

func kustomizeBin(t *testing.T) string { return tool(t, "kustomize", "build-installer") }

// runCmd runs a command in the repository root and returns its stdout; failures carry stderr.
func runCmd(t *testing.T, bin string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+helmHome, "HELM_CONFIG_HOME="+helmHome, "HELM_DATA_HOME="+helmHome)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s%s", filepath.Base(bin), strings.Join(args, " "), err, stderr.String(), stdout.String())
	}
	return stdout.Bytes()
}

// execIn prepares a command in the repository root with a private Helm home.
func execIn(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+helmHome, "HELM_CONFIG_HOME="+helmHome, "HELM_DATA_HOME="+helmHome)
	return cmd
}

// helm runs bin/helm against the envtest API server.
func helm(t *testing.T, args ...string) []byte {
	t.Helper()
	return runCmd(t, helmBin(t), append(args, "--kubeconfig", kubeconfig)...)
}

// helmTemplate renders the chart as release junction in ns with the given values files.
func helmTemplate(t *testing.T, release, ns string, extra ...string) []*unstructured.Unstructured {
	t.Helper()
	args := append([]string{"template", release, "charts/junction", "--namespace", ns, "--include-crds"}, extra...)
	return decode(t, runCmd(t, helmBin(t), args...))
}

// decode parses a multi-document YAML stream; every document must be a Kubernetes object.
func decode(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var objs []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("parsing rendered YAML: %v", err)
		}
		if len(u.Object) == 0 {
			continue
		}
		if u.GetAPIVersion() == "" || u.GetKind() == "" || u.GetName() == "" {
			t.Fatalf("rendered document without apiVersion, kind or name: %v", u.Object)
		}
		objs = append(objs, u)
	}
	if len(objs) == 0 {
		t.Fatal("rendered nothing")
	}
	return objs
}

func isCRD(u *unstructured.Unstructured) bool { return u.GetKind() == "CustomResourceDefinition" }

func split(objs []*unstructured.Unstructured) (crds, rest []*unstructured.Unstructured) {
	for _, o := range objs {
		if isCRD(o) {
			crds = append(crds, o)
		} else {
			rest = append(rest, o)
		}
	}
	return crds, rest
}

func key(u *unstructured.Unstructured) string {
	return fmt.Sprintf("%s %s/%s", u.GetKind(), u.GetNamespace(), u.GetName())
}

func keys(objs []*unstructured.Unstructured) []string {
	var ks []string
	for _, o := range objs {
		ks = append(ks, key(o))
	}
	sort.Strings(ks)
	return ks
}

// apply server-side applies objs, for real or as a dry run; errors name the object.
func apply(ctx context.Context, t *testing.T, c client.Client, objs []*unstructured.Unstructured, dryRun bool) {
	t.Helper()
	for _, o := range objs {
		opts := []client.ApplyOption{fieldOwner, client.ForceOwnership}
		if dryRun {
			opts = append(opts, client.DryRunAll)
		}
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o.DeepCopy()), opts...); err != nil {
			t.Fatalf("applying %s (dry run %v): %v", key(o), dryRun, err)
		}
	}
}

// createNamespace creates ns with the restricted Pod Security profile enforced.
func createNamespace(ctx context.Context, t *testing.T, name string) {
	t.Helper()
	ns := &corev1.Namespace{}
	ns.Name = name
	ns.Labels = map[string]string{"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}
	if err := adminC.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
}

// establish installs crds for real and waits until the API server serves them.
func establish(ctx context.Context, t *testing.T, crds []*unstructured.Unstructured) {
	t.Helper()
	apply(ctx, t, adminC, crds, false)
	deadline := time.Now().Add(30 * time.Second)
	for _, crd := range crds {
		for {
			got := &unstructured.Unstructured{}
			got.SetGroupVersionKind(crd.GroupVersionKind())
			if err := adminC.Get(ctx, client.ObjectKeyFromObject(crd), got); err != nil {
				t.Fatal(err)
			}
			if crdEstablished(got) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("CRD %s not established", crd.GetName())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	refreshClient(t)
}

func crdEstablished(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		if m["type"] == "Established" && m["status"] == "True" {
			return true
		}
	}
	return false
}
