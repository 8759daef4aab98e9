package shim

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/podnet/podnet/internal/roottest"
)

var shimBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "podnet-shim-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shimBinary = filepath.Join(dir, "podnet-shim")
	//lint:ignore SA1019 the test binary runs on the machine whose go command built it.
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", shimBinary, "github.com/podnet/podnet/cmd/podnet-shim")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build podnet-shim:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// pidGone reports whether pid no longer runs. A zombie counts as gone: the shim's parent is
// init (or a subreaper), which reaps in its own time.
func pidGone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] == 'Z' || b[i+2] == 'X'
}

// newConfig is a shim config in fresh temporary dirs; the test fails if any pid the shim reports
// outlives the test.
func newConfig(t *testing.T, argv ...string) Config {
	t.Helper()
	// t.TempDir paths can be too long for a unix socket; the state dir is short on purpose.
	state, err := os.MkdirTemp("", "shim")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(state) })
	return Config{
		Binary:   shimBinary,
		ID:       "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		StateDir: filepath.Join(state, "s"),
		LogPath:  filepath.Join(t.TempDir(), "logs", "0.log"),
		Argv:     argv,
	}
}

func start(t *testing.T, cfg Config) *Shim {
	t.Helper()
	s, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	shimPid, childPid := s.ShimPid(), s.ChildPid()
	t.Cleanup(func() {
		// Kill whatever is left (only the pids this test started), then insist that all are gone.
		s.Signal(syscall.SIGKILL)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Wait(ctx)
		s.Close()
		deadline := time.Now().Add(5 * time.Second)
		for _, pid := range []int{shimPid, childPid} {
			for !pidGone(pid) && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if !pidGone(pid) {
				t.Errorf("pid %d outlived the test", pid)
			}
		}
	})
	return s
}

func wait(t *testing.T, s *Shim) *ExitStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := s.Wait(ctx)
	if err != nil {
		t.Fatalf("Wait: %v", err)
	}
	return st
}

func procStatus(t *testing.T, pid int, field string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return ""
}

// logTexts is the log's records without their timestamps.
func logTexts(t *testing.T, path string) string {
	t.Helper()
	var b strings.Builder
	for _, line := range strings.SplitAfter(readFile(t, path), "\n") {
		if line == "" {
			continue
		}
		_, rest, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("log line %q has no timestamp", line)
		}
		b.WriteString(rest)
	}
	return b.String()
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestExitStatus(t *testing.T) {
	tests := []struct {
		name       string
		script     string
		wantCode   int
		wantSignal string
		wantLog    string
	}{
		{"success", "echo out; echo err >&2", 0, "", "stdout F out\nstderr F err\n"},
		{"exit 3", "printf 'no newline'; exit 3", 3, "", "stdout F no newline\n"},
		{"SIGKILL", "kill -KILL $$", 137, "SIGKILL", ""},
		{"SIGTERM", "kill -TERM $$", 143, "SIGTERM", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := newConfig(t, "/bin/sh", "-c", tt.script)
			before := time.Now()
			s := start(t, cfg)
			st := wait(t, s)
			if st.ExitCode != tt.wantCode || st.Signal != tt.wantSignal || st.OOMKilled {
				t.Errorf("exit = %+v, want code %d signal %q", st, tt.wantCode, tt.wantSignal)
			}
			if st.StartedAt.Before(before.Add(-time.Second)) || st.FinishedAt.Before(st.StartedAt) || time.Since(st.FinishedAt) < 0 {
				t.Errorf("times: started %v finished %v (test began %v)", st.StartedAt, st.FinishedAt, before)
			}
			if got := logTexts(t, cfg.LogPath); !sameLines(got, tt.wantLog) {
				t.Errorf("log =\n%s\nwant (in any order)\n%s", got, tt.wantLog)
			}
			// The state dir holds exactly what the contract lists, and the socket is gone.
			ents, _ := os.ReadDir(cfg.StateDir)
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			if got, want := strings.Join(names, " "), "child.pid exit.json shim.log shim.pid"; got != want {
				t.Errorf("state dir holds %q, want %q", got, want)
			}
			if err := s.Remove(); err != nil {
				t.Errorf("Remove: %v", err)
			}
			if _, err := os.Stat(cfg.StateDir); !os.IsNotExist(err) {
				t.Errorf("state dir still there after Remove: %v", err)
			}
		})
	}
}

