package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	if os.Getenv(fakePodnetEnv) == "1" {
		os.Exit(fakePodnet(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// hostLinks lists the host namespace's interfaces (read-only), to prove the harness adds none.
func hostLinks(t *testing.T) string {
	t.Helper()
	entries, err := os.ReadDir("/sys/class/net")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return strings.Join(names, " ")
}

// fill substitutes {node}, {client}, {nodens} and {clientns} in an expected literal.
func fill(nw *Network, s string) string {
	return strings.NewReplacer(
		"{node}", nw.NodeIP().String(), "{client}", nw.ClientIP().String(),
		"{nodens}", nw.NodeNS(), "{clientns}", nw.ClientNS(),
	).Replace(s)
}

func mustRun(t *testing.T, run func(string, ...string) (string, string, error), name string, args ...string) string {
	t.Helper()
	out, errOut, err := run(name, args...)
	if err != nil {
		t.Fatalf("%v: %s", err, errOut)
	}
	return out
}

func TestNetworkIsBuiltAndRemoved(t *testing.T) {
	before := hostLinks(t)
	nw := NewNetwork(t)

	tests := []struct {
		name string
		run  func(string, ...string) (string, string, error)
		args []string
		want string
	}{
		{"node addresses", nw.RunNode, []string{"ip", "-br", "-4", "addr"},
			"lo               UNKNOWN        127.0.0.1/8 \neth0@if2         UP             {node}/24 \n"},
		{"client addresses", nw.RunClient, []string{"ip", "-br", "-4", "addr"},
			"lo               UNKNOWN        127.0.0.1/8 \neth0@if2         UP             {client}/24 \n"},
		{"node routes", nw.RunNode, []string{"ip", "-4", "route"},
			"default via {client} dev eth0 \n10.199.{third}.0/24 dev eth0 proto kernel scope link src {node} \n"},
		{"client routes", nw.RunClient, []string{"ip", "-4", "route"},
			"10.199.{third}.0/24 dev eth0 proto kernel scope link src {client} \n"},
	}
	third := strings.Split(nw.NodeIP().String(), ".")[2]
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := mustRun(t, tc.run, tc.args[0], tc.args[1:]...)
			want := strings.ReplaceAll(fill(nw, tc.want), "{third}", third)
			if got != want {
				t.Errorf("got:\n%q\nwant:\n%q", got, want)
			}
		})
	}

	for _, p := range []struct {
		name string
		ping func() error
	}{
		{"node pings client", func() error { return nw.PingFromNode(nw.ClientIP()) }},
		{"client pings node", func() error { return nw.PingFromClient(nw.NodeIP()) }},
	} {
		if err := p.ping(); err != nil {
			t.Errorf("%s: %v", p.name, err)
		}
	}
	if during := hostLinks(t); during != before {
		t.Errorf("host interfaces changed: %q -> %q", before, during)
	}

	if leaks := nw.release(); len(leaks) > 0 {
		t.Errorf("leaks from a clean network: %q", leaks)
	}
	for _, ns := range []string{nw.NodeNS(), nw.ClientNS()} {
		if _, err := os.Stat(filepath.Join("/run/netns", ns)); !os.IsNotExist(err) {
			t.Errorf("namespace %s not removed: %v", ns, err)
		}
	}
	if after := hostLinks(t); after != before {
		t.Errorf("host interfaces changed: %q -> %q", before, after)
	}
}

func TestNetworkReleaseReportsAndKillsLeftoverProcesses(t *testing.T) {
	nw := NewNetwork(t)
	sleeper := exec.Command("nsenter", "--net="+nw.ClientNSPath(), "--", "sleep", "300")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- sleeper.Wait() }()
	// nsenter execs sleep only after setns; wait for that so the scan cannot miss it.
	waitFor(t, func() bool {
		return processName(sleeper.Process.Pid) == "sleep" && len(processesIn(netnsInodes([]string{nw.ClientNSPath()}, nil))) == 1
	})

	got := nw.release()
	want := []string{fmt.Sprintf("process %d (sleep) still running in %s", sleeper.Process.Pid, nw.ClientNS())}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("leaks:\n%q\nwant:\n%q", got, want)
	}
	if err := <-waited; err == nil || err.Error() != "signal: killed" {
		t.Errorf("leftover process ended with %v, want signal: killed", err)
	}
}

