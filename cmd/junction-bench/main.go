// Command junction-bench measures the bridge against a direct Kafka client in the same run and
// prints one table (docs/benchmarks.md). It runs on loopback only: an embedded Kafka (kfake, in a
// child process so its CPU is not charged to the client) unless --kafka names a real broker, and
// a real bin/bridge process per bridge case so that its CPU and peak RSS are its own.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kfake"
)

const (
	benchTopic  = "junction-bench"
	partitions  = 3
	recordBytes = 1024
)

type options struct {
	kafka    string
	bridge   string
	duration time.Duration
	warmup   time.Duration
	cases    string
	clients  int

	consumeRecords      int
	deliveryRecords     int
	deliveryOrdering    string
	deliveryConcurrency int
	deliveryBackoff     time.Duration
	overloadInFlight    int
	overloadClients     int

	k8sAssets    string
	topics       []int
	syncPeriod   time.Duration
	idlePeriods  int
	newTopics    int
	readyTimeout time.Duration
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "kfake" {
		serveKfake()
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "operator-child" {
		operatorChild(os.Args[2:])
		return
	}
	var o options
	flag.StringVar(&o.kafka, "kafka", "", "host:port of a real Kafka broker (default: an embedded kfake broker in a child process)")
	flag.StringVar(&o.bridge, "bridge", "bin/bridge", "the bridge binary (go build -o bin/ ./cmd/bridge)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "measured time per case")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured time before each case")
	flag.IntVar(&o.clients, "clients", 64, "concurrent clients of the request-style cases")
	flag.IntVar(&o.deliveryRecords, "delivery-records", 20000, "records pre-filled for each delivery case, all delivered before the case ends")
	flag.StringVar(&o.deliveryOrdering, "delivery-ordering", "perKey", "the delivery route's backend ordering (perKey or unordered)")
	flag.IntVar(&o.deliveryConcurrency, "delivery-concurrency", 64, "deliveries in flight for an unordered delivery route (backend maxConcurrency)")
	flag.DurationVar(&o.deliveryBackoff, "delivery-backoff", 10*time.Millisecond, "the delivery route's initial retry backoff (the product default is 200ms)")
	flag.IntVar(&o.overloadInFlight, "overload-max-in-flight", 32, "the overload case's bridge --max-in-flight")
	flag.IntVar(&o.overloadClients, "overload-clients", 128, "keep-alive clients of the overload case, far beyond its in-flight limit")
	flag.IntVar(&o.consumeRecords, "consume-records", 50000, "records pre-filled for the consumption cases, read again from the start until the window ends")
	flag.StringVar(&o.cases, "cases", "all", "comma-separated case names (direct-firehose, direct-request, rest-one, rest-batch, grpc-unary, grpc-stream, rest-half (with direct-half), rest-half-rest (with direct-half-rest), overload, direct-consume, sse, poll, delivery, delivery-fail10, operator), or all")
	flag.StringVar(&o.k8sAssets, "k8s-assets", "bin/k8s", "kube-apiserver and etcd for the operator case (make envtest)")
	topics := flag.String("topics", "1000,5000", "MessageTopics the operator case creates at once, one fresh API server per count")
	flag.DurationVar(&o.syncPeriod, "sync-period", 30*time.Second, "the manager's full resync period in the operator case (production default 10m)")
	flag.IntVar(&o.idlePeriods, "idle-periods", 3, "idle resync periods the operator case watches")
	flag.IntVar(&o.newTopics, "new-topics", 20, "MessageTopics the operator case creates one at a time over one sync period after the idle periods (0: none)")
	flag.DurationVar(&o.readyTimeout, "ready-timeout", 4*time.Minute, "how long the operator case waits for all topics to be Ready")
	flag.Parse()
	if o.deliveryOrdering != "perKey" && o.deliveryOrdering != "unordered" {
		fmt.Fprintf(os.Stderr, "junction-bench: --delivery-ordering: %q is not perKey or unordered\n", o.deliveryOrdering)
		os.Exit(2)
	}
	for _, t := range strings.Split(*topics, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(t))
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "junction-bench: --topics: %q is not a positive count\n", t)
			os.Exit(2)
		}
		o.topics = append(o.topics, n)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The whole run is bounded whatever happens inside a case.
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "junction-bench:", err)
		os.Exit(1)
	}
}

// serveKfake runs the embedded broker until stdin closes; its address is the first stdout line.
func serveKfake() {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, benchTopic))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer c.Close()
	fmt.Println(c.ListenAddrs()[0])
	_, _ = io.Copy(io.Discard, os.Stdin)
}

type kafkaEnv struct {
	addr string
	pid  int // the kfake child, 0 for a real broker
	stop func()
}

func startKafka(o options) (*kafkaEnv, error) {
	if o.kafka != "" {
		if err := ensureTopic(o.kafka); err != nil {
			return nil, err
		}
		return &kafkaEnv{addr: o.kafka, stop: func() {}}, nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "kfake")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil, fmt.Errorf("kfake child: %w", err)
	}
	return &kafkaEnv{addr: strings.TrimSpace(line), pid: cmd.Process.Pid, stop: func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}}, nil
}

func ensureTopic(addr string) error {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_6_0_0
	admin, err := sarama.NewClusterAdmin([]string{addr}, cfg)
	if err != nil {
		return fmt.Errorf("kafka at %s: %w", addr, err)
	}
	defer admin.Close()
	err = admin.CreateTopic(benchTopic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false)
	if err != nil && !errors.Is(err, sarama.ErrTopicAlreadyExists) {
		return fmt.Errorf("creating %s: %w", benchTopic, err)
	}
	return nil
}