// sameLines compares line sets: stdout and stderr are separate pipes, so their relative order
// in the log is not defined.
func sameLines(a, b string) bool {
	la, lb := strings.Split(a, "\n"), strings.Split(b, "\n")
	if len(la) != len(lb) {
		return false
	}
	seen := map[string]int{}
	for _, l := range la {
		seen[l]++
	}
	for _, l := range lb {
		seen[l]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

func TestExitJSON(t *testing.T) {
	cfg := newConfig(t, "/bin/sh", "-c", "kill -KILL $$")
	s := start(t, cfg)
	wait(t, s)
	raw := readFile(t, filepath.Join(cfg.StateDir, "exit.json"))
	// The shim writes exit.json by hand; the fields must be what the contract names.
	for _, want := range []string{`{"exitCode":137,"signal":"SIGKILL","startedAt":"`, `","finishedAt":"`, `","oomKilled":false}` + "\n"} {
		if !strings.Contains(raw, want) {
			t.Errorf("exit.json %q lacks %q", raw, want)
		}
	}
}

func TestStartErrors(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"executable not found", func(c *Config) { c.Argv = []string{"/nonexistent/cmd"} },
			`container command: exec: "/nonexistent/cmd": stat /nonexistent/cmd: no such file or directory`},
		{"not in PATH", func(c *Config) { c.Argv = []string{"no-such-command-podnet"} },
			`container command: exec: "no-such-command-podnet": executable file not found in $PATH`},
		{"invalid config", func(c *Config) { c.ID, c.LogPath, c.Argv = "", "rel.log", nil },
			"id is empty\nlog path \"rel.log\" is not an absolute path\nargv is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := newConfig(t, "/bin/true")
			tt.edit(&cfg)
			_, err := Start(context.Background(), cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Start error = %v, want it to contain %q", err, tt.want)
			}
			// A failed start leaves no shim behind.
			if pid, err := readPid(cfg.StateDir, "shim.pid"); err == nil {
				deadline := time.Now().Add(5 * time.Second)
				for !pidGone(pid) && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				if !pidGone(pid) {
					t.Errorf("shim %d still runs after a failed start", pid)
				}
			}
		})
	}
}

