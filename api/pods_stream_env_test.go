package api

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
	corev1 "k8s.io/api/core/v1"

	"github.com/podnet/podnet/api/discovery"
	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/store"
	"github.com/podnet/podnet/api/streaming"
)

// fakePods implements streaming.Pods over the host: logs come from lines it holds, exec runs
// the command for real in a temp dir (so kubectl cp drives a real tar), attach runs
// attachCmd, and a TTY session gets a real pty whose size follows the client's resizes.
type fakePods struct {
	dir       string
	logs      map[string][]string // container name → its log lines
	follow    chan string         // further lines for follow; closed to end the log
	attachCmd []string

	mu      sync.Mutex
	logOpts []string // each Logs call, rendered by describeLogCall
	resizes []streaming.TerminalSize
	calls   []string // each Exec/Attach: "exec main [cmd...]" and the streams given
}

func newFakePods(t *testing.T) *fakePods {
	return &fakePods{dir: t.TempDir(), follow: make(chan string), attachCmd: []string{"sed", "-u", "s/^/attached: /"}}
}

func describeLogCall(pod *corev1.Pod, container string, o *corev1.PodLogOptions) string {
	s := fmt.Sprintf("%s/%s container=%s follow=%t previous=%t timestamps=%t", pod.Namespace, pod.Name, container, o.Follow, o.Previous, o.Timestamps)
	for name, v := range map[string]*int64{"sinceSeconds": o.SinceSeconds, "tailLines": o.TailLines, "limitBytes": o.LimitBytes} {
		if v != nil {
			s += fmt.Sprintf(" %s=%d", name, *v)
		}
	}
	if o.SinceTime != nil {
		s += " sinceTime=" + o.SinceTime.UTC().Format(time.RFC3339)
	}
	return s
}

func (f *fakePods) Logs(ctx context.Context, pod *corev1.Pod, container string, opts *corev1.PodLogOptions, w io.Writer) error {
	f.mu.Lock()
	f.logOpts = append(f.logOpts, describeLogCall(pod, container, opts))
	lines := f.logs[container]
	f.mu.Unlock()
	if opts.TailLines != nil && int(*opts.TailLines) < len(lines) {
		lines = lines[len(lines)-int(*opts.TailLines):]
	}
	write := func(l string) error {
		if opts.Timestamps {
			l = "2025-03-01T12:00:00.000000000Z " + l
		}
		_, err := io.WriteString(w, l+"\n")
		return err
	}
	for _, l := range lines {
		if err := write(l); err != nil {
			return err
		}
	}
	for opts.Follow {
		select {
		case l, ok := <-f.follow:
			if !ok {
				return nil
			}
			if err := write(l); err != nil {
				return err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

func (f *fakePods) record(kind, container string, cmd []string, s streaming.Streams) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf("%s %s %q stdin=%t stdout=%t stderr=%t tty=%t", kind, container, cmd,
		s.Stdin != nil, s.Stdout != nil, s.Stderr != nil, s.TTY))
}

func (f *fakePods) Exec(ctx context.Context, pod *corev1.Pod, container string, cmd []string, s streaming.Streams) error {
	f.record("exec", container, cmd, s)
	return f.run(ctx, cmd, s)
}

func (f *fakePods) Attach(ctx context.Context, pod *corev1.Pod, container string, s streaming.Streams) error {
	f.record("attach", container, nil, s)
	return f.run(ctx, f.attachCmd, s)
}

func (f *fakePods) run(ctx context.Context, cmd []string, s streaming.Streams) error {
	if len(cmd) == 0 {
		return errors.New("no command given")
	}
	c := exec.CommandContext(ctx, cmd[0], cmd[1:]...)
	c.Dir = f.dir
	c.WaitDelay = 5 * time.Second
	var err error
	if s.TTY {
		err = f.runTTY(c, s)
	} else {
		c.Stdin, c.Stdout, c.Stderr = s.Stdin, s.Stdout, s.Stderr
		err = c.Run()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() > 0 {
		return &streaming.ExitError{Code: ee.ExitCode()}
	}
	return err
}

func (f *fakePods) runTTY(c *exec.Cmd, s streaming.Streams) error {
	size := streaming.TerminalSize{Width: 80, Height: 24}
	select {
	case size = <-s.Resize:
		f.noteResize(size)
	case <-time.After(2 * time.Second):
	}
	ptmx, err := pty.StartWithSize(c, &pty.Winsize{Rows: size.Height, Cols: size.Width})
	if err != nil {
		return fmt.Errorf("start under a pty: %w", err)
	}
	// The resize loop may outlive the session: it must not touch the pty once it is closed.
	var ptyMu sync.Mutex
	closed := false
	defer func() { ptyMu.Lock(); ptmx.Close(); closed = true; ptyMu.Unlock() }()
	go func() {
		for size := range s.Resize {
			f.noteResize(size)
			ptyMu.Lock()
			if !closed {
				pty.Setsize(ptmx, &pty.Winsize{Rows: size.Height, Cols: size.Width})
			}
			ptyMu.Unlock()
		}
	}()
	if s.Stdin != nil {
		go io.Copy(ptmx, s.Stdin)
	}
	out := make(chan struct{})
	go func() { defer close(out); io.Copy(s.Stdout, ptmx) }()
	err = c.Wait()
	select {
	case <-out: // the pty reports EIO once the last writer is gone
	case <-time.After(5 * time.Second):
	}
	return err
}

func (f *fakePods) noteResize(s streaming.TerminalSize) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.resizes = append(f.resizes, s)
}

func (f *fakePods) snapshot() (logOpts, calls []string, resizes []streaming.TerminalSize) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.logOpts...), append([]string(nil), f.calls...), append([]streaming.TerminalSize(nil), f.resizes...)
}

