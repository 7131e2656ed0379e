package bridge

import (
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkDispatch delivers b.N pre-filled records (3 partitions) to a loopback backend and
// reports the dispatcher's cost per record: go test -bench Dispatch -cpuprofile cpu.out.
func BenchmarkDispatch(b *testing.B) {
	for _, ordering := range []string{"perKey", "unordered"} {
		b.Run(ordering, func(b *testing.B) {
			var got atomic.Int64
			done := make(chan struct{})
			var once sync.Once
			f := newDispatchFixture(b, b.N, ordering, 64, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				if got.Add(1) == int64(b.N) {
					once.Do(func() { close(done) })
				}
				w.WriteHeader(http.StatusNoContent)
			}))
			b.ReportAllocs()
			b.ResetTimer()
			stop := f.start()
			select {
			case <-done:
			case <-time.After(2 * time.Minute):
				b.Fatalf("%d of %d delivered in 2 minutes", got.Load(), b.N)
			}
			b.StopTimer()
			stop()
		})
	}
}
