//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
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

// TestBridgePollCommitE2E: a consumer group polled and committed through two bridge
// processes alternately reads every record once, in order, with commits in Kafka.
func TestBridgePollCommitE2E(t *testing.T) {
	f := startFixture(t, func(c *bridgeconfig.Config) {
		c.Versions[1].Routes[0].Operations = []bridgeconfig.Operation{"publish", "subscribe"}
		c.Auth.Keys[0].Grants[0].Operations = []bridgeconfig.Operation{"publish", "subscribe"}
	})
	replicas := []string{f.bridge.baseURL, startBridgeProc(t, f.cfg).baseURL}
	for i := 0; i < 5; i++ {
		resp, data := call(t, http.MethodPost, f.bridge.baseURL+"/v2/orders?partition=0", "application/json", strings.NewReader(fmt.Sprintf(`{"id": "p%d", "qty": 1}`, i)), writer)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, data)
		}
	}
	var seen []string
	for round := 0; round < 6 && len(seen) < 5; round++ {
		base := replicas[round%2]
		resp, data := call(t, http.MethodGet, base+"/v2/orders/records?group=billing&max=2&wait=3s", "", nil, writer)
		if resp.StatusCode != 200 {
			t.Fatalf("poll on replica %d: %d %s", round%2, resp.StatusCode, data)
		}
		var pr struct {
			Records []struct {
				Value json.RawMessage
			}
			Commit json.RawMessage
		}
		if err := json.Unmarshal(data, &pr); err != nil {
			t.Fatal(err)
		}
		for _, r := range pr.Records {
			var v struct{ ID string }
			_ = json.Unmarshal(r.Value, &v)
			seen = append(seen, v.ID)
		}
		other := replicas[(round+1)%2]
		resp, data = call(t, http.MethodPost, other+"/v2/orders/commits?group=billing", "application/json", strings.NewReader(string(pr.Commit)), writer)
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("commit on replica %d: %d %s", (round+1)%2, resp.StatusCode, data)
		}
	}
	if strings.Join(seen, ",") != "p0,p1,p2,p3,p4" {
		t.Fatalf("records seen %v, want p0..p4 once each in order", seen)
	}
	// The commit is in Kafka under the exposure-scoped group.
	admin, err := sarama.NewClusterAdmin(f.kafka.BootstrapServers, kafkaharness.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	offs, err := admin.ListConsumerGroupOffsets("junction.e2e.shop-api.billing", map[string][]int32{"e2e.orders": {0}})
	if err != nil {
		t.Fatal(err)
	}
	if b := offs.GetBlock("e2e.orders", 0); b == nil || b.Offset != 5 {
		t.Fatalf("committed offset %+v, want 5", b)
	}
}
