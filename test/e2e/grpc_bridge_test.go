//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/junction-dev/junction/internal/bridgeconfig"
	bridgev1 "github.com/junction-dev/junction/proto/junction/bridge/v1"
	"github.com/junction-dev/junction/test/e2e/kafkaharness"
)

func dialBridge(t *testing.T, p *bridgeProc) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func withKey(ctx context.Context, key string) context.Context {
	if key == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "x-api-key", key)
}

// sameCase is one message sent once over REST and once over gRPC.
type sameCase struct {
	name           string
	version, route string
	key            string // record key
	apiKey         string
	json           string // a JSON value (compact, keys sorted: what the gRPC side writes), or
	raw            string // raw bytes
	contentType    string // REST content type when not the natural one
	partition      *int32
	status         int        // HTTP
	code           codes.Code // gRPC
	reason         string
	// restDetail differs from the gRPC message on purpose; says why.
	restDetail string
}

// outcome is what a client learns from either protocol, in comparable form.
type outcome struct {
	ok         bool
	partition  int32
	reason     string
	detail     string
	violations []string // "pointer: message"
	retry      bool
}

func (c sameCase) rest(t *testing.T, base string) (int, outcome) {
	t.Helper()
	url := base + "/" + c.version + "/" + c.route
	if c.partition != nil {
		url += fmt.Sprintf("?partition=%d", *c.partition)
	}
	body, ct := c.json, "application/json"
	if c.json == "" {
		body, ct = c.raw, "application/octet-stream"
	}
	if c.contentType != "" {
		ct = c.contentType
	}
	h := http.Header{"Traceparent": {traceparent}}
	if c.key != "" {
		h.Set("Kafka-Key", c.key)
	}
	if c.apiKey != "" {
		h.Set("X-Api-Key", c.apiKey)
	}
	resp, data := call(t, http.MethodPost, url, ct, strings.NewReader(body), h)
	if resp.StatusCode == http.StatusOK {
		var r struct{ Partition int32 }
		_ = json.Unmarshal(data, &r)
		return resp.StatusCode, outcome{ok: true, partition: r.Partition}
	}
	p := decodeProblem(t, resp, data)
	o := outcome{reason: p.Type[strings.LastIndex(p.Type, "/")+1:], detail: p.Title + ": " + p.Detail, retry: resp.Header.Get("Retry-After") != ""}
	for _, v := range p.Violations {
		o.violations = append(o.violations, v.Pointer+": "+v.Detail)
	}
	return resp.StatusCode, o
}

func (c sameCase) request(t *testing.T) *bridgev1.PublishRequest {
	req := &bridgev1.PublishRequest{Version: c.version, Route: c.route, Key: c.key, Partition: c.partition}
	if c.json != "" && c.contentType == "" {
		var v any
		if err := json.Unmarshal([]byte(c.json), &v); err != nil {
			t.Fatal(err)
		}
		pv, err := structpb.NewValue(v)
		if err != nil {
			t.Fatal(err)
		}
		req.Payload = &bridgev1.PublishRequest_Json{Json: pv}
	} else {
		req.Payload = &bridgev1.PublishRequest_Raw{Raw: []byte(c.raw + c.json)}
	}
	return req
}

func grpcOutcome(res *bridgev1.PublishResponse, err error) (codes.Code, outcome) {
	if err == nil {
		return codes.OK, outcome{ok: true, partition: res.GetPartition()}
	}
	st := status.Convert(err)
	o := outcome{detail: st.Message()}
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			o.reason = d.GetReason()
		case *errdetails.BadRequest:
			for _, fv := range d.GetFieldViolations() {
				o.violations = append(o.violations, fv.GetField()+": "+fv.GetDescription())
			}
		case *errdetails.RetryInfo:
			o.retry = true
		}
	}
	return st.Code(), o
}

// record is a stored record in comparable form.
type record struct {
	key, value string
	partition  int32
	headers    map[string]string
}

func recordsAfter(t *testing.T, f *bridgeFixture, topic string, from map[string]int64) []record {
	t.Helper()
	var out []record
	for _, m := range readAll(t, f.kafka, topic) {
		if m.Offset < from[fmt.Sprintf("%s/%d", topic, m.Partition)] {
			continue
		}
		out = append(out, record{string(m.Key), string(m.Value), m.Partition, headerMap(m)})
	}
	slices.SortFunc(out, func(a, b record) int { return strings.Compare(a.value+a.key, b.value+b.key) })
	return out
}

