//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/junction-dev/junction/internal/bridgeconfig"
	"github.com/junction-dev/junction/test/e2e/kafkaharness"
)

// delivery is one request the test backend received.
type delivery struct {
	at      time.Time
	path    string
	header  http.Header
	body    string
	attempt int // the n-th request for this idempotency key
}

// testBackend records every request and answers what its script says for the n-th request of
// an idempotency key on a path.
type testBackend struct {
	srv    *httptest.Server
	mu     sync.Mutex
	got    []delivery
	counts map[string]int
	script map[string]func(w http.ResponseWriter, n int)
	// scriptBody, when set for a path, answers instead of script and also sees the body.
	scriptBody map[string]func(w http.ResponseWriter, body string, n int)
}

func newTestBackend(t *testing.T) *testBackend {
	b := &testBackend{counts: map[string]int{}, script: map[string]func(http.ResponseWriter, int){},
		scriptBody: map[string]func(http.ResponseWriter, string, int){}}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		key := r.URL.Path + " " + r.Header.Get("Idempotency-Key")
		b.mu.Lock()
		b.counts[key]++
		n := b.counts[key]
		b.got = append(b.got, delivery{at: time.Now(), path: r.URL.Path, header: r.Header.Clone(), body: string(body), attempt: n})
		answer := b.script[r.URL.Path]
		withBody := b.scriptBody[r.URL.Path]
		b.mu.Unlock()
		if withBody != nil {
			withBody(w, string(body), n)
			return
		}
		if answer == nil {
			w.WriteHeader(http.StatusOK)
			return
		}
		answer(w, n)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

// deliveries are the requests received for one idempotency key on path, in arrival order.
func (b *testBackend) deliveries(path, id string) []delivery {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []delivery
	for _, d := range b.got {
		if d.path == path && d.header.Get("Idempotency-Key") == id {
			out = append(out, d)
		}
	}
	return out
}

func (b *testBackend) onPath(path string) []delivery {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []delivery
	for _, d := range b.got {
		if d.path == path {
			out = append(out, d)
		}
	}
	return out
}

// waitFor polls cond every 50ms until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type accepted struct {
	RequestID string `json:"requestId"`
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
}

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// publishAccepted posts body to a backend route and checks the 202 contract.
func publishAccepted(t *testing.T, base, version, route, key, body string, h http.Header) accepted {
	t.Helper()
	h = withHeader(h, "Kafka-Key", key)
	resp, data := call(t, http.MethodPost, base+"/"+version+"/"+route, "application/json", strings.NewReader(body), h)
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("publish to %s/%s: %d %s, want 202", version, route, resp.StatusCode, data)
	}
	var a accepted
	if err := json.Unmarshal(data, &a); err != nil {
		t.Fatalf("202 body: %v: %s", err, data)
	}
	if !uuidRE.MatchString(a.RequestID) {
		t.Fatalf("requestId %q is not a UUID", a.RequestID)
	}
	if want := "/" + version + "/" + route + "/requests/" + a.RequestID; resp.Header.Get("Location") != want {
		t.Fatalf("Location %q, want %q", resp.Header.Get("Location"), want)
	}
	return a
}

func backendRoute(name, topic, url string, retry bridgeconfig.Retry) bridgeconfig.Route {
	return bridgeconfig.Route{Name: name, Topic: topic, Operations: []bridgeconfig.Operation{bridgeconfig.OperationPublish},
		Backend: &bridgeconfig.Backend{URL: url, Timeout: bridgeconfig.Duration(5 * time.Second), Retry: retry,
			DeadLetterTopic: "d.dlq", PassHeaders: []string{"X-Tenant"}}}
}

func withTimeout(r bridgeconfig.Route, d time.Duration) bridgeconfig.Route {
	r.Backend.Timeout = bridgeconfig.Duration(d)
	return r
}

func ms(n int) bridgeconfig.Duration {
	return bridgeconfig.Duration(time.Duration(n) * time.Millisecond)
}

