// Package dev is the local sandbox behind `junction dev`: a real kube-apiserver and etcd, an
// embedded (or external) Kafka, the manager in-process, and a runner that plays kubelet for
// bridge Deployments by running bin/bridge as local processes.
package dev

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
	"github.com/twmb/franz-go/pkg/kfake"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/junction-dev/junction/controllers"
)

// Options configure the sandbox.
type Options struct {
	// Dir holds the kubeconfig, state.json, logs and the bridges' files.
	Dir string
	// Kafka is the bootstrap address of a real Kafka; empty starts an embedded one (kfake).
	Kafka string
	// BridgeBinary is the bridge executable to run for each bridge Deployment.
	BridgeBinary string
	// AssetsDir holds kube-apiserver and etcd.
	AssetsDir string
	// CRDDir holds the CRD manifests to install.
	CRDDir string
	// Out receives short progress lines for a person; nil discards them.
	Out io.Writer
}

// Sandbox is a running local Junction.
type Sandbox struct {
	opts Options
	// Kubeconfig is the path of a kubeconfig for a system:masters user.
	Kubeconfig string
	// KafkaAddr is the bootstrap address of the sandbox's Kafka.
	KafkaAddr string
	// Config reaches the API server as envtest's administrator; Client as the kubeconfig's user.
	Config *rest.Config
	Client client.Client
	// Runner runs the bridge processes.
	Runner *Runner

	env     *envtest.Environment
	kafka   *kfake.Cluster
	state   *stateFile
	logFile *os.File
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	errc    chan error
	outMu   sync.Mutex
	locked  bool
}

// Say prints one progress line.
func (s *Sandbox) Say(format string, args ...any) {
	if s.opts.Out == nil {
		return
	}
	s.outMu.Lock()
	defer s.outMu.Unlock()
	fmt.Fprintf(s.opts.Out, format+"\n", args...)
}

// Start brings the sandbox up. On error everything already started is stopped again.
func Start(ctx context.Context, opts Options) (_ *Sandbox, err error) {
	if opts.Dir, err = filepath.Abs(opts.Dir); err != nil {
		return nil, err
	}
	s := &Sandbox{opts: opts, errc: make(chan error, 2)}
	if err := s.preflight(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if err := s.startLogging(); err != nil {
		return nil, err
	}
	t := time.Now()
	if err := s.startControlPlane(); err != nil {
		return nil, err
	}
	s.Say("control plane  up in %s; kubeconfig %s", since(t), s.Kubeconfig)
	if err := s.startKafka(); err != nil {
		return nil, err
	}
	s.state, err = newStateFile(filepath.Join(opts.Dir, StateFileName), State{Kubeconfig: s.Kubeconfig, Kafka: s.KafkaAddr})
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	if err := s.startManager(runCtx); err != nil {
		return nil, err
	}
	if err := s.startRunner(runCtx); err != nil {
		return nil, err
	}
	s.Say("sandbox        ready; state in %s, logs in %s", rel(s.state.path), rel(s.logFile.Name()))
	return s, nil
}

// Err delivers the first error of a component that stopped on its own.
func (s *Sandbox) Err() <-chan error { return s.errc }

func (s *Sandbox) preflight() error {
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(s.opts.AssetsDir, bin)); err != nil {
			return fmt.Errorf("%s not found in %s: run `make envtest` to build it from source", bin, s.opts.AssetsDir)
		}
	}
	if _, err := os.Stat(s.opts.BridgeBinary); err != nil {
		return fmt.Errorf("bridge binary not found at %s: run `make build` or pass --bridge-binary", s.opts.BridgeBinary)
	}
	if _, err := os.Stat(s.opts.CRDDir); err != nil {
		return fmt.Errorf("CRD directory %s not found: run junction dev from the repository root", s.opts.CRDDir)
	}
	if err := os.MkdirAll(s.opts.Dir, 0o755); err != nil {
		return err
	}
	if err := s.lock(); err != nil {
		return err
	}
	// Bridges of an earlier run are not ours any more.
	return os.RemoveAll(filepath.Join(s.opts.Dir, "bridges"))
}

// startLogging sends controller-runtime and client-go logs to a file: the terminal is for the
// short progress lines.
func (s *Sandbox) startLogging() error {
	f, err := os.Create(filepath.Join(s.opts.Dir, "junction.log"))
	if err != nil {
		return err
	}
	s.logFile = f
	var mu sync.Mutex
	logger := funcr.NewJSON(func(obj string) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintln(f, obj)
	}, funcr.Options{LogTimestamp: true, Verbosity: 1})
	ctrl.SetLogger(logger)
	klog.SetLogger(logger)
	return nil
}

