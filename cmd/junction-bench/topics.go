package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
)

// withAdmin runs f with a cluster admin on the bench Kafka.
func withAdmin(addr string, f func(sarama.ClusterAdmin) error) error {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	admin, err := sarama.NewClusterAdmin([]string{addr}, cfg)
	if err != nil {
		return fmt.Errorf("kafka at %s: %w", addr, err)
	}
	defer admin.Close()
	return f(admin)
}

// createTopic creates a fresh topic with the bench's partition count, deleting an older one of
// the same name first (a real broker keeps topics between runs).
func createTopic(addr, name string) error {
	return withAdmin(addr, func(a sarama.ClusterAdmin) error {
		if err := a.DeleteTopic(name); err != nil && !errors.Is(err, sarama.ErrUnknownTopicOrPartition) {
			return fmt.Errorf("deleting the old %s: %w", name, err)
		}
		// A deletion is asynchronous on a real broker: retry the creation for a while.
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := a.CreateTopic(name, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false)
			if err == nil {
				return nil
			}
			if !errors.Is(err, sarama.ErrTopicAlreadyExists) || time.Now().After(deadline) {
				return fmt.Errorf("creating %s: %w", name, err)
			}
			time.Sleep(250 * time.Millisecond)
		}
	})
}

// deleteTopic drops a case's topic, so the embedded broker does not hold its records in memory
// for the rest of the run.
func deleteTopic(addr, name string) {
	_ = withAdmin(addr, func(a sarama.ClusterAdmin) error { return a.DeleteTopic(name) })
}

// prefill writes n records of payload() to topic as fast as the producer accepts and waits for
// every acknowledgement. mk, when set, adds a key and headers to record i.
func prefill(ctx context.Context, addr, topic string, n int, mk func(i int, m *sarama.ProducerMessage)) error {
	p, err := newProducer(addr)
	if err != nil {
		return err
	}
	value := payload()
	done := make(chan error, 1)
	go func() {
		var first error
		for i := 0; i < n; i++ {
			select {
			case <-p.Successes():
			case pe := <-p.Errors():
				if first == nil {
					first = pe.Err
				}
			case <-ctx.Done():
				done <- ctx.Err()
				return
			}
		}
		done <- first
	}()
	for i := 0; i < n; i++ {
		m := &sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(value)}
		if mk != nil {
			mk(i, m)
		}
		select {
		case p.Input() <- m:
		case <-ctx.Done():
			p.AsyncClose()
			return ctx.Err()
		}
	}
	err = <-done
	if cerr := p.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pre-filling %s: %w", topic, err)
	}
	return nil
}
