package bridge

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// partWorker delivers one partition's records. perKey: one record at a time in offset order,
// and the commit past a record lands before the next one is sent. unordered: up to the
// route's maxConcurrency attempts in flight (shared by the route's partitions), and the
// commit follows the lowest unsettled offset.
type partWorker struct {
	d         *dispatcher
	partition int32
	stop      chan struct{} // closed: finish the current attempts, start nothing new
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{}
	wake      chan struct{}

	mu     sync.Mutex
	queue  []*kgo.Record
	queued int // bytes of the queue's keys and values
	paused bool
	hw     atomic.Int64
	next   int64 // offset after the last record taken from the queue; -1 until the first
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
	for _, r := range recs {
		w.queued += queuedBytes(r)
	}
	if (len(w.queue) >= maxQueue || w.queued >= maxQueueBytes) && !w.paused {
		w.paused = true
		cl.PauseFetchPartitions(map[string][]int32{w.d.rt.cfg.Topic: {w.partition}})
	}
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// pop is the next record not yet taken, skipping offsets a poll that raced a revoke and a new
// assignment may repeat.
// queuedBytes is what a queued record counts against maxQueueBytes.
func queuedBytes(r *kgo.Record) int { return len(r.Key) + len(r.Value) }

func (w *partWorker) pop(cl *kgo.Client) *kgo.Record {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.queue) > 0 {
		r := w.queue[0]
		w.queue[0] = nil
		w.queue = w.queue[1:]
		w.queued -= queuedBytes(r)
		if w.paused && len(w.queue) < maxQueue/2 && w.queued < maxQueueBytes/2 {
			w.paused = false
			cl.ResumeFetchPartitions(map[string][]int32{w.d.rt.cfg.Topic: {w.partition}})
		}
		if r.Offset >= w.next {
			w.next = r.Offset + 1
			return r
		}
	}
	return nil
}

func (w *partWorker) stopping() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// position reports to the committer that every record before offset is settled, with the
// attempt counts of unsettled records, and updates the lag gauge.
func (w *partWorker) position(offset int64, failed []attemptState) uint64 {
	w.d.metrics.lag(w.d.rt, w.partition, w.hw.Load()-offset)
	return w.d.commits.set(w.partition, offset, attemptsMetadata(failed))
}

// awaitCommit waits until version v of the partition's position is committed. It gives up
// only when the worker stops or loses the partition: delivering past an uncommitted record
// would widen what a crash repeats.
func (w *partWorker) awaitCommit(v uint64) bool {
	for {
		ok, timedOut := w.d.commits.wait(w.partition, v, w.stop, 30*time.Second)
		if ok || !timedOut {
			return ok
		}
		w.d.log.Warn("waiting for the offset commit before the next delivery", "partition", w.partition)
	}
}

func (w *partWorker) loop(cl *kgo.Client) {
	defer close(w.done)
	if w.d.slots != nil {
		w.loopUnordered(cl)
		return
	}
	hooks := attemptHooks{
		acquire: func() bool { return !w.stopping() },
		release: func() {},
		failed: func(a attemptState) {
			// Bounded: a retry waits at most this long for its attempt count to be saved.
			w.d.commits.wait(w.partition, w.position(a.offset, []attemptState{a}), w.stop, 5*time.Second)
		},
	}
	for !w.stopping() {
		rec := w.pop(cl)
		if rec == nil {
			select {
			case <-w.stop:
				return
			case <-w.wake:
			}
			continue
		}
		if !w.d.process(w, rec, hooks) {
			return // stopped mid-record: not committed past, the next owner delivers it
		}
		if !w.awaitCommit(w.position(rec.Offset+1, nil)) {
			return
		}
	}
}

// unorderedEvent is a delivery goroutine's report: a failed attempt, or the end of a record.
type unorderedEvent struct {
	e       *pending
	failed  attemptState
	settled bool // delivered or dead-lettered
	ended   bool // the goroutine returned (settled or stopped)
}

type pending struct {
	rec     *kgo.Record
	failed  attemptState
	settled bool
}

// loopUnordered keeps up to window records of the partition in delivery at once; each
// attempt takes one of the route's slots. A record gets its goroutine only once it holds the
// slot for its first attempt, so records waiting for a slot cost no goroutine. The committed
// position is the lowest unsettled offset, so the window also bounds what a crash repeats.
// On stop, attempts in flight finish and records still waiting for a slot stay unsettled:
// the next owner delivers them and repeats the settled records above the lowest of them.
func (w *partWorker) loopUnordered(cl *kgo.Client) {
	window := int(min(maxQueue, 8*w.d.backend.MaxConcurrency))
	events := make(chan unorderedEvent, 2*window)
	var inFlight []*pending // started, ascending offsets
	var waiting []*pending  // taken from the queue, waiting for a slot; above every started offset
	running := 0
	stop := w.stop
	start := func(e *pending) {
		held := true // the slot taken for the first attempt
		hooks := attemptHooks{
			acquire: func() bool {
				if held {
					held = false
					return true
				}
				select {
				case w.d.slots <- struct{}{}:
					return true
				case <-w.stop:
					return false
				case <-w.ctx.Done():
					return false
				}
			},
			release: func() { <-w.d.slots },
			failed:  func(a attemptState) { events <- unorderedEvent{e: e, failed: a} },
		}
		ok := w.d.process(w, e.rec, hooks)
		if held { // settled without an attempt (a dead letter resumed from an earlier owner)
			<-w.d.slots
		}
		events <- unorderedEvent{e: e, settled: ok, ended: true}
	}
	committed := int64(-1)
	report := func() {
		pos := w.next
		var failed []attemptState
		for _, e := range inFlight {
			if !e.settled && e.failed.attempts > 0 {
				failed = append(failed, e.failed)
			}
		}
		switch {
		case len(inFlight) > 0:
			pos = inFlight[0].rec.Offset
		case len(waiting) > 0:
			pos = waiting[0].rec.Offset
		}
		if pos >= 0 && (pos != committed || len(failed) > 0) {
			w.position(pos, failed)
			committed = pos
		}
	}
	for {
		for stop != nil && len(inFlight)+len(waiting) < window {
			rec := w.pop(cl)
			if rec == nil {
				break
			}
			waiting = append(waiting, &pending{rec: rec})
		}
		if stop == nil && running == 0 {
			report()
			return
		}
		var slots chan struct{} // nil (never ready) unless a record waits for a slot
		if len(waiting) > 0 && stop != nil {
			slots = w.d.slots
		}
		select {
		case slots <- struct{}{}:
			e := waiting[0]
			waiting[0] = nil
			waiting = waiting[1:]
			inFlight = append(inFlight, e)
			running++
			go start(e)
		case ev := <-events:
			if ev.ended {
				running--
				ev.e.settled = ev.settled
			} else {
				ev.e.failed = ev.failed
			}
			for len(inFlight) > 0 && inFlight[0].settled {
				inFlight[0] = nil
				inFlight = inFlight[1:]
			}
			report()
		case <-w.wake:
		case <-stop:
			stop = nil
		}
	}
}
