package bridge

import (
	"fmt"
	"io"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestUnorderedDeliveryBoundsGoroutinesAndDeliversOnce holds the backend while thousands of
// records wait: the backend never sees more than maxConcurrency requests at once, records
// waiting for a slot cost no goroutine, and once the backend answers every record is
// delivered exactly once.
func TestUnorderedDeliveryBoundsGoroutinesAndDeliversOnce(t *testing.T) {
	const n, maxConc = 3000, 16
	release := make(chan struct{})
	var inFlight, peak atomic.Int64
	var mu sync.Mutex
	seen := map[string]int{}
	all := make(chan struct{})
	f := newDispatchFixture(t, n, "unordered", maxConc, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		now := inFlight.Add(1)
		defer inFlight.Add(-1)
		for p := peak.Load(); now > p && !peak.CompareAndSwap(p, now); p = peak.Load() {
		}
		<-release
		mu.Lock()
		seen[r.Header.Get("Idempotency-Key")]++
		if len(seen) == n {
			select {
			case <-all:
			default:
				close(all)
			}
		}
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	before := runtime.NumGoroutine()
	stop := f.start()
	defer stop()

	deadline := time.Now().Add(30 * time.Second)
	for inFlight.Load() < maxConc {
		if time.Now().After(deadline) {
			t.Fatalf("the backend saw %d requests at once within 30s, want %d", inFlight.Load(), maxConc)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Let the partition workers take their windows (8 × maxConcurrency records each) from the queue.
	time.Sleep(500 * time.Millisecond)
	// The dispatcher's own goroutines: the Kafka client's, the committer, one worker per
	// partition, and per delivery in flight its goroutine and the HTTP connection's (client
	// and server side). A goroutine per waiting record would add hundreds.
	if grown := runtime.NumGoroutine() - before; grown > 4*maxConc+40 {
		t.Errorf("%d goroutines more while %d deliveries are in flight, want at most %d", grown, maxConc, 4*maxConc+40)
	}
	close(release)
	select {
	case <-all:
	case <-time.After(60 * time.Second):
		mu.Lock()
		t.Fatalf("%d of %d records delivered within 60s", len(seen), n)
	}
	if p := peak.Load(); p > maxConc {
		t.Errorf("the backend saw %d requests at once, want at most %d", p, maxConc)
	}
	mu.Lock()
	defer mu.Unlock()
	for i := range n {
		if c := seen[fmt.Sprint("id-", i)]; c != 1 {
			t.Errorf("id-%d delivered %d times, want once", i, c)
		}
	}
}
