package harness

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Options configures StartNode. The zero value starts a node with podnet's defaults.
type Options struct {
	// Config is YAML written to a file and passed as --config; empty passes no --config.
	Config string
	// ConfigFor, when set, makes the YAML from the node's network (addresses a test must put in
	// the config, such as a LoadBalancer pool in the client's subnet); it replaces Config.
	ConfigFor func(nw *Network) string
	// ResolvConfFor, when set, writes the cluster DNS's upstream file (--dns-resolv-conf) from
	// the node's network, e.g. naming a resolver the test runs in the client's namespace. By
	// default the file names no resolver.
	ResolvConfFor func(nw *Network) string
	// ExtraArgs are appended to `podnet serve`'s arguments.
	ExtraArgs []string
	// Env is added to the environment of every podnet and kubectl process the node starts.
	Env []string
	// Binary replaces PODNET_BIN and <repo>/bin/podnet.
	Binary string
	// ReadyTimeout bounds the wait for /readyz (default 60 s).
	ReadyTimeout time.Duration
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL (default 20 s).
	StopTimeout time.Duration
	// KubectlTimeout bounds each kubectl run (default 2 min).
	KubectlTimeout time.Duration
}

func (o *Options) setDefaults() {
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 60 * time.Second
	}
	if o.StopTimeout == 0 {
		o.StopTimeout = 20 * time.Second
	}
	if o.KubectlTimeout == 0 {
		o.KubectlTimeout = 2 * time.Minute
	}
}

// logTailLines is how much of the daemon's log a failed test prints.
const logTailLines = 200

// Node is a running `podnet serve` in its own network namespaces. Network's methods (NodeIP,
// InNodeNS, DialClient, ...) are available on it.
type Node struct {
	*Network
	t       testing.TB
	opts    Options
	bin     string
	dataDir string
	runDir  string
	logPath string
	// cacheDir is kubectl's --cache-dir, private to this node.
	cacheDir   string
	configPath string
	resolvConf string
	d          *daemon
	released   bool
}

// StartNode makes the namespaces, starts podnet in the node namespace and waits for /readyz.
// Everything is removed at test cleanup; see the package documentation.
func StartNode(t testing.TB, opts Options) *Node {
	t.Helper()
	requireRoot(t)
	requireTools(t, "ip", "nsenter")
	opts.setDefaults()
	n := &Node{t: t, opts: opts, bin: podnetBinary(t, opts.Binary)}
	n.Network = newNetwork(t)
	if opts.ConfigFor != nil {
		n.opts.Config = opts.ConfigFor(n.Network)
	}
	n.makeDirs()
	if opts.ResolvConfFor != nil {
		if err := os.WriteFile(n.resolvConf, []byte(opts.ResolvConfFor(n.Network)), 0o644); err != nil {
			t.Fatalf("writing the DNS upstream file: %v", err)
		}
	}
	// Registered after t.TempDir (so it runs before TempDir's removal) and before anything is
	// created outside it, so a failure half way still cleans up.
	t.Cleanup(n.cleanup)
	n.makeRunDir()
	n.Network.build()
	n.start()
	return n
}

func (n *Node) makeDirs() {
	base := n.t.TempDir()
	n.dataDir = filepath.Join(base, "data")
	n.cacheDir = filepath.Join(base, "kubectl-cache")
	n.logPath = filepath.Join(base, "podnet.log")
	for _, dir := range []string{n.dataDir, n.cacheDir} {
		if err := os.Mkdir(dir, 0o700); err != nil {
			n.t.Fatalf("making node directories: %v", err)
		}
	}
	// The cluster DNS forwards to no real resolver in tests: its upstreams come from this file,
	// which names none (a test that needs an upstream runs one and passes its own).
	n.resolvConf = filepath.Join(base, "upstream-resolv.conf")
	if err := os.WriteFile(n.resolvConf, []byte("# no upstream resolvers: tests stay inside their namespaces\n"), 0o644); err != nil {
		n.t.Fatalf("writing the DNS upstream file: %v", err)
	}
	if n.opts.Config == "" {
		return
	}
	n.configPath = filepath.Join(base, "config.yaml")
	if err := os.WriteFile(n.configPath, []byte(n.opts.Config), 0o600); err != nil {
		n.t.Fatalf("writing node config: %v", err)
	}
}

