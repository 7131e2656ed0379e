// Package kafkaharness runs a real Apache Kafka cluster (KRaft, combined broker+controller
// nodes on 127.0.0.1) as child processes for end-to-end tests.
//
// The jars come from hack/kafka (resolved by Maven, see hack/kafka/install.sh); java is taken
// from PATH. Every port is picked free by this package. Start is the testing entry point;
// Launch is the same without the testing package (used by cmd/kafka-up and hack/kafka/start.sh).
package kafkaharness

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/IBM/sarama"
)

// Options tune a cluster. The zero value (with Brokers set) is what tests normally want.
type Options struct {
	// Brokers is the number of nodes; each is broker and controller, all in one quorum.
	Brokers int
	// ServerProperties are added to (or override) every node's generated server.properties.
	ServerProperties map[string]string
	// FormatArgs are extra arguments to `kafka-storage format`, e.g. "--add-scram", "SCRAM-SHA-512=[name=u,password=p]".
	FormatArgs []string
	// ExtraListeners are client listeners added to every node, beside PLAINTEXT, each on a port
	// picked free; Cluster.Listeners has their addresses. Settings of one listener go in
	// ServerProperties as "listener.name.<lower-case name>.<key>".
	ExtraListeners []Listener
	// StartTimeout bounds the wait for the whole cluster to answer (after the storage format).
	// Default $JUNCTION_KAFKA_START_TIMEOUT (a Go duration) or else 90s.
	StartTimeout time.Duration
	// KeepDir keeps the data and log directory after Close even when nothing failed.
	KeepDir bool
	// Logf receives progress lines. Default: discard.
	Logf func(format string, args ...any)
}

// Listener is a named client listener.
type Listener struct {
	// Name is the listener name, e.g. "SCRAM"; not PLAINTEXT or CONTROLLER.
	Name string
	// SecurityProtocol is PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.
	SecurityProtocol string
}

// Cluster is a running set of Kafka nodes.
type Cluster struct {
	// BootstrapServers lists every node's client listener, "127.0.0.1:port".
	BootstrapServers []string
	// Listeners maps each of Options.ExtraListeners by name to every node's address on it.
	Listeners map[string][]string
	// ClusterID is the KRaft cluster id the storage was formatted with.
	ClusterID string
	// Dir holds one sub-directory per node: server.properties, server.log, data/.
	Dir string

	opts    Options
	lib     string
	nodes   []*node
	closeMu sync.Mutex
	closed  bool
}

// Broker describes one node of a cluster.
type Broker struct {
	ID             int32  // node.id, 1..n; the id sarama reports in metadata
	Addr           string // client listener, 127.0.0.1:port
	ControllerAddr string // KRaft controller listener
	LogPath        string // the node's stdout+stderr (log4j goes to the console)
	DataDir        string
}

type node struct {
	Broker
	dir    string
	props  string
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited; nil when never started
	err    error         // exit status, set before exited is closed
}

const (
	defaultStartTimeout = 90 * time.Second
	storageToolClass    = "kafka.tools.StorageTool"
	serverClass         = "kafka.Kafka"
)

// JVMArgs are the java options of every node process; $JUNCTION_KAFKA_JVM_OPTS (split on
// spaces) is appended to them.
// C1 only and the serial collector: start-up is about 40% faster on two loaded cores, and
// the tests push little traffic. Append -XX:TieredStopAtLevel=4 to measure throughput.
var JVMArgs = []string{
	"-Xmx512m", "-Xms128m",
	"-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC",
	"-XX:+ExitOnOutOfMemoryError",
	"-Djava.awt.headless=true",
}

