package dev

import (
	"os"
	"path/filepath"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestLoadManifests(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"kustomization.yaml": "resources:\n- a.yaml\n",
		"README.md":          "not a manifest",
		"exposure.yaml": `apiVersion: messaging.junction.dev/v1alpha1
kind: ApiExposure
metadata: {name: orders-api}
---
apiVersion: messaging.junction.dev/v1alpha1
kind: MessageTopic
metadata: {name: orders}
`,
		"broker.yml": `---
apiVersion: messaging.junction.dev/v1alpha1
kind: MessageBroker
metadata: {name: kafka}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
`,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	objs, err := loadManifests(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range objs {
		got = append(got, ref(o))
	}
	want := []string{"Namespace shop", "MessageBroker kafka", "MessageTopic orders", "ApiExposure orders-api"}
	if len(got) != len(want) {
		t.Fatalf("loadManifests() = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("loadManifests() = %v, want %v", got, want)
		}
	}

	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("metadata: {name: x}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadManifests(dir); err == nil {
		t.Fatal("loadManifests accepted an object without apiVersion and kind")
	}
}

func TestReadyCondition(t *testing.T) {
	obj := func(gen int64, conds ...any) *unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]any{}}
		u.SetGeneration(gen)
		if conds != nil {
			_ = unstructured.SetNestedSlice(u.Object, conds, "status", "conditions")
		}
		return u
	}
	cond := func(status string, gen int64) map[string]any {
		return map[string]any{"type": "Ready", "status": status, "reason": "TopicCreated", "message": "m", "observedGeneration": gen}
	}
	tests := []struct {
		name  string
		obj   *unstructured.Unstructured
		ready bool
		why   string
	}{
		{"no status", obj(1), false, "no Ready condition yet"},
		{"ready for this generation", obj(2, cond("True", 2)), true, ""},
		{"ready without observedGeneration", obj(2, map[string]any{"type": "Ready", "status": "True"}), true, ""},
		{"ready for an older generation", obj(3, cond("True", 2)), false, "Ready=True for generation 2, object is at generation 3"},
		{"not ready says why", obj(1, map[string]any{"type": "Stalled", "status": "True"}, cond("False", 1)), false, "Ready=False TopicCreated: m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ready, why := readyCondition(tt.obj)
			if ready != tt.ready || why != tt.why {
				t.Errorf("readyCondition() = %v, %q; want %v, %q", ready, why, tt.ready, tt.why)
			}
		})
	}
}
