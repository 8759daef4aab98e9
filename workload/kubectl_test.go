package workload

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podnet/podnet/api"
	"github.com/podnet/podnet/api/discovery"
	"github.com/podnet/podnet/api/pki"
	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/api/store"
)

// findKubectl finds the real kubectl as integration/harness does: $KUBECTL, then PATH, then
// the repository's bin/kubectl.
func findKubectl(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("KUBECTL"); p != "" {
		return p
	}
	if p, err := exec.LookPath("kubectl"); err == nil {
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for ; dir != filepath.Dir(dir); dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, "bin", "kubectl")
			if _, err := os.Stat(p); err != nil {
				t.Fatalf("no kubectl on PATH and no %s: run hack/deps.sh", p)
			}
			return p
		}
	}
	t.Fatal("repository root not found")
	return ""
}

// apiServer serves the real API over TLS from a fresh store, runs the controllers and a fake
// kubelet that makes every pod ready, and returns a kubeconfig for it.
func apiServer(t *testing.T, created time.Time) string {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(registry.Config{Store: st, Now: func() time.Time { return created }})
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := reg.Create(ctx, resource.Namespaces, "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	b, err := pki.Ensure(filepath.Join(dir, "pki"), nil, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	disc, err := discovery.NewHandler()
	if err != nil {
		t.Fatal(err)
	}
	srv := api.New(ctx, api.Config{Registry: reg, Token: b.Token, Discovery: disc,
		Version: api.VersionInfo{GitVersion: "v1.32.11", Major: "1", Minor: "32"},
		Now:     func() time.Time { return created.Add(5 * time.Minute) }})
	hs := httptest.NewUnstartedServer(srv.Handler())
	hs.Listener.Close()
	if hs.Listener, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{b.ServingCert}}
	hs.StartTLS()
	done := make(chan struct{}, 2)
	go func() { New(Config{Registry: reg, Resync: time.Second}).Run(ctx); done <- struct{}{} }()
	go func() { fakeKubelet(ctx, reg); done <- struct{}{} }()
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
		hs.CloseClientConnections()
		hs.Close()
		st.Close()
	})
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := pki.WriteKubeconfig(kubeconfig, hs.URL, b.CAPEM, b.Token); err != nil {
		t.Fatal(err)
	}
	return kubeconfig
}

// fakeKubelet stands in for node/: every pod runs and is ready shortly after it appears.
func fakeKubelet(ctx context.Context, reg *registry.Registry) {
	for ctx.Err() == nil {
		objs, _, _ := reg.List(resource.Pods, "", registry.ListOptions{})
		for _, o := range objs {
			p := o.(*corev1.Pod)
			if isPodReady(p) {
				continue
			}
			reg.Update(ctx, resource.Pods, p.Namespace, p.Name, "status", func(cur runtime.Object) (runtime.Object, error) {
				pod := cur.(*corev1.Pod)
				pod.Status.Phase = corev1.PodRunning
				pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue,
					LastTransitionTime: metav1.Now()}}
				return pod, nil
			}, registry.WriteOptions{})
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func runKubectl(t *testing.T, bin, kubeconfig string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	argv := append([]string{"--kubeconfig", kubeconfig, "--cache-dir", t.TempDir()}, args...)
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, argv...)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || errOut.Len() == 0 {
			t.Fatalf("kubectl %s: %v", strings.Join(args, " "), err)
		}
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out.String()
}

// lastLine is what `rollout status` ends with (the waiting lines before it depend on timing).
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func TestKubectlRolloutAndScale(t *testing.T) {
	bin := findKubectl(t)
	created := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	kc := apiServer(t, created)
	steps := []struct {
		args []string
		last bool // compare the last line only
		want string
	}{
		{args: []string{"create", "deployment", "web", "--image=nginx", "--replicas=2"}, want: "deployment.apps/web created\n"},
		{args: []string{"rollout", "status", "deployment/web", "--timeout=50s"}, last: true,
			want: `deployment "web" successfully rolled out`},
		{args: []string{"scale", "deployment/web", "--replicas=3"}, want: "deployment.apps/web scaled\n"},
		{args: []string{"rollout", "status", "deployment/web", "--timeout=50s"}, last: true,
			want: `deployment "web" successfully rolled out`},
		{args: []string{"set", "image", "deployment/web", "nginx=nginx:2"}, want: "deployment.apps/web image updated\n"},
		{args: []string{"rollout", "status", "deployment/web", "--timeout=50s"}, last: true,
			want: `deployment "web" successfully rolled out`},
		{args: []string{"get", "deploy,rs", "-o", "custom-columns=NAME:.metadata.name,REVISION:.metadata.annotations.deployment\\.kubernetes\\.io/revision,DESIRED:.spec.replicas"},
			want: `NAME             REVISION   DESIRED
web              2          3
web-56f74fb7f7   2          3
web-65d846d465   1          0
`},
		{args: []string{"get", "deploy,rs"}, want: `NAME                  READY   UP-TO-DATE   AVAILABLE   AGE
deployment.apps/web   3/3     3            3           5m

NAME                             DESIRED   CURRENT   READY   AGE
replicaset.apps/web-56f74fb7f7   3         3         3       5m
replicaset.apps/web-65d846d465   0         0         0       5m
`},
	}
	for _, s := range steps {
		got := runKubectl(t, bin, kc, s.args...)
		if s.last {
			got = lastLine(got)
		}
		if got != s.want {
			t.Errorf("kubectl %s:\n%s\nwant:\n%s", strings.Join(s.args, " "), got, s.want)
		}
	}
}
