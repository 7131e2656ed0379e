package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/junction-dev/junction/internal/bridgeconfig"
)

// consumeTopic is the topic the consumption cases read; it is filled once per run.
const consumeTopic = "junction-bench-consume"

// consumeFixture creates and fills consumeTopic with e.o.consumeRecords records on first use.
func (e *env) consumeFixture(ctx context.Context) (string, error) {
	if e.consumeReady {
		return consumeTopic, nil
	}
	if err := createTopic(e.kafka.addr, consumeTopic); err != nil {
		return "", err
	}
	e.cleanup = append(e.cleanup, func() { deleteTopic(e.kafka.addr, consumeTopic) })
	t := time.Now()
	if err := prefill(ctx, e.kafka.addr, consumeTopic, e.o.consumeRecords, nil); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "  pre-filled %s with %d records in %s\n", consumeTopic, e.o.consumeRecords, time.Since(t).Round(time.Millisecond))
	e.consumeReady = true
	return consumeTopic, nil
}

// consumeSpec is the bridge of the consumption cases: route v1/consume, subscribe only.
func consumeSpec() bridgeSpec {
	return bridgeSpec{routes: []bridgeconfig.Route{{
		Name: "consume", Topic: consumeTopic, Operations: []bridgeconfig.Operation{bridgeconfig.OperationSubscribe},
	}}}
}

// passes reads the whole pre-filled topic again and again until the window ends; pass reads
// once from the start and reports the records it read before until.
func passes(ctx context.Context, e *env, pid int, pass func(ctx context.Context, until time.Time) (int64, error)) (*result, error) {
	if _, err := e.consumeFixture(ctx); err != nil {
		return nil, err
	}
	m, err := startMeter(pid, e.kafka.pid)
	if err != nil {
		return nil, err
	}
	until := time.Now().Add(e.o.duration)
	var n int64
	for i := 0; time.Now().Before(until); i++ {
		got, err := pass(ctx, until)
		n += got
		if err != nil {
			return nil, fmt.Errorf("pass %d: %w", i+1, err)
		}
	}
	r := &result{}
	m.stop(r)
	r.records, r.bytes = n, n*recordBytes
	return r, nil
}

// directConsume reads the topic with a franz-go client assigned to every partition from the
// start (the library and fetch size the bridge's consumers use), no group.
func directConsume(ctx context.Context, e *env) (*result, error) {
	want := int64(e.o.consumeRecords)
	r, err := passes(ctx, e, os.Getpid(), func(ctx context.Context, until time.Time) (int64, error) {
		start := map[int32]kgo.Offset{}
		for p := int32(0); p < partitions; p++ {
			start[p] = kgo.NewOffset().AtStart()
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(e.kafka.addr), kgo.ClientID("junction-bench-consumer"),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{consumeTopic: start}),
			kgo.FetchMaxBytes(4<<20))
		if err != nil {
			return 0, err
		}
		defer cl.Close()
		pctx, cancel := context.WithDeadline(ctx, until)
		defer cancel()
		var n int64
		for n < want && pctx.Err() == nil {
			fs := cl.PollRecords(pctx, 1000)
			var ferr error
			fs.EachError(func(_ string, _ int32, err error) {
				if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
					ferr = err
				}
			})
			if ferr != nil {
				return n, ferr
			}
			n += int64(fs.NumRecords())
		}
		return n, nil
	})
	if err != nil {
		return nil, err
	}
	r.proc, r.latUnit = "bench (franz-go)", "—"
	return r, nil
}

// sseConsume reads the topic over Server-Sent Events (GET /v1/consume/events?from=earliest),
// one stream per pass, counting record events.
func sseConsume(ctx context.Context, e *env) (*result, error) {
	if _, err := e.consumeFixture(ctx); err != nil {
		return nil, err
	}
	want := int64(e.o.consumeRecords)
	return withBridgeSpec(ctx, e, consumeSpec(), func(b *bridgeProc) (*result, error) {
		url := "http://" + b.httpAddr + "/v1/consume/events?from=earliest"
		var bad int64
		r, err := passes(ctx, e, b.pid(), func(ctx context.Context, until time.Time) (int64, error) {
			sctx, cancel := context.WithDeadline(ctx, until)
			defer cancel()
			req, err := http.NewRequestWithContext(sctx, http.MethodGet, url, nil)
			if err != nil {
				return 0, err
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				if sctx.Err() != nil {
					return 0, nil
				}
				return 0, err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
				return 0, fmt.Errorf("%s: %s", resp.Status, body)
			}
			rd := bufio.NewReaderSize(resp.Body, 64<<10)
			var n int64
			for n < want {
				line, err := rd.ReadSlice('\n')
				if err != nil {
					if sctx.Err() != nil {
						return n, nil
					}
					if errors.Is(err, bufio.ErrBufferFull) {
						// A data line longer than the buffer: skip the rest of it.
						for errors.Is(err, bufio.ErrBufferFull) {
							_, err = rd.ReadSlice('\n')
						}
						continue
					}
					return n, err
				}
				switch {
				case bytes.Equal(line, []byte("event: record\n")):
					n++
				case bytes.Equal(line, []byte("event: error\n")):
					bad++
				}
			}
			return n, nil
		})
		if err != nil {
			return nil, err
		}
		r.latUnit, r.failed = "—", bad
		return r, nil
	})
}

// pollConsume reads the topic by group poll: GET /v1/consume/records?group=g&max=500, then
// POST the returned commit, one fresh group per pass. Latency is per GET.
func pollConsume(ctx context.Context, e *env) (*result, error) {
	if _, err := e.consumeFixture(ctx); err != nil {
		return nil, err
	}
	want := int64(e.o.consumeRecords)
	return withBridgeSpec(ctx, e, consumeSpec(), func(b *bridgeProc) (*result, error) {
		c := httpClient(1)
		base := "http://" + b.httpAddr + "/v1/consume/"
		var lats []time.Duration
		var bad int64
		pass := 0
		r, err := passes(ctx, e, b.pid(), func(ctx context.Context, until time.Time) (int64, error) {
			pass++
			group := fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), pass)
			var n int64
			for n < want && time.Now().Before(until) {
				t := time.Now()
				got, errs, commit, err := pollOnce(ctx, c, base+"records?max=500&wait=1s&group="+group)
				if err != nil {
					return n, err
				}
				lats = append(lats, time.Since(t))
				n += int64(got)
				bad += int64(errs)
				if got == 0 && errs == 0 {
					return n, fmt.Errorf("an empty poll after %d of %d records", n, want)
				}
				if err := postCommit(ctx, c, base+"commits?group="+group, commit); err != nil {
					return n, err
				}
			}
			return n, nil
		})
		if err != nil {
			return nil, err
		}
		r.lats, r.latUnit, r.failed = lats, "poll request (≤ 500 records)", bad
		return r, nil
	})
}

func pollOnce(ctx context.Context, c *http.Client, url string) (records, errs int, commit []byte, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, nil, fmt.Errorf("poll: %s: %.300s", resp.Status, body)
	}
	var out struct {
		Records []struct {
			Offset int64 `json:"offset"`
		} `json:"records"`
		Errors []json.RawMessage `json:"errors"`
		Commit json.RawMessage   `json:"commit"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return 0, 0, nil, fmt.Errorf("poll answer: %w", err)
	}
	return len(out.Records), len(out.Errors), out.Commit, nil
}

func postCommit(ctx context.Context, c *http.Client, url string, commit []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(commit))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("commit: %s: %.300s", resp.Status, body)
	}
	return nil
}
