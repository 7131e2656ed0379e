// Command kafka-up starts a real Apache Kafka cluster on 127.0.0.1 with the e2e harness,
// prints its bootstrap servers and runs until interrupted; hack/kafka/start.sh wraps it.
//
//	go run ./test/e2e/kafkaharness/cmd/kafka-up -brokers 3
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/junction-dev/junction/test/e2e/kafkaharness"
)

func main() {
	brokers := flag.Int("brokers", 1, "number of combined broker+controller nodes (1 or 3)")
	timeout := flag.Duration("timeout", 0, "how long to wait for every broker to answer (default 90s or $JUNCTION_KAFKA_START_TIMEOUT)")
	keep := flag.Bool("keep", false, "keep the data and log directory after stopping")
	exit := flag.Bool("exit", false, "stop as soon as the cluster is ready (to time start-up)")
	flag.Parse()
	log.SetFlags(0)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	begin := time.Now()
	c, err := kafkaharness.Launch(ctx, kafkaharness.Options{
		Brokers: *brokers, StartTimeout: *timeout, KeepDir: *keep,
		Logf: func(f string, a ...any) { log.Printf(f, a...) },
	})
	if err != nil {
		log.Fatal(err)
	}
	log.Printf("ready in %s, logs in %s", time.Since(begin).Round(time.Millisecond), c.Dir)
	fmt.Printf("BOOTSTRAP_SERVERS=%s\n", strings.Join(c.BootstrapServers, ","))
	if !*exit {
		<-ctx.Done()
		log.Printf("stopping")
	}
	if err := c.Close(); err != nil {
		log.Fatal(err)
	}
}
