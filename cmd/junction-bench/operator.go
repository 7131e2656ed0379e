package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	gosync "sync"
	"sync/atomic"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/junction-dev/junction/api/v1alpha1"
	"github.com/junction-dev/junction/controllers"
	"github.com/junction-dev/junction/internal/kafka"
)

// apiCounter counts the manager's requests to the API server by kind of request.
type apiCounter struct {
	mu gosync.Mutex
	n  map[string]int64
}

func (c *apiCounter) snapshot() map[string]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int64, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

type countingTransport struct {
	c    *apiCounter
	next http.RoundTripper
}

func (t countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	kind := "read"
	switch {
	case r.Method == http.MethodGet && r.URL.Query().Get("watch") == "true":
		kind = "watch"
	case r.Method == http.MethodGet:
		kind = "read"
	case strings.Contains(r.URL.Path, "/events"):
		kind = "event"
	default:
		kind = "write"
	}
	t.c.mu.Lock()
	t.c.n[kind]++
	t.c.mu.Unlock()
	return t.next.RoundTrip(r)
}

// adminRequests reads kafka.AdminRequests (registered by controllers.Setup) by API.
func adminRequests() map[string]float64 {
	out := map[string]float64{}
	mfs, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		if mf.GetName() != "junction_kafka_admin_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "api" {
					out[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

func diff[V int64 | float64](a, b map[string]V) string {
	var keys []string
	for k := range b {
		if b[k]-a[k] != 0 {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %v", k, b[k]-a[k]))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// operatorResult is the operator case's own report (it does not fit the data-plane table),
// and the new-topic samples that do.
type operatorResult struct {
	topics int
	lines  []string
	err    error
	// newReady are create→Ready times of the topics created one at a time after the idle
	// periods; newRSS and newCPU are the manager's peak RSS and CPU-seconds meanwhile.
	newReady []time.Duration
	newRSS   int64
	newCPU   float64
}

func (o *operatorResult) add(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	o.lines = append(o.lines, line)
	fmt.Fprintln(os.Stderr, "  "+line)
}

// runOperator starts envtest (bin/k8s), the manager in this process (controllers.Run, the code
// path of cmd/manager) against e.kafka, creates n MessageTopics at once, waits until all are
// Ready, then watches idle resync periods. It runs in a child process (runOperatorChild): CPU
// and RSS are that process's, the manager plus the small client creating and polling the
// topics (kube-apiserver and etcd are separate processes, not counted).
func runOperator(ctx context.Context, e *env, n int) (res *operatorResult) {
	res = &operatorResult{topics: n}
	sync := e.o.syncPeriod
	ctrl.SetLogger(zap.New(zap.WriteTo(io.Discard)))
	tenv := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: e.o.k8sAssets,
	}
	defer func() { _ = tenv.Stop() }()
	cfg, err := tenv.Start()
	if err != nil {
		res.err = fmt.Errorf("starting envtest (make envtest builds bin/k8s): %w", err)
		return res
	}
	// The manager's config as cmd/manager gets it from controller-runtime: client-side
	// throttling off (QPS -1), leaving flow control to the API server.
	mcfg := rest.CopyConfig(cfg)
	mcfg.QPS, mcfg.Burst = -1, 0
	counter := &apiCounter{n: map[string]int64{}}
	mcfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return countingTransport{c: counter, next: rt} }

	mctx, stopManager := context.WithCancel(ctx)
	managerDone := make(chan error, 1)
	go func() {
		defer stopManager()
		managerDone <- controllers.Run(mctx, mcfg, controllers.Options{MetricsAddr: "0", ProbeAddr: "0", SyncPeriod: sync, BridgeImage: "junction/bridge:bench"})
	}()
	defer func() {
		stopManager()
		select {
		case <-managerDone:
		case <-time.After(20 * time.Second):
		}
	}()

	c, err := client.New(cfg, client.Options{Scheme: controllers.NewScheme()})
	if err != nil {
		res.err = err
		return res
	}
	ns := "bench"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		res.err = err
		return res
	}
	broker := &v1alpha1.MessageBroker{ObjectMeta: metav1.ObjectMeta{Name: "kafka", Namespace: ns},
		Spec: v1alpha1.MessageBrokerSpec{Kafka: v1alpha1.KafkaConnection{BootstrapServers: []string{e.kafka.addr}}}}
	if err := c.Create(ctx, broker); err != nil {
		res.err = err
		return res
	}
	if err := waitFor(ctx, 60*time.Second, func() (bool, error) {
		var b v1alpha1.MessageBroker
		if err := c.Get(ctx, client.ObjectKeyFromObject(broker), &b); err != nil {
			return false, err
		}
		return meta.IsStatusConditionTrue(b.Status.Conditions, "Ready"), nil
	}); err != nil {
		select {
		case merr := <-managerDone:
			err = fmt.Errorf("the manager stopped: %w", merr)
		default:
		}
		res.err = fmt.Errorf("the MessageBroker was not Ready: %w", err)
		return res
	}
	prefix := fmt.Sprintf("bench-%d-", time.Now().Unix())
	time.Sleep(time.Second) // let the broker's own writes settle before counting
	api0, adm0 := counter.snapshot(), adminRequests()
	cpu0, _ := cpuSeconds(os.Getpid())
	_ = resetPeakRSS(os.Getpid())
	start := time.Now()

	// All at once: 32 creators, as a GitOps sync applying a large directory would.
	var next atomic.Int64
	var wg gosync.WaitGroup
	var createErr atomic.Value
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || ctx.Err() != nil {
					return
				}
				t := &v1alpha1.MessageTopic{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s%05d", prefix, i), Namespace: ns},
					Spec: v1alpha1.MessageTopicSpec{BrokerRef: v1alpha1.LocalObjectReference{Name: "kafka"}, Partitions: 1, ReplicationFactor: 1}}
				if err := c.Create(ctx, t); err != nil {
					createErr.CompareAndSwap(nil, err)
				}
			}
		}()
	}
	wg.Wait()
	if v := createErr.Load(); v != nil {
		res.err = fmt.Errorf("creating topics: %v", v)
		return res
	}
	created := time.Since(start)
	ready := 0
	err = waitFor(ctx, e.o.readyTimeout, func() (bool, error) {
		var l v1alpha1.MessageTopicList
		if err := c.List(ctx, &l, client.InNamespace(ns)); err != nil {
			return false, err
		}
		ready = 0
		for _, t := range l.Items {
			if c := meta.FindStatusCondition(t.Status.Conditions, "Ready"); c != nil && c.Status == metav1.ConditionTrue && t.Status.ObservedGeneration == t.Generation {
				ready++
			}
		}
		return ready == n, nil
	})
	took := time.Since(start)
	cpu1, _ := cpuSeconds(os.Getpid())
	rss, _ := peakRSS(os.Getpid())
	api1, adm1 := counter.snapshot(), adminRequests()
	if err != nil {
		res.add("create %d MessageTopics: only %d Ready after %s (%v)", n, ready, took.Round(time.Millisecond), err)
		res.err = fmt.Errorf("not all topics Ready")
	} else {
		mark := "met"
		if took > 2*time.Minute {
			mark = "MISSED"
		}
		res.add("create %d MessageTopics at once (created in %s): all Ready after %s (target for 5,000: ≤ 2 min; %s for %d)", n, created.Round(time.Millisecond), took.Round(time.Millisecond), mark, n)
	}
	writes := 0.0
	for _, api := range kafkaWriteAPIs() {
		writes += adm1[api] - adm0[api]
	}
	markK := "met"
	if writes > float64(n) {
		markK = "MISSED"
	}
	res.add("Kafka admin requests: %s — writes %.0f = %.2f per topic (≤ 1: %s)", diff(adm0, adm1), writes, writes/float64(n), markK)
	apiW := float64(api1["write"] - api0["write"])
	markA := "met"
	if apiW > 3*float64(n) {
		markA = "MISSED"
	}
	res.add("API-server requests by the manager: %s — writes %.0f = %.2f per topic (≤ 3: %s; events counted apart)", diff(api0, api1), apiW, apiW/float64(n), markA)
	res.add("manager process: %.1f CPU-s for the creation (%.3f s per 1,000 topics), peak RSS %.0f MiB", cpu1-cpu0, (cpu1-cpu0)/float64(n)*1000, float64(rss)/(1<<20))
	if res.err != nil {
		return res
	}

	// Idle: nothing changes; every object is resynced once per period.
	_ = resetPeakRSS(os.Getpid())
	for p := 1; p <= e.o.idlePeriods; p++ {
		a0, k0 := counter.snapshot(), adminRequests()
		c0, _ := cpuSeconds(os.Getpid())
		select {
		case <-time.After(sync):
		case <-ctx.Done():
			res.err = ctx.Err()
			return res
		}
		a1, k1 := counter.snapshot(), adminRequests()
		c1, _ := cpuSeconds(os.Getpid())
		rss, _ := peakRSS(os.Getpid())
		kw := 0.0
		for _, api := range kafkaWriteAPIs() {
			kw += k1[api] - k0[api]
		}
		w := a1["write"] - a0["write"]
		mark := "met"
		if kw != 0 || w != 0 {
			mark = "MISSED"
		}
		res.add("idle resync period %d of %d (%s, %d topics): API %s; Kafka admin %s; writes API %d + Kafka %.0f (zero: %s); %.2f CPU-s; peak RSS %.0f MiB",
			p, e.o.idlePeriods, sync, n, diff(a0, a1), diff(k0, k1), w, kw, mark, c1-c0, float64(rss)/(1<<20))
	}
	if e.o.newTopics > 0 {
		newTopicsDuringResync(ctx, e, c, ns, prefix, n, res)
	}
	return res
}

