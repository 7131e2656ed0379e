package bridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc/health"

	"github.com/junction-dev/junction/internal/bridgeconfig"
	"github.com/junction-dev/junction/internal/kafka"
	"github.com/junction-dev/junction/internal/openapi"
)

// Options are the process-level inputs of Run; zero values mean the defaults.
type Options struct {
	// HTTPListener and GRPCListener are required; tests pass 127.0.0.1:0 listeners.
	HTTPListener net.Listener
	GRPCListener net.Listener
	Logger       *slog.Logger
	// PublishTimeout bounds waiting for Kafka's acknowledgement (default 15s).
	PublishTimeout time.Duration
	// HealthInterval is how often the gRPC health status is refreshed (default 5s).
	HealthInterval time.Duration
	// ShutdownTimeout bounds draining in-flight requests after ctx ends (default 20s).
	ShutdownTimeout time.Duration
	// Limits bound the publish work in flight; zero values mean the defaults.
	Limits Limits
	// DrainDelay keeps serving, unready, this long after ctx ends before closing the
	// listeners, so endpoints controllers and load balancers stop routing here first.
	DrainDelay time.Duration
}

func (o *Options) defaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.PublishTimeout == 0 {
		o.PublishTimeout = 15 * time.Second
	}
	if o.HealthInterval == 0 {
		o.HealthInterval = 5 * time.Second
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 20 * time.Second
	}
}

// Run serves REST and gRPC for cfg until ctx ends, then drains: HTTP Shutdown, gRPC
// GracefulStop, and finally the producer flush, so every acknowledged answer was really
// acknowledged by Kafka. The bridge serves (unready) while Kafka cannot be reached yet.
func Run(ctx context.Context, cfg *bridgeconfig.Config, opts Options) error {
	opts.defaults()
	if opts.HTTPListener == nil || opts.GRPCListener == nil {
		return errors.New("bridge: HTTPListener and GRPCListener are required")
	}
	log := opts.Logger
	doc, err := openapi.Build(cfg)
	if err != nil {
		return err
	}
	docs, err := openapi.RenderHTML(doc)
	if err != nil {
		return err
	}
	producer := &lazyProducer{}
	m := newMetrics()
	core, err := newCore(cfg, producer, opts.PublishTimeout, opts.Limits, m)
	if err != nil {
		return err
	}

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		producer.connect(ctx, cfg.Kafka, log)
	})

	// Dispatchers outlive the servers' drain and stop before the producer closes: a record
	// being dead-lettered needs it.
	dctx, stopDispatch := context.WithCancel(context.Background())
	defer stopDispatch()
	var dwg sync.WaitGroup
	startDispatchers(dctx, &dwg, core, producer, log, m)
	replies := newReplyReader(cfg, log)
	if replies != nil {
		dwg.Go(func() { replies.run(dctx) })
	}

	hs := health.NewServer()
	wg.Go(func() { watchHealth(ctx, hs, producer, opts.HealthInterval) })
	stopping, stopStreams := context.WithCancel(context.Background())
	defer stopStreams()
	grpcSrv := newGRPCServer(core, hs, log, m, stopping)
	rest := &restServer{core: core, producer: producer, openapi: doc, docs: docs, log: log, metrics: m, stopping: stopping, replies: replies}
	httpSrv := &http.Server{
		Handler:           rest.handler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      opts.PublishTimeout + 15*time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	httpSrv.RegisterOnShutdown(stopStreams)

	errc := make(chan error, 2)
	go func() { errc <- fmt.Errorf("http: %w", httpSrv.Serve(opts.HTTPListener)) }()
	go func() { errc <- fmt.Errorf("grpc: %w", grpcSrv.Serve(opts.GRPCListener)) }()
	log.Info("bridge serving", "exposure", cfg.Namespace+"/"+cfg.Name,
		"http", opts.HTTPListener.Addr().String(), "grpc", opts.GRPCListener.Addr().String())

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		log.Error("server stopped", "error", serveErr)
	}
	stop()
	log.Info("bridge draining", "delay", opts.DrainDelay)
	hs.Shutdown()
	rest.draining.Store(true)
	if opts.DrainDelay > 0 && serveErr == nil {
		time.Sleep(opts.DrainDelay)
	}
	sctx, cancel := context.WithTimeout(context.Background(), opts.ShutdownTimeout)
	defer cancel()
	if err := httpSrv.Shutdown(sctx); err != nil {
		log.Warn("http shutdown", "error", err)
	}
	gracefulStop(sctx, grpcSrv.GracefulStop, grpcSrv.Stop)
	stopDispatch()
	dwg.Wait()
	if err := producer.Close(); err != nil {
		log.Warn("closing producer", "error", err)
	}
	log.Info("bridge stopped")
	return serveErr
}

