package integration

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/podnet/podnet/integration/harness"
)

// importImages loads `make images`' tarballs into the node's image store, as a user would with
// `podnet image import`.
func importImages(t *testing.T, n *harness.Node) {
	t.Helper()
	root := repoDir(t)
	var files []string
	for _, name := range []string{"busybox.tar", "nginx.tar"} {
		p := filepath.Join(root, "build", "images", name)
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s missing: run make images", p)
		}
		files = append(files, p)
	}
	cmd := exec.Command(filepath.Join(root, "bin", "podnet"), append([]string{"image", "import", "--data-dir", n.DataDir()}, files...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("podnet image import: %v\n%s", err, out)
	}
}

func repoDir(t *testing.T) string {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd) // integration/ is one below the root
}

// waitPod waits for kubectl's jsonpath on a pod to print want.
func waitPod(t *testing.T, k kubectlRun, name, jsonpath, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var got string
	for time.Now().Before(deadline) {
		out, _, err := k("", "get", "pod", name, "-o", "jsonpath="+jsonpath)
		if got = out; err == nil && out == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	desc, _, _ := k("", "describe", "pod", name)
	t.Fatalf("pod %s: %s is %q, want %q\n%s", name, jsonpath, got, want, desc)
}

func TestRunNginx(t *testing.T) {
	n := harness.StartNode(t, harness.Options{})
	importImages(t, n)
	k := kubectlRun(n.KubectlIn)
	equal(t, "run", must(t, k, "", "run", "nginx", "--image=nginx", "--restart=Never", "--port=80"), "pod/nginx created\n")
	must(t, k, "", "wait", "--for=condition=Ready", "pod/nginx", "--timeout=60s")
	ip := must(t, k, "", "get", "pod", "nginx", "-o", "jsonpath={.status.podIP}")
	if !strings.HasPrefix(ip, "10.244.0.") {
		t.Fatalf("pod IP %q", ip)
	}
	if out, _, err := n.RunNode("ip", "-o", "link", "show", "podnet0"); err != nil || !strings.Contains(out, "podnet0") {
		t.Errorf("bridge podnet0 in the node's namespace: %v %s", err, out)
	}
	// Ready (no readiness probe) means started: nginx may still be opening its socket.
	eventuallyGet(t, n.DialNode, "http://"+ip+"/", "<title>Welcome to nginx!</title>", 5*time.Second)
	must(t, k, "", "delete", "pod", "nginx", "--wait", "--timeout=60s")
}

// TestRuncExecutor: with `--executor runc` the same pods run under Debian's runc: Ready, serving,
// exec reaching the container, graceful deletion.
func TestRuncExecutor(t *testing.T) {
	n := harness.StartNode(t, harness.Options{ExtraArgs: []string{"--executor", "runc"}})
	importImages(t, n)
	k := kubectlRun(n.KubectlIn)
	must(t, k, "", "run", "nginx", "--image=nginx", "--restart=Never", "--port=80")
	must(t, k, "", "wait", "--for=condition=Ready", "pod/nginx", "--timeout=60s")
	ip := must(t, k, "", "get", "pod", "nginx", "-o", "jsonpath={.status.podIP}")
	// Ready (no readiness probe) means started: nginx may still be opening its socket.
	eventuallyGet(t, n.DialNode, "http://"+ip+"/", "<title>Welcome to nginx!</title>", 5*time.Second)
	must(t, k, busyboxPod("shell", "Never", "trap 'exit 0' TERM; sleep 3600 & wait", ""), "apply", "-f", "-")
	must(t, k, "", "wait", "--for=condition=Ready", "pod/shell", "--timeout=60s")
	equal(t, "exec under runc", must(t, k, "", "exec", "shell", "--", "sh", "-c", "hostname; grep CapEff /proc/self/status; wget -qO- "+ip+" | grep -o '<title>.*</title>'"),
		"shell\nCapEff:\t00000000a80425fb\n<title>Welcome to nginx!</title>\n")
	if ps, _, _ := n.RunNode("sh", "-c", "ls "+filepath.Join(n.RunDir(), "runc")); strings.TrimSpace(ps) == "" {
		t.Errorf("runc's state dir under the run dir is empty: not run by runc?")
	}
	must(t, k, "", "delete", "pod", "nginx", "shell", "--wait", "--timeout=60s")
}
