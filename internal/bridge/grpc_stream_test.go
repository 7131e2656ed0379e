package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/junction-dev/junction/internal/bridgeconfig"
	bridgev1 "github.com/junction-dev/junction/proto/junction/bridge/v1"
)

func jsonPayload(t *testing.T, v any) *bridgev1.PublishRequest_Json {
	t.Helper()
	pv, err := structpb.NewValue(v)
	if err != nil {
		t.Fatal(err)
	}
	return &bridgev1.PublishRequest_Json{Json: pv}
}

// streamStatus is a per-record error of a PublishStream as a gRPC status.
func streamStatus(e *bridgev1.Status) *status.Status {
	return status.FromProto(&spb.Status{Code: e.GetCode(), Message: e.GetMessage(), Details: e.GetDetails()})
}

// TestGRPCPublishStream: 1,000 records sent without waiting, every 10th invalid; one answer
// per record in order, refusals carry Publish's details, and exactly the acknowledged
// records are in the topic.
func TestGRPCPublishStream(t *testing.T) {
	b := startBridge(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := bridgev1.NewPublishServiceClient(b.conn).PublishStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	const n = 1000
	go func() {
		for i := 0; i < n; i++ {
			qty := 1
			if i%10 == 9 {
				qty = 0
			}
			req := &bridgev1.PublishRequest{Version: "v2", Route: "orders", Key: fmt.Sprintf("k%d", i%7), Payload: jsonPayload(t, map[string]any{"id": fmt.Sprint(i), "qty": qty})}
			if err := stream.Send(&bridgev1.PublishStreamRequest{Record: req}); err != nil {
				return
			}
		}
		_ = stream.CloseSend()
	}()
	stored := map[string]bool{}
	for i := 0; ; i++ {
		resp, err := stream.Recv()
		if err == io.EOF {
			if i != n {
				t.Fatalf("%d responses, want %d", i, n)
			}
			break
		}
		if err != nil {
			t.Fatalf("after %d responses: %v", i, err)
		}
		if resp.GetSequence() != uint64(i) {
			t.Fatalf("response %d has sequence %d", i, resp.GetSequence())
		}
		if i%10 == 9 {
			st := streamStatus(resp.GetError())
			if st.Code() != codes.InvalidArgument {
				t.Fatalf("record %d: %v, want INVALID_ARGUMENT", i, st)
			}
			var fields []string
			for _, d := range st.Details() {
				if br, ok := d.(*errdetails.BadRequest); ok {
					for _, fv := range br.GetFieldViolations() {
						fields = append(fields, fv.GetField())
					}
				}
			}
			if len(fields) != 1 || fields[0] != "/qty" {
				t.Fatalf("record %d: field violations %v, want [/qty]", i, fields)
			}
			continue
		}
		if resp.GetStored().GetTopic() != "orders" {
			t.Fatalf("record %d: %v", i, resp)
		}
		stored[fmt.Sprint(i)] = true
	}
	seen := map[string]int{}
	for _, r := range readTopic(t, b.cluster, "orders", len(stored)) {
		var v struct{ ID string }
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Fatal(err)
		}
		seen[v.ID]++
	}
	if len(seen) != len(stored) {
		t.Fatalf("topic holds %d distinct records, %d acknowledged", len(seen), len(stored))
	}
	for id, c := range seen {
		if c != 1 || !stored[id] {
			t.Fatalf("record %s stored %d times, acknowledged %v", id, c, stored[id])
		}
	}
}

// TestGRPCPublishStreamRefusals: auth is checked once for the stream; a record for a route
// the key may not use, or an unknown partition, is refused alone and the stream goes on.
func TestGRPCPublishStreamRefusals(t *testing.T) {
	b := startBridgeWith(t, 2, func(*bridgeconfig.Config) {})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := bridgev1.NewPublishServiceClient(b.conn).PublishStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p5 := int32(5)
	reqs := []*bridgev1.PublishStreamRequest{
		{Record: &bridgev1.PublishRequest{Version: "v2", Route: "feed", Payload: jsonPayload(t, "x")}},
		{Record: &bridgev1.PublishRequest{Version: "v2", Route: "raw", Payload: &bridgev1.PublishRequest_Raw{Raw: []byte("r")}, Partition: &p5}},
		{},
		{Record: &bridgev1.PublishRequest{Version: "v2", Route: "raw", Payload: &bridgev1.PublishRequest_Raw{Raw: []byte("ok")}}},
	}
	want := []codes.Code{codes.Unimplemented, codes.InvalidArgument, codes.InvalidArgument, codes.OK}
	for _, r := range reqs {
		if err := stream.Send(r); err != nil {
			t.Fatal(err)
		}
	}
	_ = stream.CloseSend()
	for i, w := range want {
		resp, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		got := codes.OK
		if resp.GetError() != nil {
			got = codes.Code(resp.GetError().GetCode())
		}
		if got != w {
			t.Errorf("record %d: %v (%s), want %v", i, got, resp.GetError().GetMessage(), w)
		}
	}
	if _, err := stream.Recv(); err != io.EOF {
		t.Errorf("stream end: %v", err)
	}
}