// Launch formats and starts a cluster and waits until every broker is in the metadata.
// The caller must Close it. On error nothing is left running and the directory is kept
// (its path is in the error) when a node had started.
func Launch(ctx context.Context, opts Options) (*Cluster, error) {
	if opts.Brokers < 1 {
		return nil, fmt.Errorf("kafkaharness: Brokers must be at least 1, got %d", opts.Brokers)
	}
	seen := map[string]bool{"PLAINTEXT": true, "CONTROLLER": true}
	for _, l := range opts.ExtraListeners {
		if l.Name == "" || seen[l.Name] || l.SecurityProtocol == "" {
			return nil, fmt.Errorf("kafkaharness: extra listener %+v: needs a new name and a security protocol", l)
		}
		seen[l.Name] = true
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = defaultStartTimeout
		if v := os.Getenv("JUNCTION_KAFKA_START_TIMEOUT"); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return nil, fmt.Errorf("kafkaharness: JUNCTION_KAFKA_START_TIMEOUT=%q: %v", v, err)
			}
			opts.StartTimeout = d
		}
	}
	if opts.Logf == nil {
		opts.Logf = func(string, ...any) {}
	}
	began := time.Now()
	lib, err := Install()
	if err != nil {
		return nil, err
	}
	if d := time.Since(began); d > time.Second {
		opts.Logf("kafkaharness: hack/kafka/install.sh resolved the Kafka jars in %s", d.Round(time.Millisecond))
	}
	if _, err := exec.LookPath("java"); err != nil {
		return nil, errors.New("kafkaharness: java not found on PATH (Java 17+ is needed)")
	}
	// A port picked free can be taken by someone else before the broker binds it; a bind
	// failure is retried with fresh ports, anything else is returned at once.
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		c, err := launchOnce(ctx, opts, lib)
		if err == nil {
			return c, nil
		}
		lastErr = err
		if !errors.Is(err, errPortTaken) {
			return nil, err
		}
		opts.Logf("kafkaharness: a port was taken before Kafka bound it, retrying (%d/3)", attempt)
	}
	return nil, lastErr
}

var errPortTaken = errors.New("address already in use")

func launchOnce(ctx context.Context, opts Options, lib string) (_ *Cluster, err error) {
	begin := time.Now()
	dir, err := os.MkdirTemp("", "junction-kafka-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{Dir: dir, ClusterID: newUUID(), opts: opts, lib: lib}
	defer func() {
		if err != nil {
			c.killAll()
			c.removeDirUnless(true)
		}
	}()

	perNode := 2 + len(opts.ExtraListeners)
	ports, err := freePorts(perNode * opts.Brokers)
	if err != nil {
		return nil, err
	}
	c.Listeners = map[string][]string{}
	extra := make([][]string, opts.Brokers) // per node: "NAME://addr"
	var voters, initial []string
	for i := 0; i < opts.Brokers; i++ {
		id := int32(i + 1)
		nd := filepath.Join(dir, fmt.Sprintf("node-%d", id))
		n := &node{
			Broker: Broker{
				ID:             id,
				Addr:           net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[perNode*i])),
				ControllerAddr: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[perNode*i+1])),
				LogPath:        filepath.Join(nd, "server.log"),
				DataDir:        filepath.Join(nd, "data"),
			},
			dir:   nd,
			props: filepath.Join(nd, "server.properties"),
		}
		if err := os.MkdirAll(nd, 0o755); err != nil {
			return nil, err
		}
		c.nodes = append(c.nodes, n)
		c.BootstrapServers = append(c.BootstrapServers, n.Addr)
		for j, l := range opts.ExtraListeners {
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[perNode*i+2+j]))
			c.Listeners[l.Name] = append(c.Listeners[l.Name], addr)
			extra[i] = append(extra[i], l.Name+"://"+addr)
		}
		voters = append(voters, n.ControllerAddr)
		initial = append(initial, fmt.Sprintf("%d@%s:%s", id, n.ControllerAddr, newUUID()))
	}
	for i, n := range c.nodes {
		props := ServerProperties(n.ID, opts.Brokers, n.Addr, n.ControllerAddr, voters, n.DataDir)
		addListeners(props, opts.ExtraListeners, extra[i])
		for k, v := range opts.ServerProperties {
			props[k] = v
		}
		if err := os.WriteFile(n.props, renderProperties(props), 0o644); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(n.dir, "log4j2.properties"), []byte(log4jConfig), 0o644); err != nil {
			return nil, err
		}
	}

	// Format every node's storage (one JVM each, in parallel).
	errs := make(chan error, len(c.nodes))
	for _, n := range c.nodes {
		go func(n *node) {
			args := []string{"format", "--config", n.props, "--cluster-id", c.ClusterID}
			if opts.Brokers == 1 {
				args = append(args, "--standalone")
			} else {
				args = append(args, "--initial-controllers", strings.Join(initial, ","))
			}
			args = append(args, opts.FormatArgs...)
			errs <- c.runTool(ctx, n, storageToolClass, args...)
		}(n)
	}
	for range c.nodes {
		if e := <-errs; e != nil && err == nil {
			err = e
		}
	}
	if err != nil {
		return nil, err
	}
	formatted := time.Since(begin)

	for _, n := range c.nodes {
		if err := c.startNode(n); err != nil {
			return nil, err
		}
	}
	if err := c.waitReady(ctx, opts.StartTimeout, c.ids()); err != nil {
		return nil, err
	}
	opts.Logf("kafkaharness: %d broker(s) ready at %s in %s (storage format %s); logs in %s",
		opts.Brokers, strings.Join(c.BootstrapServers, ","), time.Since(begin).Round(time.Millisecond),
		formatted.Round(time.Millisecond), dir)
	return c, nil
}

