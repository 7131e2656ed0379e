package dev

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer collects the demo's output from the goroutines that print it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestDemo runs what `make demo` runs, in-process, on the real samples, the real manager and
// the real bridge binary. The manager's controllers can be registered once per process, so
// this is the only test here that starts a whole sandbox.
func TestDemo(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	assets := assetsDir(t)
	bridge := filepath.Join(root, "bin", "bridge")
	if _, err := os.Stat(bridge); err != nil {
		t.Skipf("%s not found: run `make build` first", bridge)
	}
	var out syncBuffer
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	err = Demo(ctx, Options{
		Dir:          dir,
		BridgeBinary: bridge,
		AssetsDir:    assets,
		CRDDir:       filepath.Join(root, "config", "crd", "bases"),
		Out:          &out,
	}, DemoOptions{SamplesDir: filepath.Join(root, "config", "samples"), ReadyTimeout: 2 * time.Minute})
	t.Log("\n" + out.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"-> 422 application/problem+json",
		"InvalidArgument",
		`key="order-1" value={"id":"order-1","amount":42.5}`,
		`key="order-2" value=`,
		"holds 2 record(s) in 3 partition(s), 2 more than before",
		"POST    /v1/orders",
		"demo OK",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, StateFileName)); !os.IsNotExist(err) {
		t.Errorf("state.json left behind after the demo stopped: %v", err)
	}
}
