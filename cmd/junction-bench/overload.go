package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// overloadTopic is where the overload case writes, deleted after the case.
const overloadTopic = "junction-bench-overload"

// overload drives the bridge beyond its in-flight limit: a bridge started with
// --max-in-flight e.o.overloadInFlight and e.o.overloadClients keep-alive clients that POST one
// record each, again at once whatever the answer (no client honours Retry-After). The row's
// latency is that of the 503 answers; the target is that they come back within 50 ms.
func overload(ctx context.Context, e *env) (*result, error) {
	if err := createTopic(e.kafka.addr, overloadTopic); err != nil {
		return nil, err
	}
	defer deleteTopic(e.kafka.addr, overloadTopic)
	spec := publishSpecOn(overloadTopic)
	spec.args = []string{"--max-in-flight", strconv.Itoa(e.o.overloadInFlight)}
	return withBridgeSpec(ctx, e, spec, func(b *bridgeProc) (*result, error) {
		c := newLoadClient(b.httpAddr, "/v1/bench", "application/json", payload(), e.o.overloadClients)
		defer c.close()
		type tally struct {
			ok, over, other, retryAfter atomic.Int64
			mu                          sync.Mutex
			okLats, overLats            []time.Duration
			firstOther                  atomic.Value
		}
		loop := func(d time.Duration) *tally {
			t := &tally{}
			until := time.Now().Add(d)
			var wg sync.WaitGroup
			for range e.o.overloadClients {
				wg.Go(func() {
					var okL, overL []time.Duration
					for time.Now().Before(until) && ctx.Err() == nil {
						start := time.Now()
						a, err := c.do()
						lat := time.Since(start)
						switch {
						case err == nil && a.status == http.StatusOK:
							t.ok.Add(1)
							okL = append(okL, lat)
						case err == nil && a.status == http.StatusServiceUnavailable:
							t.over.Add(1)
							overL = append(overL, lat)
							if a.retryAfter != "" {
								t.retryAfter.Add(1)
							}
						default:
							t.other.Add(1)
							t.firstOther.CompareAndSwap(nil, fmt.Sprintf("status %d, %v", a.status, err))
						}
					}
					t.mu.Lock()
					t.okLats = append(t.okLats, okL...)
					t.overLats = append(t.overLats, overL...)
					t.mu.Unlock()
				})
			}
			wg.Wait()
			return t
		}
		loop(e.o.warmup)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		m, err := startMeter(b.pid(), e.kafka.pid)
		if err != nil {
			return nil, err
		}
		// The in-flight gauge, sampled while the window runs.
		sctx, stopSampling := context.WithCancel(ctx)
		var peak atomic.Int64
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			mc := httpClient(1)
			for sctx.Err() == nil {
				if v, err := gauge(mc, "http://"+b.httpAddr+"/metrics", "junction_bridge_in_flight_requests"); err == nil && int64(v) > peak.Load() {
					peak.Store(int64(v))
				}
				select {
				case <-sctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		}()
		t := loop(e.o.duration)
		r := &result{}
		m.stop(r)
		stopSampling()
		<-sampled
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		okR := &result{lats: t.okLats}
		answers := t.ok.Load() + t.over.Load() + t.other.Load()
		r.records, r.bytes, r.failed = t.ok.Load(), t.ok.Load()*recordBytes, t.other.Load()
		r.lats, r.latUnit = t.overLats, "503 answer"
		r.note = fmt.Sprintf("--max-in-flight %d, %d clients: %d answers 503 (%.0f%% of %d, %.0f/s; %d with Retry-After); accepted requests p50 %s p99 %s; in-flight gauge peak %d",
			e.o.overloadInFlight, e.o.overloadClients, t.over.Load(), 100*float64(t.over.Load())/float64(max(answers, 1)), answers,
			float64(t.over.Load())/r.elapsed.Seconds(), t.retryAfter.Load(), ms(okR.pct(0.50)), ms(okR.pct(0.99)), peak.Load())
		if v := t.firstOther.Load(); v != nil {
			r.note += fmt.Sprintf("; first other answer: %v", v)
		}
		return r, nil
	})
}

// gauge reads one unlabelled gauge from a Prometheus text exposition.
func gauge(c *http.Client, url, name string) (float64, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, fmt.Errorf("no %s in %s", name, url)
}