// streamEnv is the API server over TLS (HTTP/2 offered, as `podnet serve` does) with a fake
// runtime, and a kubeconfig for the real kubectl.
type streamEnv struct {
	t          *testing.T
	url        string
	client     *http.Client // HTTP/1.1, so upgrade headers can be sent
	kubeconfig string
	cacheDir   string
	upgrades   *upgradeLog
	ca         []byte // PEM of the server's certificate
}

// upgradeLog records how each exec/attach request asked to be upgraded.
type upgradeLog struct {
	mu   sync.Mutex
	seen []string
}

func (u *upgradeLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/exec") || strings.HasSuffix(r.URL.Path, "/attach") {
			u.mu.Lock()
			u.seen = append(u.seen, r.Method+" "+r.Header.Get("Upgrade"))
			u.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func (u *upgradeLog) take() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	s := u.seen
	u.seen = nil
	return s
}

func newStreamEnv(t *testing.T, pods streaming.Pods) *streamEnv {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(registry.Config{Store: st, Now: func() time.Time { return created }})
	disc, err := discovery.NewHandler()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv := New(ctx, Config{Registry: reg, Token: testToken, Discovery: disc, Pods: pods,
		Version: VersionInfo{GitVersion: "v1.32.11", Major: "1", Minor: "32"}})
	ups := &upgradeLog{}
	hs := httptest.NewUnstartedServer(ups.wrap(srv.Handler()))
	hs.EnableHTTP2 = true
	hs.StartTLS()
	t.Cleanup(func() {
		cancel()
		hs.CloseClientConnections()
		hs.Close()
		st.Close()
	})
	if err := Bootstrap(ctx, reg, BootstrapConfig{ServiceIP: netip.MustParseAddr("10.96.0.1"),
		EndpointIP: netip.MustParseAddr("192.0.2.10"), EndpointPort: 6443}); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(hs.Certificate())
	e := &streamEnv{t: t, url: hs.URL, upgrades: ups, cacheDir: t.TempDir(),
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
	e.kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hs.Certificate().Raw})
	e.ca = caPEM
	kc := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: t, cluster: {server: %q, certificate-authority-data: %s}}]
users: [{name: t, user: {token: %s}}]
contexts: [{name: t, context: {cluster: t, user: t, namespace: default}}]
current-context: t
`, hs.URL, base64.StdEncoding.EncodeToString(caPEM), testToken)
	if err := os.WriteFile(e.kubeconfig, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *streamEnv) do(method, path, body string, headers ...string) response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	res, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{code: res.StatusCode, header: res.Header, body: strings.TrimSuffix(string(data), "\n")}
}

// addPod creates a pod from its spec JSON and then sets its status JSON, as the kubelet would.
func (e *streamEnv) addPod(name, spec, status string) {
	e.t.Helper()
	r := e.do("POST", "/api/v1/namespaces/default/pods", fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":%q},"spec":%s}`, name, spec))
	if r.code != http.StatusCreated {
		e.t.Fatalf("create pod %s: %d %s", name, r.code, r.body)
	}
	if status == "" {
		return
	}
	r = e.do("PATCH", "/api/v1/namespaces/default/pods/"+name+"/status", `{"status":`+status+`}`, "Content-Type", "application/merge-patch+json")
	if r.code != http.StatusOK {
		e.t.Fatalf("status of pod %s: %d %s", name, r.code, r.body)
	}
}

// running is the status of a running pod whose containers are all running.
func running(containers ...string) string {
	var cs []string
	for _, c := range containers {
		cs = append(cs, fmt.Sprintf(`{"name":%q,"ready":true,"restartCount":0,"image":"busybox","imageID":"","started":true,"state":{"running":{"startedAt":"2025-03-01T12:00:00Z"}}}`, c))
	}
	return `{"phase":"Running","conditions":[{"type":"Ready","status":"True"}],"podIP":"10.244.0.5","containerStatuses":[` + strings.Join(cs, ",") + `]}`
}

func specOf(containers ...string) string {
	var cs []string
	for _, c := range containers {
		cs = append(cs, fmt.Sprintf(`{"name":%q,"image":"busybox"}`, c))
	}
	return `{"nodeName":"node1","containers":[` + strings.Join(cs, ",") + `]}`
}