// TestDelivery runs a real broker, one bridge process with five backend routes and a local
// backend that fails on cue, and checks what the backend and the dead-letter topic receive.
func TestDelivery(t *testing.T) {
	c := kafkaharness.Start(t, 1)
	createTopics(t, c,
		topicSpec{name: "d.retry", partitions: 1}, topicSpec{name: "d.reject", partitions: 1},
		topicSpec{name: "d.throttle", partitions: 1}, topicSpec{name: "d.exhaust", partitions: 1},
		topicSpec{name: "d.steady", partitions: 3}, topicSpec{name: "d.dlq", partitions: 1},
		topicSpec{name: "d.slow", partitions: 1}, topicSpec{name: "d.timeout408", partitions: 1}, topicSpec{name: "d.refused", partitions: 1})
	be := newTestBackend(t)
	be.script["/retry"] = func(w http.ResponseWriter, n int) {
		if n <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
	be.script["/reject"] = func(w http.ResponseWriter, n int) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, "amount must be positive")
	}
	be.script["/throttle"] = func(w http.ResponseWriter, n int) {
		switch n {
		case 1:
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusTooManyRequests)
		case 2:
			// Over the route's maxRetryAfter (1s): the dispatcher waits 1s, not an hour.
			w.Header().Set("Retry-After", time.Now().Add(time.Hour).UTC().Format(http.TimeFormat))
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}
	be.script["/exhaust"] = func(w http.ResponseWriter, n int) { w.WriteHeader(http.StatusInternalServerError) }
	be.script["/slow"] = func(w http.ResponseWriter, n int) {
		if n == 1 {
			time.Sleep(1500 * time.Millisecond) // over the route's 500ms timeout
		}
		w.WriteHeader(http.StatusOK)
	}
	be.script["/timeout408"] = func(w http.ResponseWriter, n int) {
		if n == 1 {
			w.WriteHeader(http.StatusRequestTimeout)
			return
		}
		w.WriteHeader(http.StatusOK)
	}
	refused := freeAddr(t) // nothing listens there

	fast := bridgeconfig.Retry{MaxAttempts: 5, InitialBackoff: ms(200), MaxBackoff: ms(1000), MaxRetryAfter: ms(1000)}
	cfg := &bridgeconfig.Config{
		Namespace: "e2e", Name: "delivery",
		Kafka: bridgeconfig.Kafka{BootstrapServers: c.BootstrapServers, ClientID: "delivery-e2e"},
		Versions: []bridgeconfig.Version{{Name: "v1", Routes: []bridgeconfig.Route{
			backendRoute("retry", "d.retry", be.srv.URL+"/retry", fast),
			backendRoute("reject", "d.reject", be.srv.URL+"/reject", fast),
			backendRoute("throttle", "d.throttle", be.srv.URL+"/throttle",
				bridgeconfig.Retry{MaxAttempts: 5, InitialBackoff: ms(50), MaxBackoff: ms(50), MaxRetryAfter: ms(1000)}),
			backendRoute("exhaust", "d.exhaust", be.srv.URL+"/exhaust",
				bridgeconfig.Retry{MaxAttempts: 3, InitialBackoff: ms(100), MaxBackoff: ms(200), MaxRetryAfter: ms(1000)}),
			backendRoute("steady", "d.steady", be.srv.URL+"/steady", fast),
			withTimeout(backendRoute("slow", "d.slow", be.srv.URL+"/slow", fast), 500*time.Millisecond),
			backendRoute("timeout408", "d.timeout408", be.srv.URL+"/timeout408", fast),
			backendRoute("refused", "d.refused", "http://"+refused+"/refused",
				bridgeconfig.Retry{MaxAttempts: 3, InitialBackoff: ms(400), MaxBackoff: ms(400), MaxRetryAfter: ms(1000)}),
		}}},
	}
	bp := startBridgeProc(t, cfg)
	base := bp.baseURL
	tenant := http.Header{"X-Tenant": {"acme"}}

	t.Run("AcceptedRecord", func(t *testing.T) {
		a := publishAccepted(t, base, "v1", "steady", "k-accepted", `{"seq": -1}`, tenant)
		var found bool
		waitFor(t, 30*time.Second, "the accepted record in Kafka", func() bool {
			for _, m := range readAll(t, c, "d.steady") {
				h := headerMap(m)
				if h["junction-request-id"] == a.RequestID {
					found = string(m.Value) == `{"seq": -1}` && h["x-tenant"] == "acme" && string(m.Key) == "k-accepted" &&
						m.Partition == a.Partition && m.Offset == a.Offset
					return true
				}
			}
			return false
		})
		if !found {
			t.Fatal("the record lacks the original body, key or passed header")
		}
		waitFor(t, 60*time.Second, "delivery to the backend", func() bool { return len(be.deliveries("/steady", a.RequestID)) == 1 })
		d := be.deliveries("/steady", a.RequestID)[0]
		want := map[string]string{"Ce-Id": a.RequestID, "Ce-Specversion": "1.0", "Ce-Source": "/junction/e2e/delivery/v1/steady",
			"Ce-Type": "dev.junction.v1.steady", "Idempotency-Key": a.RequestID, "X-Tenant": "acme", "Content-Type": "application/json"}
		for k, v := range want {
			if got := d.header.Get(k); got != v {
				t.Errorf("backend header %s = %q, want %q", k, got, v)
			}
		}
		if d.body != `{"seq": -1}` {
			t.Errorf("backend body %q", d.body)
		}
	})

	t.Run("RetryThenSuccess", func(t *testing.T) {
		a := publishAccepted(t, base, "v1", "retry", "k1", `{"n": 1}`, nil)
		waitFor(t, 60*time.Second, "three attempts", func() bool { return len(be.deliveries("/retry", a.RequestID)) >= 3 })
		time.Sleep(1500 * time.Millisecond) // a fourth attempt would come within maxBackoff
		ds := be.deliveries("/retry", a.RequestID)
		if len(ds) != 3 {
			t.Fatalf("%d attempts, want exactly 3 (503, 503, 200)", len(ds))
		}
		// Equal jitter: retry n waits between half and all of 200ms·2^(n-1).
		for i, bounds := range [][2]time.Duration{{100 * time.Millisecond, 200 * time.Millisecond}, {200 * time.Millisecond, 400 * time.Millisecond}} {
			gap := ds[i+1].at.Sub(ds[i].at)
			if gap < bounds[0] || gap > bounds[1]+2*time.Second {
				t.Errorf("gap before attempt %d is %s, want %s..%s (plus scheduling slack)", i+2, gap, bounds[0], bounds[1])
			}
			if got := ds[i+1].header.Get("Junction-Delivery-Attempt"); got != strconv.Itoa(i+2) {
				t.Errorf("attempt header %q, want %d", got, i+2)
			}
		}
	})

	t.Run("RetryAfter", func(t *testing.T) {
		a := publishAccepted(t, base, "v1", "throttle", "k1", `{"n": 1}`, nil)
		waitFor(t, 60*time.Second, "three attempts", func() bool { return len(be.deliveries("/throttle", a.RequestID)) >= 3 })
		time.Sleep(500 * time.Millisecond)
		ds := be.deliveries("/throttle", a.RequestID)
		if len(ds) != 3 {
			t.Fatalf("%d attempts, want exactly 3 (429, 503, 204)", len(ds))
		}
		// Retry-After: 2 and an hour away are both capped by maxRetryAfter (1s); the route's
		// own backoff (50ms) would retry far sooner.
		for i := range 2 {
			if gap := ds[i+1].at.Sub(ds[i].at); gap < 950*time.Millisecond || gap > 4*time.Second {
				t.Errorf("gap before attempt %d is %s, want about 1s (Retry-After capped by maxRetryAfter)", i+2, gap)
			}
		}
	})

	t.Run("RejectedDeadLettered", func(t *testing.T) {
		a := publishAccepted(t, base, "v1", "reject", "k-bad", `{"amount": -1}`, tenant)
		dl := waitDeadLetter(t, c, "d.reject", a.RequestID)
		time.Sleep(500 * time.Millisecond)
		if n := len(be.deliveries("/reject", a.RequestID)); n != 1 {
			t.Fatalf("%d attempts for a 400, want exactly 1", n)
		}
		want := map[string]string{"junction-dlq-status": "400", "junction-dlq-attempts": "1", "junction-dlq-topic": "d.reject",
			"junction-dlq-partition": "0", "junction-dlq-offset": fmt.Sprint(a.Offset), "x-tenant": "acme", "content-type": "application/json"}
		for k, v := range want {
			if dl.headers[k] != v {
				t.Errorf("dead letter header %s = %q, want %q", k, dl.headers[k], v)
			}
		}
		if !strings.Contains(dl.headers["junction-dlq-error"], "400") || !strings.Contains(dl.headers["junction-dlq-error"], "amount must be positive") {
			t.Errorf("dead letter error %q lacks the status and the backend's answer", dl.headers["junction-dlq-error"])
		}
		if dl.key != "k-bad" || dl.value != `{"amount": -1}` {
			t.Errorf("dead letter key %q value %q, want the original", dl.key, dl.value)
		}
	})

	t.Run("ExhaustedDeadLettered", func(t *testing.T) {
		a := publishAccepted(t, base, "v1", "exhaust", "k1", `{"n": 1}`, nil)
		dl := waitDeadLetter(t, c, "d.exhaust", a.RequestID)
		time.Sleep(500 * time.Millisecond)
		if n := len(be.deliveries("/exhaust", a.RequestID)); n != 3 {
			t.Fatalf("%d attempts, want maxAttempts = 3", n)
		}
		if dl.headers["junction-dlq-status"] != "500" || dl.headers["junction-dlq-attempts"] != "3" {
			t.Errorf("dead letter metadata %v", dl.headers)
		}
		if dl.count != 1 {
			t.Errorf("%d dead letters for one record, want 1", dl.count)
		}
	})

	// A timeout and a 408 are retried like a 5xx: one retry after 100..200ms.
	for _, path := range []string{"slow", "timeout408"} {
		t.Run("Retried-"+path, func(t *testing.T) {
			a := publishAccepted(t, base, "v1", path, "k1", `{"n": 1}`, nil)
			waitFor(t, 60*time.Second, "two attempts", func() bool { return len(be.deliveries("/"+path, a.RequestID)) >= 2 })
			time.Sleep(1500 * time.Millisecond)
			ds := be.deliveries("/"+path, a.RequestID)
			if len(ds) != 2 {
				t.Fatalf("%d attempts, want exactly 2 (failure, then 200)", len(ds))
			}
			gap := ds[1].at.Sub(ds[0].at)
			if path == "slow" {
				gap -= 500 * time.Millisecond // the first attempt ran until the timeout
			}
			if gap < 100*time.Millisecond || gap > 2200*time.Millisecond {
				t.Errorf("retry %s after the failure, want 100..200ms (plus scheduling slack)", gap)
			}
		})
	}

	t.Run("ConnectionRefusedRetriedThenDeadLettered", func(t *testing.T) {
		start := time.Now()
		a := publishAccepted(t, base, "v1", "refused", "k1", `{"n": 1}`, nil)
		dl := waitDeadLetter(t, c, "d.refused", a.RequestID)
		took := time.Since(start)
		if dl.headers["junction-dlq-attempts"] != "3" || dl.headers["junction-dlq-status"] != "0" ||
			!strings.Contains(dl.headers["junction-dlq-error"], "connection refused") {
			t.Errorf("dead letter metadata %v, want 3 attempts, status 0, a connection refused error", dl.headers)
		}
		// Two retries, each 200..400ms after the failure before it.
		if took < 400*time.Millisecond {
			t.Errorf("dead-lettered %s after publish: the retries did not wait", took)
		}
	})

	t.Run("SteadyNoLossNoDuplicates", func(t *testing.T) {
		const n = 200
		ids := map[string]bool{}
		for i := range n {
			key := fmt.Sprintf("key-%d", i%7)
			a := publishAccepted(t, base, "v1", "steady", key, fmt.Sprintf(`{"key": %q, "seq": %d}`, key, i), nil)
			ids[a.RequestID] = true
		}
		count := func() int {
			got := 0
			for _, d := range be.onPath("/steady") {
				if ids[d.header.Get("Idempotency-Key")] {
					got++
				}
			}
			return got
		}
		waitFor(t, 90*time.Second, fmt.Sprintf("%d deliveries", n), func() bool { return count() >= n })
		time.Sleep(time.Second)
		seen := map[string]int{}
		lastSeq := map[string]int{}
		for _, d := range be.onPath("/steady") {
			id := d.header.Get("Idempotency-Key")
			if !ids[id] {
				continue
			}
			seen[id]++
			var v struct {
				Key string `json:"key"`
				Seq int    `json:"seq"`
			}
			if err := json.Unmarshal([]byte(d.body), &v); err != nil {
				t.Fatalf("body %q: %v", d.body, err)
			}
			if last, ok := lastSeq[v.Key]; ok && v.Seq <= last {
				t.Errorf("key %s: seq %d delivered after %d", v.Key, v.Seq, last)
			}
			lastSeq[v.Key] = v.Seq
		}
		if len(seen) != n {
			t.Errorf("%d of %d records delivered", len(seen), n)
		}
		for id, k := range seen {
			if k != 1 {
				t.Errorf("request %s delivered %d times", id, k)
			}
		}
	})

	t.Run("Metrics", func(t *testing.T) {
		resp, data := call(t, http.MethodGet, base+"/metrics", "", nil, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("metrics: %d", resp.StatusCode)
		}
		for _, want := range []string{
			`junction_bridge_dispatch_attempts_total{result="retryable",route="retry",version="v1"} 2`,
			`junction_bridge_dispatch_dead_letters_total{reason="rejected",route="reject",version="v1"} 1`,
			`junction_bridge_dispatch_dead_letters_total{reason="exhausted",route="exhaust",version="v1"} 1`,
			`junction_bridge_dispatch_delivery_seconds_count{route="steady",version="v1"}`,
			`junction_bridge_dispatch_lag_records{partition=`,
		} {
			if !strings.Contains(string(data), want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
}

type deadLetter struct {
	key, value string
	headers    map[string]string
	count      int // dead letters with this request id
}

// waitDeadLetter waits (at most 60s) for the dead letter of requestID from sourceTopic.
func waitDeadLetter(t *testing.T, c *kafkaharness.Cluster, sourceTopic, requestID string) deadLetter {
	t.Helper()
	var dl deadLetter
	waitFor(t, 60*time.Second, "the dead letter of "+requestID, func() bool {
		dl = deadLetter{}
		for _, m := range readAll(t, c, "d.dlq") {
			h := headerMap(m)
			if h["junction-request-id"] == requestID && h["junction-dlq-topic"] == sourceTopic {
				dl.count++
				dl.key, dl.value, dl.headers = string(m.Key), string(m.Value), h
			}
		}
		return dl.count > 0
	})
	return dl
}
