package openapi

import (
	"bytes"
	"encoding/json"
	"flag"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	v3high "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/junction-dev/junction/internal/bridgeconfig"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func testConfig() *bridgeconfig.Config {
	sunset := time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC)
	return &bridgeconfig.Config{
		Namespace: "shop",
		Name:      "orders-api",
		Kafka:     bridgeconfig.Kafka{BootstrapServers: []string{"kafka:9092"}},
		HTTPPort:  8080,
		GRPCPort:  9090,
		Versions: []bridgeconfig.Version{
			{Name: "v1", Deprecated: true, Sunset: &sunset, Routes: []bridgeconfig.Route{
				{Name: "orders", Topic: "shop.orders-v1", Operations: []bridgeconfig.Operation{"publish", "subscribe"},
					Schema: `{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}}`},
			}},
			{Name: "v2", Routes: []bridgeconfig.Route{
				{Name: "orders", Topic: "shop.orders", Operations: []bridgeconfig.Operation{"publish"}, MaxMessageBytes: 4096,
					Schema: `{"type": "object", "required": ["id", "lines"], "$defs": {"line": {"type": "object", "required": ["sku"], "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}}}},
					  "properties": {"id": {"type": "string"}, "lines": {"type": "array", "items": {"$ref": "#/$defs/line"}}, "kind": {"enum": ["web", "shop"]}}}`},
				{Name: "audit-log", Topic: "shop.audit", Operations: []bridgeconfig.Operation{"publish"}},
				{Name: "events", Topic: "shop.events", Operations: []bridgeconfig.Operation{"subscribe"}},
			}},
		},
	}
}

func TestBuildGolden(t *testing.T) {
	got, err := Build(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Build(testConfig())
	if !bytes.Equal(got, again) {
		t.Fatal("Build is not deterministic")
	}
	golden := filepath.Join("testdata", "orders-api.openapi.json")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/openapi -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("output differs from %s; run go test ./internal/openapi -update and review the diff", golden)
	}
}

func TestBuildIsValidOpenAPI(t *testing.T) {
	out, err := Build(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	doc, err := libopenapi.NewDocument(out)
	if err != nil {
		t.Fatal(err)
	}
	if v := doc.GetVersion(); v != "3.1.0" {
		t.Errorf("version = %q", v)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatalf("BuildV3Model: %v", err)
	}
	ops := map[string]bool{}
	for path, item := range model.Model.Paths.PathItems.FromOldest() {
		for _, op := range []*v3high.Operation{item.Get, item.Post} {
			if op == nil {
				continue
			}
			ops[op.OperationId] = true
			if dep := op.Deprecated != nil && *op.Deprecated; dep != strings.HasPrefix(path, "/v1/") {
				t.Errorf("%s %s deprecated = %v", path, op.OperationId, dep)
			}
		}
	}
	want := []string{"publishV1Orders", "publishV2Orders", "publishV2AuditLog",
		"subscribeV1Orders", "pollV1Orders", "commitV1Orders", "subscribeV2Events", "pollV2Events", "commitV2Events"}
	for _, id := range want {
		if !ops[id] {
			t.Errorf("operation %s missing; have %v", id, ops)
		}
	}
	if len(ops) != len(want) {
		t.Errorf("want %d operations, got %v", len(want), ops)
	}

	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("NewValidator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("document invalid: %s: %s", e.Message, e.Reason)
		}
	}

	// The inlined schema, including its rebased $ref, is what a request is checked against.
	requests := []struct {
		path, contentType, body string
		valid                   bool
	}{
		{"/v2/orders", "application/json", `{"id": "o1", "lines": [{"sku": "a", "qty": 1}]}`, true},
		{"/v2/orders", "application/json", `{"id": "o1", "lines": [{"qty": 0}]}`, false},
		{"/v1/orders", "application/json", `{"id": 7}`, false},
		{"/v2/orders", BatchMediaType, `{"records": [{"key": "k", "value": {"id": "o1", "lines": []}, "partition": 0}]}`, true},
		{"/v2/orders", BatchMediaType, `{"records": [{"value": {"id": "o1", "lines": [{"qty": 0}]}}]}`, false},
		{"/v2/orders", BatchMediaType, `{"records": [{"value": {"id": "o1", "lines": []}, "extra": 1}]}`, false},
		{"/v2/orders", BatchMediaType, `{"records": []}`, false},
		{"/v1/orders/commits?group=g", "application/json", `{"offsets": [{"partition": 0, "offset": 3}]}`, true},
		{"/v1/orders/commits?group=g", "application/json", `{"offsets": [{"partition": -1, "offset": 3}]}`, false},
	}
	for _, r := range requests {
		req, _ := http.NewRequest(http.MethodPost, "http://bridge"+r.path, strings.NewReader(r.body))
		req.Header.Set("Content-Type", r.contentType)
		ok, verrs := v.ValidateHttpRequest(req)
		if ok != r.valid {
			msgs := []string{}
			for _, e := range verrs {
				msgs = append(msgs, e.Message+": "+e.Reason)
			}
			t.Errorf("POST %s %s: valid = %v, want %v (%v)", r.path, r.body, ok, r.valid, msgs)
		}
	}
}

func TestBuildRejectsCollisions(t *testing.T) {
	cfg := &bridgeconfig.Config{Versions: []bridgeconfig.Version{{Name: "v1", Routes: []bridgeconfig.Route{
		{Name: "audit-log", Topic: "a", Operations: []bridgeconfig.Operation{"publish"}},
		{Name: "audit.log", Topic: "b", Operations: []bridgeconfig.Operation{"publish"}},
	}}}}
	if _, err := Build(cfg); err == nil || !strings.Contains(err.Error(), "operationId") {
		t.Fatalf("err = %v, want an operationId collision", err)
	}
	cfg.Versions[0].Routes[1].Schema = "{"
	cfg.Versions[0].Routes[1].Name = "other"
	if _, err := Build(cfg); err == nil {
		t.Fatal("want an error for an unparseable schema")
	}
}

