//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	v3high "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/junction-dev/junction/internal/bridgeconfig"
	"github.com/junction-dev/junction/test/e2e/kafkaharness"
)

const (
	batchType   = "application/vnd.junction.batch+json"
	e2eSchema   = `{"type": "object", "required": ["id", "qty"], "additionalProperties": false, "properties": {"id": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}}}`
	writerKey   = "e2e-writer-key-0123456789"
	readerKey   = "e2e-reader-key-0123456789"
	traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
)

func e2ePtr[T any](v T) *T { return &v }

// bridgeFixture is one real broker, its topics and a bridge process in front of them.
type bridgeFixture struct {
	kafka  *kafkaharness.Cluster
	bridge *bridgeProc
	cfg    *bridgeconfig.Config
}

// e2eConfig exposes orders (schema, 3 partitions), raw (no schema, 1 KiB limit) and feed
// (subscribe only) under v2, and orders under the deprecated v1.
func e2eConfig(bootstrap []string) *bridgeconfig.Config {
	pub := []bridgeconfig.Operation{bridgeconfig.OperationPublish}
	sunset := time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC)
	since := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return &bridgeconfig.Config{
		Namespace: "e2e", Name: "shop-api",
		Kafka: bridgeconfig.Kafka{BootstrapServers: bootstrap, ClientID: "bridge-e2e"},
		Versions: []bridgeconfig.Version{
			{Name: "v1", Deprecated: true, DeprecatedSince: &since, Sunset: &sunset, Routes: []bridgeconfig.Route{
				{Name: "orders", Topic: "e2e.orders", Operations: pub, Schema: e2eSchema}}},
			{Name: "v2", Routes: []bridgeconfig.Route{
				{Name: "orders", Topic: "e2e.orders", Operations: pub, Schema: e2eSchema},
				{Name: "raw", Topic: "e2e.raw", Operations: pub, MaxMessageBytes: 1024},
				{Name: "feed", Topic: "e2e.feed", Operations: []bridgeconfig.Operation{bridgeconfig.OperationSubscribe}},
				// The bridge believes 64 KiB; the broker says 300 bytes: the drift a partial
				// failure comes from in practice.
				{Name: "drift", Topic: "e2e.drift", Operations: pub, MaxMessageBytes: 64 << 10},
			}},
		},
		Auth: &bridgeconfig.Auth{Keys: []bridgeconfig.APIKey{
			{Name: "writer", SHA256: hashKey(writerKey), Grants: []bridgeconfig.Grant{{Version: "*", Route: "*", Operations: pub}}},
			{Name: "reader", SHA256: hashKey(readerKey), Grants: []bridgeconfig.Grant{{Version: "v2", Route: "raw", Operations: pub}},
				RateLimit: &bridgeconfig.RateLimit{RequestsPerSecond: 1, Burst: 2}},
		}},
		CORS: &bridgeconfig.CORS{AllowedOrigins: []string{"https://shop.example"}, MaxAgeSeconds: 300},
	}
}

func startFixture(t *testing.T, edit func(*bridgeconfig.Config), args ...string) *bridgeFixture {
	t.Helper()
	c := kafkaharness.Start(t, 1)
	createTopics(t, c,
		topicSpec{name: "e2e.orders", partitions: 3},
		topicSpec{name: "e2e.raw", partitions: 1, config: map[string]*string{"max.message.bytes": e2ePtr("1024")}},
		topicSpec{name: "e2e.feed", partitions: 1},
		topicSpec{name: "e2e.drift", partitions: 3, config: map[string]*string{"max.message.bytes": e2ePtr("300")}},
	)
	cfg := e2eConfig(c.BootstrapServers)
	if edit != nil {
		edit(cfg)
	}
	return &bridgeFixture{kafka: c, bridge: startBridgeProc(t, cfg, args...), cfg: cfg}
}

var writer = http.Header{"X-Api-Key": {writerKey}}