func (s *Sandbox) startControlPlane() error {
	apiLog, err := os.Create(filepath.Join(s.opts.Dir, "kube-apiserver.log"))
	if err != nil {
		return err
	}
	etcdLog, err := os.Create(filepath.Join(s.opts.Dir, "etcd.log"))
	if err != nil {
		return err
	}
	s.env = &envtest.Environment{
		BinaryAssetsDirectory: s.opts.AssetsDir,
		CRDDirectoryPaths:     []string{s.opts.CRDDir},
		ErrorIfCRDPathMissing: true,
		ControlPlane: envtest.ControlPlane{
			APIServer: &envtest.APIServer{Out: apiLog, Err: apiLog},
			Etcd:      &envtest.Etcd{Out: etcdLog, Err: etcdLog},
		},
	}
	cfg, err := s.env.Start()
	if err != nil {
		return fmt.Errorf("start kube-apiserver and etcd (logs in %s): %w", rel(s.opts.Dir), err)
	}
	s.Config = cfg
	user, err := s.env.AddUser(envtest.User{Name: "junction-dev", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return fmt.Errorf("add kubeconfig user: %w", err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		return err
	}
	path, err := filepath.Abs(filepath.Join(s.opts.Dir, "kubeconfig"))
	if err != nil {
		return err
	}
	if err := writeFileAtomic(path, kubeconfig, 0o600); err != nil {
		return err
	}
	s.Kubeconfig = path
	// The sandbox's own client uses the kubeconfig it hands out, so the demo proves it works.
	userCfg, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	s.Client, err = client.New(userCfg, client.Options{Scheme: scheme})
	return err
}

func (s *Sandbox) startKafka() error {
	if s.opts.Kafka != "" {
		s.KafkaAddr = s.opts.Kafka
		s.Say("kafka          external at %s", s.KafkaAddr)
		return nil
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		return fmt.Errorf("start embedded kafka: %w", err)
	}
	s.kafka = c
	s.KafkaAddr = c.ListenAddrs()[0]
	s.Say("kafka          embedded (kfake) at %s", s.KafkaAddr)
	return nil
}

// startManager runs the operator's manager in-process, exactly as cmd/manager would.
func (s *Sandbox) startManager(ctx context.Context) error {
	s.goRun("manager", func() error {
		return controllers.Run(ctx, s.Config, controllers.Options{MetricsAddr: "0", ProbeAddr: "0"})
	})
	s.Say("manager        running in-process")
	return nil
}

// startRunner runs the runner in a manager of its own.
func (s *Sandbox) startRunner(ctx context.Context) error {
	r, mgr, err := newRunner(s.Config, s.opts.BridgeBinary, filepath.Join(s.opts.Dir, "bridges"), s.state,
		func(format string, args ...any) { s.Say("      runner: "+format, args...) })
	if err != nil {
		return err
	}
	s.Runner = r
	s.goRun("bridge runner", func() error { return mgr.Start(ctx) })
	s.Say("runner         watching bridge Deployments (binary %s)", s.opts.BridgeBinary)
	return nil
}

// goRun runs a component until ctx ends; one that stops early with an error is reported on Err.
func (s *Sandbox) goRun(name string, run func() error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := run(); err != nil && !errors.Is(err, context.Canceled) {
			select {
			case s.errc <- fmt.Errorf("%s stopped: %w", name, err):
			default:
			}
		}
	}()
}

// Stop stops the bridges, the manager, Kafka and the control plane, in that order of
// dependence, and removes state.json. It is safe to call on a partly started sandbox.
func (s *Sandbox) Stop() {
	if s.cancel != nil {
		s.cancel()
		done := make(chan struct{})
		go func() { s.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			s.Say("manager did not stop within 30s; stopping the rest anyway")
		}
	}
	if s.Runner != nil {
		s.Runner.StopAll()
	}
	if s.kafka != nil {
		s.kafka.Close()
	}
	if s.env != nil {
		if err := s.env.Stop(); err != nil {
			s.Say("stopping the control plane: %v", err)
		}
	}
	if s.state != nil {
		_ = s.state.remove()
	}
	if s.locked {
		_ = os.Remove(filepath.Join(s.opts.Dir, pidFileName))
	}
	if s.logFile != nil {
		ctrl.SetLogger(logr.Discard())
		_ = s.logFile.Close()
	}
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }

// pidFileName marks a directory as in use by a running sandbox.
const pidFileName = "junction.pid"

// lock claims the directory: two sandboxes in one directory would overwrite each other's
// kubeconfig, state and bridges.
func (s *Sandbox) lock() error {
	path := filepath.Join(s.opts.Dir, pidFileName)
	if data, err := os.ReadFile(path); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid != os.Getpid() &&
			syscall.Kill(pid, 0) == nil {
			return fmt.Errorf("another junction dev (pid %d) uses %s: stop it or pass --dir", pid, rel(s.opts.Dir))
		}
	}
	if err := writeFileAtomic(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644); err != nil {
		return err
	}
	s.locked = true
	return nil
}
