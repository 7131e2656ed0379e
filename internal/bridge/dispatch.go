package bridge

import (
	"context"
	crand "crypto/rand"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/junction-dev/junction/internal/bridgeconfig"
	"github.com/junction-dev/junction/internal/kafka"
)

// The dispatcher delivers the records of a route with a backend. It is a franz-go consumer
// group member (one group per route): franz-go heartbeats from its own goroutine, so polling
// never waits on a backend and a slow backend cannot cost the member its place in the group.
// Each assigned partition gets a worker that delivers its records one at a time, in offset
// order (per-key order follows, since a key always maps to one partition). The poll loop only
// hands records to workers; a worker holding more than maxQueue records has its partition
// paused until it drains, so memory stays bounded and other partitions keep flowing.
// Offsets are marked only after delivery or dead-lettering and committed by franz-go's
// autocommit of marks, and synchronously when partitions are revoked or the bridge stops.
//
// The attempt count survives restarts and rebalances without another topic: after each
// retryable failure the worker commits the record's own offset (not past it) with the count in
// the offset commit's metadata; whoever owns the partition next reads it back
// (OnOffsetsFetched) and continues the count, so an always-failing record is dead-lettered
// after maxAttempts in total. A crash between the dead-letter write and the commit past the
// record repeats the dead letter (at-least-once; the request id identifies it).
// "unordered" is served like perKey.

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

	maxQueue = 1000
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

	mu      sync.Mutex
	workers map[int32]*partWorker
	resume  map[int32]attemptState // attempts of the record at a partition's committed offset
}

// attemptState is what the offset commit metadata records about the record at the offset.
type attemptState struct {
	offset   int64
	attempts int
	status   int
}

const attemptsMetadataPrefix = "junction-attempts/1 "

func (a attemptState) metadata() string {
	return fmt.Sprintf("%s%d %d %d", attemptsMetadataPrefix, a.offset, a.attempts, a.status)
}

func parseAttemptState(md string) (attemptState, bool) {
	var a attemptState
	rest, ok := strings.CutPrefix(md, attemptsMetadataPrefix)
	if !ok {
		return a, false
	}
	if _, err := fmt.Sscanf(rest, "%d %d %d", &a.offset, &a.attempts, &a.status); err != nil || a.attempts < 1 {
		return attemptState{}, false
	}
	return a, true
}

func newDispatcher(cfg *bridgeconfig.Config, rt *route, p kafka.Producer, log *slog.Logger, m *dispatchMetrics) *dispatcher {
	b := rt.cfg.Backend.WithDefaults()
	d := &dispatcher{cfg: cfg, rt: rt, backend: b, producer: p, metrics: m, workers: map[int32]*partWorker{}, resume: map[int32]attemptState{},
		log: log.With("dispatcher", rt.version+"/"+rt.cfg.Name)}
	d.deliver = newDeliverer(cfg, rt, b)
	return d
}

// run consumes until ctx ends, then stops the workers (each finishes its current attempt),
// commits what was delivered and leaves the group.
func (d *dispatcher) run(ctx context.Context) {
	var cl *kgo.Client
	backoff := 250 * time.Millisecond
	for {
		var err error
		cl, err = newConsumerClient(d.cfg.Kafka,
			kgo.ConsumerGroup(dispatchGroup(d.cfg, d.rt)),
			kgo.ConsumeTopics(d.rt.cfg.Topic),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.AutoCommitMarks(),
			kgo.AutoCommitInterval(time.Second),
			kgo.FetchMaxWait(time.Second),
			kgo.FetchMaxBytes(int32(min(d.rt.cfg.MessageLimit()*4, 16<<20))),
			kgo.OnPartitionsAssigned(d.assigned),
			kgo.OnPartitionsRevoked(d.revoked),
			kgo.OnPartitionsLost(d.lost),
			kgo.OnOffsetsFetched(d.offsetsFetched),
		)
		if err == nil {
			break
		}
		d.log.Warn("dispatcher cannot create its Kafka client, retrying", "error", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
	d.log.Info("dispatcher started", "topic", d.rt.cfg.Topic, "group", dispatchGroup(d.cfg, d.rt), "backend", d.backend.URL)
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
	cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	if err := cl.CommitMarkedOffsets(cctx); err != nil {
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
		w := newPartWorker(d, p)
		d.workers[p] = w
		go w.loop(cl)
	}
	d.log.Info("dispatcher partitions assigned", "partitions", ps)
}

func (d *dispatcher) revoked(ctx context.Context, cl *kgo.Client, tps map[string][]int32) {
	d.stopWorkers(tps[d.rt.cfg.Topic])
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := cl.CommitMarkedOffsets(cctx); err != nil {
		d.log.Warn("dispatcher commit on revoke", "error", err)
	}
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
				if a, ok := parseAttemptState(*p.Metadata); ok && a.offset == p.Offset {
					d.resume[p.Partition] = a
					d.log.Info("resuming a record's attempt count", "partition", p.Partition, "offset", a.offset, "attempts", a.attempts)
				}
			}
		}
	}
	return nil
}

