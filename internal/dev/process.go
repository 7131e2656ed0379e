package dev

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Bounds of the local "kubelet": how long a bridge may take to become ready, how often it is
// probed afterwards, how it is restarted when it dies, and how long it may take to drain.
const (
	startupTimeout      = 30 * time.Second
	probeInterval       = 3 * time.Second
	probeFailures       = 3
	maxBackoff          = 30 * time.Second
	maxRestarts         = 8
	stableAfter         = time.Minute
	terminationGrace    = 10 * time.Second
	readinessPollPeriod = 150 * time.Millisecond
)

// bridgeProc supervises the local process behind one bridge Deployment: it starts bin/bridge,
// probes /readyz, restarts it with backoff when it dies, and reports every change through
// onChange.
type bridgeProc struct {
	key        string // "<namespace>/<name>"
	revision   string // the pod template this process was started from
	binary     string
	configPath string
	logPath    string
	onChange   func(p *bridgeProc)

	cancel context.CancelFunc
	done   chan struct{}

	mu    sync.Mutex
	state podState
	addrs BridgeAddrs
}

func (p *bridgeProc) snapshot() (podState, BridgeAddrs) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state, p.addrs
}

func (p *bridgeProc) set(ready bool, addrs BridgeAddrs, msg string) {
	p.mu.Lock()
	changed := p.state.Ready != ready || p.state.Message != msg || p.addrs != addrs
	p.state = podState{Ready: ready, Message: msg}
	p.addrs = addrs
	cb := p.onChange
	p.mu.Unlock()
	if changed && cb != nil {
		cb(p)
	}
}

// start runs the supervisor until stop is called.
func (p *bridgeProc) start() {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.done = make(chan struct{})
	go func() {
		defer close(p.done)
		p.supervise(ctx)
	}()
}

// stop terminates the process (SIGTERM, then SIGKILL after the grace period) and waits. It
// reports no more changes.
func (p *bridgeProc) stop() {
	p.mu.Lock()
	p.onChange = nil
	p.mu.Unlock()
	p.cancel()
	<-p.done
}

func (p *bridgeProc) supervise(ctx context.Context) {
	failures := 0
	for {
		readyFor, err := p.runOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if readyFor >= stableAfter {
			failures = 0
		}
		failures++
		if failures > maxRestarts {
			p.set(false, BridgeAddrs{}, fmt.Sprintf("bridge failed %d times, not restarting: %v (log: %s)", failures, err, rel(p.logPath)))
			return
		}
		backoff := min(time.Second<<(failures-1), maxBackoff)
		p.set(false, BridgeAddrs{}, fmt.Sprintf("%v; restarting in %s (log: %s)", err, backoff, rel(p.logPath)))
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
	}
}

// runOnce starts one bridge process and returns when it exits or ctx ends, with how long it
// was ready and why it ended.
func (p *bridgeProc) runOnce(ctx context.Context) (time.Duration, error) {
	httpAddr, err := freeLoopbackAddr()
	if err != nil {
		return 0, err
	}
	grpcAddr, err := freeLoopbackAddr()
	if err != nil {
		return 0, err
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer logf.Close()
	fmt.Fprintf(logf, "--- junction dev: starting %s --config %s --http-addr %s --grpc-addr %s at %s\n",
		p.binary, p.configPath, httpAddr, grpcAddr, time.Now().Format(time.RFC3339))

	cmd := exec.Command(p.binary, "--config", p.configPath, "--http-addr", httpAddr, "--grpc-addr", grpcAddr)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group: a Ctrl-C in the terminal reaches junction, which then stops the bridge
	// in order. Pdeathsig: the bridge does not outlive a junction that was killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start bridge: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	addrs := BridgeAddrs{HTTP: httpAddr, GRPC: grpcAddr}
	p.set(false, BridgeAddrs{}, "bridge process started, waiting for /readyz")

	probe := &http.Client{Timeout: time.Second}
	readyURL := "http://" + httpAddr + "/readyz"

	// Startup: poll /readyz until it answers 200, the process exits, or the deadline passes.
	deadline := time.NewTimer(startupTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(readinessPollPeriod)
	for ready := false; !ready; {
		select {
		case <-ctx.Done():
			terminate(cmd, exited, logf)
			return 0, ctx.Err()
		case err := <-exited:
			return 0, fmt.Errorf("bridge exited before it was ready: %v", exitText(err))
		case <-deadline.C:
			terminate(cmd, exited, logf)
			return 0, fmt.Errorf("bridge was not ready within %s", startupTimeout)
		case <-tick.C:
			ready = probeOK(ctx, probe, readyURL)
		}
	}
	tick.Stop()
	readySince := time.Now()
	p.set(true, addrs, "")

	// Running: keep probing like a readinessProbe; a few failures in a row mark it unready.
	tick = time.NewTicker(probeInterval)
	defer tick.Stop()
	failed := 0
	for {
		select {
		case <-ctx.Done():
			terminate(cmd, exited, logf)
			return time.Since(readySince), ctx.Err()
		case err := <-exited:
			return time.Since(readySince), fmt.Errorf("bridge exited: %v", exitText(err))
		case <-tick.C:
			if probeOK(ctx, probe, readyURL) {
				failed = 0
				p.set(true, addrs, "")
				continue
			}
			failed++
			if failed >= probeFailures {
				p.set(false, addrs, fmt.Sprintf("bridge /readyz failed %d times in a row", failed))
			}
		}
	}
}

func probeOK(ctx context.Context, c *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// terminate asks the process to drain with SIGTERM and kills it after the grace period.
func terminate(cmd *exec.Cmd, exited <-chan error, logf *os.File) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(terminationGrace):
		fmt.Fprintf(logf, "--- junction dev: bridge did not stop within %s, killing it\n", terminationGrace)
		_ = cmd.Process.Kill()
		<-exited
	}
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ProcessState.String()
	}
	return err.Error()
}

// freeLoopbackAddr returns a loopback address whose port was free a moment ago. A lost race
// makes the bridge fail to listen and exit; the supervisor then retries on new ports.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// rel shortens path for messages: relative to the working directory when it is inside it.
func rel(path string) string {
	wd, err := os.Getwd()
	if err != nil {
		return path
	}
	r, err := filepath.Rel(wd, path)
	if err != nil || strings.HasPrefix(r, "..") {
		return path
	}
	return r
}