func TestUnmountUnderDetachesNestedMounts(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	outer := filepath.Join(dir, "a b")
	inner := filepath.Join(outer, "inner")
	mountTmpfs(t, outer)
	if err := os.Mkdir(inner, 0o700); err != nil {
		t.Fatal(err)
	}
	mountTmpfs(t, inner)

	got := unmountUnder([]string{dir})
	want := []string{
		"mount " + outer + " (tmpfs) left behind",
		"mount " + inner + " (tmpfs) left behind",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if rest := mountsUnder([]string{dir}); len(rest) != 0 {
		t.Errorf("mounts remain: %v", rest)
	}
}

func mountTmpfs(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(dir, unix.MNT_DETACH) })
}

func TestParseMountinfo(t *testing.T) {
	tests := []struct {
		line string
		want mount
	}{
		{"36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue",
			mount{point: "/mnt2", fstype: "ext3"}},
		{`612 29 0:4 net:[4026532281] /run/pnt1/netns/a\040b rw shared:1 - nsfs nsfs rw`,
			mount{point: "/run/pnt1/netns/a b", fstype: "nsfs"}},
	}
	for _, tc := range tests {
		got, ok := parseMountinfo(tc.line)
		if !ok || got != tc.want {
			t.Errorf("parseMountinfo(%q) = %+v, %v; want %+v", tc.line, got, ok, tc.want)
		}
	}
}

func fakeOptions(t *testing.T, env ...string) Options {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Options{Binary: self, Env: append([]string{fakePodnetEnv + "=1"}, env...), Config: "logLevel: debug\n"}
}

func TestStartNodeLifecycle(t *testing.T) {
	n := StartNode(t, fakeOptions(t))

	if !strings.HasPrefix(n.RunDir(), "/run/pnt") || len(n.RunDir()) > 20 {
		t.Errorf("run dir %q: want a short directory under /run", n.RunDir())
	}
	kubeconfig, err := os.ReadFile(n.KubeconfigPath())
	if err != nil || !strings.Contains(string(kubeconfig), "server: https://"+n.NodeIP().String()+":6443\n") {
		t.Errorf("kubeconfig does not point at the node IP %s: %v\n%s", n.NodeIP(), err, kubeconfig)
	}
	if got := n.MustKubectl(t, "get", "--raw", "/readyz"); got != "ok" {
		t.Errorf("kubectl get --raw /readyz = %q, want %q", got, "ok")
	}
	out, _, err := n.PodnetKubectlIn("hello\n", "apply", "-f", "-")
	wantOut := "kubectl --kubeconfig " + n.KubeconfigPath() + " --cache-dir " + n.cacheDir + " apply -f -\nstdin: hello\n\n"
	if err != nil || out != wantOut {
		t.Errorf("podnet kubectl: %v\ngot:\n%q\nwant:\n%q", err, out, wantOut)
	}
	conn, err := n.DialClient("tcp", n.NodeIP().String()+":6443")
	if err != nil {
		t.Errorf("client cannot reach the API: %v", err)
	} else {
		conn.Close()
	}

	first := n.PID()
	n.Restart()
	if n.PID() == first || !n.Running() {
		t.Errorf("Restart: pid %d -> %d, running %v", first, n.PID(), n.Running())
	}
	n.Kill9()
	if n.Running() || unix.Kill(n.PID(), 0) == nil {
		t.Errorf("Kill9 left pid %d running", n.PID())
	}
	n.Restart()
	n.Stop()

	ip := n.NodeIP().String()
	// Start, Restart (SIGTERM), Kill9 (no goodbye), Restart, Stop.
	wantLog := strings.NewReplacer("{ip}", ip).Replace(`config: logLevel: debug
serving on {ip}:6443
stopping on SIGTERM
config: logLevel: debug
serving on {ip}:6443
config: logLevel: debug
serving on {ip}:6443
stopping on SIGTERM
`)
	if got := n.Logs(); got != wantLog {
		t.Errorf("log:\n%s\nwant:\n%s", got, wantLog)
	}
}