func withHeader(h http.Header, kv ...string) http.Header {
	out := h.Clone()
	if out == nil {
		out = http.Header{}
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}

// TestBridgePublishE2E: single records (JSON and raw bytes), a batch with per-record results in
// order, record headers and traceparent in Kafka, and a partial failure that is not a 2xx.
func TestBridgePublishE2E(t *testing.T) {
	f := startFixture(t, nil)
	base := f.bridge.baseURL
	h := withHeader(writer, "Traceparent", traceparent, "Kafka-Key", "k-single")

	resp, data := call(t, http.MethodPost, base+"/v2/orders", "application/json", strings.NewReader(`{"id": "single", "qty": 1}`), h)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("single: %d %s", resp.StatusCode, data)
	}
	resp, data = call(t, http.MethodPost, base+"/v2/raw", "application/octet-stream", strings.NewReader("\x00\x01raw"), writer)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("raw: %d %s", resp.StatusCode, data)
	}

	batch := `{"records": [
		{"key": "a", "value": {"id": "b0", "qty": 1}, "headers": {"source": "e2e"}, "partition": 2},
		{"key": "a", "value": {"id": "b1", "qty": 2}, "partition": 2},
		{"value": {"id": "b2", "qty": 3}, "partition": 0}]}`
	resp, data = call(t, http.MethodPost, base+"/v2/orders", batchType, strings.NewReader(batch), withHeader(writer, "Traceparent", traceparent))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("batch: %d %s", resp.StatusCode, data)
	}
	var res struct {
		Results []struct {
			Status    int
			Partition int32
			Offset    int64
		}
	}
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	if len(res.Results) != 3 || res.Results[0].Partition != 2 || res.Results[1].Partition != 2 || res.Results[2].Partition != 0 ||
		res.Results[1].Offset != res.Results[0].Offset+1 {
		t.Fatalf("batch results not in request order: %s", data)
	}

	byID := map[string]map[string]string{}
	where := map[string][2]int64{}
	for _, m := range readAll(t, f.kafka, "e2e.orders") {
		var v struct{ ID string }
		_ = json.Unmarshal(m.Value, &v)
		byID[v.ID] = headerMap(m)
		where[v.ID] = [2]int64{int64(m.Partition), m.Offset}
	}
	if len(byID) != 4 {
		t.Fatalf("e2e.orders holds %v, want single, b0, b1, b2", slices.Collect(maps.Keys(byID)))
	}
	for id, hdr := range byID {
		if hdr["traceparent"] != traceparent || hdr["content-type"] != "application/json" {
			t.Errorf("record %s headers %v", id, hdr)
		}
	}
	if byID["b0"]["source"] != "e2e" {
		t.Errorf("batch record header lost: %v", byID["b0"])
	}
	for i, id := range []string{"b0", "b1", "b2"} {
		if got := where[id]; got != [2]int64{int64(res.Results[i].Partition), res.Results[i].Offset} {
			t.Errorf("%s stored at %v, reported at %+v", id, got, res.Results[i])
		}
	}
	if raw := readAll(t, f.kafka, "e2e.raw"); len(raw) != 1 || string(raw[0].Value) != "\x00\x01raw" || headerMap(raw[0])["content-type"] != "application/octet-stream" {
		t.Errorf("e2e.raw: %+v", raw)
	}

	// Partial failure: the broker refuses the middle record; the others are stored, and the
	// answer is a non-2xx problem listing each record's outcome in order.
	big := strings.Repeat("x", 1000)
	batch = fmt.Sprintf(`{"records": [{"value": "ok-0", "partition": 0}, {"value": %q, "partition": 1}, {"value": "ok-2", "partition": 2}]}`, big)
	resp, data = call(t, http.MethodPost, base+"/v2/drift", batchType, strings.NewReader(batch), writer)
	if resp.StatusCode/100 == 2 {
		t.Fatalf("partial failure answered %d: %s", resp.StatusCode, data)
	}
	p := decodeProblem(t, resp, data)
	if !strings.HasSuffix(p.Type, "/PARTIAL_FAILURE") || len(p.Results) != 3 ||
		p.Results[0].Status != 200 || p.Results[1].Status != http.StatusRequestEntityTooLarge || p.Results[2].Status != 200 {
		t.Fatalf("partial failure problem: %d %s", resp.StatusCode, data)
	}
	stored := readAll(t, f.kafka, "e2e.drift")
	if len(stored) != 2 {
		t.Errorf("e2e.drift holds %d records, want the 2 acknowledged ones", len(stored))
	}
	// A single record that fails is never a 2xx either.
	resp, data = call(t, http.MethodPost, base+"/v2/drift", "application/json", strings.NewReader(fmt.Sprintf("%q", big)), writer)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("single record refused by the broker: %d %s", resp.StatusCode, data)
	}
	decodeProblem(t, resp, data)
}