// takeResume is the number of attempts (and last status) already made on the record at
// offset of partition p by an earlier owner.
func (d *dispatcher) takeResume(p int32, offset int64) (attemptState, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.resume[p]
	if ok {
		delete(d.resume, p)
	}
	return a, ok && a.offset == offset
}

// saveAttempts commits the record's own offset with its attempt count as metadata. The
// partition's commit does not move past the record, and franz-go's autocommit skips a
// partition whose mark equals its commit, so the metadata stays until the record is settled.
func (d *dispatcher) saveAttempts(ctx context.Context, cl *kgo.Client, rec *kgo.Record, a attemptState) {
	md := a.metadata()
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cctx = kgo.PreCommitFnContext(cctx, func(req *kmsg.OffsetCommitRequest) error {
		for ti := range req.Topics {
			for pi := range req.Topics[ti].Partitions {
				if req.Topics[ti].Partitions[pi].Partition == rec.Partition {
					req.Topics[ti].Partitions[pi].Metadata = &md
				}
			}
		}
		return nil
	})
	var cerr error
	cl.CommitOffsetsSync(cctx, map[string]map[int32]kgo.EpochOffset{rec.Topic: {rec.Partition: {Epoch: rec.LeaderEpoch, Offset: rec.Offset}}},
		func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
			cerr = err
			if err == nil {
				for _, t := range resp.Topics {
					for _, p := range t.Partitions {
						if e := kerr.ErrorForCode(p.ErrorCode); e != nil {
							cerr = e
						}
					}
				}
			}
		})
	if cerr != nil {
		d.log.Warn("could not save the attempt count; a restart would count this record's attempts again",
			"partition", rec.Partition, "offset", rec.Offset, "error", cerr)
	}
}

func (d *dispatcher) lost(_ context.Context, _ *kgo.Client, tps map[string][]int32) {
	d.stopWorkers(tps[d.rt.cfg.Topic])
}

// stopWorkers lets each worker finish its current attempt (bounded by the backend timeout),
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

// partWorker delivers one partition's records in offset order.
type partWorker struct {
	d         *dispatcher
	partition int32
	stop      chan struct{} // closed: finish the current attempt, start nothing new
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{}
	wake      chan struct{}

	mu     sync.Mutex
	queue  []*kgo.Record
	paused bool
	hw     atomic.Int64
	next   int64 // next offset to deliver; -1 until the first record
}

func newPartWorker(d *dispatcher, p int32) *partWorker {
	ctx, cancel := context.WithCancel(context.Background())
	return &partWorker{d: d, partition: p, stop: make(chan struct{}), ctx: ctx, cancel: cancel,
		done: make(chan struct{}), wake: make(chan struct{}, 1), next: -1}
}

func (w *partWorker) push(cl *kgo.Client, hw int64, recs []*kgo.Record) {
	w.hw.Store(hw)
	w.mu.Lock()
	w.queue = append(w.queue, recs...)
	if len(w.queue) >= maxQueue && !w.paused {
		w.paused = true
		cl.PauseFetchPartitions(map[string][]int32{w.d.rt.cfg.Topic: {w.partition}})
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *partWorker) pop(cl *kgo.Client) *kgo.Record {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.queue) == 0 {
		return nil
	}
	r := w.queue[0]
	w.queue[0] = nil
	w.queue = w.queue[1:]
	if w.paused && len(w.queue) < maxQueue/2 {
		w.paused = false
		cl.ResumeFetchPartitions(map[string][]int32{w.d.rt.cfg.Topic: {w.partition}})
	}
	return r
}

func (w *partWorker) loop(cl *kgo.Client) {
	defer close(w.done)
	for {
		select {
		case <-w.stop:
			return
		default:
		}
		rec := w.pop(cl)
		if rec == nil {
			select {
			case <-w.stop:
				return
			case <-w.wake:
			}
			continue
		}
		// A poll result that raced a revoke and a new assignment may repeat offsets.
		if rec.Offset < w.next {
			continue
		}
		if !w.d.process(w, cl, rec) {
			return // stopped mid-record: not marked, the next owner delivers it
		}
		w.next = rec.Offset + 1
		cl.MarkCommitRecords(rec)
		w.d.metrics.lag(w.d.rt, w.partition, w.hw.Load()-w.next)
	}
}

// process delivers rec, retrying per the policy, or dead-letters it. It reports false when
// the worker was stopped before the record was settled.
func (d *dispatcher) process(w *partWorker, cl *kgo.Client, rec *kgo.Record) bool {
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
		last = d.deliver.send(w.ctx, rec, attempt)
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
		d.saveAttempts(w.ctx, cl, rec, attemptState{offset: rec.Offset, attempts: attempt, status: last.status})
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