func produceFeed(t *testing.T, b *bridgeUnderTest, values ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.cluster.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, v := range values {
		rec := &kgo.Record{Topic: "feed", Value: []byte(v), Headers: []kgo.RecordHeader{{Key: "content-type", Value: []byte("application/json")}}}
		if err := cl.ProduceSync(ctx, rec).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// recvRecords reads events until n records (or undeliverable records) arrived.
func recvRecords(t *testing.T, s bridgev1.SubscribeService_SubscribeClient, n int) []*bridgev1.SubscribeResponse {
	t.Helper()
	var out []*bridgev1.SubscribeResponse
	for len(out) < n {
		resp, err := s.Recv()
		if err != nil {
			t.Fatalf("after %d records: %v", len(out), err)
		}
		if resp.GetOpened() == nil {
			out = append(out, resp)
		}
	}
	return out
}

// TestGRPCSubscribeResumesAndCommits: from offsets (resumed from a response's resume field)
// and by group (Commit, then a new stream starts after the committed records).
func TestGRPCSubscribeResumesAndCommits(t *testing.T) {
	b := startBridge(t)
	produceFeed(t, b, `{"n":0}`, `{"n":1}`, `not json`, `{"n":3}`)
	sc := bridgev1.NewSubscribeServiceClient(b.conn)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	s1, err := sc.Subscribe(ctx, &bridgev1.SubscribeRequest{Version: "v2", Route: "feed", Start: bridgev1.Start_START_EARLIEST})
	if err != nil {
		t.Fatal(err)
	}
	opened, err := s1.Recv()
	if err != nil || opened.GetOpened() == nil || len(opened.GetResume()) != 1 || opened.GetResume()[0].GetOffset() != 0 {
		t.Fatalf("first event %v, %v", opened, err)
	}
	got := recvRecords(t, s1, 4)
	if v := got[0].GetRecord().GetJson().GetStructValue().GetFields()["n"].GetNumberValue(); v != 0 {
		t.Errorf("record 0: %v", got[0])
	}
	if u := got[2].GetUndeliverable(); u == nil || u.GetOffset() != 2 {
		t.Errorf("record 2 should be undeliverable: %v", got[2])
	}
	resumeAt := got[1].GetResume()

	s2, err := sc.Subscribe(ctx, &bridgev1.SubscribeRequest{Version: "v2", Route: "feed", Offsets: resumeAt})
	if err != nil {
		t.Fatal(err)
	}
	got = recvRecords(t, s2, 2)
	if got[0].GetUndeliverable().GetOffset() != 2 || got[1].GetRecord().GetOffset() != 3 {
		t.Fatalf("resumed stream: %v", got)
	}

	s3, err := sc.Subscribe(ctx, &bridgev1.SubscribeRequest{Version: "v2", Route: "feed", Group: "g1"})
	if err != nil {
		t.Fatal(err)
	}
	got = recvRecords(t, s3, 2)
	if _, err := sc.Commit(ctx, &bridgev1.CommitRequest{Version: "v2", Route: "feed", Group: "g1", Offsets: got[1].GetResume()}); err != nil {
		t.Fatal(err)
	}
	s4, err := sc.Subscribe(ctx, &bridgev1.SubscribeRequest{Version: "v2", Route: "feed", Group: "g1"})
	if err != nil {
		t.Fatal(err)
	}
	if got = recvRecords(t, s4, 1); got[0].GetUndeliverable().GetOffset() != 2 {
		t.Fatalf("group resumed at %v, want offset 2", got[0])
	}

	for _, tc := range []struct {
		req  *bridgev1.SubscribeRequest
		code codes.Code
	}{
		{&bridgev1.SubscribeRequest{Version: "v2", Route: "orders"}, codes.Unimplemented},
		{&bridgev1.SubscribeRequest{Version: "v2", Route: "feed", Group: "g1", Offsets: resumeAt}, codes.InvalidArgument},
		{&bridgev1.SubscribeRequest{Version: "v2", Route: "feed", Group: "bad group!"}, codes.InvalidArgument},
	} {
		s, err := sc.Subscribe(ctx, tc.req)
		if err == nil {
			_, err = s.Recv()
		}
		if status.Code(err) != tc.code {
			t.Errorf("%v: %v, want %v", tc.req, err, tc.code)
		}
	}
	if _, err := sc.Commit(ctx, &bridgev1.CommitRequest{Version: "v2", Route: "feed", Group: "g1", Offsets: []*bridgev1.PartitionOffset{{Partition: 9}}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("commit to a partition the topic lacks: %v", err)
	}
}

// TestGRPCStreamsEndWithStatusOnStop: open streams end with UNAVAILABLE + RetryInfo when
// the bridge stops, instead of holding the shutdown until its timeout.
func TestGRPCStreamsEndWithStatusOnStop(t *testing.T) {
	b := startBridge(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sub, err := bridgev1.NewSubscribeServiceClient(b.conn).Subscribe(ctx, &bridgev1.SubscribeRequest{Version: "v2", Route: "feed"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sub.Recv(); err != nil {
		t.Fatal(err)
	}
	pub, err := bridgev1.NewPublishServiceClient(b.conn).PublishStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := pub.Send(&bridgev1.PublishStreamRequest{Record: &bridgev1.PublishRequest{Version: "v2", Route: "raw", Payload: &bridgev1.PublishRequest_Raw{Raw: []byte("before stop")}}}); err != nil {
		t.Fatal(err)
	}
	if resp, err := pub.Recv(); err != nil || resp.GetStored() == nil {
		t.Fatalf("ack before stop: %v %v", resp, err)
	}
	start := time.Now()
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("stop took %s: streams held the graceful stop", d)
	}
	for name, recv := range map[string]func() error{
		"Subscribe":     func() error { _, err := sub.Recv(); return err },
		"PublishStream": func() error { _, err := pub.Recv(); return err },
	} {
		err := recv()
		st := status.Convert(err)
		retry := false
		for _, d := range st.Details() {
			_, ok := d.(*errdetails.RetryInfo)
			retry = retry || ok
		}
		if st.Code() != codes.Unavailable || !retry {
			t.Errorf("%s ended with %v (RetryInfo %v), want UNAVAILABLE with RetryInfo", name, err, retry)
		}
	}
}
