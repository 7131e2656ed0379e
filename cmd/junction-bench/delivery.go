package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/junction-dev/junction/internal/bridgeconfig"
)

// backendServer is the delivery cases' backend on loopback: it answers 503 to failPct% of all
// attempts (deterministically, every 100/failPct-th) and 204 to the rest, and counts the
// request ids it accepted.
type backendServer struct {
	failPct  int64
	want     int
	attempts atomic.Int64
	refused  atomic.Int64

	mu     sync.Mutex
	seen   map[string]int
	dups   int64
	first  time.Time
	last   time.Time
	done   chan struct{}
	closed bool
}

func (b *backendServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	n := b.attempts.Add(1)
	if b.failPct > 0 && n*b.failPct/100 != (n-1)*b.failPct/100 {
		b.refused.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	id := r.Header.Get("Idempotency-Key") // the record's junction-request-id
	now := time.Now()
	b.mu.Lock()
	if b.first.IsZero() {
		b.first = now
	}
	b.seen[id]++
	if b.seen[id] > 1 {
		b.dups++
	}
	if len(b.seen) == b.want && !b.closed {
		b.last, b.closed = now, true
		close(b.done)
	}
	b.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// delivery returns the delivery case with failPct% transient failures: e.o.deliveryRecords
// records (256 keys, a unique junction-request-id each) are pre-filled into a fresh topic, then a
// bridge whose route has the harness's backend starts, and the case ends when the backend has
// accepted every request id. Throughput is over first to last accepted delivery.
// deliveryFixture pre-fills topic (a fresh one) with e.o.deliveryRecords records (256 keys, a
// unique junction-request-id each) and starts the backend on loopback.
func deliveryFixture(ctx context.Context, e *env, topic string, failPct int64) (*backendServer, net.Listener, func(), error) {
	n := e.o.deliveryRecords
	if err := createTopic(e.kafka.addr, topic); err != nil {
		return nil, nil, nil, err
	}
	err := prefill(ctx, e.kafka.addr, topic, n, func(i int, m *sarama.ProducerMessage) {
		m.Key = sarama.StringEncoder(fmt.Sprintf("key-%03d", i%256))
		m.Headers = []sarama.RecordHeader{
			{Key: []byte("junction-request-id"), Value: []byte(fmt.Sprintf("bench-%d", i))},
			{Key: []byte("content-type"), Value: []byte("application/json")},
		}
	})
	if err != nil {
		deleteTopic(e.kafka.addr, topic)
		return nil, nil, nil, err
	}
	be := &backendServer{failPct: failPct, want: n, seen: make(map[string]int, n), done: make(chan struct{})}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		deleteTopic(e.kafka.addr, topic)
		return nil, nil, nil, err
	}
	srv := &http.Server{Handler: be, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	return be, l, func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_ = srv.Shutdown(sctx)
		cancel()
		deleteTopic(e.kafka.addr, topic)
	}, nil
}

// ordering "" takes --delivery-ordering; "unordered" allows --delivery-concurrency deliveries
// in flight.
func delivery(failPct int64, ordering string) func(ctx context.Context, e *env) (*result, error) {
	return func(ctx context.Context, e *env) (*result, error) {
		n := e.o.deliveryRecords
		if ordering == "" {
			ordering = e.o.deliveryOrdering
		}
		topic := fmt.Sprintf("junction-bench-deliver-%d-%s", failPct, ordering)
		be, l, cleanup, err := deliveryFixture(ctx, e, topic, failPct)
		if err != nil {
			return nil, err
		}
		defer cleanup()

		spec := bridgeSpec{
			// A fresh exposure name is a fresh dispatcher group: no offsets from an earlier run.
			name: fmt.Sprintf("delivery-%d-%d", failPct, time.Now().UnixNano()),
			routes: []bridgeconfig.Route{{
				Name: "deliver", Topic: topic, Operations: []bridgeconfig.Operation{bridgeconfig.OperationPublish},
				Backend: &bridgeconfig.Backend{
					URL:            "http://" + l.Addr().String() + "/deliver",
					Timeout:        bridgeconfig.Duration(5 * time.Second),
					Ordering:       ordering,
					MaxConcurrency: int32(e.o.deliveryConcurrency),
					Retry: bridgeconfig.Retry{MaxAttempts: 10, InitialBackoff: bridgeconfig.Duration(e.o.deliveryBackoff),
						MaxBackoff: bridgeconfig.Duration(time.Second)},
				},
			}},
		}
		// The window opens when the bridge process starts: the dispatcher may deliver before
		// /readyz answers.
		var (
			started time.Time
			m       *meter
		)
		spec.started = func(pid int) (err error) {
			started = time.Now()
			m, err = startMeter(pid, e.kafka.pid)
			return err
		}
		r, err := withBridgeSpec(ctx, e, spec, func(*bridgeProc) (*result, error) {
			select {
			case <-be.done:
			case <-ctx.Done():
			}
			r := &result{}
			m.stop(r)
			return r, nil
		})
		if err != nil {
			return nil, err
		}
		be.mu.Lock()
		defer be.mu.Unlock()
		got := len(be.seen)
		r.records, r.bytes = int64(got), int64(got)*recordBytes
		r.failed = int64(n - got)
		end := be.last
		if !be.closed {
			end = time.Now()
		}
		if !be.first.IsZero() {
			r.elapsed = end.Sub(be.first)
		}
		r.latUnit = "—"
		first := "no delivery"
		if !be.first.IsZero() {
			first = "first delivery " + be.first.Sub(started).Round(time.Millisecond).String() + " after the bridge process started"
		}
		if ordering == "unordered" {
			ordering += fmt.Sprintf(" (%d in flight)", e.o.deliveryConcurrency)
		}
		r.note = fmt.Sprintf("%d records, ordering %s; %s; %d attempts, %d answered 503, %d duplicates",
			n, ordering, first, be.attempts.Load(), be.refused.Load(), be.dups)
		if got < n {
			r.note += fmt.Sprintf("; INCOMPLETE: %d of %d delivered at the case's deadline", got, n)
		}
		fmt.Fprintln(os.Stderr, "  "+r.note)
		return r, nil
	}
}

// directDeliver is the delivery cases' baseline: what a hand-written consumer does with no
// bridge — a franz-go client reading the pre-filled topic from the start (no group, no
// commits, no retries, no dead letters) and --delivery-concurrency workers POSTing each record
// to the same backend with its request id as Idempotency-Key.
func directDeliver(ctx context.Context, e *env) (*result, error) {
	topic := "junction-bench-deliver-direct"
	be, l, cleanup, err := deliveryFixture(ctx, e, topic, 0)
	if err != nil {
		return nil, err
	}
	defer cleanup()
	start := map[int32]kgo.Offset{}
	for p := int32(0); p < partitions; p++ {
		start[p] = kgo.NewOffset().AtStart()
	}
	m, err := startMeter(os.Getpid(), e.kafka.pid)
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.kafka.addr), kgo.ClientID("junction-bench-deliver"),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}), kgo.FetchMaxBytes(4<<20))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	dctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	url := "http://" + l.Addr().String() + "/deliver"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: e.o.deliveryConcurrency}}
	recs := make(chan *kgo.Record, 1000)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range e.o.deliveryConcurrency {
		wg.Go(func() {
			for rec := range recs {
				req, err := http.NewRequestWithContext(dctx, http.MethodPost, url, bytes.NewReader(rec.Value))
				if err != nil {
					failed.Add(1)
					continue
				}
				req.Header.Set("Content-Type", "application/json")
				for _, h := range rec.Headers {
					if h.Key == "junction-request-id" {
						req.Header.Set("Idempotency-Key", string(h.Value))
					}
				}
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
			}
		})
	}
	go func() {
		defer close(recs)
		for {
			fs := cl.PollRecords(dctx, 1000)
			if dctx.Err() != nil {
				return
			}
			select {
			case <-be.done:
				return
			default:
			}
			fs.EachRecord(func(r *kgo.Record) {
				select {
				case recs <- r:
				case <-dctx.Done():
				}
			})
		}
	}()
	select {
	case <-be.done:
	case <-dctx.Done():
	}
	r := &result{}
	m.stop(r)
	cancel()
	wg.Wait()
	be.mu.Lock()
	defer be.mu.Unlock()
	got := len(be.seen)
	r.records, r.bytes = int64(got), int64(got)*recordBytes
	r.failed = int64(e.o.deliveryRecords - got)
	if !be.first.IsZero() && be.closed {
		r.elapsed = be.last.Sub(be.first)
	}
	r.proc, r.latUnit = "bench (franz-go + net/http)", "—"
	r.note = fmt.Sprintf("%d records, %d workers; consumer, HTTP client and backend in one process", e.o.deliveryRecords, e.o.deliveryConcurrency)
	return r, nil
}
