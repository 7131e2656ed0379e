package bridge

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/junction-dev/junction/internal/bridgeconfig"
	bridgev1 "github.com/junction-dev/junction/proto/junction/bridge/v1"
)

// replyBackend answers by the record's "op": "block" waits for release, "reject" answers
// 422, "big" answers a body over the route's limit; anything else 201 with a JSON echo.
type replyBackend struct {
	srv     *httptest.Server
	release chan struct{}
	once    sync.Once
}

func newReplyBackend(t *testing.T) *replyBackend {
	b := &replyBackend{release: make(chan struct{})}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Op string `json:"op"`
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &in)
		switch in.Op {
		case "block":
			select {
			case <-b.release:
			case <-r.Context().Done():
				return
			}
		case "reject":
			http.Error(w, "amount must be positive", http.StatusUnprocessableEntity)
			return
		case "big":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte(strings.Repeat("x", 300)))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("ETag", `"e-1"`)
		w.Header().Set("X-Internal", "not kept")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"echo":` + string(body) + `,"id":"` + r.Header.Get("Idempotency-Key") + `"}`))
	}))
	t.Cleanup(func() { b.unblock(); b.srv.Close() })
	return b
}

func (b *replyBackend) unblock() { b.once.Do(func() { close(b.release) }) }

func replyConfig(bootstrap []string, backendURL string) *bridgeconfig.Config {
	pub := []bridgeconfig.Operation{bridgeconfig.OperationPublish}
	return &bridgeconfig.Config{
		Namespace: "shop", Name: "pay-api",
		Kafka: bridgeconfig.Kafka{BootstrapServers: bootstrap, ClientID: "bridge-test"},
		Versions: []bridgeconfig.Version{{Name: "v1", Routes: []bridgeconfig.Route{
			{Name: "pay", Topic: "pay", Operations: pub, Backend: &bridgeconfig.Backend{URL: backendURL,
				Retry:   bridgeconfig.Retry{MaxAttempts: 2, InitialBackoff: bridgeconfig.Duration(10 * time.Millisecond)},
				Replies: &bridgeconfig.Replies{Topic: "pay.replies", Headers: []string{"ETag"}, MaxBytes: 200}}},
			{Name: "fire", Topic: "fire", Operations: pub, Backend: &bridgeconfig.Backend{URL: backendURL}},
		}}},
	}
}

func getRequest(t *testing.T, url string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// awaitState polls url until its Junction-Request-State is want (10s at most).
func awaitState(t *testing.T, url, want string) (*http.Response, []byte) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, body := getRequest(t, url)
		if resp.Header.Get(headerRequestState) == want || time.Now().After(deadline) {
			if got := resp.Header.Get(headerRequestState); got != want {
				t.Fatalf("GET %s: state %q (status %d, %s), want %q", url, got, resp.StatusCode, body, want)
			}
			return resp, body
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func accepted(t *testing.T, b *bridgeUnderTest, route, body string) string {
	t.Helper()
	resp, data := post(t, b.baseURL+"/v1/"+route, "application/json", strings.NewReader(body), nil)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("publish %s: %d %s", body, resp.StatusCode, data)
	}
	var a acceptedResult
	if err := json.Unmarshal(data, &a); err != nil || a.RequestID == "" {
		t.Fatalf("publish answer %s: %v", data, err)
	}
	if loc := resp.Header.Get("Location"); loc != "/v1/"+route+"/requests/"+a.RequestID {
		t.Errorf("Location %q", loc)
	}
	return a.RequestID
}

// TestAsyncReplies: pending before the backend answers (on this replica and, at once, on
// another), the stored answer after (status, kept headers, body), the dead-letter outcome of
// a refused request, an omitted oversized body, 404 for unknown ids and routes without
// replies, 400 for a malformed id, and request ids in batch and gRPC answers.
func TestAsyncReplies(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "pay", "pay.replies", "fire"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	backend := newReplyBackend(t)
	cfg := replyConfig(c.ListenAddrs(), backend.srv.URL)
	a := runBridge(t, cfg)
	waitStatus(t, a.baseURL+"/readyz", http.StatusOK)
	other := runBridge(t, cfg)
	waitStatus(t, other.baseURL+"/readyz", http.StatusOK)

	id := accepted(t, a, "pay", `{"op":"block"}`)
	// Read-your-writes: the other replica knows the id as soon as the 202 was answered.
	for _, b := range []*bridgeUnderTest{other, a} {
		resp, body := getRequest(t, b.baseURL+"/v1/pay/requests/"+id)
		if resp.StatusCode != http.StatusAccepted || resp.Header.Get(headerRequestState) != "pending" || resp.Header.Get("Retry-After") == "" {
			t.Fatalf("pending request: %d %v %s", resp.StatusCode, resp.Header, body)
		}
		var p pendingStatus
		if err := json.Unmarshal(body, &p); err != nil || p.RequestID != id || p.State != "pending" {
			t.Errorf("pending body %s: %v", body, err)
		}
	}
	backend.unblock()
	resp, body := awaitState(t, other.baseURL+"/v1/pay/requests/"+id, "completed")
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Content-Type") != "application/json" ||
		resp.Header.Get("ETag") != `"e-1"` || resp.Header.Get("X-Internal") != "" || resp.Header.Get("Junction-Delivery-Attempts") != "1" {
		t.Errorf("completed: %d %v", resp.StatusCode, resp.Header)
	}
	if want := `{"echo":{"op":"block"},"id":"` + id + `"}`; string(body) != want {
		t.Errorf("completed body %s, want %s", body, want)
	}

	rejected := accepted(t, a, "pay", `{"op":"reject"}`)
	resp, body = awaitState(t, a.baseURL+"/v1/pay/requests/"+rejected, "failed")
	var fp failedProblem
	if err := json.Unmarshal(body, &fp); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusUnprocessableEntity || resp.Header.Get("Content-Type") != "application/problem+json" ||
		fp.Type != problemBase+"DELIVERY_FAILED" || fp.Reason != "rejected" || fp.Attempts != 1 || fp.LastStatus != 422 ||
		!strings.Contains(fp.LastError, "amount must be positive") || fp.RequestID != rejected {
		t.Errorf("failed: %d %s", resp.StatusCode, body)
	}

	big := accepted(t, a, "pay", `{"op":"big"}`)
	resp, body = awaitState(t, a.baseURL+"/v1/pay/requests/"+big, "completed")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Junction-Reply-Body-Omitted") != "true" || len(body) != 0 {
		t.Errorf("oversized reply: %d %v %q", resp.StatusCode, resp.Header, body)
	}

	for url, want := range map[string]int{
		"/v1/pay/requests/6f1c0c7e-58b5-4c1a-9d3e-2b1f5a0c9e11": http.StatusNotFound,
		"/v1/fire/requests/" + id:                               http.StatusNotFound,
		"/v1/pay/requests/a%20b":                                http.StatusBadRequest,
	} {
		resp, body := getRequest(t, a.baseURL+url)
		if resp.StatusCode != want || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("GET %s: %d %s, want %d", url, resp.StatusCode, body, want)
		}
	}

	// Batches and gRPC answer each accepted record's id, and each id has its reply.
	resp, body = post(t, a.baseURL+"/v1/pay", contentTypeBatch, strings.NewReader(`{"records":[{"value":{"op":"a"}},{"value":{"op":"b"}}]}`), nil)
	var batch struct {
		Results []RecordResult `json:"results"`
	}
	if err := json.Unmarshal(body, &batch); err != nil || resp.StatusCode != http.StatusAccepted || len(batch.Results) != 2 {
		t.Fatalf("batch: %d %s", resp.StatusCode, body)
	}
	ids := []string{}
	for _, r := range batch.Results {
		if r.Status != http.StatusAccepted || r.RequestID == "" {
			t.Errorf("batch result %+v", r)
		}
		ids = append(ids, r.RequestID)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	client := bridgev1.NewPublishServiceClient(a.conn)
	v, _ := structpb.NewValue(map[string]any{"op": "g"})
	res, err := client.Publish(ctx, &bridgev1.PublishRequest{Version: "v1", Route: "pay", Payload: &bridgev1.PublishRequest_Json{Json: v}})
	if err != nil || res.GetRequestId() == "" {
		t.Fatalf("gRPC publish: %v %v", res, err)
	}
	ids = append(ids, res.GetRequestId())
	stream, err := client.PublishStream(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&bridgev1.PublishStreamRequest{Record: &bridgev1.PublishRequest{Version: "v1", Route: "pay", Payload: &bridgev1.PublishRequest_Json{Json: v}}}); err != nil {
		t.Fatal(err)
	}
	sr, err := stream.Recv()
	if err != nil || sr.GetStored().GetRequestId() == "" {
		t.Fatalf("stream answer %v: %v", sr, err)
	}
	_ = stream.CloseSend()
	ids = append(ids, sr.GetStored().GetRequestId())
	for _, id := range ids {
		awaitState(t, a.baseURL+"/v1/pay/requests/"+id, "completed")
	}
}

func TestReplyIndexKeepsOutcomesAndIsBounded(t *testing.T) {
	r := newReplyReader(replyConfig([]string{"k:9092"}, "http://b"), slog.New(slog.DiscardHandler))
	r.maxEntries = 2
	k := func(id string) replyKey { return replyKey{"pay.replies", id} }
	r.put(k("a"), reply{State: replyStatePending})
	r.put(k("a"), reply{State: replyStateCompleted, Status: 200})
	r.put(k("a"), reply{State: replyStatePending}) // a marker never replaces an outcome
	if got, _ := r.get("pay.replies", "a"); got.State != replyStateCompleted {
		t.Errorf("a: %+v", got)
	}
	r.put(k("b"), reply{State: replyStatePending})
	r.put(k("c"), reply{State: replyStatePending})
	if _, ok := r.get("pay.replies", "a"); ok {
		t.Errorf("the oldest entry was not evicted")
	}
	if _, ok := r.get("pay.replies", "c"); !ok || r.order.Len() != 2 {
		t.Errorf("index holds %d entries", r.order.Len())
	}
	r.maxBytes = 500
	r.put(k("d"), reply{State: replyStateCompleted, Body: make([]byte, 250)})
	if r.order.Len() != 1 || r.bytes > r.maxBytes {
		t.Errorf("byte bound: %d entries, %d bytes", r.order.Len(), r.bytes)
	}
}
