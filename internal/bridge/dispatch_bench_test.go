package bridge

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/junction-dev/junction/internal/bridgeconfig"
)

// BenchmarkDispatch delivers b.N pre-filled records (3 partitions) to a loopback backend and
// reports the dispatcher's cost per record: go test -bench Dispatch -cpuprofile cpu.out.
func BenchmarkDispatch(b *testing.B) {
	for _, ordering := range []string{"perKey", "unordered"} {
		b.Run(ordering, func(b *testing.B) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(3), kfake.SeedTopics(3, "deliver"))
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			var got atomic.Int64
			done := make(chan struct{})
			var once sync.Once
			be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				if got.Add(1) == int64(b.N) {
					once.Do(func() { close(done) })
				}
				w.WriteHeader(http.StatusNoContent)
			}))
			defer be.Close()
			prod, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
			if err != nil {
				b.Fatal(err)
			}
			value := []byte(fmt.Sprintf(`{"pad":%q}`, make([]byte, 1000)))
			for i := range b.N {
				prod.Produce(context.Background(), &kgo.Record{Topic: "deliver", Key: []byte(fmt.Sprint(i % 256)), Value: value,
					Headers: []kgo.RecordHeader{{Key: headerRequestID, Value: []byte(fmt.Sprint("id-", i))}}}, nil)
			}
			if err := prod.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
			prod.Close()
			cfg := &bridgeconfig.Config{Namespace: "bench", Name: "dispatch",
				Kafka: bridgeconfig.Kafka{BootstrapServers: c.ListenAddrs()},
				Versions: []bridgeconfig.Version{{Name: "v1", Routes: []bridgeconfig.Route{{
					Name: "deliver", Topic: "deliver", Operations: []bridgeconfig.Operation{bridgeconfig.OperationPublish},
					Backend: &bridgeconfig.Backend{URL: be.URL, Ordering: ordering, MaxConcurrency: 64},
				}}}}}
			core, err := NewCore(cfg, nil, time.Second)
			if err != nil {
				b.Fatal(err)
			}
			d := newDispatcher(cfg, core.versions["v1"]["deliver"], nil, slog.New(slog.DiscardHandler), nil)
			ctx, cancel := context.WithCancel(context.Background())
			b.ReportAllocs()
			b.ResetTimer()
			ran := make(chan struct{})
			go func() { defer close(ran); d.run(ctx) }()
			select {
			case <-done:
			case <-time.After(2 * time.Minute):
				b.Fatalf("%d of %d delivered in 2 minutes", got.Load(), b.N)
			}
			b.StopTimer()
			cancel()
			<-ran
		})
	}
}
