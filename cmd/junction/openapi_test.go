package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func runOpenAPI(args ...string) (string, error) {
	cmd := newOpenAPICommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	cmd.SilenceUsage = true
	err := cmd.Execute()
	return out.String(), err
}

func TestOpenAPIFromManifests(t *testing.T) {
	out, err := runOpenAPI("--name", "shop/orders-api", fixture("base"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	for _, p := range []string{"/v1/orders", "/v2/orders", "/v2/payments"} {
		if _, ok := doc.Paths[p]; !ok {
			t.Errorf("no path %s in %v", p, keys(doc.Paths))
		}
	}
	// The topics' schemas are in the document, as the bridge serves them.
	for _, want := range []string{`"PAID"`, `"minimum": 0`, `"additionalProperties": false`} {
		if !strings.Contains(out, want) {
			t.Errorf("document lacks %s", want)
		}
	}
	// Deterministic: the same manifests give the same bytes.
	again, _ := runOpenAPI("--name", "orders-api", fixture("base"))
	if again != out {
		t.Error("two renderings differ")
	}
}

func TestOpenAPIErrors(t *testing.T) {
	if _, err := runOpenAPI(fixture("base")); err == nil || !strings.Contains(err.Error(), "several ApiExposures (shop/legacy-api, shop/orders-api): choose one with --name") {
		t.Errorf("several exposures: %v", err)
	}
	if _, err := runOpenAPI("--name", "nope", fixture("base")); err == nil || !strings.Contains(err.Error(), "no ApiExposure nope") {
		t.Errorf("unknown exposure: %v", err)
	}
	if _, err := runOpenAPI(fixture("base") + "/exposures.yaml"); err == nil {
		t.Error("several exposures in one file accepted")
	}
	if _, err := runOpenAPI("--name", "orders-api", fixture("base")+"/exposures.yaml"); err == nil || !strings.Contains(err.Error(), "MessageTopic shop/orders is not in the manifests") {
		t.Errorf("missing topic: %v", err)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
