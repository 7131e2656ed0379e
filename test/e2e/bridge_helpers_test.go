//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/junction-dev/junction/internal/bridgeconfig"
	"github.com/junction-dev/junction/test/e2e/kafkaharness"
)

var (
	bridgeBinOnce sync.Once
	bridgeBin     string
	bridgeBinErr  error
)

// bridgeBinary builds cmd/bridge once per test binary: the e2e tests drive the real process.
func bridgeBinary(t *testing.T) string {
	t.Helper()
	bridgeBinOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		dir, err := os.MkdirTemp("", "junction-bridge-e2e-")
		if err != nil {
			bridgeBinErr = err
			return
		}
		bridgeBin = filepath.Join(dir, "bridge")
		cmd := exec.Command("go", "build", "-o", bridgeBin, "./cmd/bridge")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			bridgeBinErr = fmt.Errorf("go build ./cmd/bridge: %v\n%s", err, out)
		}
	})
	if bridgeBinErr != nil {
		t.Fatal(bridgeBinErr)
	}
	return bridgeBin
}

func hashKey(k string) string {
	sum := sha256.Sum256([]byte(k))
	return hex.EncodeToString(sum[:])
}

// bridgeProc is one running bridge process.
type bridgeProc struct {
	baseURL  string
	grpcAddr string
	cmd      *exec.Cmd
	logPath  string
	exited   chan error
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

// startBridgeProc writes cfg and runs the bridge binary until the test ends, waiting (at most
// 60s) for /readyz.
func startBridgeProc(t *testing.T, cfg *bridgeconfig.Config, extraArgs ...string) *bridgeProc {
	t.Helper()
	dir := t.TempDir()
	data, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, bridgeconfig.FileName)
	if err := os.WriteFile(cfgPath, data, 0o600); err != nil {
		t.Fatal(err)
	}
	httpAddr, grpcAddr := freeAddr(t), freeAddr(t)
	logPath := filepath.Join(dir, "bridge.log")
	logf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"--config", cfgPath, "--http-addr", httpAddr, "--grpc-addr", grpcAddr}, extraArgs...)
	cmd := exec.Command(bridgeBinary(t), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &bridgeProc{baseURL: "http://" + httpAddr, grpcAddr: grpcAddr, cmd: cmd, logPath: logPath, exited: make(chan error, 1)}
	go func() { p.exited <- cmd.Wait(); _ = logf.Close() }()
	t.Cleanup(func() {
		if err := p.stop(20 * time.Second); err != nil {
			t.Errorf("bridge stop: %v\n%s", err, kafkaharness.Tail(logPath, 40))
		}
		if t.Failed() {
			t.Logf("bridge log:\n%s", kafkaharness.Tail(logPath, 40))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(p.baseURL + "/readyz")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("bridge not ready within 60s:\n%s", kafkaharness.Tail(logPath, 40))
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			t.Fatalf("bridge exited: %v\n%s", err, kafkaharness.Tail(logPath, 40))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *bridgeProc) stop(timeout time.Duration) error {
	if p.cmd.ProcessState != nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.exited:
		p.exited <- err
		return err
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		return fmt.Errorf("bridge did not exit within %s of SIGTERM", timeout)
	}
}

// topicSpec is one topic the e2e tests create on the real broker.
type topicSpec struct {
	name       string
	partitions int32
	config     map[string]*string
}

func createTopics(t *testing.T, c *kafkaharness.Cluster, topics ...topicSpec) {
	t.Helper()
	admin, err := sarama.NewClusterAdmin(c.BootstrapServers, kafkaharness.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	for _, tp := range topics {
		if err := admin.CreateTopic(tp.name, &sarama.TopicDetail{NumPartitions: tp.partitions, ReplicationFactor: 1, ConfigEntries: tp.config}, false); err != nil {
			t.Fatalf("create topic %s: %v", tp.name, err)
		}
	}
}

// endOffsets is the next offset of every partition of each topic, read from the broker.
func endOffsets(t *testing.T, c *kafkaharness.Cluster, topics ...string) map[string]int64 {
	t.Helper()
	client, err := sarama.NewClient(c.BootstrapServers, kafkaharness.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	out := map[string]int64{}
	for _, topic := range topics {
		ps, err := client.Partitions(topic)
		if err != nil {
			t.Fatalf("partitions of %s: %v", topic, err)
		}
		for _, p := range ps {
			off, err := client.GetOffset(topic, p, sarama.OffsetNewest)
			if err != nil {
				t.Fatalf("end offset of %s/%d: %v", topic, p, err)
			}
			out[fmt.Sprintf("%s/%d", topic, p)] = off
		}
	}
	return out
}

// readAll consumes every record of topic up to its current end offsets.
func readAll(t *testing.T, c *kafkaharness.Cluster, topic string) []*sarama.ConsumerMessage {
	t.Helper()
	ends := endOffsets(t, c, topic)
	consumer, err := sarama.NewConsumer(c.BootstrapServers, kafkaharness.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	ps, err := consumer.Partitions(topic)
	if err != nil {
		t.Fatal(err)
	}
	var out []*sarama.ConsumerMessage
	for _, p := range ps {
		end := ends[fmt.Sprintf("%s/%d", topic, p)]
		if end == 0 {
			continue
		}
		pc, err := consumer.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err != nil {
			t.Fatal(err)
		}
		timeout := time.After(30 * time.Second)
	loop:
		for {
			select {
			case m := <-pc.Messages():
				out = append(out, m)
				if m.Offset >= end-1 {
					break loop
				}
			case err := <-pc.Errors():
				t.Fatalf("consume %s/%d: %v", topic, p, err)
			case <-timeout:
				t.Fatalf("consume %s/%d: timed out before offset %d", topic, p, end)
			}
		}
		_ = pc.Close()
	}
	return out
}

func headerMap(m *sarama.ConsumerMessage) map[string]string {
	h := map[string]string{}
	for _, x := range m.Headers {
		h[string(x.Key)] = string(x.Value)
	}
	return h
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

// call sends one request and returns the response with its body read.
func call(t *testing.T, method, url, contentType string, body io.Reader, header http.Header) (*http.Response, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header[http.CanonicalHeaderKey(k)] = v
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, data
}

// problem is the RFC 9457 document the bridge answers errors with.
type problem struct {
	Type       string `json:"type"`
	Title      string `json:"title"`
	Status     int    `json:"status"`
	Detail     string `json:"detail"`
	Instance   string `json:"instance"`
	Violations []struct {
		Pointer string `json:"pointer"`
		Detail  string `json:"detail"`
	} `json:"violations"`
	Results []struct {
		Status    int    `json:"status"`
		Partition *int32 `json:"partition"`
		Offset    *int64 `json:"offset"`
		Error     string `json:"error"`
	} `json:"results"`
}

func decodeProblem(t *testing.T, resp *http.Response, data []byte) problem {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("Content-Type %q, want application/problem+json: %s", ct, data)
	}
	var p problem
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("problem document: %v: %s", err, data)
	}
	if p.Status != resp.StatusCode || p.Title == "" || p.Detail == "" || !strings.HasPrefix(p.Type, "https://junction.dev/problems/") {
		t.Errorf("incomplete problem document for %d: %s", resp.StatusCode, data)
	}
	return p
}