// TestGRPCSameOutcomeAsRESTE2E runs one table of good and bad messages through REST and
// through gRPC against the real broker: the same outcome (the documented HTTP status and
// gRPC code pair), the same reason, message and violations (pointer and message), and the
// same records in the topics.
func TestGRPCSameOutcomeAsRESTE2E(t *testing.T) {
	f := startFixture(t, nil)
	conn := dialBridge(t, f.bridge)
	client := bridgev1.NewPublishServiceClient(conn)
	topics := []string{"e2e.orders", "e2e.raw", "e2e.feed", "e2e.drift"}
	cases := []sameCase{
		{name: "json with key", version: "v2", route: "orders", key: "k1", apiKey: writerKey, json: `{"id":"a","qty":1}`, status: 200},
		{name: "pinned partition", version: "v2", route: "orders", apiKey: writerKey, json: `{"id":"p","qty":2}`, partition: e2ePtr(int32(2)), status: 200},
		{name: "deprecated version", version: "v1", route: "orders", key: "k2", apiKey: writerKey, json: `{"id":"v1","qty":3}`, status: 200},
		{name: "raw bytes", version: "v2", route: "raw", key: "k3", apiKey: writerKey, raw: "\x00\x01raw", status: 200},
		{name: "key granted one route", version: "v2", route: "raw", key: "k4", apiKey: readerKey, raw: "by reader", status: 200},
		{name: "no API key", version: "v2", route: "orders", json: `{"id":"a","qty":1}`, status: 401, code: codes.Unauthenticated, reason: "UNAUTHENTICATED"},
		{name: "unknown API key", version: "v2", route: "orders", apiKey: "guess", json: `{"id":"a","qty":1}`, status: 401, code: codes.Unauthenticated, reason: "UNAUTHENTICATED"},
		{name: "outside the grant", version: "v2", route: "orders", apiKey: readerKey, json: `{"id":"a","qty":1}`, status: 403, code: codes.PermissionDenied, reason: "FORBIDDEN"},
		{name: "unknown version", version: "v9", route: "orders", apiKey: writerKey, json: `{"id":"a","qty":1}`, status: 404, code: codes.NotFound, reason: "ROUTE_NOT_FOUND"},
		{name: "unknown route", version: "v2", route: "nope", apiKey: writerKey, json: `{"id":"a","qty":1}`, status: 404, code: codes.NotFound, reason: "ROUTE_NOT_FOUND"},
		{name: "subscribe-only route", version: "v2", route: "feed", apiKey: writerKey, json: `{}`, status: 405, code: codes.Unimplemented, reason: "OPERATION_NOT_ALLOWED"},
		{name: "bytes to a schema route", version: "v2", route: "orders", apiKey: writerKey, raw: `{"id":"a","qty":1}`, status: 415, code: codes.InvalidArgument, reason: "UNSUPPORTED_MEDIA_TYPE"},
		{name: "wrong types", version: "v2", route: "orders", apiKey: writerKey, json: `{"id":7,"qty":0}`, status: 422, code: codes.InvalidArgument, reason: "SCHEMA_VIOLATION"},
		{name: "unknown field", version: "v2", route: "orders", apiKey: writerKey, json: `{"coupon":"FREE","id":"a","qty":1}`, status: 422, code: codes.InvalidArgument, reason: "SCHEMA_VIOLATION"},
		{name: "missing required", version: "v1", route: "orders", apiKey: writerKey, json: `{"id":"a"}`, status: 422, code: codes.InvalidArgument, reason: "SCHEMA_VIOLATION"},
		{name: "not an object", version: "v2", route: "orders", apiKey: writerKey, json: `[1,2]`, status: 422, code: codes.InvalidArgument, reason: "SCHEMA_VIOLATION"},
		{name: "pinned partition out of range", version: "v2", route: "orders", apiKey: writerKey, json: `{"id":"a","qty":1}`, partition: e2ePtr(int32(7)), status: 400, code: codes.InvalidArgument, reason: "INVALID_PARTITION"},
		{name: "negative partition", version: "v2", route: "orders", apiKey: writerKey, json: `{"id":"a","qty":1}`, partition: e2ePtr(int32(-1)), status: 400, code: codes.InvalidArgument, reason: "INVALID_PARTITION"},
		{name: "over the topic's max.message.bytes", version: "v2", route: "raw", apiKey: writerKey, raw: strings.Repeat("x", 1025), status: 413, code: codes.ResourceExhausted, reason: "MESSAGE_TOO_LARGE",
			restDetail: "REST refuses by Content-Length before reading the body, so it names the limit, not the size"},
		{name: "broker refuses the size", version: "v2", route: "drift", apiKey: writerKey, raw: strings.Repeat("y", 1000), status: 413, code: codes.ResourceExhausted, reason: "MESSAGE_TOO_LARGE"},
	}
	before := endOffsets(t, f.kafka, topics...)
	restResults := map[string]outcome{}
	for _, c := range cases {
		st, o := c.rest(t, f.bridge.baseURL)
		if st != c.status {
			t.Fatalf("%s: REST %d, want %d: %+v", c.name, st, c.status, o)
		}
		restResults[c.name] = o
	}
	afterREST := endOffsets(t, f.kafka, topics...)
	restRecords := map[string][]record{}
	for _, topic := range topics {
		restRecords[topic] = recordsAfter(t, f, topic, before)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cctx := metadata.AppendToOutgoingContext(withKey(ctx, c.apiKey), "traceparent", traceparent)
			code, got := grpcOutcome(client.Publish(cctx, c.request(t)))
			want := restResults[c.name]
			if code != c.code {
				t.Fatalf("gRPC %v (%s), want %v for HTTP %d", code, got.detail, c.code, c.status)
			}
			if got.ok != want.ok || got.reason != want.reason || got.retry != want.retry {
				t.Errorf("gRPC %+v, REST %+v", got, want)
			}
			if !want.ok && got.reason != c.reason {
				t.Errorf("reason %q, want %q", got.reason, c.reason)
			}
			if c.partition != nil && want.ok && (got.partition != *c.partition || want.partition != *c.partition) {
				t.Errorf("pinned partition %d: gRPC %d, REST %d", *c.partition, got.partition, want.partition)
			}
			if c.restDetail == "" && got.detail != want.detail {
				t.Errorf("message differs:\n gRPC %q\n REST %q", got.detail, want.detail)
			}
			if !slices.Equal(got.violations, want.violations) {
				t.Errorf("violations differ:\n gRPC %q\n REST %q", got.violations, want.violations)
			}
			if c.reason == "SCHEMA_VIOLATION" && len(got.violations) == 0 {
				t.Errorf("no violations")
			}
		})
	}
	for _, topic := range topics {
		grpcRecords := recordsAfter(t, f, topic, afterREST)
		if !slices.EqualFunc(grpcRecords, restRecords[topic], func(a, b record) bool {
			same := a.key == b.key && a.value == b.value && maps.Equal(a.headers, b.headers)
			// Unpinned records without a key land where the producer puts them.
			return same && (a.key == "" || a.partition == b.partition)
		}) {
			t.Errorf("%s: gRPC wrote %+v, REST wrote %+v", topic, grpcRecords, restRecords[topic])
		}
	}
	if n := len(restRecords["e2e.orders"]) + len(restRecords["e2e.raw"]); n != 5 {
		t.Errorf("REST stored %d records, want the 5 good ones", n)
	}

	// The rate limit is one budget for both protocols: the reader key's burst of 2 spent
	// over REST leaves nothing for gRPC.
	time.Sleep(2500 * time.Millisecond)
	rc := sameCase{version: "v2", route: "raw", apiKey: readerKey, raw: "limited"}
	for i := 0; i < 2; i++ {
		if st, o := rc.rest(t, f.bridge.baseURL); st != 200 {
			t.Fatalf("REST within the burst: %d %+v", st, o)
		}
	}
	code, o := grpcOutcome(client.Publish(withKey(ctx, readerKey), rc.request(t)))
	if code != codes.ResourceExhausted || o.reason != "RATE_LIMITED" || !o.retry {
		t.Errorf("gRPC after the REST burst: %v %+v, want RESOURCE_EXHAUSTED RATE_LIMITED with RetryInfo", code, o)
	}
	if st, o := rc.rest(t, f.bridge.baseURL); st != 429 || o.reason != "RATE_LIMITED" || !o.retry {
		t.Errorf("REST after the burst: %d %+v", st, o)
	}
}

