package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/junction-dev/junction/internal/bridgeconfig"
	"github.com/junction-dev/junction/internal/openapi"
	"github.com/junction-dev/junction/internal/schema"
	bridgev1 "github.com/junction-dev/junction/proto/junction/bridge/v1"
)

const orderSchema = `{
  "type": "object",
  "required": ["id", "qty"],
  "properties": {
    "id":  {"type": "string"},
    "qty": {"type": "integer", "minimum": 1},
    "tags": {"type": "array", "items": {"type": "string"}}
  }
}`

func testConfig(bootstrap []string) *bridgeconfig.Config {
	pub := []bridgeconfig.Operation{bridgeconfig.OperationPublish}
	return &bridgeconfig.Config{
		Namespace: "shop", Name: "orders-api",
		Kafka: bridgeconfig.Kafka{BootstrapServers: bootstrap, ClientID: "bridge-test"},
		Versions: []bridgeconfig.Version{
			{Name: "v1", Deprecated: true, Routes: []bridgeconfig.Route{{Name: "orders", Topic: "orders-v1", Operations: pub, Schema: orderSchema}}},
			{Name: "v2", Routes: []bridgeconfig.Route{
				{Name: "orders", Topic: "orders", Operations: pub, Schema: orderSchema, MaxMessageBytes: 256},
				{Name: "raw", Topic: "raw", Operations: pub},
				{Name: "feed", Topic: "feed", Operations: []bridgeconfig.Operation{bridgeconfig.OperationSubscribe}},
			}},
		},
	}
}

type bridgeUnderTest struct {
	cfg      *bridgeconfig.Config
	cluster  *kfake.Cluster
	baseURL  string
	grpcAddr string
	conn     *grpc.ClientConn
	stop     func() error
}

// startBridge runs Run against a fresh kfake cluster and waits until /readyz says 200.
func startBridge(t *testing.T) *bridgeUnderTest {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders", "orders-v1", "raw", "feed"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	b := runBridge(t, testConfig(c.ListenAddrs()))
	b.cluster = c
	waitStatus(t, b.baseURL+"/readyz", http.StatusOK)
	return b
}