// ServerProperties returns the generated configuration of one combined node. Exported so
// that what the harness runs can be read in one place and unit-tested.
func ServerProperties(id int32, brokers int, addr, controllerAddr string, quorum []string, dataDir string) map[string]string {
	rf := strconv.Itoa(brokers)
	return map[string]string{
		"process.roles":                                    "broker,controller",
		"node.id":                                          strconv.Itoa(int(id)),
		"controller.quorum.bootstrap.servers":              strings.Join(quorum, ","),
		"listeners":                                        "PLAINTEXT://" + addr + ",CONTROLLER://" + controllerAddr,
		"advertised.listeners":                             "PLAINTEXT://" + addr + ",CONTROLLER://" + controllerAddr,
		"listener.security.protocol.map":                   "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
		"controller.listener.names":                        "CONTROLLER",
		"inter.broker.listener.name":                       "PLAINTEXT",
		"log.dirs":                                         dataDir,
		"auto.create.topics.enable":                        "false",
		"delete.topic.enable":                              "true",
		"num.partitions":                                   "1",
		"default.replication.factor":                       "1",
		"offsets.topic.replication.factor":                 rf,
		"offsets.topic.num.partitions":                     "10",
		"transaction.state.log.replication.factor":         rf,
		"transaction.state.log.min.isr":                    "1",
		"transaction.state.log.num.partitions":             "10",
		"share.coordinator.state.topic.replication.factor": rf,
		"share.coordinator.state.topic.min.isr":            "1",
		"group.initial.rebalance.delay.ms":                 "0",
		"num.network.threads":                              "2",
		"num.io.threads":                                   "4",
		"num.recovery.threads.per.data.dir":                "1",
	}
}

// addListeners adds the extra listeners (endpoints "NAME://addr", in the order of ls) to a
// node's generated properties.
func addListeners(props map[string]string, ls []Listener, endpoints []string) {
	for j, l := range ls {
		props["listeners"] += "," + endpoints[j]
		props["advertised.listeners"] += "," + endpoints[j]
		props["listener.security.protocol.map"] += "," + l.Name + ":" + l.SecurityProtocol
	}
}

func renderProperties(p map[string]string) []byte {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteString("# generated by test/e2e/kafkaharness\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%s\n", k, p[k])
	}
	return b.Bytes()
}

const log4jConfig = `status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRefs = stdout
rootLogger.appenderRef.stdout.ref = STDOUT
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
`

func (c *Cluster) javaArgs(n *node, class string, args ...string) []string {
	a := append([]string{}, JVMArgs...)
	a = append(a, strings.Fields(os.Getenv("JUNCTION_KAFKA_JVM_OPTS"))...)
	a = append(a,
		"-Dlog4j2.configurationFile="+filepath.Join(n.dir, "log4j2.properties"),
		"-cp", filepath.Join(c.lib, "*"),
		class)
	return append(a, args...)
}

// runTool runs a short-lived Kafka main class for a node, its output appended to the node log.
func (c *Cluster) runTool(ctx context.Context, n *node, class string, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "java", c.javaArgs(n, class, args...)...)
	cmd.Dir = n.dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	_ = appendFile(n.LogPath, out.Bytes())
	if err != nil {
		return fmt.Errorf("kafkaharness: node %d: %s %s: %v\n%s", n.ID, class, strings.Join(args, " "), err, out.String())
	}
	return nil
}

func appendFile(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.Write(b)
	return err
}