// TestGRPCPublishStream10kE2E publishes 10,000 records over one PublishStream and finds each
// acknowledged record in Kafka exactly once.
func TestGRPCPublishStream10kE2E(t *testing.T) {
	f := startFixture(t, nil)
	conn := dialBridge(t, f.bridge)
	const n = 10000
	ctx, cancel := context.WithTimeout(withKey(context.Background(), writerKey), 3*time.Minute)
	defer cancel()
	start := time.Now()
	acked, errs := streamRecords(t, ctx, conn, n, "s", nil)
	elapsed := time.Since(start)
	if len(errs) > 0 {
		t.Fatalf("%d records refused, first: %v", len(errs), errs[0])
	}
	if len(acked) != n {
		t.Fatalf("%d of %d records acknowledged", len(acked), n)
	}
	t.Logf("%d records over one PublishStream acknowledged in %s (%.0f records/s)", n, elapsed.Round(time.Millisecond), n/elapsed.Seconds())
	assertExactlyOnce(t, f, acked, n)
}

// TestGRPCPublishStreamSIGTERME2E stops the bridge (SIGTERM) in the middle of a stream: the
// stream ends with UNAVAILABLE and RetryInfo, and every acknowledged record is in Kafka
// exactly once.
func TestGRPCPublishStreamSIGTERME2E(t *testing.T) {
	f := startFixture(t, nil)
	conn := dialBridge(t, f.bridge)
	const n = 10000
	ctx, cancel := context.WithTimeout(withKey(context.Background(), writerKey), 3*time.Minute)
	defer cancel()
	var stopped atomic.Bool
	acked, _ := streamRecords(t, ctx, conn, n, "t", func(count int, err error) {
		if count == 2000 && stopped.CompareAndSwap(false, true) {
			go func() {
				if err := f.bridge.stop(30 * time.Second); err != nil {
					t.Errorf("bridge stop: %v", err)
				}
			}()
		}
		if err != nil {
			st := status.Convert(err)
			retry := false
			for _, d := range st.Details() {
				_, ok := d.(*errdetails.RetryInfo)
				retry = retry || ok
			}
			if st.Code() != codes.Unavailable || !retry {
				t.Errorf("stream ended with %v, want UNAVAILABLE with RetryInfo", err)
			}
		}
	})
	if len(acked) < 2000 || len(acked) == n {
		t.Fatalf("%d records acknowledged; the stop should have come in between", len(acked))
	}
	t.Logf("%d of %d records acknowledged before the stream ended", len(acked), n)
	assertExactlyOnce(t, f, acked, -1)
}