func TestDetachedAndAdopt(t *testing.T) {
	cfg := newConfig(t, "/bin/sh", "-c", "echo started; exec sleep 60")
	s := start(t, cfg)
	if got := procStatus(t, s.ShimPid(), "PPid"); got == strconv.Itoa(os.Getpid()) {
		t.Errorf("shim's parent is the test process")
	}
	sid, _ := unix.Getsid(s.ShimPid())
	mySid, _ := unix.Getsid(0)
	if sid == mySid || sid != s.ShimPid() {
		t.Errorf("shim sid %d, want its own session (test sid %d)", sid, mySid)
	}
	// The container gets stdio and nothing else, whatever the caller leaked to the shim. Descriptors
	// come and go while sh starts and while the dynamic loader maps sleep's libraries (it holds
	// libc open for a moment after the exec), but a leaked one never goes: wait for exactly 0, 1, 2.
	fdNames := func() []string {
		fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.ChildPid()))
		var names []string
		for _, fd := range fds {
			l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", s.ChildPid(), fd.Name()))
			names = append(names, fd.Name()+"->"+l)
		}
		return names
	}
	waitFor(t, "the child to exec sleep", func() bool {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", s.ChildPid()))
		return strings.TrimSpace(string(b)) == "sleep"
	})
	deadline := time.Now().Add(5 * time.Second)
	for names := fdNames(); len(names) != 3; names = fdNames() {
		if time.Now().After(deadline) {
			t.Fatalf("child holds descriptors %v, want only 0, 1, 2", names)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := procStatus(t, s.ChildPid(), "PPid"); got != strconv.Itoa(s.ShimPid()) {
		t.Errorf("child's parent %s, want the shim %d", got, s.ShimPid())
	}
	if !s.Alive() {
		t.Fatal("shim not alive")
	}
	if _, ok := s.Exited(); ok {
		t.Fatal("Exited while running")
	}
	if err := s.Remove(); !errors.Is(err, ErrRunning) {
		t.Errorf("Remove while running = %v, want ErrRunning", err)
	}

	// The daemon "restarts": a fresh handle from the state dir alone.
	a, err := Adopt(cfg.StateDir)
	if err != nil {
		t.Fatalf("Adopt: %v", err)
	}
	defer a.Close()
	if a.ShimPid() != s.ShimPid() || a.ChildPid() != s.ChildPid() || !a.Alive() {
		t.Fatalf("adopted shim %d child %d alive %v, want %d %d true", a.ShimPid(), a.ChildPid(), a.Alive(), s.ShimPid(), s.ChildPid())
	}
	if err := a.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("Signal: %v", err)
	}
	st := wait(t, a)
	if st.ExitCode != 143 || st.Signal != "SIGTERM" {
		t.Errorf("exit %+v, want 143 SIGTERM", st)
	}
	if a.Alive() {
		t.Error("Alive after Wait")
	}
	if err := a.Signal(syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
		t.Errorf("Signal after exit = %v, want ErrProcessDone", err)
	}

	// Adopting a shim that has gone already still gives its exit status.
	b, err := Adopt(cfg.StateDir)
	if err != nil {
		t.Fatalf("Adopt after exit: %v", err)
	}
	defer b.Close()
	if b.Alive() {
		t.Error("adopted dead shim is Alive")
	}
	if got, ok := b.Exited(); !ok || *got != *st {
		t.Errorf("Exited = %+v %v, want %+v", got, ok, st)
	}
	if got := wait(t, b); *got != *st {
		t.Errorf("Wait = %+v, want %+v", got, st)
	}
}

func TestAdoptMissing(t *testing.T) {
	dir := t.TempDir()
	if _, err := Adopt(dir); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Adopt of an empty dir = %v, want ErrNotExist", err)
	}
	// A recycled pid is not the shim: here the test's own pid stands in for one.
	os.WriteFile(filepath.Join(dir, "shim.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644)
	os.WriteFile(filepath.Join(dir, "child.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644)
	s, err := Adopt(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Alive() {
		t.Error("a foreign process was taken for the shim")
	}
	if _, err := s.Wait(context.Background()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Wait without exit.json = %v, want ErrNotExist", err)
	}
}

func TestEnv(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"given", []string{"A=1", "B=two"}, "stdout F 1 two \n"},
		{"inherited", nil, "stdout F   inherited\n"},
	}
	t.Setenv("PODNET_SHIM_TEST", "inherited")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := newConfig(t, "/bin/sh", "-c", `echo "$A $B $PODNET_SHIM_TEST$GOGC$GOMAXPROCS$GOMEMLIMIT"`)
			cfg.Env = tt.env
			wait(t, start(t, cfg))
			if got := logTexts(t, cfg.LogPath); got != tt.want {
				t.Errorf("log %q, want %q", got, tt.want)
			}
		})
	}
}

func TestOOMKilled(t *testing.T) {
	tests := []struct{ file, before, after string }{
		{"memory.events", "oom 0\noom_kill 0\n", "oom 1\noom_kill 1\n"},
		{"memory.oom_control", "under_oom 0\noom_kill 4\n", "under_oom 0\noom_kill 5\n"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			// A stand-in cgroup directory: the child bumps the counter as the kernel would.
			cg := t.TempDir()
			f := filepath.Join(cg, tt.file)
			os.WriteFile(f, []byte(tt.before), 0o644)
			cfg := newConfig(t, "/bin/sh", "-c", `printf "$1" > "$2"; kill -KILL $$`, "sh", tt.after, f)
			cfg.MemoryCgroup = cg
			st := wait(t, start(t, cfg))
			if !st.OOMKilled || st.ExitCode != 137 {
				t.Errorf("exit %+v, want OOMKilled 137", st)
			}
		})
	}
	t.Run("no change", func(t *testing.T) {
		cg := t.TempDir()
		os.WriteFile(filepath.Join(cg, "memory.events"), []byte("oom_kill 3\n"), 0o644)
		cfg := newConfig(t, "/bin/sh", "-c", "kill -KILL $$")
		cfg.MemoryCgroup = cg
		if st := wait(t, start(t, cfg)); st.OOMKilled {
			t.Errorf("exit %+v, want not OOMKilled", st)
		}
	})
}

