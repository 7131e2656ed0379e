package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
)

// producerConfig mirrors internal/kafka's producer (ClientConfig.saramaConfig + producerConfig):
// the baselines must pay for the same guarantees the bridge gives.
func producerConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	cfg.ClientID = "junction-bench"
	cfg.Net.DialTimeout = 10 * time.Second
	cfg.Net.ReadTimeout = 10 * time.Second
	cfg.Net.WriteTimeout = 10 * time.Second
	cfg.Metadata.Retry.Max = 1
	cfg.Metadata.Retry.Backoff = 100 * time.Millisecond
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Retry.Max = 3
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	cfg.Metadata.AllowAutoTopicCreation = false
	cfg.Producer.Partitioner = sarama.NewHashPartitioner
	return cfg
}

// payload is a 1 KiB JSON object, the same bytes every case writes as a record value.
func payload() []byte {
	head := `{"id":"bench","pad":"`
	tail := `"}`
	b := make([]byte, 0, recordBytes)
	b = append(b, head...)
	for len(b) < recordBytes-len(tail) {
		b = append(b, 'x')
	}
	return append(b, tail...)
}

// sent is the Metadata of every benchmark message.
type sent struct {
	at    time.Time
	reply chan error // nil for the firehose
}

func newProducer(addr string) (sarama.AsyncProducer, error) {
	p, err := sarama.NewAsyncProducer([]string{addr}, producerConfig())
	if err != nil {
		return nil, fmt.Errorf("producer: %w", err)
	}
	return p, nil
}

// directFirehose enqueues as fast as sarama accepts and counts acknowledgements.
func directFirehose(ctx context.Context, e *env) (*result, error) {
	p, err := newProducer(e.kafka.addr)
	if err != nil {
		return nil, err
	}
	value := payload()
	var (
		measuring atomic.Bool
		acked     atomic.Int64
		failed    atomic.Int64
		lat       []time.Duration
		inFlight  sync.WaitGroup
	)
	done := make(chan struct{})
	var closeOnce sync.Once
	closeProducer := func() { closeOnce.Do(func() { p.AsyncClose(); <-done }) }
	defer closeProducer()
	go func() {
		defer close(done)
		succ, errs := p.Successes(), p.Errors()
		for succ != nil || errs != nil {
			select {
			case m, ok := <-succ:
				if !ok {
					succ = nil
					continue
				}
				if measuring.Load() {
					acked.Add(1)
					lat = append(lat, time.Since(m.Metadata.(*sent).at))
				}
				inFlight.Done()
			case _, ok := <-errs:
				if !ok {
					errs = nil
					continue
				}
				if measuring.Load() {
					failed.Add(1)
				}
				inFlight.Done()
			}
		}
	}()
	feed := func(until time.Time) error {
		for time.Now().Before(until) {
			inFlight.Add(1)
			select {
			case p.Input() <- &sarama.ProducerMessage{Topic: benchTopic, Value: sarama.ByteEncoder(value), Metadata: &sent{at: time.Now()}}:
			case <-ctx.Done():
				inFlight.Done()
				return ctx.Err()
			}
		}
		return nil
	}
	if err := feed(time.Now().Add(e.o.warmup)); err != nil {
		return nil, err
	}
	inFlight.Wait()
	m, err := startMeter(os.Getpid(), e.kafka.pid)
	if err != nil {
		return nil, err
	}
	measuring.Store(true)
	if err := feed(time.Now().Add(e.o.duration)); err != nil {
		return nil, err
	}
	// The window ends when the last record sent in it is acknowledged.
	inFlight.Wait()
	r := &result{proc: "bench (sarama)", latUnit: "record (enqueue→ack)"}
	m.stop(r)
	measuring.Store(false)
	closeProducer()
	r.records, r.failed, r.lats = acked.Load(), failed.Load(), lat
	r.bytes = r.records * int64(len(value))
	return r, nil
}

// directRequest is e.o.clients goroutines each producing one record and waiting for its ack.
func directRequest(ctx context.Context, e *env) (*result, error) {
	op, closeProducer, err := requestProducer(e.kafka.addr, benchTopic)
	if err != nil {
		return nil, err
	}
	defer closeProducer()
	r, err := closedLoop(ctx, e, os.Getpid(), e.o.clients, 1, op)
	if err != nil {
		return nil, err
	}
	r.proc, r.latUnit = "bench (sarama)", "record (send→ack)"
	r.bytes = r.records * recordBytes
	return r, nil
}

// requestProducer is a producer whose op sends one record of payload() to topic and waits for
// its ack, safe for concurrent use until closeProducer.
func requestProducer(addr, topic string) (op func(context.Context) error, closeProducer func(), err error) {
	p, err := newProducer(addr)
	if err != nil {
		return nil, nil, err
	}
	value := payload()
	done := make(chan struct{})
	go func() {
		defer close(done)
		succ, errs := p.Successes(), p.Errors()
		for succ != nil || errs != nil {
			select {
			case m, ok := <-succ:
				if !ok {
					succ = nil
					continue
				}
				m.Metadata.(*sent).reply <- nil
			case pe, ok := <-errs:
				if !ok {
					errs = nil
					continue
				}
				pe.Msg.Metadata.(*sent).reply <- pe.Err
			}
		}
	}()
	op = func(ctx context.Context) error {
		s := &sent{at: time.Now(), reply: make(chan error, 1)}
		select {
		case p.Input() <- &sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(value), Metadata: s}:
		case <-ctx.Done():
			return ctx.Err()
		}
		select {
		case err := <-s.reply:
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return op, func() { p.AsyncClose(); <-done }, nil
}

// closedLoop runs workers that each repeat op (worth perOp records) until the window ends: a
// warm-up first, then the measured window, charging CPU and RSS to pid.
func closedLoop(ctx context.Context, e *env, pid, workers int, perOp int64, op func(context.Context) error) (*result, error) {
	loop := func(d time.Duration, record bool) (int64, int64, []time.Duration) {
		until := time.Now().Add(d)
		var ok, bad atomic.Int64
		var all latencies
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []time.Duration
				for time.Now().Before(until) && ctx.Err() == nil {
					t := time.Now()
					if err := op(ctx); err != nil {
						bad.Add(1)
						if bad.Load() == 1 && record {
							fmt.Fprintf(os.Stderr, "  first failure: %v\n", err)
						}
						continue
					}
					if record {
						mine = append(mine, time.Since(t))
					}
					ok.Add(1)
				}
				all.add(mine)
			}()
		}
		wg.Wait()
		return ok.Load(), bad.Load(), all.s
	}
	loop(e.o.warmup, false)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m, err := startMeter(pid, e.kafka.pid)
	if err != nil {
		return nil, err
	}
	ok, bad, lats := loop(e.o.duration, true)
	r := &result{}
	m.stop(r)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.records, r.failed, r.lats = ok*perOp, bad, lats
	return r, nil
}
