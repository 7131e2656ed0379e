package dev

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestStateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), StateFileName)
	f, err := newStateFile(path, State{Kubeconfig: "/k/kubeconfig", Kafka: "127.0.0.1:9092"})
	if err != nil {
		t.Fatal(err)
	}
	const empty = `{
  "kubeconfig": "/k/kubeconfig",
  "kafka": "127.0.0.1:9092",
  "bridges": {}
}
`
	if got := read(t, path); got != empty {
		t.Fatalf("initial state.json:\n%s\nwant:\n%s", got, empty)
	}

	if err := f.setBridge("shop/orders-api", BridgeAddrs{HTTP: "127.0.0.1:1", GRPC: "127.0.0.1:2"}); err != nil {
		t.Fatal(err)
	}
	if err := f.setBridge("default/a", BridgeAddrs{HTTP: "127.0.0.1:3", GRPC: "127.0.0.1:4"}); err != nil {
		t.Fatal(err)
	}
	const two = `{
  "kubeconfig": "/k/kubeconfig",
  "kafka": "127.0.0.1:9092",
  "bridges": {
    "default/a": {
      "http": "127.0.0.1:3",
      "grpc": "127.0.0.1:4"
    },
    "shop/orders-api": {
      "http": "127.0.0.1:1",
      "grpc": "127.0.0.1:2"
    }
  }
}
`
	if got := read(t, path); got != two {
		t.Fatalf("state.json with two bridges:\n%s\nwant:\n%s", got, two)
	}
	s, err := ReadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Bridges["shop/orders-api"].GRPC != "127.0.0.1:2" || s.Kafka != "127.0.0.1:9092" {
		t.Fatalf("ReadState = %+v", s)
	}

	// Unchanged content is not rewritten.
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(path, old, old); err != nil {
		t.Fatal(err)
	}
	wrote, err := f.update(func(s *State) { s.Bridges["default/a"] = BridgeAddrs{HTTP: "127.0.0.1:3", GRPC: "127.0.0.1:4"} })
	if err != nil || wrote {
		t.Fatalf("update with the same content: wrote=%v err=%v, want no write", wrote, err)
	}
	if fi, _ := os.Stat(path); !fi.ModTime().Equal(old) {
		t.Fatalf("state.json was rewritten although nothing changed")
	}

	if err := f.removeBridge("shop/orders-api"); err != nil {
		t.Fatal(err)
	}
	if err := f.removeBridge("default/a"); err != nil {
		t.Fatal(err)
	}
	if got := read(t, path); got != empty {
		t.Fatalf("state.json after removing both bridges:\n%s\nwant:\n%s", got, empty)
	}
	if snap := f.snapshot(); len(snap.Bridges) != 0 {
		t.Fatalf("snapshot has bridges: %v", snap.Bridges)
	}

	if err := f.remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("state.json still there after remove: %v", err)
	}
	if err := f.remove(); err != nil {
		t.Fatalf("second remove: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 0 {
		t.Fatalf("left temporary files behind: %v", entries)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
