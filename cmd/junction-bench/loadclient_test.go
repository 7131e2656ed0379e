package main

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestLoadClient(t *testing.T) {
	var conns atomic.Int64
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type")+" "+string(b))
		mu.Unlock()
		switch r.URL.Query().Get("answer") {
		case "busy":
			w.Header().Set("Retry-After", "1")
			http.Error(w, "too busy", http.StatusServiceUnavailable)
		case "close":
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, `{"ok":true}`)
		case "chunked":
			_, _ = io.WriteString(w, "first")
			w.(http.Flusher).Flush() // no Content-Length: chunked
			_, _ = io.WriteString(w, strings.Repeat("b", 5000))
		default:
			w.Header().Set("Content-Length", "5000") // longer than the reader's buffer
			_, _ = io.WriteString(w, strings.Repeat("a", 5000))
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")

	c := newLoadClient(addr, "/v1/bench", "application/json", []byte(`{"a":1}`), 2)
	defer c.close()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 25 {
				if err := c.post(); err != nil {
					t.Errorf("post: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if len(bodies) != 100 || bodies[0] != `POST /v1/bench application/json {"a":1}` {
		t.Fatalf("the server saw %d requests, first %q", len(bodies), bodies[0])
	}
	if n := conns.Load(); n > 2 {
		t.Fatalf("100 requests over a pool of 2 opened %d connections", n)
	}

	busy := newLoadClient(addr, "/v1/bench?answer=busy", "application/json", []byte(`{}`), 1)
	defer busy.close()
	a, err := busy.do()
	if err != nil || a.status != 503 || a.retryAfter != "1" || !strings.Contains(string(a.body), "too busy") {
		t.Fatalf("503 answer: %+v, %v", a, err)
	}
	if err := busy.post(); err == nil || !strings.Contains(err.Error(), "status 503: too busy") {
		t.Fatalf("post of a refused request: %v", err)
	}

	closing := newLoadClient(addr, "/v1/bench?answer=close", "application/json", []byte(`{}`), 1)
	before := conns.Load()
	for range 3 {
		if err := closing.post(); err != nil {
			t.Fatal(err)
		}
	}
	if n := conns.Load() - before; n != 3 {
		t.Fatalf("Connection: close answers: %d connections for 3 requests, want 3", n)
	}

	chunked := newLoadClient(addr, "/v1/bench?answer=chunked", "application/json", []byte(`{}`), 1)
	before = conns.Load()
	for range 3 {
		if err := chunked.post(); err != nil {
			t.Fatalf("chunked answer: %v", err)
		}
	}
	if n := conns.Load() - before; n != 1 {
		t.Fatalf("chunked answers: %d connections for 3 requests, want 1 (kept alive)", n)
	}
}
