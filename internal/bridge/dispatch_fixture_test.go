package bridge

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/junction-dev/junction/internal/bridgeconfig"
)

// dispatchFixture is an embedded Kafka whose topic "deliver" (3 partitions) holds n records
// (256 keys, request ids id-0 … id-(n-1)), a loopback backend, and a dispatcher for it that
// has not started yet.
type dispatchFixture struct {
	kafka   *kfake.Cluster
	backend *httptest.Server
	d       *dispatcher
}

func newDispatchFixture(tb testing.TB, n int, ordering string, maxConcurrency int32, h http.Handler) *dispatchFixture {
	tb.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(3), kfake.SeedTopics(3, "deliver"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	be := httptest.NewServer(h)
	tb.Cleanup(be.Close)
	prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		tb.Fatal(err)
	}
	value := []byte(fmt.Sprintf(`{"pad":%q}`, make([]byte, 1000)))
	for i := range n {
		prod.Produce(context.Background(), &kgo.Record{Topic: "deliver", Key: []byte(fmt.Sprint(i % 256)), Value: value,
			Headers: []kgo.RecordHeader{{Key: headerRequestID, Value: []byte(fmt.Sprint("id-", i))}}}, nil)
	}
	if err := prod.Flush(context.Background()); err != nil {
		tb.Fatal(err)
	}
	prod.Close()
	cfg := &bridgeconfig.Config{Namespace: "test", Name: "dispatch",
		Kafka: bridgeconfig.Kafka{BootstrapServers: c.ListenAddrs()},
		Versions: []bridgeconfig.Version{{Name: "v1", Routes: []bridgeconfig.Route{{
			Name: "deliver", Topic: "deliver", Operations: []bridgeconfig.Operation{bridgeconfig.OperationPublish},
			Backend: &bridgeconfig.Backend{URL: be.URL, Ordering: ordering, MaxConcurrency: maxConcurrency},
		}}}}}
	core, err := NewCore(cfg, nil, time.Second)
	if err != nil {
		tb.Fatal(err)
	}
	d := newDispatcher(cfg, core.versions["v1"]["deliver"], nil, slog.New(slog.DiscardHandler), nil)
	return &dispatchFixture{kafka: c, backend: be, d: d}
}

// start runs the dispatcher until the returned stop is called; stop waits for it to end.
func (f *dispatchFixture) start() (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); f.d.run(ctx) }()
	return func() { cancel(); <-ran }
}