func TestLogRotationByShim(t *testing.T) {
	cfg := newConfig(t, "/bin/sh", "-c", "for i in 1 2 3 4 5 6 7 8 9; do echo line$i; done")
	cfg.LogMaxBytes, cfg.LogMaxFiles = 100, 3
	wait(t, start(t, cfg))
	want := map[string]string{
		cfg.LogPath:        "stdout F line9\n",
		cfg.LogPath + ".1": "stdout F line7\nstdout F line8\n",
		cfg.LogPath + ".2": "stdout F line5\nstdout F line6\n",
	}
	for name, w := range want {
		if got := logTexts(t, name); got != w {
			t.Errorf("%s = %q, want %q", filepath.Base(name), got, w)
		}
	}
	if _, err := os.Stat(cfg.LogPath + ".3"); !os.IsNotExist(err) {
		t.Errorf("%s.3 kept beyond max files", cfg.LogPath)
	}
	var buf bytes.Buffer
	if err := ReadLog(context.Background(), cfg.LogPath, LogOptions{}, &buf, &buf); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), "line5\nline6\nline7\nline8\nline9\n"; got != want {
		t.Errorf("ReadLog = %q, want %q", got, want)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a poller.
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

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type attached struct {
	out, errb *syncBuffer
	stdinW    *io.PipeWriter
	resize    chan Size
	done      chan error
	attached  chan struct{} // closed when the shim acknowledges the session
}

func attach(t *testing.T, s *Shim, stdin bool) *attached {
	t.Helper()
	a := &attached{out: &syncBuffer{}, errb: &syncBuffer{}, resize: make(chan Size, 1), done: make(chan error, 1),
		attached: make(chan struct{})}
	o := AttachOptions{Stdout: a.out, Stderr: a.errb, Resize: a.resize, Attached: func() { close(a.attached) }}
	if stdin {
		r, w := io.Pipe()
		a.stdinW = w
		o.Stdin = r
		t.Cleanup(func() { w.Close() })
	}
	go func() { a.done <- s.Attach(context.Background(), o) }()
	return a
}

func (a *attached) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-a.done:
		if err != nil {
			t.Errorf("Attach: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Attach did not return")
	}
}

// waitAttached waits until the shim has registered each client, so that output is not sent
// before a client listens.
func waitAttached(t *testing.T, clients ...*attached) {
	t.Helper()
	for _, c := range clients {
		select {
		case <-c.attached:
		case <-time.After(10 * time.Second):
			t.Fatal("the shim did not acknowledge an attach")
		}
	}
}

func TestAttachStdinFanOut(t *testing.T) {
	cfg := newConfig(t, "/bin/cat")
	cfg.Stdin = true
	s := start(t, cfg)
	// With nobody attached, cat must block on stdin rather than read EOF and exit.
	time.Sleep(200 * time.Millisecond)
	if !s.Alive() {
		t.Fatal("cat exited with no client attached: its stdin was not held open")
	}
	a := attach(t, s, true)
	b := attach(t, s, false)
	waitAttached(t, a, b)
	io.WriteString(a.stdinW, "hello\n")
	for _, c := range []*attached{a, b} {
		waitFor(t, "echo to both clients", func() bool { return c.out.String() == "hello\n" })
	}
	// Without stdin-once, one client leaving does not end the container's stdin.
	a.stdinW.Close()
	time.Sleep(100 * time.Millisecond)
	if !s.Alive() {
		t.Fatal("stdin closed although stdin-once is off")
	}
	if err := s.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	a.wait(t)
	b.wait(t)
	if st := wait(t, s); st.ExitCode != 137 {
		t.Errorf("exit %+v", st)
	}
	if got := logTexts(t, cfg.LogPath); got != "stdout F hello\n" {
		t.Errorf("log %q", got)
	}
}