// newTopicsDuringResync creates e.o.newTopics MessageTopics one at a time, evenly spread over
// one sync period, so that some land while the manager resyncs all n existing topics, and
// measures each one's time from create to Ready (polled every 20 ms).
func newTopicsDuringResync(ctx context.Context, e *env, c client.Client, ns, prefix string, n int, res *operatorResult) {
	k := e.o.newTopics
	every := e.o.syncPeriod / time.Duration(k)
	_ = resetPeakRSS(os.Getpid())
	cpu0, _ := cpuSeconds(os.Getpid())
	var (
		wg       gosync.WaitGroup
		mu       gosync.Mutex
		lats     []time.Duration
		notReady int
		firstErr error
	)
	for i := range k {
		if i > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(every):
			}
		}
		if ctx.Err() != nil {
			break
		}
		t := &v1alpha1.MessageTopic{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%snew-%02d", prefix, i), Namespace: ns},
			Spec: v1alpha1.MessageTopicSpec{BrokerRef: v1alpha1.LocalObjectReference{Name: "kafka"}, Partitions: 1, ReplicationFactor: 1}}
		start := time.Now()
		if err := c.Create(ctx, t); err != nil {
			mu.Lock()
			firstErr = cmp.Or(firstErr, err)
			notReady++
			mu.Unlock()
			continue
		}
		wg.Go(func() {
			deadline := start.Add(30 * time.Second)
			for ctx.Err() == nil && time.Now().Before(deadline) {
				var got v1alpha1.MessageTopic
				if err := c.Get(ctx, client.ObjectKeyFromObject(t), &got); err == nil {
					if meta.IsStatusConditionTrue(got.Status.Conditions, "Ready") && got.Status.ObservedGeneration == got.Generation {
						mu.Lock()
						lats = append(lats, time.Since(start))
						mu.Unlock()
						return
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
			mu.Lock()
			notReady++
			mu.Unlock()
		})
	}
	wg.Wait()
	cpu1, _ := cpuSeconds(os.Getpid())
	res.newRSS, _ = peakRSS(os.Getpid())
	res.newCPU = cpu1 - cpu0
	res.newReady = lats
	sorted := slices.Clone(lats)
	slices.Sort(sorted)
	line := fmt.Sprintf("%d new MessageTopics, one every %s over one sync period after the idle periods (%d topics resynced): %d Ready",
		k, every.Round(time.Millisecond), n, len(lats))
	if len(sorted) > 0 {
		line += fmt.Sprintf(", create→Ready p50 %s, p99 %s, max %s", sorted[len(sorted)/2].Round(time.Millisecond),
			sorted[int(0.99*float64(len(sorted)-1))].Round(time.Millisecond), sorted[len(sorted)-1].Round(time.Millisecond))
	}
	if notReady > 0 {
		line += fmt.Sprintf("; %d not Ready within 30 s", notReady)
	}
	if firstErr != nil {
		line += fmt.Sprintf(" (first error: %v)", firstErr)
	}
	res.add("%s", line)
}

func kafkaWriteAPIs() []string { return kafka.WriteAPIs() }

// waitFor polls cond every 250 ms until it holds, fails, or timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if err == nil && ok {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return err
			}
			return fmt.Errorf("timed out after %s", timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// runOperatorChild runs one operator case in a fresh child process: controller-runtime allows a
// controller name once per process, and the manager's CPU and peak RSS are then its own.
func runOperatorChild(ctx context.Context, e *env, n int) *operatorResult {
	res := &operatorResult{topics: n}
	self, err := os.Executable()
	if err != nil {
		res.err = err
		return res
	}
	cmd := exec.CommandContext(ctx, self, "operator-child",
		"--kafka-addr", e.kafka.addr, "--topics", strconv.Itoa(n), "--sync-period", e.o.syncPeriod.String(),
		"--idle-periods", strconv.Itoa(e.o.idlePeriods), "--new-topics", strconv.Itoa(e.o.newTopics), "--ready-timeout", e.o.readyTimeout.String(), "--k8s-assets", e.o.k8sAssets)
	cmd.Stderr = os.Stderr
	cmd.WaitDelay = 30 * time.Second
	out, err := cmd.Output()
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if v, ok := strings.CutPrefix(l, "LINE "); ok {
			res.lines = append(res.lines, v)
		} else if v, ok := strings.CutPrefix(l, "NEWREADY "); ok {
			f := strings.Fields(v)
			if len(f) == 3 {
				res.newRSS, _ = strconv.ParseInt(f[0], 10, 64)
				res.newCPU, _ = strconv.ParseFloat(f[1], 64)
				for _, us := range strings.Split(f[2], ",") {
					if x, err := strconv.ParseInt(us, 10, 64); err == nil {
						res.newReady = append(res.newReady, time.Duration(x)*time.Microsecond)
					}
				}
			}
		} else if v, ok := strings.CutPrefix(l, "ERROR "); ok {
			res.err = errors.New(v)
		}
	}
	if err != nil && res.err == nil {
		res.err = fmt.Errorf("operator child: %w", err)
	}
	return res
}