func (c *Cluster) startNode(n *node) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running() {
		return fmt.Errorf("kafkaharness: node %d is already running", n.ID)
	}
	logf, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "=== kafkaharness: starting node %d at %s\n", n.ID, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command("java", c.javaArgs(n, serverClass, n.props)...)
	cmd.Dir = n.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	// Own process group, so Close can signal the whole group; SIGKILL when this test process
	// dies without running its cleanups (for example on a `go test -timeout` panic).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	err = spawn(cmd)
	logf.Close() // the child holds its own copy
	if err != nil {
		return fmt.Errorf("kafkaharness: node %d: starting java: %w", n.ID, err)
	}
	exited := make(chan struct{})
	n.cmd, n.exited, n.err = cmd, exited, nil
	go func() {
		err := cmd.Wait()
		n.mu.Lock()
		n.err = err
		n.mu.Unlock()
		close(exited)
	}()
	return nil
}

func (n *node) running() bool {
	if n.exited == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// signal sends sig to the node's process group and waits up to wait for it to exit.
func (n *node) signal(sig syscall.Signal, wait time.Duration) bool {
	n.mu.Lock()
	cmd, exited := n.cmd, n.exited
	n.mu.Unlock()
	if exited == nil {
		return true
	}
	select {
	case <-exited:
		return true
	default:
	}
	_ = syscall.Kill(-cmd.Process.Pid, sig)
	select {
	case <-exited:
		return true
	case <-time.After(wait):
		return false
	}
}

func (c *Cluster) ids() []int32 {
	var ids []int32
	for _, n := range c.nodes {
		n.mu.Lock()
		if n.running() {
			ids = append(ids, n.ID)
		}
		n.mu.Unlock()
	}
	return ids
}

// SaramaConfig returns a sarama configuration suited to this harness's Kafka version.
func SaramaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	cfg.ClientID = "kafkaharness"
	cfg.Net.DialTimeout = 3 * time.Second
	cfg.Net.ReadTimeout = 10 * time.Second
	cfg.Net.WriteTimeout = 10 * time.Second
	cfg.Metadata.Retry.Max = 0
	return cfg
}

// waitReady polls until the metadata lists exactly the brokers in want and a controller,
// failing fast when a node process exits.
func (c *Cluster) waitReady(ctx context.Context, timeout time.Duration, want []int32) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var addrs []string
	for _, n := range c.nodes {
		if containsID(want, n.ID) {
			addrs = append(addrs, n.Addr)
		}
	}
	last := errors.New("no answer yet")
	for {
		for _, n := range c.nodes {
			if !containsID(want, n.ID) {
				continue
			}
			n.mu.Lock()
			exited, exitErr := n.exited, n.err
			n.mu.Unlock()
			select {
			case <-exited:
				tail := Tail(n.LogPath, 40)
				if strings.Contains(tail, "Address already in use") || strings.Contains(tail, "BindException") {
					return fmt.Errorf("kafkaharness: node %d exited: %w\n%s", n.ID, errPortTaken, tail)
				}
				return fmt.Errorf("kafkaharness: node %d exited during start-up (%v); last lines of %s:\n%s", n.ID, exitErr, n.LogPath, tail)
			default:
			}
		}
		if err := checkMetadata(addrs, want); err == nil {
			return nil
		} else {
			last = err
		}
		select {
		case <-ctx.Done():
			var tails strings.Builder
			for _, n := range c.nodes {
				fmt.Fprintf(&tails, "--- node %d (%s) ---\n%s\n", n.ID, n.LogPath, Tail(n.LogPath, 30))
			}
			return fmt.Errorf("kafkaharness: brokers %v not ready within %s: %v\n%s", want, timeout, last, tails.String())
		case <-time.After(300 * time.Millisecond):
		}
	}
}

func checkMetadata(addrs []string, want []int32) error {
	client, err := sarama.NewClient(addrs, SaramaConfig())
	if err != nil {
		return err
	}
	defer client.Close()
	if err := client.RefreshMetadata(); err != nil {
		return err
	}
	var got []int32
	for _, b := range client.Brokers() {
		got = append(got, b.ID())
	}
	sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
	if fmt.Sprint(got) != fmt.Sprint(want) {
		return fmt.Errorf("metadata lists brokers %v, want %v", got, want)
	}
	if _, err := client.Controller(); err != nil {
		return fmt.Errorf("no controller: %w", err)
	}
	return nil
}