func runBridge(t *testing.T, cfg *bridgeconfig.Config) *bridgeUnderTest {
	t.Helper()
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	go func() {
		done <- Run(ctx, cfg, Options{HTTPListener: hl, GRPCListener: gl, Logger: logger, HealthInterval: 100 * time.Millisecond, ShutdownTimeout: 5 * time.Second})
	}()
	conn, err := grpc.NewClient(gl.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	var stopErr error
	stopped := false
	stop := func() error {
		if stopped {
			return stopErr
		}
		stopped = true
		cancel()
		select {
		case stopErr = <-done:
		case <-time.After(15 * time.Second):
			stopErr = errors.New("Run did not return within 15s of cancel")
		}
		return stopErr
	}
	t.Cleanup(func() {
		_ = conn.Close()
		if err := stop(); err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return &bridgeUnderTest{cfg: cfg, baseURL: "http://" + hl.Addr().String(), grpcAddr: gl.Addr().String(), conn: conn, stop: stop}
}

func waitStatus(t *testing.T, url string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	last := 0
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			last = resp.StatusCode
			_ = resp.Body.Close()
			if last == want {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("GET %s: status %d, want %d within 10s", url, last, want)
}

func readTopic(t *testing.T, c *kfake.Cluster, topic string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

func post(t *testing.T, url, contentType string, body io.Reader, header http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, body)
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

func TestRESTPublish(t *testing.T) {
	b := startBridge(t)

	resp, data := post(t, b.baseURL+"/v2/orders?key=order-1", "application/json; charset=utf-8", strings.NewReader(`{"id": "o-1", "qty": 2}`), nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, data)
	}
	var res publishResult
	if err := json.Unmarshal(data, &res); err != nil {
		t.Fatal(err)
	}
	if res.Topic != "orders" || res.Offset != 0 {
		t.Errorf("result %+v", res)
	}
	resp, data = post(t, b.baseURL+"/v2/raw", "application/octet-stream", strings.NewReader("\x00binary"), http.Header{"Kafka-Key": {"k2"}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("raw: status %d: %s", resp.StatusCode, data)
	}

	got := readTopic(t, b.cluster, "orders", 1)
	if len(got) != 1 {
		t.Fatalf("orders has %d records, want 1", len(got))
	}
	r := got[0]
	if string(r.Key) != "order-1" || string(r.Value) != `{"id": "o-1", "qty": 2}` || r.Offset != res.Offset {
		t.Errorf("record key=%q value=%q offset=%d", r.Key, r.Value, r.Offset)
	}
	if len(r.Headers) != 1 || r.Headers[0].Key != "content-type" || string(r.Headers[0].Value) != "application/json" {
		t.Errorf("headers %+v", r.Headers)
	}
	raw := readTopic(t, b.cluster, "raw", 1)
	if len(raw) != 1 || string(raw[0].Key) != "k2" || string(raw[0].Value) != "\x00binary" {
		t.Errorf("raw records %+v", raw)
	}
}

// badInputs is shared by the REST and gRPC tables so both protocols are held to the same answers.
var badInputs = []struct {
	name        string
	version     string
	route       string
	contentType string
	body        string
	status      int
	code        codes.Code
	reason      string
	pointers    []string
}{
	{"unknown version", "v9", "orders", "application/json", `{}`, 404, codes.NotFound, "ROUTE_NOT_FOUND", nil},
	{"unknown route", "v2", "nope", "application/json", `{}`, 404, codes.NotFound, "ROUTE_NOT_FOUND", nil},
	{"subscribe-only route", "v2", "feed", "application/json", `{}`, 405, codes.Unimplemented, "OPERATION_NOT_ALLOWED", nil},
	{"bytes to a schema route", "v2", "orders", "application/octet-stream", `{"id": "o", "qty": 1}`, 415, codes.InvalidArgument, "UNSUPPORTED_MEDIA_TYPE", nil},
	{"malformed JSON", "v2", "orders", "application/json", `{"id": "o",`, 400, codes.InvalidArgument, "MALFORMED_REQUEST", nil},
	{"trailing data", "v2", "raw", "application/json", `{} {}`, 400, codes.InvalidArgument, "MALFORMED_REQUEST", nil},
	{"over the route limit", "v2", "orders", "application/json", `{"id": "` + strings.Repeat("x", 300) + `", "qty": 1}`, 413, codes.ResourceExhausted, "MESSAGE_TOO_LARGE", nil},
	{"schema violations", "v2", "orders", "application/json", `{"id": 7, "qty": 0, "tags": ["a", 1]}`, 422, codes.InvalidArgument, "SCHEMA_VIOLATION", []string{"/id", "/qty", "/tags/1"}},
	{"missing required", "v1", "orders", "application/json", `{}`, 422, codes.InvalidArgument, "SCHEMA_VIOLATION", []string{""}},
}

func TestRESTRefusesBadInput(t *testing.T) {
	b := startBridge(t)
	for _, tt := range badInputs {
		t.Run(tt.name, func(t *testing.T) {
			resp, data := post(t, b.baseURL+"/"+tt.version+"/"+tt.route, tt.contentType, strings.NewReader(tt.body), nil)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, data)
			}
			p := decodeProblem(t, resp, data)
			if p.Status != tt.status || !strings.HasSuffix(p.Type, "/"+tt.reason) || p.Title == "" || p.Detail == "" {
				t.Errorf("problem %+v", p)
			}
			if got := violationPointers(p.Violations); !slices.Equal(got, tt.pointers) {
				t.Errorf("violation pointers %q, want %q", got, tt.pointers)
			}
		})
	}
	assertOnlyRecordIsNext(t, b, "orders", "orders-v1", "raw")
}

func TestRESTStreamsOversizedBody(t *testing.T) {
	b := startBridge(t)
	// No Content-Length: the server must stop reading at the limit, not buffer 10 MiB.
	body := io.MultiReader(strings.NewReader(`{"id": "`), bytes.NewReader(bytes.Repeat([]byte("x"), 10<<20)))
	req, _ := http.NewRequest(http.MethodPost, b.baseURL+"/v2/orders", io.NopCloser(body))
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = -1
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(data), "256 bytes") {
		t.Fatalf("status %d body %s, want 413 naming the limit", resp.StatusCode, data)
	}
	assertOnlyRecordIsNext(t, b, "orders")
}

// assertOnlyRecordIsNext proves refused requests wrote nothing: a valid record published
// now must be the first (offset 0) in each single-partition topic.
func assertOnlyRecordIsNext(t *testing.T, b *bridgeUnderTest, topics ...string) {
	t.Helper()
	for _, topic := range topics {
		route := map[string]string{"orders": "/v2/orders", "orders-v1": "/v1/orders", "raw": "/v2/raw"}[topic]
		resp, data := post(t, b.baseURL+route, "application/json", strings.NewReader(`{"id": "probe", "qty": 1}`), nil)
		var res publishResult
		_ = json.Unmarshal(data, &res)
		if resp.StatusCode != http.StatusOK || res.Offset != 0 {
			t.Errorf("topic %s: probe got %d %s; want 200 at offset 0 (a refused request was written)", topic, resp.StatusCode, data)
		}
		if got := readTopic(t, b.cluster, topic, 1); len(got) != 1 || got[0].Offset != 0 || !strings.Contains(string(got[0].Value), "probe") {
			t.Errorf("topic %s: first record is not the probe: %+v", topic, got)
		}
	}
}

func decodeProblem(t *testing.T, resp *http.Response, data []byte) Problem {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("content type %q", ct)
	}
	var p Problem
	if err := json.Unmarshal(data, &p); err != nil {
		t.Fatalf("problem document: %v: %s", err, data)
	}
	return p
}

func violationPointers(vs []schema.Violation) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Pointer)
	}
	return out
}

