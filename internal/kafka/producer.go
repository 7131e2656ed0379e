package kafka

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"

	"github.com/IBM/sarama"
)

// Record is one message to write.
type Record struct {
	Topic   string
	Key     []byte // nil means no key
	Value   []byte
	Headers map[string]string
	// Partition pins the record to one partition; nil lets the key's hash choose.
	Partition *int32
}

// ErrInvalidPartition means a record named a partition the topic does not have.
var ErrInvalidPartition = errors.New("invalid partition")

// Outcome is the result of one record of a batch: Err is nil when Kafka acknowledged it.
type Outcome struct {
	Result Result
	Err    error
}

// Result is where Kafka stored a record.
type Result struct {
	Topic     string
	Partition int32
	Offset    int64
}

// Producer writes records and reports success only once Kafka acknowledged them.
type Producer interface {
	// Produce writes r and waits for the acknowledgement of all in-sync replicas. If ctx ends
	// first the record may still be written later; the caller only learns it was not confirmed.
	Produce(ctx context.Context, r Record) (Result, error)
	// ProduceBatch enqueues rs in order (so records for one partition keep their order) and
	// waits for every acknowledgement; the outcomes are in the order of rs.
	ProduceBatch(ctx context.Context, rs []Record) []Outcome
	// StartBatch enqueues rs like ProduceBatch and returns without waiting; wait blocks until
	// every record is acknowledged (or ctx ends) and returns the outcomes in the order of rs.
	// Records of successive calls are enqueued in call order, so a caller may start the next
	// batch before the previous one is acknowledged and still keep the order per partition.
	StartBatch(ctx context.Context, rs []Record) (wait func() []Outcome)
	// Partitions is the partition count of topic (ErrTopicNotFound if it does not exist).
	Partitions(ctx context.Context, topic string) (int32, error)
	// Ping reports whether the cluster answers a metadata request.
	Ping(ctx context.Context) error
	// Close flushes records in flight and releases connections.
	Close() error
}

// NewProducer connects an idempotent, acks=all producer. One instance is meant to live as
// long as the process: idempotence is per producer id, so a producer per request would defeat it.
func NewProducer(c ClientConfig) (Producer, error) {
	client, err := sarama.NewClient(c.BootstrapServers, producerConfig(c))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	ap, err := sarama.NewAsyncProducerFromClient(client)
	if err != nil {
		_ = client.Close()
		return nil, mapProduceError(err)
	}
	p := &producer{client: client, async: ap, done: make(chan struct{}), maxBytes: client.Config().Producer.MaxMessageBytes}
	go p.dispatch()
	return p, nil
}

// producerConfig is the production configuration; tests use it unchanged.
func producerConfig(c ClientConfig) *sarama.Config {
	cfg := c.saramaConfig()
	// Idempotence gives exactly-once writes per partition across sarama's internal retries;
	// Kafka requires acks=all and at most one request in flight per connection for it.
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Net.MaxOpenRequests = 1
	cfg.Producer.Retry.Max = 3
	cfg.Producer.Return.Successes = true
	cfg.Producer.Return.Errors = true
	// Topics are created by the operator; a typo in a route must not create one.
	cfg.Metadata.AllowAutoTopicCreation = false
	cfg.Producer.Partitioner = newPinnedPartitioner
	return cfg
}

type producer struct {
	client sarama.Client
	async  sarama.AsyncProducer
	done   chan struct{} // closed when dispatch has drained both result channels
	// maxBytes is sarama's client-side limit, checked here so that the refusal is typed
	// (sarama reports it as a ConfigurationError).
	maxBytes int

	// inputMu guards sends to async.Input(): Close takes it exclusively, so no send can
	// race with sarama closing the channel (which would panic).
	inputMu   sync.RWMutex
	closed    bool
	closeOnce sync.Once
	closeErr  error

	pingMu sync.Mutex
	ping   *pingCall // the metadata request in flight, shared by concurrent callers
}

type pingCall struct {
	done chan struct{}
	err  error
}

// pending is the Metadata of every message: the batch to answer and an optional pinned partition.
type pending struct {
	batch     *batchWait
	index     int
	partition *int32
}

