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

type outcome struct {
	msg *sarama.ProducerMessage
	err error
}

// dispatch routes each acknowledgement or error to the Produce call waiting for it.
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
			m.Metadata.(chan outcome) <- outcome{msg: m}
		case e, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			e.Msg.Metadata.(chan outcome) <- outcome{msg: e.Msg, err: e.Err}
		}
	}
}

func (p *producer) Produce(ctx context.Context, r Record) (Result, error) {
	// Buffered so dispatch never blocks on a caller that gave up.
	reply := make(chan outcome, 1)
	msg := &sarama.ProducerMessage{Topic: r.Topic, Value: sarama.ByteEncoder(r.Value), Metadata: reply}
	if r.Key != nil {
		msg.Key = sarama.ByteEncoder(r.Key)
	}
	for k, v := range r.Headers {
		msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
	}
	// Record batch format v2, which sarama uses for every Kafka version we support.
	if size := msg.ByteSize(2); size > p.maxBytes {
		return Result{}, fmt.Errorf("%w: %d bytes exceeds the producer limit of %d", ErrMessageTooLarge, size, p.maxBytes)
	}
	if err := p.enqueue(ctx, msg); err != nil {
		return Result{}, err
	}
	select {
	case o := <-reply:
		if o.err != nil {
			return Result{}, mapProduceError(o.err)
		}
		return Result{Topic: o.msg.Topic, Partition: o.msg.Partition, Offset: o.msg.Offset}, nil
	case <-ctx.Done():
		return Result{}, fmt.Errorf("%w: not acknowledged: %w", ErrUnavailable, ctx.Err())
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
