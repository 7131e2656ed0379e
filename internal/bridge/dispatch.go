package bridge

import (
	"context"
	crand "crypto/rand"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/junction-dev/junction/internal/bridgeconfig"
	"github.com/junction-dev/junction/internal/kafka"
)

// The dispatcher delivers the records of a route with a backend. It is a franz-go consumer
// group member (one group per route): franz-go heartbeats from its own goroutine, so polling
// never waits on a backend and a slow backend cannot cost the member its place in the group.
// Each assigned partition gets a worker (dispatch_worker.go). perKey: the worker delivers its
// records one at a time, in offset order (per-key order follows, since a key always maps to
// one partition). unordered: up to maxConcurrency attempts are in flight across the route's
// partitions. The poll loop only hands records to workers; a worker holding more than
// maxQueue records or maxQueueBytes has its partition paused until it drains, so memory stays
// bounded and other partitions keep flowing.
//
// Offsets are committed only past settled (delivered or dead-lettered) records, by the
// committer (dispatch_commit.go). A perKey worker waits for the commit past a record before
// it sends the next, so a bridge killed mid-delivery repeats at most one record per partition;
// unordered repeats at most its window of unsettled records. The request id, sent as the
// idempotency key, identifies a repeat.
//
// The attempt count survives restarts and rebalances without another topic: after each
// retryable failure the record's attempt count is committed as offset metadata with the
// partition's position (which does not move past an unsettled record); whoever owns the
// partition next reads it back (OnOffsetsFetched) and continues the count, so an
// always-failing record is dead-lettered after maxAttempts in total. A crash between the
// dead-letter write and the commit past the record repeats the dead letter (at-least-once;
// the request id identifies it).

const (
	// headerRequestID carries the request id (a UUID) in every record of a backend route.
	headerRequestID = "junction-request-id"
	// headerDLQ* are the failure metadata a dead-letter record carries besides its original headers.
	headerDLQStatus    = "junction-dlq-status"
	headerDLQAttempts  = "junction-dlq-attempts"
	headerDLQError     = "junction-dlq-error"
	headerDLQTopic     = "junction-dlq-topic"
	headerDLQPartition = "junction-dlq-partition"
	headerDLQOffset    = "junction-dlq-offset"
	headerDLQTime      = "junction-dlq-time"

	// maxQueue and maxQueueBytes bound the records a worker holds (fetched, not yet taken for
	// delivery); beyond either its partition is paused until the queue is half drained. A
	// resume costs a fetch (franz-go drops what it had buffered for a paused partition), so
	// the bound is in bytes, a few fetches deep, rather than 1,000 records of any size.
	maxQueue      = 20000
	maxQueueBytes = 2 << 20
)

