//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/junction-dev/junction/internal/bridgeconfig"
	"github.com/junction-dev/junction/test/e2e/kafkaharness"
)

// TestDeliveryRebalance: a second bridge joins the dispatcher's group while the first is
// delivering; partitions move (the first finishes its current record and commits before
// giving one up), and every record is delivered exactly once, in order per key.
func TestDeliveryRebalance(t *testing.T) {
	c := kafkaharness.Start(t, 1)
	createTopics(t, c, topicSpec{name: "d.scale", partitions: 4}, topicSpec{name: "d.dlq", partitions: 1})
	be := newTestBackend(t)
	be.script["/scale"] = func(w http.ResponseWriter, n int) {
		time.Sleep(60 * time.Millisecond) // 200 records a partition take 12s: deliveries span the rebalance
		w.WriteHeader(http.StatusOK)
	}
	cfg := &bridgeconfig.Config{
		Namespace: "e2e", Name: "rebalance",
		Kafka: bridgeconfig.Kafka{BootstrapServers: c.BootstrapServers, ClientID: "rebalance-e2e"},
		Versions: []bridgeconfig.Version{{Name: "v1", Routes: []bridgeconfig.Route{
			backendRoute("scale", "d.scale", be.srv.URL+"/scale",
				bridgeconfig.Retry{MaxAttempts: 5, InitialBackoff: ms(100), MaxBackoff: ms(500), MaxRetryAfter: ms(1000)}),
		}}},
	}
	first := startBridgeProc(t, cfg)
	start := time.Now()
	const n = 800
	ids := map[string]bool{}
	for i := range n {
		key := fmt.Sprintf("key-%d", i%16)
		a := publishAccepted(t, first.baseURL, "v1", "scale", key, fmt.Sprintf(`{"key": %q, "seq": %d}`, key, i), nil)
		ids[a.RequestID] = true
	}
	waitFor(t, 60*time.Second, "the first deliveries", func() bool { return len(be.onPath("/scale")) >= 20 })
	second := startBridgeProc(t, cfg)

	delivered := func() map[string]int {
		seen := map[string]int{}
		for _, d := range be.onPath("/scale") {
			seen[d.header.Get("Idempotency-Key")]++
		}
		return seen
	}
	waitFor(t, 120*time.Second, fmt.Sprintf("%d deliveries", n), func() bool { return len(delivered()) >= n })
	time.Sleep(2 * time.Second)
	seen := delivered()
	for id := range ids {
		if seen[id] != 1 {
			t.Errorf("request %s delivered %d times, want 1", id, seen[id])
		}
	}
	t.Logf("delivered in %s", time.Since(start))
	if !assignedPartitions(t, second.logPath) {
		t.Errorf("the second bridge was never assigned a partition: no rebalance was tested")
	}
	lastSeq := map[string]int{}
	for _, d := range be.onPath("/scale") {
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
}

// assignedPartitions reports whether the bridge log shows its dispatcher assigned at least one
// partition.
func assignedPartitions(t *testing.T, logPath string) bool {
	t.Helper()
	data, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		var entry struct {
			Msg        string  `json:"msg"`
			Partitions []int32 `json:"partitions"`
		}
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == "dispatcher partitions assigned" && len(entry.Partitions) > 0 {
			return true
		}
	}
	return false
}