func TestStdinOnce(t *testing.T) {
	cfg := newConfig(t, "/bin/sh", "-c", "cat; echo cat-done >&2")
	cfg.Stdin, cfg.StdinOnce = true, true
	s := start(t, cfg)
	a := attach(t, s, true)
	waitAttached(t, a)
	io.WriteString(a.stdinW, "one\n")
	waitFor(t, "echo", func() bool { return a.out.String() == "one\n" })
	a.stdinW.Close()
	a.wait(t)
	if st := wait(t, s); st.ExitCode != 0 {
		t.Errorf("exit %+v, want 0 after stdin closed", st)
	}
	if got := a.errb.String(); got != "cat-done\n" {
		t.Errorf("stderr %q", got)
	}
}

func TestTTYAttach(t *testing.T) {
	cfg := newConfig(t, "/bin/sh", "-i")
	cfg.TTY, cfg.Stdin = true, true
	cfg.Env = []string{"PS1=$ ", "PATH=/usr/bin:/bin", "TERM=dumb"}
	s := start(t, cfg)
	a := attach(t, s, true)
	waitAttached(t, a)
	io.WriteString(a.stdinW, "echo h''i\n")
	waitFor(t, "hi from the shell", func() bool { return strings.Contains(a.out.String(), "hi\r\n") })
	a.resize <- Size{Rows: 33, Cols: 101}
	// Resize and stdin travel in separate frames from separate goroutines: ask until it shows.
	waitFor(t, "stty size", func() bool {
		io.WriteString(a.stdinW, "stty size; tty >/dev/null && echo is''tty\n")
		time.Sleep(50 * time.Millisecond)
		return strings.Contains(a.out.String(), "33 101\r\nistty\r\n")
	})
	if err := s.ResizeTTY(context.Background(), Size{Rows: 20, Cols: 60}); err != nil {
		t.Fatal(err)
	}
	io.WriteString(a.stdinW, "stty size; exit 5\n")
	a.wait(t)
	if !strings.Contains(a.out.String(), "20 60\r\n") {
		t.Errorf("output %q lacks the new size", a.out.String())
	}
	if st := wait(t, s); st.ExitCode != 5 {
		t.Errorf("exit %+v, want 5", st)
	}
	if got := logTexts(t, cfg.LogPath); !strings.Contains(got, "stdout F hi\r\n") {
		t.Errorf("log %q lacks the tty output", got)
	}
}

func TestShimRSS(t *testing.T) {
	cfg := newConfig(t, "/bin/sleep", "60")
	s := start(t, cfg)
	time.Sleep(300 * time.Millisecond)
	kb, err := strconv.Atoi(strings.TrimSuffix(procStatus(t, s.ShimPid(), "VmRSS"), " kB"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("shim VmRSS %d kB", kb)
	// The goal is 3 MB; above 4 MiB something heavy (net's cgo resolver, fmt, encoding/json)
	// has crept into the binary.
	if kb > 4096 {
		t.Errorf("shim VmRSS %d kB, want at most 4096", kb)
	}
}

func TestCloneNS(t *testing.T) {
	roottest.NeedRoot(t)
	cfg := newConfig(t, "/bin/sh", "-c", `echo "pid=$$"; readlink /proc/self/ns/mnt`)
	cfg.CloneNS = true
	s := start(t, cfg)
	wait(t, s)
	hostMnt, err := os.Readlink("/proc/self/ns/mnt")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(logTexts(t, cfg.LogPath), "\n")
	if len(lines) != 3 || lines[0] != "stdout F pid=1" || !strings.HasPrefix(lines[1], "stdout F mnt:[") || lines[1] == "stdout F "+hostMnt {
		t.Errorf("log %q: want pid 1 and a mount namespace other than %s", lines, hostMnt)
	}
}
