//go:build e2e

package e2e

import (
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