func containsID(ids []int32, id int32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// Brokers describes every node, running or not, in node id order.
func (c *Cluster) Brokers() []Broker {
	out := make([]Broker, len(c.nodes))
	for i, n := range c.nodes {
		out[i] = n.Broker
	}
	return out
}

func (c *Cluster) node(id int32) (*node, error) {
	for _, n := range c.nodes {
		if n.ID == id {
			return n, nil
		}
	}
	return nil, fmt.Errorf("kafkaharness: no node %d (nodes are 1..%d)", id, len(c.nodes))
}

// StopBroker shuts node id down gracefully (SIGTERM, controlled shutdown), killing it after 30s.
func (c *Cluster) StopBroker(id int32) error {
	n, err := c.node(id)
	if err != nil {
		return err
	}
	if !n.signal(syscall.SIGTERM, 30*time.Second) {
		c.opts.Logf("kafkaharness: node %d ignored SIGTERM for 30s, killing it", id)
		n.signal(syscall.SIGKILL, 30*time.Second)
	}
	return nil
}

// KillBroker kills node id at once (SIGKILL), as a crash would.
func (c *Cluster) KillBroker(id int32) error {
	n, err := c.node(id)
	if err != nil {
		return err
	}
	if !n.signal(syscall.SIGKILL, 30*time.Second) {
		return fmt.Errorf("kafkaharness: node %d did not exit after SIGKILL", id)
	}
	return nil
}

// StartBroker starts a stopped node again on the same ports and data, and waits until the
// metadata lists every running node.
func (c *Cluster) StartBroker(id int32) error {
	n, err := c.node(id)
	if err != nil {
		return err
	}
	if err := c.startNode(n); err != nil {
		return err
	}
	return c.waitReady(context.Background(), c.opts.StartTimeout, c.ids())
}

// WaitReady waits until the metadata lists exactly the running nodes and a controller,
// for example after StopBroker. A zero timeout means the cluster's StartTimeout.
func (c *Cluster) WaitReady(timeout time.Duration) error {
	if timeout <= 0 {
		timeout = c.opts.StartTimeout
	}
	return c.waitReady(context.Background(), timeout, c.ids())
}

// RestartBroker is StopBroker then StartBroker.
func (c *Cluster) RestartBroker(id int32) error {
	if err := c.StopBroker(id); err != nil {
		return err
	}
	return c.StartBroker(id)
}

// Close kills every node and removes the directory unless KeepDir was set.
func (c *Cluster) Close() error {
	return c.close(c.opts.KeepDir)
}

func (c *Cluster) close(keep bool) error {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	err := c.killAll()
	c.removeDirUnless(keep)
	return err
}

func (c *Cluster) killAll() error {
	var errs []error
	for _, n := range c.nodes {
		if !n.signal(syscall.SIGKILL, 30*time.Second) {
			errs = append(errs, fmt.Errorf("kafkaharness: node %d did not exit after SIGKILL", n.ID))
		}
	}
	return errors.Join(errs...)
}

func (c *Cluster) removeDirUnless(keep bool) {
	if !keep {
		_ = os.RemoveAll(c.Dir)
	}
}

// LogTails returns the last lines of every node's log, for failure reports.
func (c *Cluster) LogTails(lines int) string {
	var b strings.Builder
	for _, n := range c.nodes {
		fmt.Fprintf(&b, "----- kafka node %d: last %d lines of %s -----\n%s\n", n.ID, lines, n.LogPath, Tail(n.LogPath, lines))
	}
	return b.String()
}

// Tail returns up to the last n lines of a file (reading at most its last 256 KiB).
func Tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(%v)", err)
	}
	defer f.Close()
	const max = 256 << 10
	if st, err := f.Stat(); err == nil && st.Size() > max {
		_, _ = f.Seek(st.Size()-max, io.SeekStart)
	}
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// freePorts reserves n distinct loopback ports by listening on :0, then releases them all.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// newUUID returns a random Kafka Uuid in its text form (URL-safe base64, no padding).
// Like Kafka's Uuid.randomUuid it avoids a leading '-', which a command line would take
// for an option.
func newUUID() string {
	for {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			panic(err)
		}
		if s := base64.RawURLEncoding.EncodeToString(b[:]); s[0] != '-' {
			return s
		}
	}
}