// newRequestID is a random (version 4) UUID.
func newRequestID() (string, error) {
	var b [16]byte
	if _, err := crand.Read(b[:]); err != nil {
		return "", err
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// passHeaders copies the listed request headers (by lowercase name) into record headers.
func passHeaders(h map[string][]string, names []string) map[string]string {
	out := map[string]string{}
	for _, n := range names {
		for k, v := range h {
			if strings.EqualFold(k, n) && len(v) > 0 {
				out[strings.ToLower(n)] = v[0]
			}
		}
	}
	return out
}

// dispatchGroup is the route's consumer group. Its prefix differs from the poll groups'
// ("junction."), so no client group name can reach the dispatcher's offsets.
func dispatchGroup(cfg *bridgeconfig.Config, rt *route) string {
	return fmt.Sprintf("junction-dispatch.%s.%s.%s.%s", cfg.Namespace, cfg.Name, rt.version, rt.cfg.Name)
}

type dispatcher struct {
	cfg      *bridgeconfig.Config
	rt       *route
	backend  bridgeconfig.Backend
	producer kafka.Producer
	log      *slog.Logger
	metrics  *dispatchMetrics
	deliver  *deliverer
	commits  *committer
	slots    chan struct{} // unordered: one token per delivery attempt in flight

	mu      sync.Mutex
	workers map[int32]*partWorker
	resume  map[int32]map[int64]attemptState // attempts saved by an earlier owner, by partition and offset
}

func newDispatcher(cfg *bridgeconfig.Config, rt *route, p kafka.Producer, log *slog.Logger, m *dispatchMetrics) *dispatcher {
	b := rt.cfg.Backend.WithDefaults()
	d := &dispatcher{cfg: cfg, rt: rt, backend: b, producer: p, metrics: m, workers: map[int32]*partWorker{},
		resume: map[int32]map[int64]attemptState{}, log: log.With("dispatcher", rt.version+"/"+rt.cfg.Name)}
	d.deliver = newDeliverer(cfg, rt, b)
	if b.Ordering == "unordered" {
		d.slots = make(chan struct{}, b.MaxConcurrency)
		d.commits = newCommitter(rt.cfg.Topic, d.log, 50*time.Millisecond)
	} else {
		d.commits = newCommitter(rt.cfg.Topic, d.log, 0)
	}
	return d
}

// run consumes until ctx ends, then stops the workers (each finishes its current attempts),
// commits what was settled and leaves the group.
func (d *dispatcher) run(ctx context.Context) {
	cl := dialConsumer(ctx, d.log, "dispatcher", d.cfg.Kafka,
		kgo.ConsumerGroup(dispatchGroup(d.cfg, d.rt)),
		kgo.ConsumeTopics(d.rt.cfg.Topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DisableAutoCommit(),
		// A fetch Kafka holds for want of new records delays the fetch of a partition resumed
		// meanwhile (franz-go sends one fetch per broker at a time), so the wait is short: an
		// idle route costs ten small fetches a second, and a resumed partition waits at most
		// 100ms for records (at 1s, unordered delivery ran at a fifth of its speed).
		kgo.FetchMaxWait(100*time.Millisecond),
		kgo.FetchMaxBytes(int32(min(d.rt.cfg.MessageLimit()*4, 16<<20))),
		kgo.OnPartitionsAssigned(d.assigned),
		kgo.OnPartitionsRevoked(d.revoked),
		kgo.OnPartitionsLost(d.lost),
		kgo.OnOffsetsFetched(d.offsetsFetched),
	)
	if cl == nil {
		return
	}
	d.log.Info("dispatcher started", "topic", d.rt.cfg.Topic, "group", dispatchGroup(d.cfg, d.rt), "backend", d.backend.URL,
		"ordering", d.backend.Ordering)
	cctx, stopCommits := context.WithCancel(context.Background())
	commitsDone := make(chan struct{})
	go func() { defer close(commitsDone); d.commits.loop(cctx, cl) }()
	for {
		fetches := cl.PollRecords(ctx, 1000)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			break
		}
		fetches.EachError(func(topic string, p int32, err error) {
			d.log.Warn("dispatcher fetch", "topic", topic, "partition", p, "error", err)
		})
		fetches.EachPartition(func(p kgo.FetchTopicPartition) {
			d.mu.Lock()
			w := d.workers[p.Partition]
			d.mu.Unlock()
			if w != nil {
				w.push(cl, p.HighWatermark, p.Records)
			}
		})
	}
	d.mu.Lock()
	all := make([]int32, 0, len(d.workers))
	for p := range d.workers {
		all = append(all, p)
	}
	d.mu.Unlock()
	d.stopWorkers(all)
	stopCommits()
	<-commitsDone
	fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := d.commits.commit(fctx, cl, nil); err != nil {
		d.log.Warn("dispatcher final commit", "error", err)
	}
	cancel()
	cl.Close()
	d.log.Info("dispatcher stopped")
}

func (d *dispatcher) assigned(_ context.Context, cl *kgo.Client, tps map[string][]int32) {
	ps := tps[d.rt.cfg.Topic]
	// A pause left over from an earlier assignment would stall the partition forever.
	cl.ResumeFetchPartitions(map[string][]int32{d.rt.cfg.Topic: ps})
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range ps {
		if d.workers[p] != nil {
			continue
		}
		d.commits.track(p)
		w := newPartWorker(d, p)
		d.workers[p] = w
		go w.loop(cl)
	}
	d.log.Info("dispatcher partitions assigned", "partitions", ps)
}

// revoked stops the workers of the revoked partitions, commits where they stand and forgets
// them, before the group moves them to another member.
func (d *dispatcher) revoked(ctx context.Context, cl *kgo.Client, tps map[string][]int32) {
	ps := tps[d.rt.cfg.Topic]
	d.stopWorkers(ps)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := d.commits.commit(cctx, cl, ps); err != nil {
		d.log.Warn("dispatcher commit on revoke", "error", err)
	}
	d.commits.untrack(ps)
}

// lost: the partitions already belong to someone else; committing them would be wrong.
func (d *dispatcher) lost(_ context.Context, _ *kgo.Client, tps map[string][]int32) {
	ps := tps[d.rt.cfg.Topic]
	d.commits.untrack(ps)
	d.stopWorkers(ps)
}

// offsetsFetched remembers the attempt counts committed with the fetched offsets. The
// dispatcher consumes one topic, so a partition entry without a topic name (fetched by topic
// id) is still ours.
func (d *dispatcher) offsetsFetched(_ context.Context, _ *kgo.Client, resp *kmsg.OffsetFetchResponse) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, g := range resp.Groups {
		for _, t := range g.Topics {
			if t.Topic != "" && t.Topic != d.rt.cfg.Topic {
				continue
			}
			for _, p := range t.Partitions {
				delete(d.resume, p.Partition)
				if p.Metadata == nil {
					continue
				}
				if as := parseAttemptsMetadata(*p.Metadata); len(as) > 0 {
					d.resume[p.Partition] = as
					d.log.Info("resuming saved attempt counts", "partition", p.Partition, "offset", p.Offset, "records", len(as))
				}
			}
		}
	}
	return nil
}

// takeResume is the attempts (and last status) an earlier owner made on the record at
// offset of partition p.
func (d *dispatcher) takeResume(p int32, offset int64) (attemptState, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.resume[p][offset]
	if ok {
		delete(d.resume[p], offset)
	}
	return a, ok
}

// stopWorkers lets each worker finish its current attempts (bounded by the backend timeout),
// then cancels it and waits.
func (d *dispatcher) stopWorkers(ps []int32) {
	d.mu.Lock()
	var ws []*partWorker
	for _, p := range ps {
		if w := d.workers[p]; w != nil {
			ws = append(ws, w)
			delete(d.workers, p)
		}
	}
	d.mu.Unlock()
	grace := min(time.Duration(d.backend.Timeout)+time.Second, 15*time.Second)
	for _, w := range ws {
		close(w.stop)
	}
	for _, w := range ws {
		select {
		case <-w.done:
		case <-time.After(grace):
			w.cancel()
			<-w.done
		}
		w.cancel()
		d.metrics.forgetPartition(d.rt, w.partition)
	}
}

// attemptHooks adapt process to an ordering: perKey saves a failed record's attempt count
// with a commit; unordered takes a delivery slot around each attempt and reports progress to
// its partition's worker.
type attemptHooks struct {
	acquire func() bool // before an attempt; false: stopped
	release func()      // after an attempt
	failed  func(attemptState)
}

// process delivers rec, retrying per the policy, or dead-letters it. It reports false when
// the worker was stopped before the record was settled.
func (d *dispatcher) process(w *partWorker, rec *kgo.Record, h attemptHooks) bool {
	r := d.backend.Retry
	var last attemptResult
	first := 1
	if prev, ok := d.takeResume(rec.Partition, rec.Offset); ok {
		first = prev.attempts + 1
		if prev.attempts >= int(r.MaxAttempts) {
			// The earlier owner made every attempt but stopped before the dead letter.
			last = attemptResult{status: prev.status, err: fmt.Errorf("%d attempts before a restart or rebalance, the last answered %d", prev.attempts, prev.status)}
			return d.deadLetter(w, rec, last, prev.attempts, "exhausted")
		}
	}
	for attempt := first; ; attempt++ {
		if !h.acquire() {
			return false
		}
		last = d.deliver.send(w.ctx, rec, attempt)
		h.release()
		if w.ctx.Err() != nil {
			return false
		}
		d.metrics.attempt(d.rt, last.outcome())
		if last.err == nil && last.status >= 200 && last.status < 300 {
			d.metrics.delivered(d.rt, time.Since(rec.Timestamp))
			return d.keepReply(w, rec, completedReply(last, attempt))
		}
		if !last.retryable() || attempt >= int(r.MaxAttempts) {
			reason := "rejected"
			if last.retryable() {
				reason = "exhausted"
			}
			return d.deadLetter(w, rec, last, attempt, reason)
		}
		h.failed(attemptState{offset: rec.Offset, attempts: attempt, status: last.status})
		delay := backoff(time.Duration(r.InitialBackoff), time.Duration(r.MaxBackoff), attempt)
		if last.retryAfter > 0 {
			delay = min(last.retryAfter, time.Duration(r.MaxRetryAfter))
		}
		d.log.Debug("delivery failed, retrying", "partition", rec.Partition, "offset", rec.Offset,
			"attempt", attempt, "status", last.status, "error", last.errText(), "in", delay)
		select {
		case <-w.stop:
			return false
		case <-w.ctx.Done():
			return false
		case <-time.After(delay):
		}
	}
}

// backoff is exponential with equal jitter: the n-th retry waits between half and all of
// initial·2^(n-1), capped at maxB, so spacing is bounded below and retries do not align.
func backoff(initial, maxB time.Duration, n int) time.Duration {
	d := initial
	for i := 1; i < n && d < maxB; i++ {
		d *= 2
	}
	d = min(d, maxB)
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(half)+1))
}