// batchWait collects the outcomes of one StartBatch call. dispatch delivers each record's
// outcome; the waiter takes them all at once when done closes, or what has arrived if its
// context ends first.
type batchWait struct {
	mu        sync.Mutex
	out       []Outcome
	acked     []bool
	left      int  // records not yet delivered, plus one until enqueueing is over
	abandoned bool // the waiter gave up: later deliveries are dropped
	done      chan struct{}
}

// settle counts one record as delivered (or never enqueued); the caller holds mu.
func (b *batchWait) settle() {
	b.left--
	if b.left == 0 {
		close(b.done)
	}
}

func (b *batchWait) deliver(i int, m *sarama.ProducerMessage, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.abandoned {
		if err != nil {
			b.out[i].Err = mapProduceError(err)
		} else {
			b.out[i].Result = Result{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
		}
		b.acked[i] = true
	}
	b.settle()
}

// pinnedPartitioner honours Record.Partition and hashes the key otherwise.
type pinnedPartitioner struct{ hash sarama.Partitioner }

func newPinnedPartitioner(topic string) sarama.Partitioner {
	return pinnedPartitioner{hash: sarama.NewHashPartitioner(topic)}
}

func (p pinnedPartitioner) Partition(m *sarama.ProducerMessage, n int32) (int32, error) {
	if md, ok := m.Metadata.(*pending); ok && md.partition != nil {
		if *md.partition < 0 || *md.partition >= n {
			return 0, fmt.Errorf("%w: %d (the topic has %d)", ErrInvalidPartition, *md.partition, n)
		}
		return *md.partition, nil
	}
	return p.hash.Partition(m, n)
}

func (p pinnedPartitioner) RequiresConsistency() bool { return true }

// dispatch routes each acknowledgement or error to the batch waiting for it.
func (p *producer) dispatch() {
	defer close(p.done)
	successes, errs := p.async.Successes(), p.async.Errors()
	for successes != nil || errs != nil {
		select {
		case m, ok := <-successes:
			if !ok {
				successes = nil
				continue
			}
			md := m.Metadata.(*pending)
			md.batch.deliver(md.index, m, nil)
		case e, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			md := e.Msg.Metadata.(*pending)
			md.batch.deliver(md.index, e.Msg, e.Err)
		}
	}
}

func (p *producer) Produce(ctx context.Context, r Record) (Result, error) {
	o := p.ProduceBatch(ctx, []Record{r})[0]
	return o.Result, o.Err
}

func (p *producer) ProduceBatch(ctx context.Context, rs []Record) []Outcome {
	return p.StartBatch(ctx, rs)()
}

func (p *producer) StartBatch(ctx context.Context, rs []Record) func() []Outcome {
	b := &batchWait{out: make([]Outcome, len(rs)), acked: make([]bool, len(rs)), left: len(rs) + 1, done: make(chan struct{})}
	// One allocation each for the batch's messages and their metadata.
	msgs := make([]sarama.ProducerMessage, len(rs))
	pends := make([]pending, len(rs))
	for i, r := range rs {
		pends[i] = pending{batch: b, index: i, partition: r.Partition}
		msg := &msgs[i]
		*msg = sarama.ProducerMessage{Topic: r.Topic, Value: sarama.ByteEncoder(r.Value), Metadata: &pends[i]}
		if r.Key != nil {
			msg.Key = sarama.ByteEncoder(r.Key)
		}
		if len(r.Headers) > 0 {
			msg.Headers = make([]sarama.RecordHeader, 0, len(r.Headers))
			for k, v := range r.Headers {
				msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
			}
		}
		var err error
		// Record batch format v2, which sarama uses for every Kafka version we support.
		if size := msg.ByteSize(2); size > p.maxBytes {
			err = fmt.Errorf("%w: %d bytes exceeds the producer limit of %d", ErrMessageTooLarge, size, p.maxBytes)
		} else {
			err = p.enqueue(ctx, msg)
		}
		if err != nil {
			b.mu.Lock()
			b.out[i].Err = err
			b.acked[i] = true
			b.settle()
			b.mu.Unlock()
		}
	}
	b.mu.Lock()
	b.settle() // enqueueing is over
	b.mu.Unlock()
	return func() []Outcome { return b.wait(ctx) }
}

// wait returns every outcome once all records are delivered. If ctx ends first, the records
// without an outcome yet are reported unconfirmed: they may still be written later.
func (b *batchWait) wait(ctx context.Context) []Outcome {
	select {
	case <-b.done:
		return b.out
	case <-ctx.Done():
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.left == 0 {
		return b.out
	}
	b.abandoned = true
	out := make([]Outcome, len(b.out))
	copy(out, b.out)
	for i := range out {
		if !b.acked[i] {
			out[i].Err = fmt.Errorf("%w: not acknowledged: %w", ErrUnavailable, ctx.Err())
		}
	}
	return out
}

// Partitions answers from the client's metadata, refreshing it for a topic it has not seen.
func (p *producer) Partitions(ctx context.Context, topic string) (int32, error) {
	type answer struct {
		n   int32
		err error
	}
	ch := make(chan answer, 1)
	go func() {
		ps, err := p.client.Partitions(topic)
		ch <- answer{int32(len(ps)), err}
	}()
	select {
	case a := <-ch:
		if a.err != nil {
			return 0, mapProduceError(a.err)
		}
		return a.n, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
}

func (p *producer) enqueue(ctx context.Context, msg *sarama.ProducerMessage) error {
	p.inputMu.RLock()
	defer p.inputMu.RUnlock()
	if p.closed {
		return fmt.Errorf("%w: producer closed", ErrUnavailable)
	}
	select {
	case p.async.Input() <- msg:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
}

// Ping refreshes metadata for the topics this producer writes to (all topics before the
// first write). Concurrent callers share one request; ctx bounds only the wait.
func (p *producer) Ping(ctx context.Context) error {
	p.pingMu.Lock()
	call := p.ping
	if call == nil {
		call = &pingCall{done: make(chan struct{})}
		p.ping = call
		go func() {
			topics, err := p.client.Topics()
			if err == nil {
				err = p.client.RefreshMetadata(topics...)
			}
			call.err = err
			p.pingMu.Lock()
			p.ping = nil
			p.pingMu.Unlock()
			close(call.done)
		}()
	}
	p.pingMu.Unlock()
	select {
	case <-call.done:
		if call.err != nil {
			return fmt.Errorf("%w: %w", ErrUnavailable, call.err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
}

func (p *producer) Close() error {
	p.closeOnce.Do(func() {
		p.inputMu.Lock()
		p.closed = true
		p.inputMu.Unlock()
		// AsyncClose flushes buffered records; dispatch delivers their outcomes to waiting callers.
		p.async.AsyncClose()
		<-p.done
		p.closeErr = p.client.Close()
		if errors.Is(p.closeErr, sarama.ErrClosedClient) {
			p.closeErr = nil
		}
	})
	return p.closeErr
}

// mapProduceError turns sarama's errors into the package sentinels, keeping the cause.
func mapProduceError(err error) error {
	var netErr net.Error
	switch {
	case errors.Is(err, ErrInvalidPartition):
		return err
	case errors.Is(err, sarama.ErrMessageSizeTooLarge):
		return fmt.Errorf("%w: %w", ErrMessageTooLarge, err)
	case errors.Is(err, sarama.ErrUnknownTopicOrPartition):
		return fmt.Errorf("%w: %w", ErrTopicNotFound, err)
	case errors.Is(err, sarama.ErrOutOfBrokers),
		errors.Is(err, sarama.ErrNotConnected),
		errors.Is(err, sarama.ErrClosedClient),
		errors.Is(err, sarama.ErrShuttingDown),
		errors.Is(err, sarama.ErrLeaderNotAvailable),
		errors.Is(err, sarama.ErrNotLeaderForPartition),
		errors.Is(err, sarama.ErrRequestTimedOut),
		errors.Is(err, sarama.ErrNotEnoughReplicas),
		errors.Is(err, sarama.ErrNotEnoughReplicasAfterAppend),
		errors.Is(err, sarama.ErrNetworkException),
		errors.Is(err, sarama.ErrBrokerNotAvailable),
		errors.Is(err, sarama.ErrKafkaStorageError),
		errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &netErr):
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}