// streamRecords sends n records with ids prefix-0 ... over one PublishStream without waiting
// and returns the acknowledged ids and the per-record errors. each is called per response
// (count so far) and once with the final stream error (nil on a clean end).
func streamRecords(t *testing.T, ctx context.Context, conn *grpc.ClientConn, n int, prefix string, each func(count int, err error)) (map[string]bool, []error) {
	t.Helper()
	stream, err := bridgev1.NewPublishServiceClient(conn).PublishStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]string, n)
	go func() {
		for i := range n {
			ids[i] = fmt.Sprintf("%s-%05d", prefix, i)
		}
		for i := range n {
			v, _ := structpb.NewValue(map[string]any{"id": ids[i], "qty": 1})
			req := &bridgev1.PublishRequest{Version: "v2", Route: "orders", Key: fmt.Sprint(i % 16), Payload: &bridgev1.PublishRequest_Json{Json: v}}
			if err := stream.Send(&bridgev1.PublishStreamRequest{Record: req}); err != nil {
				return
			}
		}
		_ = stream.CloseSend()
	}()
	acked := map[string]bool{}
	var errs []error
	for count := 0; ; count++ {
		resp, err := stream.Recv()
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			if each != nil {
				each(count, err)
			} else if err != nil {
				t.Fatalf("stream ended after %d responses: %v", count, err)
			}
			return acked, errs
		}
		if resp.GetSequence() != uint64(count) {
			t.Fatalf("response %d has sequence %d", count, resp.GetSequence())
		}
		if e := resp.GetError(); e != nil {
			errs = append(errs, fmt.Errorf("%s: %s", ids[count], e.GetMessage()))
		} else {
			acked[ids[count]] = true
		}
		if each != nil {
			each(count+1, nil)
		}
	}
}