func TestGRPCPublish(t *testing.T) {
	b := startBridge(t)
	client := bridgev1.NewPublishServiceClient(b.conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	v, _ := structpb.NewValue(map[string]any{"id": "g-1", "qty": 3})
	res, err := client.Publish(ctx, &bridgev1.PublishRequest{Version: "v2", Route: "orders", Key: "gk", Payload: &bridgev1.PublishRequest_Json{Json: v}, Headers: map[string]string{"trace": "t1"}})
	if err != nil {
		t.Fatal(err)
	}
	if res.GetTopic() != "orders" || res.GetOffset() != 0 {
		t.Errorf("response %v", res)
	}
	if _, err := client.Publish(ctx, &bridgev1.PublishRequest{Version: "v2", Route: "raw", Payload: &bridgev1.PublishRequest_Raw{Raw: []byte("abc")}}); err != nil {
		t.Fatal(err)
	}
	got := readTopic(t, b.cluster, "orders", 1)
	if len(got) != 1 || string(got[0].Key) != "gk" || string(got[0].Value) != `{"id":"g-1","qty":3}` {
		t.Fatalf("records %+v", got)
	}
	hdrs := map[string]string{}
	for _, h := range got[0].Headers {
		hdrs[h.Key] = string(h.Value)
	}
	if hdrs["trace"] != "t1" || hdrs["content-type"] != "application/json" {
		t.Errorf("headers %v", hdrs)
	}
}

func TestGRPCRefusesBadInputLikeREST(t *testing.T) {
	b := startBridge(t)
	client := bridgev1.NewPublishServiceClient(b.conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tt := range badInputs {
		t.Run(tt.name, func(t *testing.T) {
			req := &bridgev1.PublishRequest{Version: tt.version, Route: tt.route}
			if tt.contentType == "application/json" {
				var v any
				if err := json.Unmarshal([]byte(tt.body), &v); err != nil {
					// Value cannot hold malformed JSON; the gRPC analogue is a missing payload.
					v = nil
				}
				if v != nil {
					pv, err := structpb.NewValue(v)
					if err != nil {
						t.Fatal(err)
					}
					req.Payload = &bridgev1.PublishRequest_Json{Json: pv}
				}
			} else {
				req.Payload = &bridgev1.PublishRequest_Raw{Raw: []byte(tt.body)}
			}
			_, err := client.Publish(ctx, req)
			st := status.Convert(err)
			if st.Code() != tt.code {
				t.Fatalf("code %v (%s), want %v", st.Code(), st.Message(), tt.code)
			}
			var reason string
			var pointers []string
			for _, d := range st.Details() {
				switch d := d.(type) {
				case *errdetails.ErrorInfo:
					reason = d.GetReason()
				case *errdetails.BadRequest:
					for _, fv := range d.GetFieldViolations() {
						pointers = append(pointers, fv.GetField())
						if fv.GetDescription() == "" {
							t.Errorf("violation at %q has no description", fv.GetField())
						}
					}
				}
			}
			if reason != tt.reason {
				t.Errorf("ErrorInfo reason %q, want %q", reason, tt.reason)
			}
			if !slices.Equal(pointers, tt.pointers) {
				t.Errorf("BadRequest fields %q, want %q (same as REST)", pointers, tt.pointers)
			}
		})
	}
	assertOnlyRecordIsNext(t, b, "orders", "orders-v1", "raw")
}

func TestOpenAPIAndProbes(t *testing.T) {
	b := startBridge(t)
	resp, err := http.Get(b.baseURL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	want, _ := openapi.Build(b.cfg)
	if resp.StatusCode != 200 || !bytes.Equal(data, want) || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("/openapi.json: %d %q, body equal to openapi.Build: %v", resp.StatusCode, resp.Header.Get("Content-Type"), bytes.Equal(data, want))
	}
	waitStatus(t, b.baseURL+"/healthz", 200)

	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/v2/orders", 405},
		{http.MethodGet, "/v2/nope", 404},
		{http.MethodGet, "/nothing/here/at/all", 404},
	} {
		req, _ := http.NewRequest(tc.method, b.baseURL+tc.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%s %s = %d, want %d", tc.method, tc.path, resp.StatusCode, tc.status)
		}
		decodeProblem(t, resp, data)
	}
}

func TestGRPCHealthAndReflection(t *testing.T) {
	b := startBridge(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	waitHealth(t, ctx, b.conn, healthpb.HealthCheckResponse_SERVING)

	stream, err := reflectionpb.NewServerReflectionClient(b.conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}); err != nil {
		t.Fatal(err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	_ = stream.CloseSend()
	var names []string
	for _, s := range resp.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	sort.Strings(names)
	for _, want := range []string{"grpc.health.v1.Health", "junction.bridge.v1.PublishService"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, missing %s", names, want)
		}
	}
}

func waitHealth(t *testing.T, ctx context.Context, conn *grpc.ClientConn, want healthpb.HealthCheckResponse_ServingStatus) {
	t.Helper()
	hc := healthpb.NewHealthClient(conn)
	var last healthpb.HealthCheckResponse_ServingStatus
	for i := 0; i < 200 && ctx.Err() == nil; i++ {
		for _, svc := range []string{"", "junction.bridge.v1.PublishService"} {
			resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
			if err != nil {
				t.Fatalf("health check %q: %v", svc, err)
			}
			last = resp.GetStatus()
			if last != want {
				break
			}
		}
		if last == want {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("health status %v, want %v", last, want)
}

func TestKafkaOutage(t *testing.T) {
	b := startBridge(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	waitHealth(t, ctx, b.conn, healthpb.HealthCheckResponse_SERVING)

	b.cluster.Close()
	waitStatus(t, b.baseURL+"/readyz", http.StatusServiceUnavailable)
	waitHealth(t, ctx, b.conn, healthpb.HealthCheckResponse_NOT_SERVING)

	resp, data := post(t, b.baseURL+"/v2/orders", "application/json", strings.NewReader(`{"id": "o", "qty": 1}`), nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("publish during outage: %d Retry-After=%q %s", resp.StatusCode, resp.Header.Get("Retry-After"), data)
	}
	decodeProblem(t, resp, data)

	v, _ := structpb.NewValue(map[string]any{"id": "o", "qty": 1})
	_, err := bridgev1.NewPublishServiceClient(b.conn).Publish(ctx, &bridgev1.PublishRequest{Version: "v2", Route: "orders", Payload: &bridgev1.PublishRequest_Json{Json: v}})
	st := status.Convert(err)
	if st.Code() != codes.Unavailable {
		t.Fatalf("gRPC publish during outage: %v", err)
	}
	var retry *errdetails.RetryInfo
	for _, d := range st.Details() {
		if r, ok := d.(*errdetails.RetryInfo); ok {
			retry = r
		}
	}
	if retry == nil || retry.GetRetryDelay().AsDuration() <= 0 {
		t.Errorf("no RetryInfo in %v", st.Details())
	}
	if err := b.stop(); err != nil {
		t.Fatalf("Run after outage: %v", err)
	}
}

func TestStartsUnreadyWithoutKafka(t *testing.T) {
	// A port nobody listens on: the bridge must serve, unready, instead of exiting.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	b := runBridge(t, testConfig([]string{addr}))
	waitStatus(t, b.baseURL+"/healthz", http.StatusOK)
	waitStatus(t, b.baseURL+"/readyz", http.StatusServiceUnavailable)
	resp, data := post(t, b.baseURL+"/v2/orders", "application/json", strings.NewReader(`{"id": "o", "qty": 1}`), nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("publish without Kafka: %d %s", resp.StatusCode, data)
	}
	if err := b.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestNewCoreRejectsBadSchema(t *testing.T) {
	cfg := testConfig([]string{"127.0.0.1:1"})
	cfg.Versions[1].Routes[0].Schema = `{"type": 5}`
	if _, err := NewCore(cfg, nil, 0); err == nil || !strings.Contains(err.Error(), "v2/orders") {
		t.Fatalf("err = %v, want one naming the route", err)
	}
}