func TestNodeReleaseReportsLeaks(t *testing.T) {
	n := StartNode(t, fakeOptions(t, fakeLeakEnv+"=1"))
	n.Stop()
	leaked := regexp.MustCompile(`leaked process (\d+)`).FindStringSubmatch(n.Logs())
	if leaked == nil {
		t.Fatalf("fake podnet did not leak:\n%s", n.Logs())
	}

	got := n.release()
	want := []string{
		"process " + leaked[1] + " (sleep) still running in " + n.NodeNS(),
		"mount " + n.RunDir() + "/leak (tmpfs) left behind",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("leaks:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := os.Stat(n.RunDir()); !os.IsNotExist(err) {
		t.Errorf("run dir %s not removed: %v", n.RunDir(), err)
	}
	if again := n.release(); again != nil {
		t.Errorf("second release: %q", again)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for range 100 {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("condition not met within 2s")
}

func TestStartNodeReportsBrokenDaemons(t *testing.T) {
	requireRoot(t)
	tests := []struct {
		name string
		mode string
		opts func(*Options)
		body func(*Node)
		want string
	}{
		{
			name: "binary missing",
			opts: func(o *Options) { o.Binary = "/nonexistent/podnet" },
			want: "bin/podnet missing: run make build",
		},
		{
			name: "exits before ready",
			mode: "exit",
			want: `podnet exited before it was ready: exit status 1
log: --- last 2 lines of {log} ---
config: logLevel: debug
fake podnet: giving up at once
--- end of podnet log ---`,
		},
		{
			name: "never ready",
			mode: "silent",
			opts: func(o *Options) { o.ReadyTimeout = 500 * time.Millisecond },
			want: `podnet not ready within 500ms: dialing tcp 127.0.0.1:6443 in {nodens}: dial tcp 127.0.0.1:6443: connect: connection refused
podnet exited badly after SIGTERM: signal: terminated
log: --- last 1 lines of {log} ---
config: logLevel: debug
--- end of podnet log ---`,
		},
		{
			name: "ignores SIGTERM",
			mode: "stubborn",
			opts: func(o *Options) { o.StopTimeout = 300 * time.Millisecond },
			body: func(n *Node) { n.Stop() },
			want: `podnet did not stop within 300ms of SIGTERM; killed it
log: --- last 2 lines of {log} ---
config: logLevel: debug
serving on {node}:6443
--- end of podnet log ---`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := fakeOptions(t, fakeModeEnv+"="+tc.mode)
			if tc.opts != nil {
				tc.opts(&opts)
			}
			rec := &recordingTB{TB: t}
			got := strings.Join(rec.run(func(tb testing.TB) {
				n := StartNode(tb, opts)
				if tc.body != nil {
					tc.body(n)
				}
			}), "\n")
			if got := placeholders.Replace(got); got != tc.want {
				t.Errorf("reports:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// placeholders turns the per-run parts of harness reports back into the names tests expect.
var placeholders = regexpReplacer{
	{regexp.MustCompile(`/tmp/\S+/podnet\.log`), "{log}"},
	{regexp.MustCompile(`pnt-\S+-node`), "{nodens}"},
	{regexp.MustCompile(`10\.199\.\d+\.2\b`), "{node}"},
}

type regexpReplacer []struct {
	re   *regexp.Regexp
	with string
}

func (r regexpReplacer) Replace(s string) string {
	for _, p := range r {
		s = p.re.ReplaceAllString(s, p.with)
	}
	return s
}