// TestBridgeRefusesBadRequestsE2E: every bad request gets its status and a problem document,
// and no topic's end offset moves.
func TestBridgeRefusesBadRequestsE2E(t *testing.T) {
	f := startFixture(t, nil)
	base := f.bridge.baseURL
	// e2e.internal exists on the broker but no route names it: nothing may reach it.
	createTopics(t, f.kafka, topicSpec{name: "e2e.internal", partitions: 1})
	topics := []string{"e2e.orders", "e2e.raw", "e2e.feed", "e2e.drift", "e2e.internal"}
	manyRecords := `{"records": [` + strings.TrimSuffix(strings.Repeat(`{"value": {"id": "x", "qty": 1}},`, 501), ",") + `]}`
	cases := []struct {
		name, method, path, contentType, body string
		header                                http.Header
		status                                int
		reason                                string
		mentions                              string // detail or a violation must contain this
	}{
		{"no API key", "POST", "/v2/orders", "application/json", `{"id": "a", "qty": 1}`, http.Header{}, 401, "UNAUTHENTICATED", "API key"},
		{"unknown API key", "POST", "/v2/orders", "application/json", `{"id": "a", "qty": 1}`, http.Header{"X-Api-Key": {"guess"}}, 401, "UNAUTHENTICATED", "not valid"},
		{"key outside its grant", "POST", "/v2/orders", "application/json", `{"id": "a", "qty": 1}`, http.Header{"Authorization": {"Bearer " + readerKey}}, 403, "FORBIDDEN", "reader"},
		{"unknown version", "POST", "/v9/orders", "application/json", `{"id": "a", "qty": 1}`, writer, 404, "ROUTE_NOT_FOUND", "v9"},
		{"unknown route", "POST", "/v2/nope", "application/json", `{"id": "a", "qty": 1}`, writer, 404, "ROUTE_NOT_FOUND", "nope"},
		{"topic name as route", "POST", "/v2/__consumer_offsets", "application/json", `{}`, writer, 404, "ROUTE_NOT_FOUND", "__consumer_offsets"},
		{"unexposed topic name as route", "POST", "/v2/e2e.internal", "application/octet-stream", `x`, writer, 404, "ROUTE_NOT_FOUND", "e2e.internal"},
		{"encoded slash to another topic", "POST", "/v2/orders%2F..%2Fe2e.internal", "application/json", `{}`, writer, 404, "ROUTE_NOT_FOUND", "e2e.internal"},
		{"subscribe-only route", "POST", "/v2/feed", "application/json", `{}`, writer, 405, "OPERATION_NOT_ALLOWED", "publish"},
		{"GET on a publish route", "GET", "/v2/orders", "", "", writer, 405, "OPERATION_NOT_ALLOWED", "GET"},
		{"bytes to a schema route", "POST", "/v2/orders", "application/octet-stream", `{"id": "a", "qty": 1}`, writer, 415, "UNSUPPORTED_MEDIA_TYPE", "application/octet-stream"},
		{"no content type on a schema route", "POST", "/v2/orders", "", `{"id": "a", "qty": 1}`, writer, 415, "UNSUPPORTED_MEDIA_TYPE", "schema"},
		{"text/plain", "POST", "/v2/raw", "text/plain", `hello`, writer, 415, "UNSUPPORTED_MEDIA_TYPE", "text/plain"},
		{"unparseable content type", "POST", "/v2/orders", "application/json; charset", `{"id": "a", "qty": 1}`, writer, 415, "UNSUPPORTED_MEDIA_TYPE", "content type"},
		{"malformed JSON", "POST", "/v2/orders", "application/json", `{"id": "a",`, writer, 400, "MALFORMED_REQUEST", "JSON"},
		{"empty body", "POST", "/v2/orders", "application/json", ``, writer, 400, "MALFORMED_REQUEST", "empty"},
		{"trailing data", "POST", "/v2/raw", "application/json", `{} {}`, writer, 400, "MALFORMED_REQUEST", "after the JSON value"},
		{"wrong types", "POST", "/v2/orders", "application/json", `{"id": 7, "qty": 0}`, writer, 422, "SCHEMA_VIOLATION", "/qty"},
		{"unknown field named", "POST", "/v2/orders", "application/json", `{"id": "a", "qty": 1, "coupon": "FREE"}`, writer, 422, "SCHEMA_VIOLATION", "coupon"},
		{"missing required", "POST", "/v1/orders", "application/json", `{"id": "a"}`, writer, 422, "SCHEMA_VIOLATION", "qty"},
		{"over the topic's max.message.bytes", "POST", "/v2/raw", "application/octet-stream", strings.Repeat("x", 1025), writer, 413, "MESSAGE_TOO_LARGE", "1024"},
		{"pinned partition out of range", "POST", "/v2/orders?partition=7", "application/json", `{"id": "a", "qty": 1}`, writer, 400, "INVALID_PARTITION", "3 partition"},
		{"partition not a number", "POST", "/v2/orders?partition=x", "application/json", `{"id": "a", "qty": 1}`, writer, 400, "INVALID_PARTITION", "not a number"},
		{"batch: unknown envelope field", "POST", "/v2/orders", batchType, `{"records": [{"value": {"id": "a", "qty": 1}}], "atomic": true}`, writer, 400, "MALFORMED_REQUEST", `"atomic"`},
		{"batch: unknown record field", "POST", "/v2/orders", batchType, `{"records": [{"value": {"id": "a", "qty": 1}, "ttl": 5}]}`, writer, 400, "MALFORMED_REQUEST", `"ttl"`},
		{"batch: no records", "POST", "/v2/orders", batchType, `{"records": []}`, writer, 400, "MALFORMED_REQUEST", "1 to 500"},
		{"batch: not an envelope", "POST", "/v2/orders", batchType, `[{"value": {}}]`, writer, 400, "MALFORMED_REQUEST", "cannot unmarshal"},
		{"batch: too many records", "POST", "/v2/orders", batchType, manyRecords, writer, 400, "MALFORMED_REQUEST", "501"},
		{"batch: record without value", "POST", "/v2/orders", batchType, `{"records": [{"key": "k"}]}`, writer, 400, "MALFORMED_REQUEST", "/records/0/value"},
		{"batch: one bad record among good", "POST", "/v2/orders", batchType, `{"records": [{"value": {"id": "a", "qty": 1}}, {"value": {"id": "b", "qty": 0}}]}`, writer, 422, "SCHEMA_VIOLATION", "/records/1/value/qty"},
		{"batch: negative partition", "POST", "/v2/orders", batchType, `{"records": [{"value": {"id": "a", "qty": 1}, "partition": -1}]}`, writer, 400, "INVALID_PARTITION", "/records/0"},
		{"batch: partition out of range", "POST", "/v2/orders", batchType, `{"records": [{"value": {"id": "a", "qty": 1}}, {"value": {"id": "b", "qty": 1}, "partition": 3}]}`, writer, 400, "INVALID_PARTITION", "/records/1/partition"},
		{"batch: oversized record", "POST", "/v2/raw", batchType, `{"records": [{"value": "` + strings.Repeat("x", 1100) + `"}]}`, writer, 413, "MESSAGE_TOO_LARGE", "/records/0/value"},
	}
	if len(cases) < 20 {
		t.Fatalf("only %d bad requests", len(cases))
	}
	before := endOffsets(t, f.kafka, topics...)
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			resp, data := call(t, tt.method, base+tt.path, tt.contentType, strings.NewReader(tt.body), tt.header)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, data)
			}
			p := decodeProblem(t, resp, data)
			if !strings.HasSuffix(p.Type, "/"+tt.reason) {
				t.Errorf("type %s, want .../%s", p.Type, tt.reason)
			}
			text := p.Detail
			for _, v := range p.Violations {
				text += " " + v.Pointer + " " + v.Detail
			}
			if !strings.Contains(text, tt.mentions) {
				t.Errorf("problem does not mention %q: %s", tt.mentions, data)
			}
			if after := endOffsets(t, f.kafka, topics...); !maps.Equal(before, after) {
				t.Errorf("end offsets moved: %v -> %v", before, after)
			}
		})
	}
	// The oversized body without Content-Length is refused before it is read whole.
	pr, pw := io.Pipe()
	go func() {
		chunk := make([]byte, 64<<10)
		for i := 0; i < 1024; i++ { // up to 64 MiB, stopped by the server long before
			if _, err := pw.Write(chunk); err != nil {
				return
			}
		}
		_ = pw.Close()
	}()
	resp, data := call(t, http.MethodPost, base+"/v2/raw", "application/octet-stream", pr, writer)
	_ = pr.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(data), "1024") {
		t.Errorf("streamed oversized body: %d %s", resp.StatusCode, data)
	}
	if after := endOffsets(t, f.kafka, topics...); !maps.Equal(before, after) {
		t.Errorf("end offsets moved: %v -> %v", before, after)
	}
}