func operatorChild(args []string) {
	fs := flag.NewFlagSet("operator-child", flag.ExitOnError)
	var o options
	addr := fs.String("kafka-addr", "", "")
	n := fs.Int("topics", 1000, "")
	fs.DurationVar(&o.syncPeriod, "sync-period", 30*time.Second, "")
	fs.IntVar(&o.idlePeriods, "idle-periods", 3, "")
	fs.DurationVar(&o.readyTimeout, "ready-timeout", 4*time.Minute, "")
	fs.StringVar(&o.k8sAssets, "k8s-assets", "bin/k8s", "")
	fs.IntVar(&o.newTopics, "new-topics", 20, "")
	_ = fs.Parse(args)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	res := runOperator(ctx, &env{o: o, kafka: &kafkaEnv{addr: *addr}}, *n)
	for _, l := range res.lines {
		fmt.Println("LINE " + l)
	}
	if len(res.newReady) > 0 {
		ms := make([]string, len(res.newReady))
		for i, d := range res.newReady {
			ms[i] = strconv.FormatInt(d.Microseconds(), 10)
		}
		fmt.Printf("NEWREADY %d %f %s\n", res.newRSS, res.newCPU, strings.Join(ms, ","))
	}
	if res.err != nil {
		fmt.Println("ERROR " + res.err.Error())
	}
}
