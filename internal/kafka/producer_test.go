package kafka

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func newCluster(t *testing.T, topics ...string) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, topics...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func newTestProducer(t *testing.T, c *kfake.Cluster) Producer {
	t.Helper()
	p, err := NewProducer(ClientConfig{BootstrapServers: c.ListenAddrs(), ClientID: "producer-test", Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// readAll fetches every record of topic from the start, stopping after want records or 5s.
func readAll(t *testing.T, addrs []string, topic string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) { out = append(out, r) })
	}
	return out
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestProduceIsAcknowledgedAndStored(t *testing.T) {
	c := newCluster(t, "orders")
	p := newTestProducer(t, c)
	ctx := testCtx(t)

	var results []Result
	for i, v := range []string{`{"id":"a"}`, `{"id":"b"}`, `{"id":"c"}`} {
		res, err := p.Produce(ctx, Record{Topic: "orders", Key: []byte("k1"), Value: []byte(v), Headers: map[string]string{"n": string(rune('0' + i))}})
		if err != nil {
			t.Fatalf("Produce: %v", err)
		}
		results = append(results, res)
	}
	for i, r := range results {
		if r.Topic != "orders" || r.Partition != results[0].Partition || r.Offset != int64(i) {
			t.Errorf("result %d = %+v: same key must land in one partition at consecutive offsets", i, r)
		}
	}

	got := readAll(t, c.ListenAddrs(), "orders", 3)
	if len(got) != 3 {
		t.Fatalf("read %d records back, want 3", len(got))
	}
	for i, r := range got {
		if string(r.Key) != "k1" || r.Partition != results[i].Partition || r.Offset != results[i].Offset {
			t.Errorf("record %d at %d/%d key %q, want result %+v", i, r.Partition, r.Offset, r.Key, results[i])
		}
		if len(r.Headers) != 1 || r.Headers[0].Key != "n" || r.Headers[0].Value[0] != byte('0'+i) {
			t.Errorf("record %d headers = %+v", i, r.Headers)
		}
		// Records carry a producer id only when the producer was idempotent.
		if r.ProducerID < 0 {
			t.Errorf("record %d has no producer id: the producer is not idempotent", i)
		}
	}
	if !bytes.Equal(got[1].Value, []byte(`{"id":"b"}`)) {
		t.Errorf("value = %s", got[1].Value)
	}
}

func TestProduceNilKey(t *testing.T) {
	c := newCluster(t, "events")
	p := newTestProducer(t, c)
	if _, err := p.Produce(testCtx(t), Record{Topic: "events", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, c.ListenAddrs(), "events", 1)
	if len(got) != 1 || got[0].Key != nil {
		t.Fatalf("got %+v, want one record without key", got)
	}
}

func TestProduceErrors(t *testing.T) {
	c := newCluster(t, "orders")
	acfg := sarama.NewConfig()
	acfg.Version = sarama.V3_6_0_0
	admin, err := sarama.NewClusterAdmin(c.ListenAddrs(), acfg)
	if err != nil {
		t.Fatal(err)
	}
	small := "100"
	if err := admin.CreateTopic("small", &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1, ConfigEntries: map[string]*string{"max.message.bytes": &small}}, false); err != nil {
		t.Fatal(err)
	}
	_ = admin.Close()
	p := newTestProducer(t, c)
	ctx := testCtx(t)

	tests := []struct {
		name string
		rec  Record
		want error
	}{
		{"unknown topic", Record{Topic: "nope", Value: []byte("x")}, ErrTopicNotFound},
		{"over the client limit", Record{Topic: "orders", Value: bytes.Repeat([]byte("x"), 2_000_000)}, ErrMessageTooLarge},
		{"over the topic's max.message.bytes", Record{Topic: "small", Value: bytes.Repeat([]byte("x"), 500)}, ErrMessageTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := p.Produce(ctx, tt.rec)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	// The producer stays usable after refused records.
	if _, err := p.Produce(ctx, Record{Topic: "orders", Value: []byte("ok")}); err != nil {
		t.Fatalf("produce after errors: %v", err)
	}
}

func TestPingAndOutage(t *testing.T) {
	c := newCluster(t, "orders")
	p := newTestProducer(t, c)
	ctx := testCtx(t)
	if err := p.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if _, err := p.Produce(ctx, Record{Topic: "orders", Value: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	c.Close()

	start := time.Now()
	if err := p.Ping(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ping after close = %v, want ErrUnavailable", err)
	}
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := p.Produce(pctx, Record{Topic: "orders", Value: []byte("y")}); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Produce after close = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 8*time.Second {
		t.Errorf("outage took %v to report", d)
	}

	// A caller's deadline bounds Ping even while the request is still in flight.
	short, cancel2 := context.WithTimeout(ctx, time.Millisecond)
	defer cancel2()
	if err := p.Ping(short); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ping with expired ctx = %v", err)
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	c := newCluster(t, "orders")
	p := newTestProducer(t, c)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := p.Produce(testCtx(t), Record{Topic: "orders", Value: []byte("x")})
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Produce after Close = %v", err)
	}
}

func TestProduceConcurrently(t *testing.T) {
	c := newCluster(t, "orders")
	p := newTestProducer(t, c)
	ctx := testCtx(t)
	const n = 50
	errs := make(chan error, n)
	seen := make(chan Result, n)
	for i := 0; i < n; i++ {
		go func() {
			res, err := p.Produce(ctx, Record{Topic: "orders", Key: []byte{byte(i)}, Value: []byte("v")})
			errs <- err
			seen <- res
		}()
	}
	offsets := map[Result]bool{}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
		offsets[<-seen] = true
	}
	if len(offsets) != n {
		t.Fatalf("%d distinct positions for %d records", len(offsets), n)
	}
	if got := readAll(t, c.ListenAddrs(), "orders", n); len(got) != n {
		t.Fatalf("read back %d records, want %d", len(got), n)
	}
}

// TestStartBatchKeepsOrderAndOutcomes: batches started back to back before any is awaited
// land in Kafka in the order they were started (one partition), and a refused record of a
// batch has its own outcome while the others are stored.
func TestStartBatchKeepsOrderAndOutcomes(t *testing.T) {
	c := newCluster(t, "orders")
	p := newTestProducer(t, c)
	ctx := testCtx(t)
	zero := int32(0)
	var waits []func() []Outcome
	for b := range 20 {
		rs := make([]Record, 5)
		for i := range rs {
			rs[i] = Record{Topic: "orders", Partition: &zero, Value: []byte{byte('a' + b%26), byte('0' + i)}}
		}
		if b == 3 {
			rs[2].Value = bytes.Repeat([]byte("x"), 2_000_000) // over the client limit
		}
		waits = append(waits, p.StartBatch(ctx, rs))
	}
	var last int64 = -1
	for b, wait := range waits {
		for i, o := range wait() {
			if b == 3 && i == 2 {
				if !errors.Is(o.Err, ErrMessageTooLarge) {
					t.Fatalf("batch 3 record 2: %v, want ErrMessageTooLarge", o.Err)
				}
				continue
			}
			if o.Err != nil {
				t.Fatalf("batch %d record %d: %v", b, i, o.Err)
			}
			if o.Result.Offset <= last {
				t.Fatalf("batch %d record %d at offset %d after %d", b, i, o.Result.Offset, last)
			}
			last = o.Result.Offset
		}
	}

	// A wait whose context has ended reports the records without an outcome unconfirmed.
	done, cancel := context.WithCancel(ctx)
	cancel()
	for _, o := range p.StartBatch(done, []Record{{Topic: "orders", Value: []byte("late")}})() {
		if !errors.Is(o.Err, ErrUnavailable) {
			t.Fatalf("ended context: %v, want ErrUnavailable", o.Err)
		}
	}
}
