package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/junction-dev/junction/internal/bridgeconfig"
	bridgev1 "github.com/junction-dev/junction/proto/junction/bridge/v1"
)

// bridgeProc is one real bin/bridge process serving route v1/bench on benchTopic.
type bridgeProc struct {
	cmd      *exec.Cmd
	httpAddr string
	grpcAddr string
	dir      string
}

func freePort() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// bridgeSpec is what a case needs of its bridge besides the defaults: its routes (all under
// version v1), the exposure name (which scopes the dispatcher's consumer group) and extra flags.
type bridgeSpec struct {
	name   string
	routes []bridgeconfig.Route
	args   []string
	// started, when set, is called with the process id as soon as the process runs (before it
	// is ready), for a case whose window opens at the bridge's start.
	started func(pid int) error
}

// publishSpec is the bridge of the publish cases: one open route v1/bench on benchTopic.
func publishSpec() bridgeSpec { return publishSpecOn(benchTopic) }

// publishSpecOn is publishSpec with route v1/bench on topic.
func publishSpecOn(topic string) bridgeSpec {
	return bridgeSpec{routes: []bridgeconfig.Route{{
		Name: "bench", Topic: topic, Operations: []bridgeconfig.Operation{bridgeconfig.OperationPublish},
	}}}
}

func startBridge(ctx context.Context, e *env, spec bridgeSpec) (*bridgeProc, error) {
	dir, err := os.MkdirTemp("", "junction-bench-")
	if err != nil {
		return nil, err
	}
	if spec.name == "" {
		spec.name = "bench"
	}
	cfg := bridgeconfig.Config{
		Namespace: "bench", Name: spec.name,
		Kafka:    bridgeconfig.Kafka{BootstrapServers: []string{e.kafka.addr}, ClientID: "junction-bench-bridge"},
		HTTPPort: 8080, GRPCPort: 9090,
		Versions: []bridgeconfig.Version{{Name: "v1", Routes: spec.routes}},
	}
	data, err := cfg.Marshal()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, bridgeconfig.FileName)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return nil, err
	}
	b := &bridgeProc{dir: dir}
	if b.httpAddr, err = freePort(); err != nil {
		return nil, err
	}
	if b.grpcAddr, err = freePort(); err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "bridge.log"))
	if err != nil {
		return nil, err
	}
	args := append([]string{"--config", path, "--http-addr", b.httpAddr, "--grpc-addr", b.grpcAddr}, spec.args...)
	b.cmd = exec.Command(e.o.bridge, args...)
	// The access log goes to a file: writing it is part of the bridge's cost, reading it is not ours.
	b.cmd.Stdout, b.cmd.Stderr = log, log
	if err := b.cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("starting %s: %w", e.o.bridge, err)
	}
	log.Close()
	if spec.started != nil {
		if err := spec.started(b.pid()); err != nil {
			b.stop()
			return nil, err
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + b.httpAddr + "/readyz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return b, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			b.stop()
			return nil, fmt.Errorf("the bridge was not ready within 30s (log in %s)", dir)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (b *bridgeProc) pid() int { return b.cmd.Process.Pid }

func (b *bridgeProc) stop() {
	_ = b.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		_ = b.cmd.Process.Kill()
		<-done
	}
	_ = os.RemoveAll(b.dir)
}

func httpClient(conns int) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns, IdleConnTimeout: time.Minute,
	}}
}

// withBridge starts a fresh publish bridge (so its peak RSS is this case's), runs f, stops it.
func withBridge(ctx context.Context, e *env, f func(b *bridgeProc) (*result, error)) (*result, error) {
	return withBridgeSpec(ctx, e, publishSpec(), f)
}

// withBridgeSpec is withBridge for a bridge described by spec.
func withBridgeSpec(ctx context.Context, e *env, spec bridgeSpec, f func(b *bridgeProc) (*result, error)) (*result, error) {
	b, err := startBridge(ctx, e, spec)
	if err != nil {
		return nil, err
	}
	defer b.stop()
	r, err := f(b)
	if r != nil {
		r.proc = "bridge (pid " + strconv.Itoa(b.pid()) + ")"
	}
	return r, err
}

// restOne: e.o.clients keep-alive clients, one 1 KiB JSON record per POST.
func restOne(ctx context.Context, e *env) (*result, error) {
	return withBridge(ctx, e, func(b *bridgeProc) (*result, error) {
		value := payload()
		c := newLoadClient(b.httpAddr, "/v1/bench", "application/json", value, e.o.clients)
		defer c.close()
		r, err := closedLoop(ctx, e, b.pid(), e.o.clients, 1, func(context.Context) error { return c.post() })
		if err != nil {
			return nil, err
		}
		r.latUnit, r.bytes = "request (1 record)", r.records*int64(len(value))
		return r, nil
	})
}

// batchClients is the concurrency of the batch case: enough to keep the producer busy
// (8 × 100 records in flight) without 64 × 100 KiB bodies on a 2-core machine.
const batchClients, batchSize = 8, 100