// deadLetter produces rec with its failure metadata to the dead-letter topic, retrying until
// Kafka acknowledges or the worker stops. Without a dead-letter topic the record is logged,
// counted and skipped.
func (d *dispatcher) deadLetter(w *partWorker, rec *kgo.Record, last attemptResult, attempts int, reason string) bool {
	if !d.keepReply(w, rec, failedReply(last, attempts, reason, d.backend.DeadLetterTopic)) {
		return false
	}
	d.metrics.deadLetter(d.rt, reason)
	if d.backend.DeadLetterTopic == "" {
		d.log.Error("record not delivered and no dead-letter topic: skipped", "partition", rec.Partition, "offset", rec.Offset,
			"attempts", attempts, "status", last.status, "error", last.errText())
		return true
	}
	out := kafka.Record{Topic: d.backend.DeadLetterTopic, Key: rec.Key, Value: rec.Value, Headers: map[string]string{}}
	for _, h := range rec.Headers {
		out.Headers[h.Key] = string(h.Value)
	}
	out.Headers[headerDLQStatus] = fmt.Sprint(last.status)
	out.Headers[headerDLQAttempts] = fmt.Sprint(attempts)
	out.Headers[headerDLQError] = last.errText()
	out.Headers[headerDLQTopic] = rec.Topic
	out.Headers[headerDLQPartition] = fmt.Sprint(rec.Partition)
	out.Headers[headerDLQOffset] = fmt.Sprint(rec.Offset)
	out.Headers[headerDLQTime] = time.Now().UTC().Format(time.RFC3339Nano)
	wait := 250 * time.Millisecond
	for {
		pctx, cancel := context.WithTimeout(w.ctx, 15*time.Second)
		_, err := d.producer.Produce(pctx, out)
		cancel()
		if err == nil {
			d.log.Warn("record dead-lettered", "partition", rec.Partition, "offset", rec.Offset, "attempts", attempts,
				"status", last.status, "reason", reason, "deadLetterTopic", d.backend.DeadLetterTopic)
			return true
		}
		d.log.Warn("dead-letter produce failed, retrying", "error", err, "in", wait)
		select {
		case <-w.ctx.Done():
			return false
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}

// startDispatchers runs one dispatcher per route with a backend until ctx ends.
func startDispatchers(ctx context.Context, wg *sync.WaitGroup, c *Core, p kafka.Producer, log *slog.Logger, m *metrics) {
	var dm *dispatchMetrics
	for _, v := range c.cfg.Versions {
		for _, r := range v.Routes {
			if r.Backend == nil {
				continue
			}
			if dm == nil {
				dm = newDispatchMetrics(m)
			}
			d := newDispatcher(c.cfg, c.versions[v.Name][r.Name], p, log, dm)
			wg.Go(func() { d.run(ctx) })
		}
	}
}
