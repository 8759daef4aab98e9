package api

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/podnet/podnet/api/streaming"
)

// kubectlPath finds kubectl as integration/harness does: $KUBECTL, a kubectl >= 1.30 on PATH,
// else bin/kubectl of this repository.
func kubectlPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("KUBECTL"); p != "" {
		return p
	}
	if p, err := exec.LookPath("kubectl"); err == nil && kubectlMinor(p) >= 30 {
		return p
	}
	p, err := filepath.Abs(filepath.Join("..", "bin", "kubectl"))
	if err == nil {
		if _, err = os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("no kubectl >= 1.30 on PATH and no bin/kubectl (run hack/deps.sh): %v", err)
	return ""
}

func kubectlMinor(path string) int {
	out, err := exec.Command(path, "version", "--client", "-o", "json").Output()
	if err != nil {
		return -1
	}
	var v struct {
		ClientVersion struct {
			GitVersion string `json:"gitVersion"`
		} `json:"clientVersion"`
	}
	if json.Unmarshal(out, &v) != nil {
		return -1
	}
	m := regexp.MustCompile(`^v1\.(\d+)\.`).FindStringSubmatch(v.ClientVersion.GitVersion)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// kubectl builds a kubectl command against the env; websockets=false forces the SPDY fallback.
func (e *streamEnv) kubectl(websockets bool, args ...string) *exec.Cmd {
	path := kubectlPath(e.t)
	cmd := exec.Command(path, append([]string{"--kubeconfig", e.kubeconfig, "--cache-dir", e.cacheDir}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECTL_REMOTE_COMMAND_WEBSOCKETS="+strconv.FormatBool(websockets))
	return cmd
}

type kubectlResult struct {
	stdout, stderr string
	code           int
}

func (e *streamEnv) runKubectl(websockets bool, stdin string, args ...string) kubectlResult {
	e.t.Helper()
	cmd := e.kubectl(websockets, args...)
	var out, errOut bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &out, &errOut
	timer := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("kubectl %q: %v", args, err)
	}
	return kubectlResult{out.String(), errOut.String(), code}
}

func TestKubectlStreaming(t *testing.T) {
	fake := newFakePods(t)
	fake.logs = map[string][]string{"main": {"l1", "l2", "l3", "l4"}, "b": {"from b"}}
	e := newStreamEnv(t, fake)
	e.addPod("one", specOf("main"), running("main"))
	e.addPod("two", specOf("a", "b"), running("a", "b"))
	local := t.TempDir()
	if err := os.WriteFile(filepath.Join(local, "up.txt"), []byte("uploaded\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(fake.dir, "down.txt"), []byte("downloaded\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Paths in the pod are relative to its working directory (the fake's dir), so that tar
	// has no leading "/" to warn about.
	tests := []struct {
		name, stdin  string
		websockets   bool
		args         []string
		want         kubectlResult
		wantUpgrades string
	}{
		{"logs tail", "", true, []string{"logs", "one", "--tail=2"}, kubectlResult{"l3\nl4\n", "", 0}, ""},
		{"logs of a named container", "", true, []string{"logs", "two", "-c", "b"}, kubectlResult{"from b\n", "", 0}, ""},
		{"logs of an unknown container", "", true, []string{"logs", "two", "-c", "z"},
			kubectlResult{"", "error: container z is not valid for pod two\n", 1}, ""},
		{"exec over websocket", "", true, []string{"exec", "one", "--", "sh", "-c", "echo out; echo err >&2; exit 3"},
			kubectlResult{"out\n", "err\ncommand terminated with exit code 3\n", 3}, "GET websocket"},
		{"exec over spdy", "", false, []string{"exec", "one", "--", "sh", "-c", "echo out; echo err >&2; exit 3"},
			kubectlResult{"out\n", "err\ncommand terminated with exit code 3\n", 3}, "POST SPDY/3.1"},
		{"exec -i over websocket", "abc\n", true, []string{"exec", "-i", "one", "--", "tr", "a-z", "A-Z"}, kubectlResult{"ABC\n", "", 0}, "GET websocket"},
		{"exec -i over spdy", "abc\n", false, []string{"exec", "-i", "one", "--", "tr", "a-z", "A-Z"}, kubectlResult{"ABC\n", "", 0}, "POST SPDY/3.1"},
		{"attach -i", "hi\n", true, []string{"attach", "-i", "one"}, kubectlResult{"attached: hi\n", "If you don't see a command prompt, try pressing enter.\n", 0}, "GET websocket"},
		{"attach -i over spdy", "hi\n", false, []string{"attach", "-i", "one"}, kubectlResult{"attached: hi\n", "If you don't see a command prompt, try pressing enter.\n", 0}, "POST SPDY/3.1"},
		{"cp into the pod", "", true, []string{"cp", filepath.Join(local, "up.txt"), "one:up.txt"},
			kubectlResult{"", "", 0}, "GET websocket, GET websocket"}, // kubectl first checks the destination
		{"cp out of the pod", "", true, []string{"cp", "one:down.txt", filepath.Join(local, "down.txt")},
			kubectlResult{"", "", 0}, "GET websocket"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.upgrades.take()
			got := e.runKubectl(tt.websockets, tt.stdin, tt.args...)
			if got != tt.want {
				t.Errorf("got stdout %q stderr %q exit %d\nwant stdout %q stderr %q exit %d",
					got.stdout, got.stderr, got.code, tt.want.stdout, tt.want.stderr, tt.want.code)
			}
			if ups := strings.Join(e.upgrades.take(), ", "); ups != tt.wantUpgrades {
				t.Errorf("upgrade requests %q, want %q", ups, tt.wantUpgrades)
			}
		})
	}
	for file, want := range map[string]string{filepath.Join(fake.dir, "up.txt"): "uploaded\n", filepath.Join(local, "down.txt"): "downloaded\n"} {
		if data, err := os.ReadFile(file); err != nil || string(data) != want {
			t.Errorf("after kubectl cp, %s holds %q (%v), want %q", file, data, err, want)
		}
	}
}

// TestKubectlLogsFollow checks that lines reach kubectl as they are written, not at the end.
func TestKubectlLogsFollow(t *testing.T) {
	fake := newFakePods(t)
	fake.logs = map[string][]string{"main": {"first"}}
	e := newStreamEnv(t, fake)
	e.addPod("one", specOf("main"), running("main"))
	cmd := e.kubectl(true, "logs", "-f", "one")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	next := func() string {
		select {
		case l := <-lines:
			return l
		case <-time.After(10 * time.Second):
			t.Fatal("no log line within 10s")
		}
		return ""
	}
	var got []string
	got = append(got, next())
	fake.follow <- "second" // only once the first line has arrived
	got = append(got, next())
	close(fake.follow)
	if l, ok := <-lines; ok {
		got = append(got, l)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("kubectl logs -f: %v", err)
	}
	if s := strings.Join(got, "|"); s != "first|second" {
		t.Errorf("kubectl logs -f printed %q, want %q", s, "first|second")
	}
}

// TestKubectlExecTTY runs kubectl exec -it on a pseudo-terminal: the command sees a terminal of
// kubectl's size, and a later resize of kubectl's terminal reaches it.
func TestKubectlExecTTY(t *testing.T) {
	for _, websockets := range []bool{true, false} {
		t.Run("websockets="+strconv.FormatBool(websockets), func(t *testing.T) {
			fake := newFakePods(t)
			e := newStreamEnv(t, fake)
			e.addPod("one", specOf("main"), running("main"))
			cmd := e.kubectl(websockets, "exec", "-it", "one", "--", "sh", "-c", "stty size; read x; echo got:$x; stty size")
			term, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 100})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { term.Close(); cmd.Process.Kill(); cmd.Wait() })
			screen := &screenReader{ch: make(chan byte, 1<<16)}
			go screen.pump(term)
			screen.waitFor(t, "40 100")
			pty.Setsize(term, &pty.Winsize{Rows: 50, Cols: 120})
			eventually(t, "resize to reach the runtime", func() bool {
				_, _, sizes := fake.snapshot()
				return len(sizes) > 0 && sizes[len(sizes)-1] == streaming.TerminalSize{Width: 120, Height: 50}
			})
			term.Write([]byte("ok\r"))
			screen.waitFor(t, "got:ok")
			screen.waitFor(t, "50 120")
			if err := cmd.Wait(); err != nil {
				t.Errorf("kubectl exec -it: %v", err)
			}
			_, calls, _ := fake.snapshot()
			want := `exec main ["sh" "-c" "stty size; read x; echo got:$x; stty size"] stdin=true stdout=true stderr=false tty=true`
			if len(calls) != 1 || calls[0] != want {
				t.Errorf("runtime calls %q, want [%q]", calls, want)
			}
		})
	}
}

// screenReader accumulates what a terminal shows.
type screenReader struct {
	ch   chan byte
	seen strings.Builder
}

func (s *screenReader) pump(f *os.File) {
	buf := make([]byte, 4096)
	for {
		n, err := f.Read(buf)
		for _, b := range buf[:n] {
			s.ch <- b
		}
		if err != nil {
			close(s.ch)
			return
		}
	}
}

func (s *screenReader) waitFor(t *testing.T, text string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for !strings.Contains(s.seen.String(), text) {
		select {
		case b, ok := <-s.ch:
			if !ok {
				t.Fatalf("terminal closed before %q appeared; it shows %q", text, s.seen.String())
			}
			s.seen.WriteByte(b)
		case <-deadline:
			t.Fatalf("%q did not appear within 10s; the terminal shows %q", text, s.seen.String())
		}
	}
	rest := s.seen.String()
	rest = rest[strings.Index(rest, text)+len(text):]
	s.seen.Reset()
	s.seen.WriteString(rest)
}