// TestBridgeVersionsAndDocsE2E: deprecated versions announce themselves, the OpenAPI document
// is a valid 3.1 document that marks them, and /docs renders it without external resources.
func TestBridgeVersionsAndDocsE2E(t *testing.T) {
	f := startFixture(t, nil)
	base := f.bridge.baseURL
	resp, data := call(t, http.MethodPost, base+"/v1/orders", "application/json", strings.NewReader(`{"id": "v1", "qty": 1}`), writer)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("v1: %d %s", resp.StatusCode, data)
	}
	if got := resp.Header.Get("Deprecation"); got != "@1767225600" {
		t.Errorf("Deprecation %q", got)
	}
	if got := resp.Header.Get("Sunset"); got != "Wed, 30 Jun 2027 00:00:00 GMT" {
		t.Errorf("Sunset %q", got)
	}
	if got := resp.Header.Get("Link"); !strings.Contains(got, `</v2/orders>; rel="successor-version"`) {
		t.Errorf("Link %q", got)
	}
	// Errors on a deprecated version carry the headers too.
	resp, _ = call(t, http.MethodPost, base+"/v1/orders", "application/json", strings.NewReader(`{}`), writer)
	if resp.StatusCode != 422 || resp.Header.Get("Deprecation") == "" {
		t.Errorf("v1 error: %d Deprecation=%q", resp.StatusCode, resp.Header.Get("Deprecation"))
	}
	resp, _ = call(t, http.MethodPost, base+"/v2/orders", "application/json", strings.NewReader(`{"id": "v2", "qty": 1}`), writer)
	if resp.StatusCode != 200 || resp.Header.Get("Deprecation") != "" || resp.Header.Get("Sunset") != "" {
		t.Errorf("v2: %d %v", resp.StatusCode, resp.Header)
	}

	resp, data = call(t, http.MethodGet, base+"/openapi.json", "", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("/openapi.json: %d", resp.StatusCode)
	}
	doc, err := libopenapi.NewDocument(data)
	if err != nil {
		t.Fatal(err)
	}
	model, err := doc.BuildV3Model()
	if err != nil {
		t.Fatal(err)
	}
	ops := 0
	for path, item := range model.Model.Paths.PathItems.FromOldest() {
		for _, op := range []*v3high.Operation{item.Get, item.Post} {
			if op == nil {
				continue
			}
			ops++
			if dep := op.Deprecated != nil && *op.Deprecated; dep != strings.HasPrefix(path, "/v1/") {
				t.Errorf("%s %s deprecated=%v", path, op.OperationId, dep)
			}
		}
	}
	if ops != 7 { // publish v1/orders v2/orders v2/raw v2/drift; subscribe, poll, commit v2/feed
		t.Errorf("%d operations in the document, want 7", ops)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if ok, verrs := v.ValidateDocument(); !ok {
		t.Errorf("invalid document: %v", verrs)
	}
	// The document and the bridge agree on what a valid request is.
	for _, body := range []string{`{"id": "a", "qty": 1}`, `{"id": "a", "qty": 0}`} {
		req, _ := http.NewRequest(http.MethodPost, base+"/v2/orders", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Api-Key", writerKey)
		docOK, _ := v.ValidateHttpRequest(req)
		resp, _ := call(t, http.MethodPost, base+"/v2/orders", "application/json", strings.NewReader(body), writer)
		if docOK != (resp.StatusCode == 200) {
			t.Errorf("%s: document says valid=%v, bridge answered %d", body, docOK, resp.StatusCode)
		}
	}

	resp, data = call(t, http.MethodGet, base+"/docs", "", nil, nil)
	html := string(data)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(html, `id="v1"`) || !strings.Contains(html, "deprecated") || strings.Contains(html, "<script") {
		t.Errorf("/docs: %d %s", resp.StatusCode, resp.Header)
	}
}

// TestBridgeControlledExposureE2E: per-key and per-exposure rate limits, CORS, metrics and an
// access log without bodies or keys.
func TestBridgeControlledExposureE2E(t *testing.T) {
	f := startFixture(t, func(c *bridgeconfig.Config) {
		c.RateLimit = &bridgeconfig.RateLimit{RequestsPerSecond: 20, Burst: 20}
	})
	base := f.bridge.baseURL
	reader := http.Header{"X-Api-Key": {readerKey}}
	statuses := map[int]int{}
	var retryAfter string
	for i := 0; i < 4; i++ {
		resp, data := call(t, http.MethodPost, base+"/v2/raw", "application/octet-stream", strings.NewReader("r"), reader)
		statuses[resp.StatusCode]++
		if resp.StatusCode == 429 {
			retryAfter = resp.Header.Get("Retry-After")
			p := decodeProblem(t, resp, data)
			if !strings.HasSuffix(p.Type, "/RATE_LIMITED") || !strings.Contains(p.Detail, "reader") {
				t.Errorf("429 problem %s", data)
			}
		}
	}
	if statuses[200] != 2 || statuses[429] != 2 || retryAfter == "" {
		t.Errorf("per-key limit (1/s, burst 2): statuses %v Retry-After %q", statuses, retryAfter)
	}
	// The exposure-wide bucket (burst 20) is shared by all keys.
	statuses = map[int]int{}
	for i := 0; i < 30; i++ {
		resp, _ := call(t, http.MethodPost, base+"/v2/raw", "application/octet-stream", strings.NewReader("w"), writer)
		statuses[resp.StatusCode]++
	}
	if statuses[429] == 0 || statuses[200] == 0 || statuses[200] > 25 {
		t.Errorf("exposure limit 20/s burst 20: statuses %v", statuses)
	}

	resp, _ := call(t, http.MethodOptions, base+"/v2/orders", "", nil, http.Header{"Origin": {"https://shop.example"}, "Access-Control-Request-Method": {"POST"}})
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Allow-Origin") != "https://shop.example" || resp.Header.Get("Access-Control-Max-Age") != "300" {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	resp, _ = call(t, http.MethodOptions, base+"/v2/orders", "", nil, http.Header{"Origin": {"https://evil.example"}, "Access-Control-Request-Method": {"POST"}})
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("foreign origin allowed: %v", resp.Header)
	}

	time.Sleep(1100 * time.Millisecond) // let the exposure bucket refill
	secretBody := `{"id": "do-not-log-me", "qty": 1}`
	resp, data := call(t, http.MethodPost, base+"/v2/orders", "application/json", strings.NewReader(secretBody), withHeader(writer, "Traceparent", traceparent))
	if resp.StatusCode != 200 {
		t.Fatalf("publish: %d %s", resp.StatusCode, data)
	}
	resp, data = call(t, http.MethodGet, base+"/metrics", "", nil, nil)
	metrics := string(data)
	for _, want := range []string{
		`junction_bridge_http_requests_total{code="200",operation="publish",route="orders",version="v2"} 1`,
		`junction_bridge_http_requests_total{code="429",operation="publish",route="raw",version="v2"}`,
		`junction_bridge_http_request_duration_seconds_bucket{operation="publish",route="orders",version="v2"`,
		`junction_bridge_produce_duration_seconds_count{batch="1"}`,
		`junction_bridge_in_flight_requests 0`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	log := kafkaharness.Tail(f.bridge.logPath, 500)
	for _, secret := range []string{writerKey, readerKey, "do-not-log-me"} {
		if strings.Contains(log, secret) {
			t.Errorf("access log contains %q", secret)
		}
	}
	if !strings.Contains(log, `"api_key":"writer"`) || !strings.Contains(log, `"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736"`) {
		t.Errorf("access log lacks key name or trace id:\n%s", kafkaharness.Tail(f.bridge.logPath, 5))
	}
}

// TestBridgeOverloadE2E: with one in-flight slot held by a slow upload, the next request is
// answered 503 with Retry-After instead of queueing.
func TestBridgeOverloadE2E(t *testing.T) {
	f := startFixture(t, nil, "--max-in-flight", "1")
	base := f.bridge.baseURL
	pr, pw := io.Pipe()
	slow := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, base+"/v2/raw", pr)
		req.Header.Set("Content-Type", "application/octet-stream")
		req.Header.Set("X-Api-Key", writerKey)
		resp, err := httpClient.Do(req)
		if err != nil {
			slow <- 0
			return
		}
		_ = resp.Body.Close()
		slow <- resp.StatusCode
	}()
	_, _ = pw.Write([]byte("slow"))
	// Only send the competing requests once the slow upload holds the slot; otherwise a fast
	// request can take it first and the slow one is the request refused.
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(metricsText(t, base), "junction_bridge_in_flight_requests 1") {
		if time.Now().After(deadline) {
			t.Fatal("the slow upload never held an in-flight slot")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var got int
	for time.Now().Before(deadline) {
		resp, data := call(t, http.MethodPost, base+"/v2/raw", "application/octet-stream", strings.NewReader("fast"), writer)
		got = resp.StatusCode
		if got == http.StatusServiceUnavailable {
			p := decodeProblem(t, resp, data)
			if !strings.HasSuffix(p.Type, "/OVERLOADED") || resp.Header.Get("Retry-After") == "" {
				t.Errorf("overload answer: %v %s", resp.Header, data)
			}
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got != http.StatusServiceUnavailable {
		t.Errorf("with the slot held, a request got %d, want 503", got)
	}
	_ = pw.Close()
	if code := <-slow; code != 200 {
		t.Errorf("slow upload answered %d", code)
	}
}

// TestBridgeSIGTERMDrainE2E: stop a bridge under load; every record that got a 2xx is in Kafka.
func TestBridgeSIGTERMDrainE2E(t *testing.T) {
	f := startFixture(t, nil, "--drain-delay", "1s") // as the operator runs it (5s there)
	base := f.bridge.baseURL
	var (
		mu       sync.Mutex
		acked    = map[string]bool{}
		sent     atomic.Int64
		stopping atomic.Bool
		wg       sync.WaitGroup
	)
	client := &http.Client{Timeout: 30 * time.Second}
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 5000; i++ { // bounded; ends when the bridge stops answering
				id := fmt.Sprintf("w%d-%d", w, i)
				body := fmt.Sprintf(`{"records": [{"value": {"id": %q, "qty": 1}}, {"value": {"id": "%s-b", "qty": 1}}]}`, id, id)
				req, _ := http.NewRequest(http.MethodPost, base+"/v2/orders", strings.NewReader(body))
				req.Header.Set("Content-Type", batchType)
				req.Header.Set("X-Api-Key", writerKey)
				sent.Add(1)
				resp, err := client.Do(req)
				if err != nil {
					if stopping.Load() {
						return
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode/100 == 2 {
					mu.Lock()
					acked[id], acked[id+"-b"] = true, true
					mu.Unlock()
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	stopping.Store(true)
	if err := f.bridge.stop(30 * time.Second); err != nil {
		t.Fatalf("bridge exit after SIGTERM: %v", err)
	}
	wg.Wait()
	stored := map[string]bool{}
	for _, m := range readAll(t, f.kafka, "e2e.orders") {
		var v struct{ ID string }
		_ = json.Unmarshal(m.Value, &v)
		stored[v.ID] = true
	}
	missing := 0
	for id := range acked {
		if !stored[id] {
			missing++
		}
	}
	t.Logf("requests sent %d, records acknowledged %d, records in Kafka %d", sent.Load(), len(acked), len(stored))
	if len(acked) == 0 {
		t.Fatal("no request succeeded before SIGTERM")
	}
	if missing > 0 {
		t.Errorf("%d acknowledged records are not in Kafka", missing)
	}
	if !strings.Contains(kafkaharness.Tail(f.bridge.logPath, 20), "bridge stopped") {
		t.Errorf("bridge did not drain cleanly:\n%s", kafkaharness.Tail(f.bridge.logPath, 20))
	}
}

// metricsText fetches the bridge's Prometheus exposition.
func metricsText(t *testing.T, base string) string {
	t.Helper()
	resp, data := call(t, http.MethodGet, base+"/metrics", "", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	return string(data)
}
