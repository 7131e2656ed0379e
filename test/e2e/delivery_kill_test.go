//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/junction-dev/junction/internal/bridgeconfig"
	"github.com/junction-dev/junction/test/e2e/kafkaharness"
)

// kill ends the bridge with SIGKILL: no revoke, no final commit.
func (p *bridgeProc) kill(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case err := <-p.exited:
		p.exited <- err
	case <-time.After(10 * time.Second):
		t.Fatalf("bridge did not exit within 10s of SIGKILL")
	}
}

// TestDeliveryKilledMidDelivery: a bridge is killed (SIGKILL) while it delivers; a new bridge
// takes over. Every accepted record reaches the backend, and a partition repeats at most the
// one record that was in flight when the bridge died, with the same idempotency key.
func TestDeliveryKilledMidDelivery(t *testing.T) {
	c := kafkaharness.Start(t, 1)
	createTopics(t, c, topicSpec{name: "d.kill", partitions: 3}, topicSpec{name: "d.dlq", partitions: 1})
	be := newTestBackend(t)
	be.script["/kill"] = func(w http.ResponseWriter, n int) {
		time.Sleep(20 * time.Millisecond) // a delivery is in flight most of the time
		w.WriteHeader(http.StatusOK)
	}
	cfg := &bridgeconfig.Config{
		Namespace: "e2e", Name: "kill",
		Kafka: bridgeconfig.Kafka{BootstrapServers: c.BootstrapServers, ClientID: "kill-e2e"},
		Versions: []bridgeconfig.Version{{Name: "v1", Routes: []bridgeconfig.Route{
			backendRoute("kill", "d.kill", be.srv.URL+"/kill",
				bridgeconfig.Retry{MaxAttempts: 5, InitialBackoff: ms(100), MaxBackoff: ms(500), MaxRetryAfter: ms(1000)}),
		}}},
	}
	first := startBridgeProc(t, cfg)
	const n = 300
	partitionOf := map[string]int32{}
	for i := range n {
		key := fmt.Sprintf("key-%d", i%12)
		a := publishAccepted(t, first.baseURL, "v1", "kill", key, fmt.Sprintf(`{"key": %q, "seq": %d}`, key, i), nil)
		partitionOf[a.RequestID] = a.Partition
	}
	waitFor(t, 60*time.Second, "the first 60 deliveries", func() bool { return len(be.onPath("/kill")) >= 60 })
	first.kill(t)
	byFirst := len(be.onPath("/kill"))
	if byFirst >= n {
		t.Fatalf("the first bridge delivered all %d records before it was killed; the test proves nothing", n)
	}

	startBridgeProc(t, cfg)
	count := func() map[string]int {
		seen := map[string]int{}
		for _, d := range be.onPath("/kill") {
			seen[d.header.Get("Idempotency-Key")]++
		}
		return seen
	}
	waitFor(t, 120*time.Second, fmt.Sprintf("all %d records delivered", n), func() bool { return len(count()) >= n })
	time.Sleep(2 * time.Second) // a late repeat would show by now
	seen := count()
	repeats := map[int32]int{}
	for id, p := range partitionOf {
		switch k := seen[id]; {
		case k == 0:
			t.Errorf("request %s (partition %d) lost", id, p)
		case k > 2:
			t.Errorf("request %s delivered %d times", id, k)
		case k == 2:
			repeats[p]++
		}
	}
	for p, k := range repeats {
		if k > 1 {
			t.Errorf("partition %d repeated %d records after the kill, want at most the one in flight", p, k)
		}
	}
	if len(seen) != n {
		t.Errorf("backend saw %d idempotency keys, want %d", len(seen), n)
	}
	t.Logf("first bridge delivered %d of %d before SIGKILL; repeats per partition after it: %v", byFirst, n, repeats)
}