type benchCase struct {
	name string
	run  func(ctx context.Context, e *env) (*result, error)
}

type env struct {
	o     options
	kafka *kafkaEnv
	// results are the rows measured so far, by case name (the half-load cases read their rate).
	results map[string]*result
	// consumeReady is set once the consumption cases' topic is filled.
	consumeReady bool
	// cleanup runs at the end of the run (topics to delete from a real broker).
	cleanup []func()
}

func run(ctx context.Context, o options) error {
	k, err := startKafka(o)
	if err != nil {
		return err
	}
	defer k.stop()
	e := &env{o: o, kafka: k, results: map[string]*result{}}
	defer func() {
		for _, f := range e.cleanup {
			f()
		}
	}()
	all := []benchCase{
		{"direct-firehose", directFirehose},
		{"direct-request", directRequest},
		{"rest-one", restOne},
		{"rest-batch", restBatch},
		{"grpc-unary", grpcUnary},
		{"grpc-stream", grpcStream},
		{"rest-half", halfLoad("direct-request", "direct-half")},
		{"rest-half-rest", halfLoad("rest-one", "direct-half-rest")},
		{"overload", overload},
		{"direct-consume", directConsume},
		{"sse", sseConsume},
		{"poll", pollConsume},
		{"direct-deliver", directDeliver},
		{"delivery", delivery(0, "")},
		{"delivery-unordered", delivery(0, "unordered")},
		{"delivery-fail10", delivery(10, "")},
	}
	want := map[string]bool{}
	for _, c := range strings.Split(o.cases, ",") {
		want[strings.TrimSpace(c)] = true
	}
	known := map[string]bool{"all": true, "operator": true}
	for _, c := range all {
		known[c.name] = true
	}
	for c := range want {
		if !known[c] {
			return fmt.Errorf("--cases: no case %q", c)
		}
	}
	start := time.Now()
	var results []*result
	for _, c := range all {
		if !want["all"] && !want[c.name] {
			continue
		}
		fmt.Fprintf(os.Stderr, "%s: running %s\n", time.Now().UTC().Format(time.TimeOnly), c.name)
		// Every case is bounded: its own duration plus time to start a bridge and drain.
		cctx, cancel := context.WithTimeout(ctx, o.warmup+o.duration+90*time.Second)
		r, err := c.run(cctx, e)
		cancel()
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", c.name, err)
			r = &result{name: c.name, err: err}
		}
		// The publish cases write millions of records: start every case on an empty topic, so
		// the embedded broker's heap (and its garbage collector's pauses, seconds long at
		// gigabytes) does not grow with the run and stall the cases that follow.
		if err := createTopic(e.kafka.addr, benchTopic); err != nil {
			return fmt.Errorf("recreating %s after %s: %w", benchTopic, c.name, err)
		}
		r.name = c.name
		// Rows measured together with this one come first (the half-load baselines).
		for _, a := range r.also {
			results = append(results, a)
			e.results[a.name] = a
		}
		results = append(results, r)
		if r.err == nil {
			e.results[c.name] = r
		}
	}
	var ops []*operatorResult
	if want["all"] || want["operator"] {
		for _, n := range o.topics {
			fmt.Fprintf(os.Stderr, "%s: running operator (%d topics)\n", time.Now().UTC().Format(time.TimeOnly), n)
			cctx, cancel := context.WithTimeout(ctx, o.readyTimeout+time.Duration(o.idlePeriods+1)*o.syncPeriod+2*time.Minute)
			op := runOperatorChild(cctx, e, n)
			ops = append(ops, op)
			cancel()
			if len(op.newReady) > 0 {
				results = append(results, &result{name: fmt.Sprintf("operator-new-topic-%d", n), proc: "manager (child process)",
					noRate: true, lats: op.newReady, latUnit: "create→Ready", cpu: op.newCPU, rss: op.newRSS,
					note: fmt.Sprintf("%d topics created one at a time over one %s sync period while %d existed", len(op.newReady), o.syncPeriod, n)})
			}
		}
	}
	applyTargets(results)
	printMachine(o, k)
	if len(results) > 0 {
		printTable(os.Stdout, results, k.pid != 0)
	}
	for _, op := range ops {
		fmt.Printf("\noperator, %d topics (envtest kube-apiserver + etcd from %s, manager in a child process of the harness, sync period %s):\n\n", op.topics, o.k8sAssets, o.syncPeriod)
		for _, l := range op.lines {
			fmt.Println("- " + l)
		}
		if op.err != nil {
			fmt.Printf("- error: %v\n", op.err)
		}
	}
	fmt.Printf("\nrun took %s\n", time.Since(start).Round(time.Second))
	return nil
}

func printMachine(o options, k *kafkaEnv) {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				model = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		mem = strings.TrimSpace(strings.TrimPrefix(strings.SplitN(string(b), "\n", 2)[0], "MemTotal:"))
	}
	kafka := "embedded kfake (child process) at " + k.addr
	if k.pid == 0 {
		kafka = "real broker at " + k.addr
	}
	fmt.Printf("machine: %d CPUs (%s), MemTotal %s, %s %s/%s\n", runtime.NumCPU(), model, mem, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Printf("kafka: %s; topic %s with %d partitions; records of %d bytes; %s measured per case after %s warm-up; %d request-style clients\n\n",
		kafka, benchTopic, partitions, recordBytes, o.duration, o.warmup, o.clients)
}