// gracefulStop waits for graceful, forcing after ctx ends.
func gracefulStop(ctx context.Context, graceful, force func()) {
	done := make(chan struct{})
	go func() { graceful(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		force()
		<-done
	}
}

// lazyProducer answers ErrUnavailable until the real producer connects. An idempotent
// producer cannot be built without a broker (it needs a producer id), and a bridge that
// exits when Kafka is briefly away would crash-loop instead of waiting unready.
type lazyProducer struct {
	mu     sync.Mutex
	p      kafka.Producer
	closed bool
}

var errNotConnected = fmt.Errorf("%w: not connected yet", kafka.ErrUnavailable)

func (l *lazyProducer) get() kafka.Producer {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.p
}

// connect retries with capped exponential backoff until it succeeds or ctx ends.
func (l *lazyProducer) connect(ctx context.Context, k bridgeconfig.Kafka, log *slog.Logger) {
	backoff := 250 * time.Millisecond
	for {
		// Re-read on every attempt: mounted Secrets may be rotated while Kafka refuses us.
		cfg, err := producerConfig(k)
		var p kafka.Producer
		if err == nil {
			p, err = kafka.NewProducer(cfg)
		}
		if err == nil {
			l.mu.Lock()
			if l.closed {
				l.mu.Unlock()
				_ = p.Close()
				return
			}
			l.p = p
			l.mu.Unlock()
			log.Info("kafka producer connected", "bootstrap", k.BootstrapServers, "tls", k.TLS != nil, "sasl", k.SASL != nil)
			return
		}
		log.Warn("kafka producer not connected, retrying", "error", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 10*time.Second)
	}
}

func (l *lazyProducer) Produce(ctx context.Context, r kafka.Record) (kafka.Result, error) {
	if p := l.get(); p != nil {
		return p.Produce(ctx, r)
	}
	return kafka.Result{}, errNotConnected
}

func (l *lazyProducer) ProduceBatch(ctx context.Context, rs []kafka.Record) []kafka.Outcome {
	if p := l.get(); p != nil {
		return p.ProduceBatch(ctx, rs)
	}
	out := make([]kafka.Outcome, len(rs))
	for i := range out {
		out[i].Err = errNotConnected
	}
	return out
}

func (l *lazyProducer) StartBatch(ctx context.Context, rs []kafka.Record) func() []kafka.Outcome {
	if p := l.get(); p != nil {
		return p.StartBatch(ctx, rs)
	}
	out := l.ProduceBatch(ctx, rs)
	return func() []kafka.Outcome { return out }
}

func (l *lazyProducer) Partitions(ctx context.Context, topic string) (int32, error) {
	if p := l.get(); p != nil {
		return p.Partitions(ctx, topic)
	}
	return 0, errNotConnected
}

func (l *lazyProducer) Ping(ctx context.Context) error {
	if p := l.get(); p != nil {
		return p.Ping(ctx)
	}
	return errNotConnected
}

func (l *lazyProducer) Close() error {
	l.mu.Lock()
	l.closed = true
	p := l.p
	l.mu.Unlock()
	if p != nil {
		return p.Close()
	}
	return nil
}