// TestDeliveryUnordered: with ordering unordered and maxConcurrency 8, one partition's
// records are delivered 8 at a time (never more), a record in retries does not hold back the
// others, and after a clean restart nothing is delivered again (the commit followed the
// lowest unsettled offset).
func TestDeliveryUnordered(t *testing.T) {
	c := kafkaharness.Start(t, 1)
	createTopics(t, c, topicSpec{name: "d.unordered", partitions: 1}, topicSpec{name: "d.dlq", partitions: 1})
	be := newTestBackend(t)
	var inFlight, peak atomic.Int32
	var flakyDone atomic.Int64 // when seq 0 was finally delivered (unix nanos)
	be.scriptBody["/unordered"] = func(w http.ResponseWriter, body string, n int) {
		if strings.Contains(body, `"seq": 0}`) {
			if n < 3 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
			flakyDone.Store(time.Now().UnixNano())
			w.WriteHeader(http.StatusOK)
			return
		}
		now := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
		}
		time.Sleep(100 * time.Millisecond)
		w.WriteHeader(http.StatusOK)
	}
	route := backendRoute("unordered", "d.unordered", be.srv.URL+"/unordered",
		bridgeconfig.Retry{MaxAttempts: 5, InitialBackoff: ms(2000), MaxBackoff: ms(2000), MaxRetryAfter: ms(2000)})
	route.Backend.Ordering = "unordered"
	route.Backend.MaxConcurrency = 8
	cfg := &bridgeconfig.Config{
		Namespace: "e2e", Name: "unordered",
		Kafka:    bridgeconfig.Kafka{BootstrapServers: c.BootstrapServers, ClientID: "unordered-e2e"},
		Versions: []bridgeconfig.Version{{Name: "v1", Routes: []bridgeconfig.Route{route}}},
	}
	first := startBridgeProc(t, cfg)

	// 60 records: within the partition's window of 8×maxConcurrency unsettled records.
	const n = 60
	ids := map[string]bool{}
	for i := range n {
		a := publishAccepted(t, first.baseURL, "v1", "unordered", fmt.Sprintf("k%d", i), fmt.Sprintf(`{"seq": %d}`, i), nil)
		ids[a.RequestID] = true
	}
	count := func() map[string]int {
		seen := map[string]int{}
		for _, d := range be.onPath("/unordered") {
			if d.attempt == 1 || !strings.Contains(d.body, `"seq": 0}`) {
				seen[d.header.Get("Idempotency-Key")]++
			}
		}
		return seen
	}
	waitFor(t, 60*time.Second, "seq 0 delivered on its third attempt", func() bool { return flakyDone.Load() != 0 })
	var lastOther time.Time
	for _, d := range be.onPath("/unordered") {
		if !strings.Contains(d.body, `"seq": 0}`) && d.at.After(lastOther) {
			lastOther = d.at
		}
	}
	if others := len(count()) - 1; others != n-1 {
		t.Errorf("%d of the other %d records were delivered while seq 0 was in its retries (about 6s), want all", others, n-1)
	}
	if !lastOther.Before(time.Unix(0, flakyDone.Load())) {
		t.Errorf("the other records waited for the record in retries")
	}
	if p := peak.Load(); p != 8 {
		t.Errorf("at most %d deliveries were in flight at once, want exactly maxConcurrency = 8", p)
	}
	waitFor(t, 10*time.Second, "every record settled", func() bool { return len(count()) == n })
	if err := first.stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	startBridgeProc(t, cfg)
	time.Sleep(3 * time.Second) // a repeat from a wrong commit would show by now
	seen := count()
	for id := range ids {
		if seen[id] != 1 {
			t.Errorf("request %s delivered %d times, want 1", id, seen[id])
		}
	}
	t.Logf("peak concurrency %d; seq 0 settled after the other %d records", peak.Load(), n-1)
}

// TestDeliverySlowBackendKeepsMembership: one record's delivery takes 50s (longer than the
// consumer group's 45s session timeout); the other partition's records are delivered
// meanwhile, and the bridge keeps its place in the group: one assignment in its log, the slow
// record delivered once.
func TestDeliverySlowBackendKeepsMembership(t *testing.T) {
	c := kafkaharness.Start(t, 1)
	createTopics(t, c, topicSpec{name: "d.slowpart", partitions: 2}, topicSpec{name: "d.dlq", partitions: 1})
	be := newTestBackend(t)
	var slowAnswered atomic.Bool
	be.scriptBody["/slowpart"] = func(w http.ResponseWriter, body string, n int) {
		if strings.Contains(body, `"slow": true`) {
			time.Sleep(50 * time.Second)
			defer slowAnswered.Store(true)
		}
		w.WriteHeader(http.StatusOK)
	}
	route := withTimeout(backendRoute("slowpart", "d.slowpart", be.srv.URL+"/slowpart",
		bridgeconfig.Retry{MaxAttempts: 2, InitialBackoff: ms(100), MaxBackoff: ms(100), MaxRetryAfter: ms(100)}), 90*time.Second)
	cfg := &bridgeconfig.Config{
		Namespace: "e2e", Name: "slowpart",
		Kafka:    bridgeconfig.Kafka{BootstrapServers: c.BootstrapServers, ClientID: "slowpart-e2e"},
		Versions: []bridgeconfig.Version{{Name: "v1", Routes: []bridgeconfig.Route{route}}},
	}
	bp := startBridgeProc(t, cfg)
	slow := publishAccepted(t, bp.baseURL, "v1", "slowpart", "slow-key", `{"slow": true}`, nil)
	waitFor(t, 30*time.Second, "the slow delivery to start", func() bool { return len(be.deliveries("/slowpart", slow.RequestID)) == 1 })
	var others []accepted
	for i := 0; len(others) < 20 && i < 200; i++ {
		a := publishAccepted(t, bp.baseURL, "v1", "slowpart", fmt.Sprintf("k%d", i), fmt.Sprintf(`{"seq": %d}`, i), nil)
		if a.Partition != slow.Partition {
			others = append(others, a)
		}
	}
	waitFor(t, 20*time.Second, "the other partition's records, while the slow one is in flight", func() bool {
		for _, a := range others {
			if len(be.deliveries("/slowpart", a.RequestID)) == 0 {
				return false
			}
		}
		return true
	})
	waitFor(t, 90*time.Second, "the slow delivery to finish", slowAnswered.Load)
	time.Sleep(3 * time.Second) // a repeat or a rebalance would show by now
	if n := len(be.deliveries("/slowpart", slow.RequestID)); n != 1 {
		t.Errorf("the slow record was delivered %d times, want 1", n)
	}
	data, err := os.ReadFile(bp.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), `"msg":"dispatcher partitions assigned"`); n != 1 {
		t.Errorf("%d partition assignments in the bridge log, want 1 (a slow delivery must not cost the group membership)", n)
	}
}