// assertExactlyOnce reads e2e.orders and finds each acknowledged id exactly once (and, when
// want >= 0, exactly want records in all).
func assertExactlyOnce(t *testing.T, f *bridgeFixture, acked map[string]bool, want int) {
	t.Helper()
	seen := map[string]int{}
	for _, m := range readAll(t, f.kafka, "e2e.orders") {
		var v struct{ ID string }
		if err := json.Unmarshal(m.Value, &v); err != nil {
			t.Fatalf("record %s/%d: %v", m.Topic, m.Offset, err)
		}
		seen[v.ID]++
	}
	missing, dup := 0, 0
	for id := range acked {
		switch seen[id] {
		case 0:
			missing++
		case 1:
		default:
			dup++
		}
	}
	if missing > 0 || dup > 0 {
		t.Errorf("of %d acknowledged records, %d missing from Kafka and %d stored more than once", len(acked), missing, dup)
	}
	if want >= 0 && len(seen) != want {
		t.Errorf("Kafka holds %d distinct records, want %d", len(seen), want)
	}
}

// TestGRPCHealthAndReflectionE2E: the real process answers grpc.health.v1 (SERVING while
// Kafka answers) and server reflection, and a client with no .proto at hand lists the
// services and calls Publish from the descriptors reflection returns, as grpcurl does.
func TestGRPCHealthAndReflectionE2E(t *testing.T) {
	f := startFixture(t, nil)
	conn := dialBridge(t, f.bridge)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	hc := healthpb.NewHealthClient(conn)
	for _, svc := range []string{"", "junction.bridge.v1.PublishService", "junction.bridge.v1.SubscribeService"} {
		var st healthpb.HealthCheckResponse_ServingStatus
		for i := 0; i < 100; i++ {
			resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: svc})
			if err != nil {
				t.Fatalf("health %q: %v", svc, err)
			}
			if st = resp.GetStatus(); st == healthpb.HealthCheckResponse_SERVING {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if st != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q: %v", svc, st)
		}
	}

	rs, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ask := func(req *reflectionpb.ServerReflectionRequest) *reflectionpb.ServerReflectionResponse {
		t.Helper()
		if err := rs.Send(req); err != nil {
			t.Fatal(err)
		}
		resp, err := rs.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	var names []string
	for _, s := range ask(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}}).GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	for _, want := range []string{"grpc.health.v1.Health", "junction.bridge.v1.PublishService", "junction.bridge.v1.SubscribeService", "grpc.reflection.v1.ServerReflection"} {
		if !slices.Contains(names, want) {
			t.Errorf("reflection lists %v, missing %s", names, want)
		}
	}
	resp := ask(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_FileContainingSymbol{FileContainingSymbol: "junction.bridge.v1.PublishService"}})
	fds := &descriptorpb.FileDescriptorSet{}
	for _, b := range resp.GetFileDescriptorResponse().GetFileDescriptorProto() {
		fd := &descriptorpb.FileDescriptorProto{}
		if err := proto.Unmarshal(b, fd); err != nil {
			t.Fatal(err)
		}
		fds.File = append(fds.File, fd)
	}
	_ = rs.CloseSend()
	files, err := protodesc.NewFiles(fds)
	if err != nil {
		t.Fatalf("descriptors from reflection do not resolve: %v", err)
	}
	d, err := files.FindDescriptorByName("junction.bridge.v1.PublishService")
	if err != nil {
		t.Fatal(err)
	}
	method := d.(protoreflect.ServiceDescriptor).Methods().ByName("Publish")
	req := dynamicpb.NewMessage(method.Input())
	if err := protojson.Unmarshal([]byte(`{"version": "v2", "route": "orders", "key": "dyn", "json": {"id": "from-reflection", "qty": 5}}`), req); err != nil {
		t.Fatal(err)
	}
	out := dynamicpb.NewMessage(method.Output())
	if err := conn.Invoke(withKey(ctx, writerKey), "/junction.bridge.v1.PublishService/Publish", req, out); err != nil {
		t.Fatalf("dynamic Publish: %v", err)
	}
	js, _ := protojson.Marshal(out)
	if !bytes.Contains(js, []byte(`"topic":"e2e.orders"`)) && !bytes.Contains(js, []byte(`"topic": "e2e.orders"`)) {
		t.Errorf("dynamic Publish answered %s", js)
	}
	found := false
	for _, m := range readAll(t, f.kafka, "e2e.orders") {
		found = found || (string(m.Key) == "dyn" && string(m.Value) == `{"id":"from-reflection","qty":5}`)
	}
	if !found {
		t.Error("the record published through reflection is not in e2e.orders")
	}
}

