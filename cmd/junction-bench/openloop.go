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

// openLoop sends op at a fixed rate whatever the answers do (open loop), first for the
// warm-up, then for the measured window. Each send's latency runs from the time it was due,
// so a stall is charged to every send it delays (no coordinated omission).
func openLoop(ctx context.Context, e *env, pid int, rate float64, op func(context.Context) error) (*result, error) {
	interval := time.Duration(float64(time.Second) / rate)
	if interval <= 0 {
		return nil, fmt.Errorf("rate %.0f/s is too high", rate)
	}
	loop := func(d time.Duration, record bool) (ok, bad, dropped int64, lats []time.Duration) {
		var (
			wg       sync.WaitGroup
			okN      atomic.Int64
			badN     atomic.Int64
			mu       sync.Mutex
			firstErr atomic.Bool
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
					dropped++
					continue
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := op(ctx)
					lat := time.Since(due)
					<-sem
					if err != nil {
						badN.Add(1)
						if record && firstErr.CompareAndSwap(false, true) {
							fmt.Fprintf(os.Stderr, "  first failure: %v\n", err)
						}
						return
					}
					okN.Add(1)
					if record {
						mu.Lock()
						lats = append(lats, lat)
						mu.Unlock()
					}
				}()
			}
			// Sleep until the next send is due; the timer's slack delays sends by at most
			// about a millisecond, and the latency is measured from the due time anyway.
			next := start.Add(time.Duration(i) * interval)
			time.Sleep(max(time.Until(next), 50*time.Microsecond))
		}
		wg.Wait()
		return okN.Load(), badN.Load(), dropped, lats
	}
	loop(e.o.warmup, false)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m, err := startMeter(pid, e.kafka.pid)
	if err != nil {
		return nil, err
	}
	ok, bad, dropped, lats := loop(e.o.duration, true)
	r := &result{}
	m.stop(r)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.records, r.failed, r.lats = ok, bad+dropped, lats
	r.bytes = r.records * recordBytes
	r.note = fmt.Sprintf("offered %.0f/s", rate)
	if dropped > 0 {
		r.note += fmt.Sprintf(", %d sends dropped with %d outstanding", dropped, maxOutstanding)
	}
	return r, nil
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

// halfLoad returns the open-loop case at half of base's maximum, through the bridge (REST, one
// record per POST, as rest-one) or directly (sarama, as direct-request).
func halfLoad(base string, viaBridge bool) func(ctx context.Context, e *env) (*result, error) {
	return func(ctx context.Context, e *env) (*result, error) {
		rate, err := halfRate(ctx, e, base)
		if err != nil {
			return nil, err
		}
		if err := createTopic(e.kafka.addr, halfTopic); err != nil {
			return nil, err
		}
		defer deleteTopic(e.kafka.addr, halfTopic)
		var r *result
		if viaBridge {
			r, err = withBridgeSpec(ctx, e, publishSpecOn(halfTopic), func(b *bridgeProc) (*result, error) {
				// Connections stay below the bridge's in-flight limit (256): beyond it, requests
				// wait in the client, not as 503s.
				c := httpClient(200)
				url, value := "http://"+b.httpAddr+"/v1/bench", payload()
				r, err := openLoop(ctx, e, b.pid(), rate, func(context.Context) error {
					return post(c, url, "application/json", value)
				})
				if r != nil {
					r.latUnit = "request (due→answer)"
				}
				return r, err
			})
		} else {
			op, closeProducer, perr := requestProducer(e.kafka.addr, halfTopic)
			if perr != nil {
				return nil, perr
			}
			r, err = openLoop(ctx, e, os.Getpid(), rate, op)
			closeProducer()
			if r != nil {
				r.proc, r.latUnit = "bench (sarama)", "record (due→ack)"
			}
		}
		if err != nil {
			return nil, err
		}
		r.note += fmt.Sprintf(" (50%% of %s)", base)
		return r, nil
	}
}