func TestRebaseRefs(t *testing.T) {
	var s any
	if err := json.Unmarshal([]byte(`{"items": {"$ref": "#/$defs/x"}, "const": {"$ref": "#/data"}, "examples": [{"$ref": "#/data"}], "$defs": {"x": {"$ref": "https://example.com/s"}}}`), &s); err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(rebaseRefs(s, "#/at"))
	want := `{"$defs":{"x":{"$ref":"https://example.com/s"}},"const":{"$ref":"#/data"},"examples":[{"$ref":"#/data"}],"items":{"$ref":"#/at/$defs/x"}}`
	if string(got) != want {
		t.Errorf("rebaseRefs =\n%s\nwant\n%s", got, want)
	}
}

func TestBuildWithAuthDeclaresSecurity(t *testing.T) {
	cfg := testConfig()
	cfg.Auth = &bridgeconfig.Auth{Keys: []bridgeconfig.APIKey{{Name: "ci", SHA256: strings.Repeat("a", 64)}}}
	out, err := Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Security   []map[string][]string
		Components struct{ SecuritySchemes map[string]any }
		Paths      map[string]map[string]struct{ Responses map[string]any }
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Security) != 2 || len(doc.Components.SecuritySchemes) != 2 {
		t.Errorf("security %v schemes %v", doc.Security, doc.Components.SecuritySchemes)
	}
	for _, code := range []string{"401", "403", "429"} {
		if _, ok := doc.Paths["/v2/orders"]["post"].Responses[code]; !ok {
			t.Errorf("POST /v2/orders documents no %s", code)
		}
	}
	lo, err := libopenapi.NewDocument(out)
	if err != nil {
		t.Fatal(err)
	}
	v, errs := validator.NewValidator(lo)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		t.Errorf("document invalid: %v", verrs)
	}
}

func TestRenderHTMLIsSelfContained(t *testing.T) {
	out, err := Build(testConfig())
	if err != nil {
		t.Fatal(err)
	}
	page, err := RenderHTML(out)
	if err != nil {
		t.Fatal(err)
	}
	html := string(page)
	for _, want := range []string{`id="v1"`, "/v2/audit-log", "publishV2Orders", "deprecated, sunset 2027-06-30T00:00:00Z", "V2OrdersValue", "subscribeV2Events"} {
		if !strings.Contains(html, want) {
			t.Errorf("docs page lacks %q", want)
		}
	}
	for _, bad := range []string{"<script", "http://", "https://cdn", "<link"} {
		if strings.Contains(html, bad) {
			t.Errorf("docs page contains %q: it must be self-contained", bad)
		}
	}
}

// TestBuildBackendRoutes: publish on a backend route is documented as 202 with Location and
// the request id (200 elsewhere), and GET .../requests/{id} exists where replies are kept.
func TestBuildBackendRoutes(t *testing.T) {
	pub := []bridgeconfig.Operation{"publish"}
	cfg := &bridgeconfig.Config{Namespace: "shop", Name: "pay-api", Versions: []bridgeconfig.Version{{Name: "v1", Routes: []bridgeconfig.Route{
		{Name: "pay", Topic: "pay", Operations: pub, Backend: &bridgeconfig.Backend{URL: "http://pay/", Replies: &bridgeconfig.Replies{Topic: "pay.replies"}}},
		{Name: "fire", Topic: "fire", Operations: pub, Backend: &bridgeconfig.Backend{URL: "http://pay/"}},
		{Name: "plain", Topic: "plain", Operations: pub},
	}}}}
	out, err := Build(cfg)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := libopenapi.NewDocument(out)
	if err != nil {
		t.Fatal(err)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatal(err)
	}
	paths := model.Model.Paths.PathItems
	for route, want := range map[string]string{"pay": "202", "fire": "202", "plain": "200"} {
		item, ok := paths.Get("/v1/" + route)
		if !ok {
			t.Fatalf("no path /v1/%s", route)
		}
		codes := item.Post.Responses.Codes
		if _, ok := codes.Get(want); !ok {
			t.Errorf("/v1/%s: no %s response", route, want)
		}
		other := map[string]string{"202": "200", "200": "202"}[want]
		if _, ok := codes.Get(other); ok {
			t.Errorf("/v1/%s: documents %s too", route, other)
		}
		if resp, _ := codes.Get("202"); resp != nil {
			if _, ok := resp.Headers.Get("Location"); !ok {
				t.Errorf("/v1/%s: 202 without Location", route)
			}
		}
	}
	get, ok := paths.Get("/v1/pay/requests/{id}")
	if !ok || get.Get == nil || get.Get.OperationId != "getRequestV1Pay" {
		t.Fatalf("GET /v1/pay/requests/{id} missing")
	}
	for _, code := range []string{"202", "2XX", "404", "4XX", "502"} {
		if _, ok := get.Get.Responses.Codes.Get(code); !ok {
			t.Errorf("GET requests/{id}: no %s response", code)
		}
	}
	if _, ok := paths.Get("/v1/fire/requests/{id}"); ok {
		t.Errorf("a route without replies documents requests/{id}")
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatalf("NewValidator: %v", errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		for _, e := range verrs {
			t.Errorf("document invalid: %s: %s", e.Message, e.Reason)
		}
	}
}