// restBatch: batchClients keep-alive clients, 100 records of 1 KiB per POST.
func restBatch(ctx context.Context, e *env) (*result, error) {
	value := payload()
	type rec struct {
		Value json.RawMessage `json:"value"`
	}
	env := struct {
		Records []rec `json:"records"`
	}{}
	for range batchSize {
		env.Records = append(env.Records, rec{Value: value})
	}
	body, err := json.Marshal(env)
	if err != nil {
		return nil, err
	}
	return withBridge(ctx, e, func(b *bridgeProc) (*result, error) {
		c := newLoadClient(b.httpAddr, "/v1/bench", "application/vnd.junction.batch+json", body, batchClients)
		defer c.close()
		r, err := closedLoop(ctx, e, b.pid(), batchClients, batchSize, func(context.Context) error { return c.post() })
		if err != nil {
			return nil, err
		}
		r.latUnit, r.bytes = "request (100 records)", r.records*int64(len(value))
		return r, nil
	})
}

func dial(b *bridgeProc) (*grpc.ClientConn, error) {
	return grpc.NewClient(b.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

// grpcUnary: e.o.clients goroutines over one connection, one raw 1 KiB record per Publish.
func grpcUnary(ctx context.Context, e *env) (*result, error) {
	return withBridge(ctx, e, func(b *bridgeProc) (*result, error) {
		conn, err := dial(b)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		client, value := bridgev1.NewPublishServiceClient(conn), payload()
		r, err := closedLoop(ctx, e, b.pid(), e.o.clients, 1, func(ctx context.Context) error {
			_, err := client.Publish(ctx, &bridgev1.PublishRequest{Version: "v1", Route: "bench", Payload: &bridgev1.PublishRequest_Raw{Raw: value}})
			return err
		})
		if err != nil {
			return nil, err
		}
		r.latUnit, r.bytes = "call (1 record)", r.records*int64(len(value))
		return r, nil
	})
}

// grpcStream: one PublishStream with at most e.o.clients records awaiting their response, so
// that it has as many records in flight as the request-style baseline.
func grpcStream(ctx context.Context, e *env) (*result, error) {
	return withBridge(ctx, e, func(b *bridgeProc) (*result, error) {
		conn, err := dial(b)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		client, value := bridgev1.NewPublishServiceClient(conn), payload()
		sctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stream, err := client.PublishStream(sctx)
		if err != nil {
			return nil, err
		}
		req := &bridgev1.PublishStreamRequest{Record: &bridgev1.PublishRequest{Version: "v1", Route: "bench", Payload: &bridgev1.PublishRequest_Raw{Raw: value}}}
		var (
			mu        sync.Mutex
			sentAt    []time.Time // FIFO: responses come in the order sent
			window    = make(chan struct{}, e.o.clients)
			measuring atomic.Bool
			ok, bad   atomic.Int64
			lats      []time.Duration
			firstErr  atomic.Value
		)
		recvDone := make(chan error, 1)
		go func() {
			for {
				resp, err := stream.Recv()
				if err != nil {
					if errors.Is(err, io.EOF) {
						err = nil
					}
					recvDone <- err
					return
				}
				mu.Lock()
				t := sentAt[0]
				sentAt = sentAt[1:]
				mu.Unlock()
				<-window
				if !measuring.Load() {
					continue
				}
				if resp.GetStored() == nil {
					bad.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprint(resp.GetError()))
					continue
				}
				ok.Add(1)
				lats = append(lats, time.Since(t))
			}
		}()
		send := func(d time.Duration) error {
			until := time.Now().Add(d)
			for time.Now().Before(until) {
				select {
				case window <- struct{}{}:
				case <-ctx.Done():
					return ctx.Err()
				}
				mu.Lock()
				sentAt = append(sentAt, time.Now())
				mu.Unlock()
				if err := stream.Send(req); err != nil {
					return fmt.Errorf("send: %w", err)
				}
			}
			// Wait until every record sent so far has its response.
			for range e.o.clients {
				select {
				case window <- struct{}{}:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			for range e.o.clients {
				<-window
			}
			return nil
		}
		if err := send(e.o.warmup); err != nil {
			return nil, err
		}
		m, err := startMeter(b.pid(), e.kafka.pid)
		if err != nil {
			return nil, err
		}
		measuring.Store(true)
		if err := send(e.o.duration); err != nil {
			return nil, err
		}
		r := &result{latUnit: "record (send→response)"}
		m.stop(r)
		measuring.Store(false)
		_ = stream.CloseSend()
		if err := <-recvDone; err != nil {
			return nil, fmt.Errorf("recv: %w", err)
		}
		if v := firstErr.Load(); v != nil {
			fmt.Fprintf(os.Stderr, "  first refused record: %v\n", v)
		}
		r.records, r.failed, r.lats = ok.Load(), bad.Load(), lats
		r.bytes = r.records * int64(len(value))
		return r, nil
	})
}
