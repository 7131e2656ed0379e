package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/junction-dev/junction/internal/bridgeconfig"
)

// TestMain lets the test binary act as the bridge process, so the test below can run the
// real main with the exact flags the sandbox runner uses and stop it with SIGTERM.
func TestMain(m *testing.M) {
	if args := os.Getenv("JUNCTION_BRIDGE_ARGS"); args != "" {
		os.Args = append([]string{"bridge"}, strings.Fields(args)...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func TestProcessServesAndStopsOnSIGTERM(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := bridgeconfig.Config{Namespace: "shop", Name: "orders-api", Kafka: bridgeconfig.Kafka{BootstrapServers: c.ListenAddrs()},
		Versions: []bridgeconfig.Version{{Name: "v1", Routes: []bridgeconfig.Route{{Name: "orders", Topic: "orders", Operations: []bridgeconfig.Operation{"publish"}}}}}}
	data, _ := cfg.Marshal()
	path := filepath.Join(t.TempDir(), bridgeconfig.FileName)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr, grpcAddr := freeAddr(t), freeAddr(t)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "JUNCTION_BRIDGE_ARGS=--config "+path+" --http-addr "+httpAddr+" --grpc-addr "+grpcAddr)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()

	base := "http://" + httpAddr
	ready := false
	for i := 0; i < 200 && !ready; i++ {
		if resp, err := http.Get(base + "/readyz"); err == nil {
			ready = resp.StatusCode == http.StatusOK
			_ = resp.Body.Close()
		}
		if !ready {
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !ready {
		t.Fatalf("bridge never became ready; logs:\n%s", stderr.String())
	}
	resp, err := http.Post(base+"/v1/orders", "application/json", strings.NewReader(`{"id": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("publish: %d %s", resp.StatusCode, body)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("bridge exit after SIGTERM: %v; logs:\n%s", err, stderr.String())
	}
	// Logs are JSON lines on stderr.
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %q", line)
		}
	}
	if !strings.Contains(stderr.String(), "bridge stopped") {
		t.Errorf("no orderly stop in logs:\n%s", stderr.String())
	}
}

func TestConfigIsRequired(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "JUNCTION_BRIDGE_ARGS=--http-addr 127.0.0.1:0")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--config is required") {
		t.Fatalf("err = %v, output %s", err, out)
	}
}