// TestGRPCSubscribeE2E: a subscribe key reads a route over gRPC from a group, commits, and a
// new stream (another connection) resumes after the committed records; a stream resumed from
// a response's resume offsets continues exactly there.
func TestGRPCSubscribeE2E(t *testing.T) {
	const subKey = "e2e-subscriber-key-0123456789"
	f := startFixture(t, func(c *bridgeconfig.Config) {
		c.Auth.Keys = append(c.Auth.Keys, bridgeconfig.APIKey{Name: "subscriber", SHA256: hashKey(subKey),
			Grants: []bridgeconfig.Grant{{Version: "v2", Route: "feed", Operations: []bridgeconfig.Operation{bridgeconfig.OperationSubscribe}}}})
	})
	pcfg := kafkaharness.SaramaConfig()
	pcfg.Producer.Return.Successes = true
	producer, err := sarama.NewSyncProducer(f.kafka.BootstrapServers, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		msg := &sarama.ProducerMessage{Topic: "e2e.feed", Value: sarama.StringEncoder(fmt.Sprintf(`{"n":%d}`, i)),
			Headers: []sarama.RecordHeader{{Key: []byte("content-type"), Value: []byte("application/json")}}}
		if _, _, err := producer.SendMessage(msg); err != nil {
			t.Fatal(err)
		}
	}
	_ = producer.Close()
	ctx, cancel := context.WithTimeout(withKey(context.Background(), subKey), 60*time.Second)
	defer cancel()
	sc := bridgev1.NewSubscribeServiceClient(dialBridge(t, f.bridge))
	read := func(req *bridgev1.SubscribeRequest, n int) []*bridgev1.SubscribeResponse {
		t.Helper()
		sctx, scancel := context.WithCancel(ctx)
		defer scancel()
		s, err := sc.Subscribe(sctx, req)
		if err != nil {
			t.Fatal(err)
		}
		var out []*bridgev1.SubscribeResponse
		for len(out) < n {
			resp, err := s.Recv()
			if err != nil {
				t.Fatalf("after %d records: %v", len(out), err)
			}
			if resp.GetRecord() != nil {
				out = append(out, resp)
			}
		}
		return out
	}
	got := read(&bridgev1.SubscribeRequest{Version: "v2", Route: "feed", Group: "g"}, 3)
	if n := got[2].GetRecord().GetJson().GetStructValue().GetFields()["n"].GetNumberValue(); n != 2 {
		t.Fatalf("third record %v", got[2])
	}
	if _, err := sc.Commit(ctx, &bridgev1.CommitRequest{Version: "v2", Route: "feed", Group: "g", Offsets: got[1].GetResume()}); err != nil {
		t.Fatal(err)
	}
	sc = bridgev1.NewSubscribeServiceClient(dialBridge(t, f.bridge))
	if got = read(&bridgev1.SubscribeRequest{Version: "v2", Route: "feed", Group: "g"}, 1); got[0].GetRecord().GetOffset() != 2 {
		t.Fatalf("group resumed at %v, want offset 2", got[0])
	}
	if got = read(&bridgev1.SubscribeRequest{Version: "v2", Route: "feed", Offsets: got[0].GetResume()}, 2); got[0].GetRecord().GetOffset() != 3 || got[1].GetRecord().GetOffset() != 4 {
		t.Fatalf("resumed from offsets: %v", got)
	}
	s, err := sc.Subscribe(withKey(context.Background(), writerKey), &bridgev1.SubscribeRequest{Version: "v2", Route: "feed"})
	if err == nil {
		_, err = s.Recv()
	}
	if status.Code(err) != codes.PermissionDenied {
		t.Errorf("a key granted publish only subscribes: %v", err)
	}
}
