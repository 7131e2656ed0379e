//go:build e2e

package e2e

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/junction-dev/junction/internal/bridgeconfig"
	"github.com/junction-dev/junction/test/e2e/kafkaharness"
)

// TestDeliveryAttemptsSurviveRestart: a record that always fails is retried by one bridge,
// which is stopped mid-retries; the next bridge continues the count from the group's offset
// commit, so the record gets maxAttempts attempts in total and one dead letter.
func TestDeliveryAttemptsSurviveRestart(t *testing.T) {
	c := kafkaharness.Start(t, 1)
	createTopics(t, c, topicSpec{name: "d.flaky", partitions: 1}, topicSpec{name: "d.dlq", partitions: 1})
	be := newTestBackend(t)
	be.script["/flaky"] = func(w http.ResponseWriter, n int) { w.WriteHeader(http.StatusBadGateway) }
	cfg := &bridgeconfig.Config{
		Namespace: "e2e", Name: "restart",
		Kafka: bridgeconfig.Kafka{BootstrapServers: c.BootstrapServers, ClientID: "restart-e2e"},
		Versions: []bridgeconfig.Version{{Name: "v1", Routes: []bridgeconfig.Route{
			backendRoute("flaky", "d.flaky", be.srv.URL+"/flaky",
				bridgeconfig.Retry{MaxAttempts: 5, InitialBackoff: ms(1000), MaxBackoff: ms(1000), MaxRetryAfter: ms(1000)}),
		}}},
	}
	first := startBridgeProc(t, cfg)
	a := publishAccepted(t, first.baseURL, "v1", "flaky", "k1", `{"n": 1}`, nil)
	waitFor(t, 60*time.Second, "two attempts by the first bridge", func() bool { return len(be.deliveries("/flaky", a.RequestID)) >= 2 })
	if err := first.stop(30 * time.Second); err != nil {
		t.Fatalf("stopping the first bridge: %v", err)
	}
	byFirst := len(be.deliveries("/flaky", a.RequestID))
	if byFirst >= 5 {
		t.Fatalf("the first bridge made all %d attempts before it stopped; the test proves nothing", byFirst)
	}

	startBridgeProc(t, cfg)
	waitDeadLetter(t, c, "d.flaky", a.RequestID)
	time.Sleep(2 * time.Second) // a sixth attempt or a second dead letter would show by now
	if n := len(be.deliveries("/flaky", a.RequestID)); n != 5 {
		t.Fatalf("%d attempts in total (%d by the first bridge), want maxAttempts = 5", n, byFirst)
	}
	dl := waitDeadLetter(t, c, "d.flaky", a.RequestID)
	if dl.count != 1 || dl.headers["junction-dlq-attempts"] != "5" || dl.headers["junction-dlq-status"] != "502" {
		t.Errorf("dead letters: %d, metadata %v; want one with attempts 5, status 502", dl.count, dl.headers)
	}
}

// TestDeliveryAttemptsSurviveRebalance: two always-failing records, one on each partition, are
// being retried when a second bridge joins the group and takes one partition. Each record
// still gets maxAttempts attempts in total and one dead letter.
func TestDeliveryAttemptsSurviveRebalance(t *testing.T) {
	c := kafkaharness.Start(t, 1)
	createTopics(t, c, topicSpec{name: "d.moving", partitions: 2}, topicSpec{name: "d.dlq", partitions: 1})
	be := newTestBackend(t)
	be.script["/moving"] = func(w http.ResponseWriter, n int) { w.WriteHeader(http.StatusServiceUnavailable) }
	cfg := &bridgeconfig.Config{
		Namespace: "e2e", Name: "moving",
		Kafka: bridgeconfig.Kafka{BootstrapServers: c.BootstrapServers, ClientID: "moving-e2e"},
		Versions: []bridgeconfig.Version{{Name: "v1", Routes: []bridgeconfig.Route{
			backendRoute("moving", "d.moving", be.srv.URL+"/moving",
				bridgeconfig.Retry{MaxAttempts: 6, InitialBackoff: ms(1000), MaxBackoff: ms(1000), MaxRetryAfter: ms(1000)}),
		}}},
	}
	first := startBridgeProc(t, cfg)
	byPartition := map[int32]accepted{}
	for i := 0; len(byPartition) < 2 && i < 50; i++ {
		a := publishAccepted(t, first.baseURL, "v1", "moving", fmt.Sprintf("key-%d", i), `{"n": 1}`, nil)
		if _, ok := byPartition[a.Partition]; ok {
			t.Fatalf("two records on partition %d: the test needs one per partition", a.Partition)
		}
		byPartition[a.Partition] = a
	}
	if len(byPartition) != 2 {
		t.Fatalf("no key landed on the second partition")
	}
	waitFor(t, 60*time.Second, "two attempts on each record", func() bool {
		for _, a := range byPartition {
			if len(be.deliveries("/moving", a.RequestID)) < 2 {
				return false
			}
		}
		return true
	})
	second := startBridgeProc(t, cfg)
	for _, a := range byPartition {
		waitDeadLetter(t, c, "d.moving", a.RequestID)
	}
	time.Sleep(2 * time.Second) // an extra attempt or a second dead letter would show by now
	if !assignedPartitions(t, second.logPath) {
		t.Fatalf("the second bridge was never assigned a partition: no rebalance was tested")
	}
	for p, a := range byPartition {
		if n := len(be.deliveries("/moving", a.RequestID)); n != 6 {
			t.Errorf("partition %d: %d attempts in total, want maxAttempts = 6", p, n)
		}
		if dl := waitDeadLetter(t, c, "d.moving", a.RequestID); dl.count != 1 || dl.headers["junction-dlq-attempts"] != "6" {
			t.Errorf("partition %d: %d dead letters, metadata %v; want one with attempts 6", p, dl.count, dl.headers)
		}
	}
}