// makeRunDir puts the run dir under /run: t.TempDir paths are long, and unix socket paths under
// the run dir must fit in 108 bytes.
func (n *Node) makeRunDir() {
	dir, err := os.MkdirTemp("/run", "pnt")
	if err != nil {
		n.t.Fatalf("making run dir: %v", err)
	}
	n.runDir = dir
}

func (n *Node) argv() []string {
	// --offline: a test's traffic stays inside its own namespaces, image pulls included; tests
	// import the images they run (make images).
	argv := []string{"--net=" + n.NodeNSPath(), "--", n.bin, "serve", "--data-dir", n.dataDir, "--run-dir", n.runDir, "--offline",
		"--dns-resolv-conf", n.resolvConf}
	if n.configPath != "" {
		argv = append(argv, "--config", n.configPath)
	}
	return append(argv, n.opts.ExtraArgs...)
}

// start runs the daemon with nsenter, which execs podnet: the PID is podnet's.
func (n *Node) start() {
	n.t.Helper()
	nsenter, err := execPath("nsenter")
	if err != nil {
		n.t.Fatal(err)
	}
	logFile, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		n.t.Fatalf("opening podnet log: %v", err)
	}
	defer logFile.Close()
	n.d, err = startDaemon(append([]string{nsenter}, n.argv()...), append(os.Environ(), n.opts.Env...), logFile)
	if err != nil {
		n.t.Fatal(err)
	}
	// No log here: cleanup prints the tail of the log for every failed test.
	if err := n.waitReady(); err != nil {
		n.t.Fatal(err)
	}
}

