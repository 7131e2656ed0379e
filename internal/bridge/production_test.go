package bridge

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/junction-dev/junction/internal/bridgeconfig"
	bridgev1 "github.com/junction-dev/junction/proto/junction/bridge/v1"
)

func hashKey(k string) string {
	sum := sha256.Sum256([]byte(k))
	return hex.EncodeToString(sum[:])
}

// startBridgeWith runs a bridge on a fresh kfake cluster after edit changed the test config.
func startBridgeWith(t *testing.T, partitions int32, edit func(*bridgeconfig.Config)) *bridgeUnderTest {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, "orders", "orders-v1", "raw", "feed"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cfg := testConfig(c.ListenAddrs())
	edit(cfg)
	b := runBridge(t, cfg)
	b.cluster = c
	waitStatus(t, b.baseURL+"/readyz", http.StatusOK)
	return b
}

func do(t *testing.T, method, url, contentType, body string, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, data
}

func TestRESTBatch(t *testing.T) {
	b := startBridgeWith(t, 3, func(*bridgeconfig.Config) {})
	body := `{"records": [
		{"key": "a", "value": {"id": "1", "qty": 1}, "headers": {"h": "v"}, "partition": 2},
		{"value": {"id": "2", "qty": 2}, "partition": 2},
		{"key": "c", "value": {"id": "3", "qty": 3}, "partition": 1}]}`
	tp := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	resp, data := do(t, http.MethodPost, b.baseURL+"/v2/orders", contentTypeBatch, body, http.Header{"Traceparent": {tp}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, data)
	}
	var got struct{ Results []RecordResult }
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Results) != 3 || *got.Results[0].Partition != 2 || *got.Results[1].Partition != 2 || *got.Results[2].Partition != 1 ||
		*got.Results[1].Offset != *got.Results[0].Offset+1 {
		t.Fatalf("results %s", data)
	}
	recs := readTopic(t, b.cluster, "orders", 3)
	if len(recs) != 3 {
		t.Fatalf("%d records in Kafka, want 3", len(recs))
	}
	for _, r := range recs {
		h := map[string]string{}
		for _, x := range r.Headers {
			h[x.Key] = string(x.Value)
		}
		if h["traceparent"] != tp || h["content-type"] != "application/json" {
			t.Errorf("record %q headers %v", r.Value, h)
		}
		if string(r.Key) == "a" && h["h"] != "v" {
			t.Errorf("record a lost its header: %v", h)
		}
	}

	bad := []struct {
		name, body, reason string
		status             int
		pointers           []string
	}{
		{"unknown envelope field", `{"records": [], "x": 1}`, "MALFORMED_REQUEST", 400, nil},
		{"unknown record field", `{"records": [{"value": {"id": "1", "qty": 1}, "valu": 2}]}`, "MALFORMED_REQUEST", 400, nil},
		{"empty batch", `{"records": []}`, "MALFORMED_REQUEST", 400, nil},
		{"partition out of range", `{"records": [{"value": {"id": "1", "qty": 1}, "partition": 3}]}`, "INVALID_PARTITION", 400, nil},
		{"second record invalid", `{"records": [{"value": {"id": "1", "qty": 1}}, {"value": {"id": 2, "qty": 1}}]}`, "SCHEMA_VIOLATION", 422, []string{"/records/1/value/id"}},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			resp, data := do(t, http.MethodPost, b.baseURL+"/v2/orders", contentTypeBatch, tt.body, nil)
			p := decodeProblem(t, resp, data)
			if resp.StatusCode != tt.status || !strings.HasSuffix(p.Type, tt.reason) {
				t.Fatalf("status %d, want %d %s: %s", resp.StatusCode, tt.status, tt.reason, data)
			}
			if ptrs := violationPointers(p.Violations); strings.Join(ptrs, ",") != strings.Join(tt.pointers, ",") {
				t.Errorf("pointers %v, want %v", ptrs, tt.pointers)
			}
		})
	}
	if !strings.Contains(string(mustDo(t, b.baseURL+"/v2/orders", `{"records": [{"value": {}}], "x": 1}`)), `unknown field \"x\"`) {
		t.Error("unknown field not named")
	}
	if n := len(readTopic(t, b.cluster, "orders", 4)); n != 3 {
		t.Errorf("refused batches wrote records: %d in Kafka, want 3", n)
	}
}

