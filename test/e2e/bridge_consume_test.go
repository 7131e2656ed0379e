//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/junction-dev/junction/internal/bridgeconfig"
	"github.com/junction-dev/junction/test/e2e/kafkaharness"
)

type sseEvent struct{ id, event, data string }

func readSSE(t *testing.T, url, lastID string, n int) []sseEvent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	req.Header.Set("X-Api-Key", writerKey)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("events: %d", resp.StatusCode)
	}
	var out []sseEvent
	var cur sseEvent
	sc := bufio.NewScanner(resp.Body)
	for len(out) < n && sc.Scan() {
		switch line := sc.Text(); {
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
		t.Fatalf("%d events, want %d: %+v", len(out), n, out)
	}
	return out
}

// TestBridgeSSEResumeE2E: a stream over three partitions resumes from Last-Event-ID on a
// second bridge process (no sticky sessions), and an undecodable record is reported by
// partition and offset without stalling the stream.
func TestBridgeSSEResumeE2E(t *testing.T) {
	f := startFixture(t, func(c *bridgeconfig.Config) {
		c.Versions[1].Routes[0].Operations = []bridgeconfig.Operation{"publish", "subscribe"}
		c.Auth.Keys[0].Grants[0].Operations = []bridgeconfig.Operation{"publish", "subscribe"}
	})
	other := startBridgeProc(t, f.cfg)
	for _, id := range []string{"a", "b"} {
		resp, data := call(t, http.MethodPost, f.bridge.baseURL+"/v2/orders?partition=1", "application/json", strings.NewReader(`{"id": "`+id+`", "qty": 1}`), writer)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, data)
		}
	}
	p, err := sarama.NewSyncProducer(f.kafka.BootstrapServers, func() *sarama.Config {
		c := kafkaharness.SaramaConfig()
		c.Producer.Return.Successes = true
		c.Producer.Partitioner = sarama.NewManualPartitioner
		return c
	}())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: "e2e.orders", Partition: 1, Value: sarama.StringEncoder("{broken")}); err != nil {
		t.Fatal(err)
	}
	resp, _ := call(t, http.MethodPost, f.bridge.baseURL+"/v2/orders?partition=1", "application/json", strings.NewReader(`{"id": "c", "qty": 1}`), writer)
	if resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	evs := readSSE(t, f.bridge.baseURL+"/v2/orders/events?from=earliest", "", 2)
	if evs[0].event != "record" || !strings.Contains(evs[0].data, `"a"`) || evs[1].id != "0:0,1:2,2:0" {
		t.Fatalf("first stream %+v", evs)
	}
	// Resume on the other replica.
	rest := readSSE(t, other.baseURL+"/v2/orders/events", evs[1].id, 2)
	if rest[0].event != "error" || !strings.Contains(rest[0].data, `"partition":1`) || !strings.Contains(rest[0].data, `"offset":2`) ||
		rest[1].event != "record" || !strings.Contains(rest[1].data, `"c"`) {
		t.Fatalf("resumed stream %+v", rest)
	}
}
