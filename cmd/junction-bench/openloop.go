package main

import (
	"context"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// halfTopic is where the half-load cases write, deleted after each case.
const halfTopic = "junction-bench-half"

// maxOutstanding bounds the open-loop requests awaiting an answer; a send due while this many
// are outstanding is counted as dropped rather than queued without bound.
const maxOutstanding = 1024

// halfSlice is how long the half-load cases send to one side before switching to the other.
// Alternating direct and bridge slices exposes both to the same foreign load on a shared
// machine, which drifts over seconds.
const halfSlice = 500 * time.Millisecond

// slice is what one open-loop slice measured.
type slice struct {
	ok, bad, dropped int64
	lats             []time.Duration
}

// openSlice sends op at a fixed rate for d whatever the answers do (open loop), each send on
// its own goroutine, and waits for the answers. Each send's latency runs from the time it was
// due, so a stall is charged to every send it delays (no coordinated omission).
func openSlice(ctx context.Context, d time.Duration, rate float64, op func(context.Context) error, firstErr *atomic.Bool) slice {
	interval := time.Duration(float64(time.Second) / rate)
	var (
		wg   sync.WaitGroup
		ok   atomic.Int64
		bad  atomic.Int64
		mu   sync.Mutex
		lats []time.Duration
		drop int64
	)
	sem := make(chan struct{}, maxOutstanding)
	start := time.Now()
	end := start.Add(d)
	for i := int64(0); ctx.Err() == nil; {
		now := time.Now()
		if !now.Before(end) {
			break
		}
		for ; ; i++ {
			due := start.Add(time.Duration(i) * interval)
			if due.After(now) || !due.Before(end) {
				break
			}
			select {
			case sem <- struct{}{}:
			default:
				drop++
				continue
			}
			wg.Go(func() {
				err := op(ctx)
				lat := time.Since(due)
				<-sem
				if err != nil {
					bad.Add(1)
					if firstErr != nil && firstErr.CompareAndSwap(false, true) {
						fmt.Fprintf(os.Stderr, "  first failure: %v\n", err)
					}
					return
				}
				ok.Add(1)
				mu.Lock()
				lats = append(lats, lat)
				mu.Unlock()
			})
		}
		// Sleep until the next send is due; the timer's slack delays a send a little, and
		// its latency is measured from the due time anyway.
		time.Sleep(max(time.Until(start.Add(time.Duration(i)*interval)), 50*time.Microsecond))
	}
	wg.Wait()
	return slice{ok: ok.Load(), bad: bad.Load(), dropped: drop, lats: lats}
}

// side is one of the two senders of a half-load case and the process its CPU is charged to.
type side struct {
	op      func(context.Context) error
	pid     int
	r       *result
	dropped int64
}

// interleaved sends at rate to a and b in alternating slices of halfSlice: a warm-up, then
// e.o.duration for each side (twice that in all). Each row's window, CPU (of its process, of
// kfake, and of the harness when the process is another) are summed over its own slices.
func interleaved(ctx context.Context, e *env, rate float64, a, b *side) error {
	if time.Duration(float64(time.Second)/rate) <= 0 {
		return fmt.Errorf("rate %.0f/s is too high", rate)
	}
	for t := time.Duration(0); t < e.o.warmup && ctx.Err() == nil; t += 2 * halfSlice {
		openSlice(ctx, halfSlice, rate, a.op, nil)
		openSlice(ctx, halfSlice, rate, b.op, nil)
	}
	self := os.Getpid()
	for _, s := range []*side{a, b} {
		if err := resetPeakRSS(s.pid); err != nil {
			return fmt.Errorf("resetting the peak RSS of %d: %w", s.pid, err)
		}
	}
	var firstErr atomic.Bool
	for t := time.Duration(0); t < e.o.duration && ctx.Err() == nil; t += halfSlice {
		for _, s := range []*side{a, b} {
			c0, _ := cpuSeconds(s.pid)
			h0, _ := cpuSeconds(self)
			var k0 float64
			if e.kafka.pid != 0 {
				k0, _ = cpuSeconds(e.kafka.pid)
			}
			start := time.Now()
			sl := openSlice(ctx, halfSlice, rate, s.op, &firstErr)
			s.r.elapsed += time.Since(start)
			c1, _ := cpuSeconds(s.pid)
			h1, _ := cpuSeconds(self)
			s.r.cpu += c1 - c0
			if s.pid != self {
				s.r.ccpu += h1 - h0
			}
			if e.kafka.pid != 0 {
				k1, _ := cpuSeconds(e.kafka.pid)
				s.r.kcpu += k1 - k0
			}
			s.r.records += sl.ok
			s.r.failed += sl.bad + sl.dropped
			s.dropped += sl.dropped
			s.r.lats = append(s.r.lats, sl.lats...)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	for _, s := range []*side{a, b} {
		s.r.rss, _ = peakRSS(s.pid)
		s.r.bytes = s.r.records * recordBytes
		if s.dropped > 0 {
			s.r.note = fmt.Sprintf("%d sends dropped with %d outstanding", s.dropped, maxOutstanding)
		}
	}
	return nil
}

// halfRate is half of the records/s of base measured earlier in this run; without that row it
// measures base first (closed loop, as its own case would).
func halfRate(ctx context.Context, e *env, base string) (float64, error) {
	r := e.results[base]
	if r == nil {
		fmt.Fprintf(os.Stderr, "  no %s row in this run: measuring it first\n", base)
		f := directRequest
		if base == "rest-one" {
			f = restOne
		}
		var err error
		if r, err = f(ctx, e); err != nil {
			return 0, fmt.Errorf("measuring %s: %w", base, err)
		}
		e.results[base] = r
		fmt.Fprintf(os.Stderr, "  %s: %.0f records/s\n", base, r.rate())
	}
	return r.rate() / 2, nil
}

// halfLoad returns the half-load case at half of base's maximum: sarama (as direct-request)
// and the bridge (REST, one record per POST, as rest-one) in alternating slices at the same
// rate. Its row is the bridge's; the direct row, named directName, comes with it.
func halfLoad(base, directName string) func(ctx context.Context, e *env) (*result, error) {
	return func(ctx context.Context, e *env) (*result, error) {
		rate, err := halfRate(ctx, e, base)
		if err != nil {
			return nil, err
		}
		if err := createTopic(e.kafka.addr, halfTopic); err != nil {
			return nil, err
		}
		defer deleteTopic(e.kafka.addr, halfTopic)
		produce, closeProducer, err := requestProducer(e.kafka.addr, halfTopic)
		if err != nil {
			return nil, err
		}
		defer closeProducer()
		return withBridgeSpec(ctx, e, publishSpecOn(halfTopic), func(b *bridgeProc) (*result, error) {
			// Connections stay below the bridge's in-flight limit (256): beyond it, requests
			// wait in the client, not as 503s.
			c := newLoadClient(b.httpAddr, "/v1/bench", "application/json", payload(), 200)
			defer c.close()
			direct := &side{op: produce, pid: os.Getpid(),
				r: &result{name: directName, proc: "bench (sarama)", latUnit: "record (due→ack)"}}
			bridge := &side{pid: b.pid(), r: &result{latUnit: "request (due→answer)"},
				op: func(context.Context) error { return c.post() }}
			if err := interleaved(ctx, e, rate, direct, bridge); err != nil {
				return nil, err
			}
			for _, r := range []*result{direct.r, bridge.r} {
				r.note = fmt.Sprintf("offered %.0f/s (50%% of %s), in %s slices alternating with the other row",
					rate, base, halfSlice) + cmpNote(r.note)
			}
			bridge.r.also = []*result{direct.r}
			return bridge.r, nil
		})
	}
}

func cmpNote(s string) string {
	if s == "" {
		return ""
	}
	return "; " + s
}