func mustDo(t *testing.T, url, body string) []byte {
	_, data := do(t, http.MethodPost, url, contentTypeBatch, body, nil)
	return data
}

func TestAuthGrantsAndRateLimits(t *testing.T) {
	b := startBridgeWith(t, 1, func(c *bridgeconfig.Config) {
		c.Auth = &bridgeconfig.Auth{Keys: []bridgeconfig.APIKey{
			{Name: "writer", SHA256: hashKey("secret-writer"), Grants: []bridgeconfig.Grant{{Version: "v2", Route: "orders", Operations: []bridgeconfig.Operation{"publish"}}}},
			{Name: "slow", SHA256: hashKey("secret-slow"), Grants: []bridgeconfig.Grant{{Version: "*", Route: "*", Operations: []bridgeconfig.Operation{"publish"}}},
				RateLimit: &bridgeconfig.RateLimit{RequestsPerSecond: 1, Burst: 1}},
		}}
	})
	order := `{"id": "o", "qty": 1}`
	cases := []struct {
		name   string
		header http.Header
		path   string
		status int
	}{
		{"no key", nil, "/v2/orders", 401},
		{"wrong key", http.Header{"X-Api-Key": {"nope"}}, "/v2/orders", 401},
		{"granted", http.Header{"X-Api-Key": {"secret-writer"}}, "/v2/orders", 200},
		{"granted bearer", http.Header{"Authorization": {"Bearer secret-writer"}}, "/v2/orders", 200},
		{"outside grant", http.Header{"X-Api-Key": {"secret-writer"}}, "/v2/raw", 403},
		{"other version outside grant", http.Header{"X-Api-Key": {"secret-writer"}}, "/v1/orders", 403},
		{"wildcard grant", http.Header{"X-Api-Key": {"secret-slow"}}, "/v1/orders", 200},
		{"rate limited", http.Header{"X-Api-Key": {"secret-slow"}}, "/v1/orders", 429},
	}
	for _, tt := range cases {
		resp, data := do(t, http.MethodPost, b.baseURL+tt.path, "application/json", order, tt.header)
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d: %s", tt.name, resp.StatusCode, tt.status, data)
		}
		if tt.status == 429 && resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s: no Retry-After", tt.name)
		}
		if tt.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("%s: no WWW-Authenticate", tt.name)
		}
	}
	// gRPC enforces the same grants: no side door.
	client := bridgev1.NewPublishServiceClient(b.conn)
	v, _ := structpb.NewValue(map[string]any{"id": "o", "qty": 1})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := &bridgev1.PublishRequest{Version: "v2", Route: "raw", Payload: &bridgev1.PublishRequest_Json{Json: v}}
	if _, err := client.Publish(ctx, req); status.Code(err) != codes.Unauthenticated {
		t.Errorf("gRPC without key: %v", err)
	}
	kctx := metadata.AppendToOutgoingContext(ctx, "x-api-key", "secret-writer")
	if _, err := client.Publish(kctx, req); status.Code(err) != codes.PermissionDenied {
		t.Errorf("gRPC outside grant: %v", err)
	}
	req.Route = "orders"
	if _, err := client.Publish(kctx, req); err != nil {
		t.Errorf("gRPC granted: %v", err)
	}
}