// waitReady polls /readyz until it answers 200 "ok", the daemon dies, or ReadyTimeout passes.
// It also holds podnet to its contract that the kubeconfig exists once it is ready.
func (n *Node) waitReady() error {
	deadline := time.Now().Add(n.opts.ReadyTimeout)
	var last error
	for time.Now().Before(deadline) {
		if n.d.exited() {
			return fmt.Errorf("podnet exited before it was ready: %v", n.d.err)
		}
		if last = n.probeReadyz(); last == nil {
			if _, err := os.Stat(n.KubeconfigPath()); err != nil {
				return fmt.Errorf("podnet is ready but wrote no kubeconfig: %w", err)
			}
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("podnet not ready within %s: %w", n.opts.ReadyTimeout, last)
}

// probeReadyz GETs https://127.0.0.1:6443/readyz over a socket opened inside the node's
// namespace. The certificate is not checked: this is a liveness probe, and trust is what the
// kubeconfig-driven tests are for.
func (n *Node) probeReadyz() error {
	conn, err := n.DialNode("tcp", "127.0.0.1:6443")
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return fmt.Errorf("readyz: %w", err)
	}
	tlsConn := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, ServerName: "127.0.0.1"})
	req, err := http.NewRequest(http.MethodGet, "https://127.0.0.1:6443/readyz", nil)
	if err != nil {
		return fmt.Errorf("readyz: %w", err)
	}
	req.Close = true
	if err := req.Write(tlsConn); err != nil {
		return fmt.Errorf("readyz: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(tlsConn), req)
	if err != nil {
		return fmt.Errorf("readyz: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return fmt.Errorf("readyz: %w", err)
	}
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
		return fmt.Errorf("readyz: %s: %q", resp.Status, body)
	}
	return nil
}

// Stop sends SIGTERM and waits (StopTimeout, then SIGKILL). It fails the test if podnet had
// crashed, hung or exited non-zero.
func (n *Node) Stop() {
	n.t.Helper()
	if n.d == nil {
		return
	}
	if err := n.d.stop(n.opts.StopTimeout); err != nil {
		n.t.Error(err)
	}
}

// Kill9 SIGKILLs podnet and waits for it, as a crash or power cut would leave things.
func (n *Node) Kill9() {
	if n.d != nil && !n.d.exited() {
		n.d.kill()
	}
}

// Restart stops podnet if it runs, starts it again on the same directories and waits for ready.
func (n *Node) Restart() {
	n.t.Helper()
	n.Stop()
	n.start()
}

// PID is the daemon's process id (0 before the first start).
func (n *Node) PID() int {
	if n.d == nil {
		return 0
	}
	return n.d.pid()
}

// Running reports whether the daemon process is alive.
func (n *Node) Running() bool { return n.d != nil && !n.d.exited() }

// DataDir is podnet's --data-dir (under t.TempDir()).
func (n *Node) DataDir() string { return n.dataDir }

// RunDir is podnet's --run-dir (a short directory under /run).
func (n *Node) RunDir() string { return n.runDir }

// InPodNS runs fn on an OS thread inside the network namespace of the pod with this UID (its
// sandbox's pinned namespace under the run dir). Sockets fn opens stay in the pod's namespace.
func (n *Node) InPodNS(uid string, fn func() error) error {
	return inNetns(filepath.Join(n.runDir, "pods", uid, "ns", "net"), fn)
}

// KubeconfigPath is the kubeconfig podnet writes into its data dir.
func (n *Node) KubeconfigPath() string { return filepath.Join(n.dataDir, "kubeconfig") }

// LogPath is the file podnet's stdout and stderr go to, across restarts.
func (n *Node) LogPath() string { return n.logPath }

// Logs returns everything podnet has logged so far.
func (n *Node) Logs() string {
	b, err := os.ReadFile(n.logPath)
	if err != nil {
		return fmt.Sprintf("(no podnet log: %v)", err)
	}
	return string(b)
}

func (n *Node) logTail() string {
	lines := strings.Split(strings.TrimRight(n.Logs(), "\n"), "\n")
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	return fmt.Sprintf("--- last %d lines of %s ---\n%s\n--- end of podnet log ---", len(lines), n.logPath, strings.Join(lines, "\n"))
}

// cleanup runs at the end of the test, failed or not.
func (n *Node) cleanup() {
	if n.d != nil && !n.d.exited() {
		if err := n.d.stop(n.opts.StopTimeout); err != nil {
			n.t.Error(err)
		}
	}
	for _, leak := range n.release() {
		n.t.Error("leak: " + leak)
	}
	if n.t.Failed() && n.d != nil {
		n.t.Log(n.logTail())
	}
}

// release removes what the node made outside t.TempDir and returns what podnet left behind.
// Only the first call does anything.
// PodCgroups lists the pod cgroups podnet holds for this node, in every hierarchy.
func (n *Node) PodCgroups() []string {
	var out []string
	for _, scope := range nodeCgroups(n.dataDir) {
		pods, _ := filepath.Glob(filepath.Join(scope, "pod*"))
		out = append(out, pods...)
	}
	return out
}

func hasDirs(ents []os.DirEntry) bool {
	for _, e := range ents {
		if e.IsDir() {
			return true
		}
	}
	return false
}

func (n *Node) release() []string {
	if n.released {
		return nil
	}
	n.released = true
	if n.d != nil && !n.d.exited() {
		n.d.kill()
	}
	leaks := n.Network.release(n.runDir, n.dataDir)
	// Cgroups: what podnet's shutdown leaves when pods were left running (they were killed
	// above), or what it failed to remove.
	for _, cg := range nodeCgroups(n.dataDir) {
		if ents, _ := os.ReadDir(cg); hasDirs(ents) {
			leaks = append(leaks, fmt.Sprintf("cgroup %s left behind", cg))
		}
	}
	leaks = append(leaks, removeCgroups(nodeCgroups(n.dataDir))...)
	if n.runDir == "" {
		return leaks
	}
	if err := os.RemoveAll(n.runDir); err != nil {
		leaks = append(leaks, fmt.Sprintf("removing run dir: %v", err))
	}
	return leaks
}
