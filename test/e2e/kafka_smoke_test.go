//go:build e2e

package e2e

import (
	"errors"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/junction-dev/junction/test/e2e/kafkaharness"
)

// TestKafkaSmokeSingleBroker proves the harness: a topic is created, a record produced by an
// idempotent acks=all producer is read back from the real broker.
func TestKafkaSmokeSingleBroker(t *testing.T) {
	begin := time.Now()
	c := kafkaharness.Start(t, 1)
	t.Logf("1 broker up in %s: %v", time.Since(begin).Round(time.Millisecond), c.BootstrapServers)

	const topic = "smoke"
	admin, err := sarama.NewClusterAdmin(c.BootstrapServers, kafkaharness.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 1, ReplicationFactor: 1}, false); err != nil {
		t.Fatalf("create topic: %v", err)
	}

	pcfg := kafkaharness.SaramaConfig()
	pcfg.Producer.Idempotent = true
	pcfg.Producer.RequiredAcks = sarama.WaitForAll
	pcfg.Producer.Return.Successes = true
	pcfg.Producer.Retry.Max = 10
	pcfg.Producer.Retry.Backoff = 200 * time.Millisecond
	pcfg.Net.MaxOpenRequests = 1
	producer, err := sarama.NewSyncProducer(c.BootstrapServers, pcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	partition, offset, err := producer.SendMessage(&sarama.ProducerMessage{
		Topic: topic, Key: sarama.StringEncoder("k1"), Value: sarama.StringEncoder("hello, kafka"),
	})
	if err != nil {
		t.Fatalf("produce: %v", err)
	}

	consumer, err := sarama.NewConsumer(c.BootstrapServers, kafkaharness.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition(topic, partition, offset)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	select {
	case msg := <-pc.Messages():
		if string(msg.Key) != "k1" || string(msg.Value) != "hello, kafka" {
			t.Fatalf("consumed key %q value %q, want %q %q", msg.Key, msg.Value, "k1", "hello, kafka")
		}
	case err := <-pc.Errors():
		t.Fatalf("consume: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("no record consumed within 30s")
	}
	t.Logf("smoke test body done %s after start", time.Since(begin).Round(time.Millisecond))
}

// TestKafkaSmokeThreeBrokers proves the three-node cluster: a topic with replication
// factor 3 has three replicas in the metadata, all in sync.
func TestKafkaSmokeThreeBrokers(t *testing.T) {
	begin := time.Now()
	c := kafkaharness.Start(t, 3)
	t.Logf("3 brokers up in %s: %v", time.Since(begin).Round(time.Millisecond), c.BootstrapServers)

	const topic = "replicated"
	admin, err := sarama.NewClusterAdmin(c.BootstrapServers, kafkaharness.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if err := admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: 2, ReplicationFactor: 3}, false); err != nil {
		t.Fatalf("create topic: %v", err)
	}

	deadline := time.Now().Add(30 * time.Second)
	for {
		err := checkReplicas(admin, topic, 2, 3)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("3-broker topic checked %s after start", time.Since(begin).Round(time.Millisecond))

	// The harness can take one broker away and bring it back; the replicas catch up.
	stopped := time.Now()
	if err := c.StopBroker(3); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReady(30 * time.Second); err != nil {
		t.Fatalf("metadata after stopping broker 3: %v", err)
	}
	t.Logf("broker 3 stopped and gone from metadata in %s", time.Since(stopped).Round(time.Millisecond))
	restarted := time.Now()
	if err := c.StartBroker(3); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		err := checkReplicas(admin, topic, 2, 3)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("broker 3 back in every ISR %s after its restart", time.Since(restarted).Round(time.Millisecond))
}

func checkReplicas(admin sarama.ClusterAdmin, topic string, partitions, rf int) error {
	md, err := admin.DescribeTopics([]string{topic})
	if err != nil {
		return err
	}
	if len(md) != 1 || !errors.Is(md[0].Err, sarama.ErrNoError) {
		return errors.New("topic not described: " + md[0].Err.Error())
	}
	if len(md[0].Partitions) != partitions {
		return errors.New("wrong partition count")
	}
	for _, p := range md[0].Partitions {
		if len(p.Replicas) != rf || len(p.Isr) != rf {
			return errors.New("partition " + topic + " has replicas/isr not equal to the replication factor yet")
		}
	}
	return nil
}