func TestDeprecationCORSMetricsAndDocs(t *testing.T) {
	sunset := time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC)
	since := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b := startBridgeWith(t, 1, func(c *bridgeconfig.Config) {
		c.Versions[0].Sunset, c.Versions[0].DeprecatedSince = &sunset, &since
		c.CORS = &bridgeconfig.CORS{AllowedOrigins: []string{"https://shop.example"}, MaxAgeSeconds: 600}
	})
	resp, data := do(t, http.MethodPost, b.baseURL+"/v1/orders", "application/json", `{"id": "o", "qty": 1}`, http.Header{"Origin": {"https://shop.example"}})
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, data)
	}
	h := resp.Header
	if h.Get("Deprecation") != "@1767225600" || h.Get("Sunset") != "Wed, 30 Jun 2027 00:00:00 GMT" ||
		!strings.Contains(h.Get("Link"), `</v2/orders>; rel="successor-version"`) {
		t.Errorf("deprecation headers: %v", h)
	}
	if h.Get("Access-Control-Allow-Origin") != "https://shop.example" {
		t.Errorf("CORS: %v", h)
	}
	resp, _ = do(t, http.MethodPost, b.baseURL+"/v2/orders", "application/json", `{"id": "o", "qty": 1}`, http.Header{"Origin": {"https://evil.example"}})
	if resp.Header.Get("Deprecation") != "" || resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("v2 / foreign origin got %v", resp.Header)
	}
	resp, _ = do(t, http.MethodOptions, b.baseURL+"/v2/orders", "", "", http.Header{"Origin": {"https://shop.example"}, "Access-Control-Request-Method": {"POST"}})
	if resp.StatusCode != 204 || resp.Header.Get("Access-Control-Max-Age") != "600" || !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "X-API-Key") {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}

	resp, data = do(t, http.MethodGet, b.baseURL+"/metrics", "", "", nil)
	for _, want := range []string{
		`junction_bridge_http_requests_total{code="200",operation="publish",route="orders",version="v1"} 1`,
		`junction_bridge_http_request_duration_seconds_bucket`,
		`junction_bridge_produce_duration_seconds_bucket`,
		`junction_bridge_in_flight_requests 0`,
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	resp, data = do(t, http.MethodGet, b.baseURL+"/docs", "", "", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(data), `id="v1"`) {
		t.Errorf("/docs: %d %s", resp.StatusCode, resp.Header)
	}
}

func TestOverloadAnswers503(t *testing.T) {
	c := &Core{cfg: &bridgeconfig.Config{}, limits: Limits{MaxInFlight: 1, MaxInFlightBytes: 100}}
	release, err := c.acquire(10)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.acquire(10)
	if e := asError(err); e.Kind != KindOverloaded || e.HTTPStatus() != 503 || e.retryAfter() == 0 {
		t.Fatalf("second acquire: %v", err)
	}
	release()
	release()
	if _, err := c.acquire(101); asError(err).Kind != KindOverloaded {
		t.Fatalf("over the byte budget: %v", err)
	}
	if r, err := c.acquire(100); err != nil {
		t.Fatalf("after release: %v", err)
	} else {
		r()
	}
}

func TestTraceparentShape(t *testing.T) {
	for s, want := range map[string]bool{
		"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01": true,
		"00-00000000000000000000000000000000-b7ad6b7169203331-01": false,
		"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01": false,
		"00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01": false,
		"garbage": false,
	} {
		if validTraceparent(s) != want {
			t.Errorf("%q: %v", s, !want)
		}
	}
}

type sseEvent struct{ id, event, data string }

// readEvents opens the stream and returns the first n events after "open".
func readEvents(t *testing.T, url, lastID string, n int) []sseEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		data, _ := io.ReadAll(resp.Body)
		t.Fatalf("events: %d %s", resp.StatusCode, data)
	}
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(resp.Body)
	for len(out) < n && sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.event != "" && cur.event != "open" {
				out = append(out, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			cur.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			cur.event = line[7:]
		case strings.HasPrefix(line, "data: "):
			cur.data = line[6:]
		}
	}
	if len(out) < n {
		t.Fatalf("got %d events, want %d: %+v", len(out), n, out)
	}
	return out
}

func TestSSEResumesAndReportsBadRecords(t *testing.T) {
	b := startBridgeWith(t, 1, func(c *bridgeconfig.Config) {
		c.Versions[1].Routes[0].Operations = []bridgeconfig.Operation{"publish", "subscribe"}
	})
	url := b.baseURL + "/v2/orders/events?from=earliest"
	for _, body := range []string{`{"id": "a", "qty": 1}`, `{"id": "b", "qty": 1}`} {
		if resp, data := do(t, http.MethodPost, b.baseURL+"/v2/orders", "application/json", body, nil); resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, data)
		}
	}
	// A record written around the bridge: not JSON, on a route with a schema.
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), &kgo.Record{Topic: "orders", Value: []byte("not json")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if resp, _ := do(t, http.MethodPost, b.baseURL+"/v2/orders", "application/json", `{"id": "c", "qty": 1}`, nil); resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	evs := readEvents(t, url, "", 4)
	kinds := []string{evs[0].event, evs[1].event, evs[2].event, evs[3].event}
	if strings.Join(kinds, ",") != "record,record,error,record" || evs[1].id != "0:2" || evs[3].id != "0:4" {
		t.Fatalf("events %+v", evs)
	}
	if !strings.Contains(evs[2].data, `"offset":2`) || !strings.Contains(evs[2].data, `"partition":0`) {
		t.Errorf("error event does not name partition and offset: %s", evs[2].data)
	}
	var rec sseRecord
	if err := json.Unmarshal([]byte(evs[3].data), &rec); err != nil || !strings.Contains(string(rec.Value), `"id":"c"`) {
		t.Errorf("record event %s", evs[3].data)
	}
	// Resume after the second record: the next event is the bad record, then c.
	again := readEvents(t, b.baseURL+"/v2/orders/events", evs[1].id, 2)
	if again[0].event != "error" || !strings.Contains(again[1].data, `"c"`) {
		t.Errorf("resumed events %+v", again)
	}
	if resp, data := do(t, http.MethodGet, b.baseURL+"/v2/orders/events", "", "", http.Header{"Last-Event-Id": {"zz"}}); resp.StatusCode != 400 {
		t.Errorf("bad Last-Event-ID: %d %s", resp.StatusCode, data)
	}
	if resp, _ := do(t, http.MethodGet, b.baseURL+"/v2/raw/events", "", "", nil); resp.StatusCode != 405 {
		t.Errorf("events on a publish-only route: %d", resp.StatusCode)
	}
}

