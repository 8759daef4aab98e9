package executor

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// startContainer runs a long-lived container under the built-in executor and returns its pid
// once init has exec'd into the container's process.
func startContainer(t *testing.T, bundle string, edit func(*specs.Spec)) int {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	argv, _ := NewBuiltin(self).RunArgv(bundle, "c1")
	cmd := startBuiltin(t, argv)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	// Cleanups run last-in first-out: this one (the kill) before the bundle's leak check.
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL)
		<-done
	})
	pid, _ := NewBuiltin(self).ContainerPid(bundle, cmd.Process.Pid)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		exe, _ := os.Readlink("/proc/" + itoa(pid) + "/exe")
		if strings.HasSuffix(exe, "/bin/busybox") {
			return pid
		}
		select {
		case <-done:
			t.Fatalf("container exited early: %s", stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("container did not start: exe %q, stderr %q", exe, stderr.String())
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestExec(t *testing.T) {
	p := newPod(t, "testpod")
	var spec specs.Spec
	bundle, id := newBundle(t, p, []string{"sleep", "1000"}, func(s *specs.Spec) {
		s.Process.Env = append(s.Process.Env, "WHO=container")
		spec = *s
	})
	pid := startContainer(t, bundle, nil)
	hostCgroup, err := os.ReadFile("/proc/" + itoa(pid) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	self, _ := os.Executable()
	t.Setenv(initEnv, "1") // the exec helper is this test binary too
	ex := NewBuiltin(self)

	for _, tc := range []struct {
		name   string
		args   []string
		stdin  string
		user   *specs.User
		tty    bool
		stdout string
		stderr string
		code   int
	}{
		{name: "hostname", args: []string{"hostname"}, stdout: "testpod\n"},
		{name: "pid 1 is the container's", args: []string{"cat", "/proc/1/cmdline"}, stdout: "sleep\x001000\x00"},
		{name: "capabilities", args: []string{"grep", "-E", "^Cap(Eff|Bnd)", "/proc/self/status"}, stdout: "CapEff:\t00000000a80425fb\nCapBnd:\t00000000a80425fb\n"},
		{name: "cgroup", args: []string{"cat", "/proc/self/cgroup"}, stdout: string(hostCgroup)},
		{name: "env and cwd", args: []string{"sh", "-c", "echo $WHO; pwd"}, stdout: "container\n/\n"},
		{name: "network namespace", args: []string{"sh", "-c", "ls /sys/class/net"}, stdout: "lo\n"},
		{name: "stdin", args: []string{"sh", "-c", "read x; echo got $x"}, stdin: "hello\n", stdout: "got hello\n"},
		{name: "stderr", args: []string{"sh", "-c", "echo oops >&2"}, stderr: "oops\n"},
		{name: "exit code", args: []string{"sh", "-c", "exit 3"}, code: 3},
		{name: "killed", args: []string{"sh", "-c", "kill -9 $$"}, code: 137},
		{name: "not found", args: []string{"nosuchcmd"}, code: 127,
			stderr: "podnet init: exec: \"nosuchcmd\": executable file not found in $PATH\n"},
		{name: "user", args: []string{"id"}, user: &specs.User{UID: 1000, GID: 1000, AdditionalGids: []uint32{5}},
			stdout: "uid=1000 gid=1000 groups=5\n"},
		{name: "tty", args: []string{"sh", "-c", "tty; echo $WHO"}, tty: true, stdout: "/dev/pts/0\r\ncontainer\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			proc := *spec.Process
			proc.Args = tc.args
			if tc.user != nil {
				proc.User = *tc.user
			}
			var stdout, stderr bytes.Buffer
			req := ExecRequest{ID: id, Bundle: bundle, Pid: pid, Process: proc, Stdout: &stdout, Stderr: &stderr, TTY: tc.tty}
			if tc.stdin != "" {
				req.Stdin = strings.NewReader(tc.stdin)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			code, err := ex.Exec(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if code != tc.code || stdout.String() != tc.stdout || stderr.String() != tc.stderr {
				t.Errorf("exit %d stdout %q stderr %q\nwant %d %q %q", code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
			}
		})
	}

	// Nothing exec'd may linger in the container: only its own process is left.
	procs, err := os.ReadFile("/proc/" + itoa(pid) + "/task/" + itoa(pid) + "/children")
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(string(procs)) != "" {
		t.Errorf("container process has children %q after the execs", procs)
	}
}

// TestExecCancel: cancelling the context ends a running exec, and its process with it.
func TestExecCancel(t *testing.T) {
	p := newPod(t, "testpod")
	var spec specs.Spec
	bundle, id := newBundle(t, p, []string{"sleep", "1000"}, func(s *specs.Spec) { spec = *s })
	pid := startContainer(t, bundle, nil)
	self, _ := os.Executable()
	t.Setenv(initEnv, "1")
	proc := *spec.Process
	proc.Args = []string{"sleep", "999"}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	code, err := NewBuiltin(self).Exec(ctx, ExecRequest{ID: id, Bundle: bundle, Pid: pid, Process: proc, Stdout: &bytes.Buffer{}, Stderr: &bytes.Buffer{}})
	if err != nil || code != 137 || time.Since(start) > 5*time.Second {
		t.Fatalf("Exec = %d, %v after %v; want 137 soon after the deadline", code, err, time.Since(start))
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		cmdlines := containerCmdlines(t, pid)
		if len(cmdlines) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("exec'd process outlived its cancelled Exec: %q", cmdlines)
		}
	}
}

// containerCmdlines lists the command lines of the processes in the container's pid namespace.
func containerCmdlines(t *testing.T, pid int) []string {
	t.Helper()
	ns, err := os.Readlink("/proc/" + itoa(pid) + "/ns/pid")
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if other, err := os.Readlink("/proc/" + e.Name() + "/ns/pid"); err == nil && other == ns {
			c, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
			out = append(out, string(c))
		}
	}
	return out
}