func TestPollAndCommitAcrossReplicas(t *testing.T) {
	b := startBridgeWith(t, 2, func(c *bridgeconfig.Config) {
		c.Versions[1].Routes[0].Operations = []bridgeconfig.Operation{"publish", "subscribe"}
	})
	other := runBridge(t, b.cfg)
	waitStatus(t, other.baseURL+"/readyz", http.StatusOK)
	for i := 0; i < 3; i++ {
		body := fmt.Sprintf(`{"id": "r%d", "qty": 1}`, i)
		if resp, data := do(t, http.MethodPost, b.baseURL+"/v2/orders?partition=0", "application/json", body, nil); resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, data)
		}
	}
	poll := func(base string) pollResponse {
		t.Helper()
		resp, data := do(t, http.MethodGet, base+"/v2/orders/records?group=g1&max=2&wait=2s", "", "", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("poll: %d %s", resp.StatusCode, data)
		}
		var pr pollResponse
		if err := json.Unmarshal(data, &pr); err != nil {
			t.Fatal(err)
		}
		return pr
	}
	first := poll(b.baseURL)
	if len(first.Records) != 2 || first.Records[0].Offset != 0 || first.Records[1].Offset != 1 {
		t.Fatalf("first poll %+v", first)
	}
	if again := poll(other.baseURL); len(again.Records) != 2 || again.Records[0].Offset != 0 {
		t.Fatalf("uncommitted poll on the other replica %+v", again)
	}
	commit, _ := json.Marshal(first.Commit)
	if resp, data := do(t, http.MethodPost, other.baseURL+"/v2/orders/commits?group=g1", "application/json", string(commit), nil); resp.StatusCode != 204 {
		t.Fatalf("commit: %d %s", resp.StatusCode, data)
	}
	rest := poll(b.baseURL)
	if len(rest.Records) != 1 || rest.Records[0].Offset != 2 || !strings.Contains(string(rest.Records[0].Value), "r2") {
		t.Fatalf("poll after commit %+v", rest)
	}
	for _, bad := range []string{"group=", "group=a/b", "group=g1&max=0", "group=g1&wait=1h", "group=g1&from=middle"} {
		if resp, _ := do(t, http.MethodGet, b.baseURL+"/v2/orders/records?"+bad, "", "", nil); resp.StatusCode != 400 {
			t.Errorf("%s: %d", bad, resp.StatusCode)
		}
	}
	if resp, _ := do(t, http.MethodPost, b.baseURL+"/v2/orders/commits?group=g1", "application/json", `{"offsets": [{"partition": 5, "offset": 1}]}`, nil); resp.StatusCode != 400 {
		t.Errorf("commit to a missing partition: %d", resp.StatusCode)
	}
}

func TestGRPCDeprecationMetadataAndAllow(t *testing.T) {
	sunset := time.Date(2027, 6, 30, 0, 0, 0, 0, time.UTC)
	b := startBridgeWith(t, 1, func(c *bridgeconfig.Config) { c.Versions[0].Sunset = &sunset })
	v, _ := structpb.NewValue(map[string]any{"id": "o", "qty": 1})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var header metadata.MD
	_, err := bridgev1.NewPublishServiceClient(b.conn).Publish(ctx,
		&bridgev1.PublishRequest{Version: "v1", Route: "orders", Payload: &bridgev1.PublishRequest_Json{Json: v}}, grpc.Header(&header))
	if err != nil {
		t.Fatal(err)
	}
	if header.Get("deprecation")[0] != "@0" || header.Get("sunset")[0] != "Wed, 30 Jun 2027 00:00:00 GMT" ||
		!strings.Contains(header.Get("link")[0], `</v2/orders>; rel="successor-version"`) {
		t.Errorf("gRPC metadata %v", header)
	}
	resp, _ := do(t, http.MethodPost, b.baseURL+"/v2/feed", "application/json", `{}`, nil)
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "" {
		t.Errorf("POST to subscribe-only route: %d Allow=%q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	resp, _ = do(t, http.MethodGet, b.baseURL+"/v2/orders", "", "", nil)
	if resp.StatusCode != 405 || resp.Header.Get("Allow") != "POST" {
		t.Errorf("GET on a publish route: %d Allow=%q", resp.StatusCode, resp.Header.Get("Allow"))
	}
	resp, _ = do(t, http.MethodGet, b.baseURL+"/v2/feed/events?from=x", "", "", nil)
	if resp.StatusCode != 400 {
		t.Errorf("events with a bad from: %d", resp.StatusCode)
	}
	_, data := do(t, http.MethodGet, b.baseURL+"/metrics", "", "", nil)
	if !strings.Contains(string(data), `junction_bridge_grpc_request_duration_seconds_count{code="OK",method="/junction.bridge.v1.PublishService/Publish"} 1`) {
		t.Error("/metrics lacks the gRPC request")
	}
}

// TestDrainDelayServesUnready: after the stop signal the bridge reports unready but keeps
// accepting publishes for the drain delay, then stops.
func TestDrainDelayServesUnready(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders", "orders-v1", "raw", "feed"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hl, _ := net.Listen("tcp", "127.0.0.1:0")
	gl, _ := net.Listen("tcp", "127.0.0.1:0")
	base := "http://" + hl.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, testConfig(c.ListenAddrs()), Options{HTTPListener: hl, GRPCListener: gl, DrainDelay: time.Second,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), HealthInterval: 100 * time.Millisecond})
	}()
	waitStatus(t, base+"/readyz", http.StatusOK)
	cancel()
	waitStatus(t, base+"/readyz", http.StatusServiceUnavailable)
	if resp, data := do(t, http.MethodPost, base+"/v2/orders", "application/json", `{"id": "late", "qty": 1}`, nil); resp.StatusCode != 200 {
		t.Errorf("publish while draining: %d %s", resp.StatusCode, data)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the drain delay")
	}
	if len(readTopic(t, c, "orders", 1)) != 1 {
		t.Error("the record published while draining is not in Kafka")
	}
}

// TestBridgeOverSASL: the producer and the SSE/poll consumers authenticate with credentials
// read from mounted files (trailing newline as kubectl writes it).
func TestBridgeOverSASL(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-512", "bridge", "s3cret"),
		kfake.SeedTopics(1, "orders", "orders-v1", "raw", "feed"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/username", []byte("bridge\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/password", []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(c.ListenAddrs())
	cfg.Kafka.SASL = &bridgeconfig.KafkaSASL{Mechanism: "SCRAM-SHA-512", UsernameFile: dir + "/username", PasswordFile: dir + "/password"}
	cfg.Versions[1].Routes[0].Operations = []bridgeconfig.Operation{"publish", "subscribe"}
	b := runBridge(t, cfg)
	waitStatus(t, b.baseURL+"/readyz", http.StatusOK)
	if resp, data := do(t, http.MethodPost, b.baseURL+"/v2/orders", "application/json", `{"id": "s", "qty": 1}`, nil); resp.StatusCode != 200 {
		t.Fatalf("publish over SASL: %d %s", resp.StatusCode, data)
	}
	if evs := readEvents(t, b.baseURL+"/v2/orders/events?from=earliest", "", 1); !strings.Contains(evs[0].data, `"s"`) {
		t.Errorf("SSE over SASL: %+v", evs)
	}

	cfg.Kafka.SASL.PasswordFile = dir + "/missing"
	if _, _, err := kafkaSecurity(cfg.Kafka); err == nil {
		t.Error("a missing credential file must be an error")
	}
}
