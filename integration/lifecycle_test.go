package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/podnet/podnet/integration/harness"
)

// containerPids reads every container's pid from the shims' state (child.pid).
func containerPids(t *testing.T, n *harness.Node) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(n.RunDir(), "shims", "*", "child.pid"))
	var pids []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pids = append(pids, strings.TrimSpace(string(b)))
	}
	sort.Strings(pids)
	return pids
}

func alive(pid string) bool {
	_, err := os.Stat("/proc/" + pid)
	return err == nil
}

// TestDaemonKill9: containers outlive a crashed daemon with the same pids; the restarted daemon
// adopts them (restart counts unchanged) and gives new pods addresses no pod holds.
func TestDaemonKill9(t *testing.T) {
	n := harness.StartNode(t, harness.Options{})
	importImages(t, n)
	k := kubectlRun(n.KubectlIn)
	must(t, k, "", "run", "web", "--image=nginx", "--restart=Always")
	must(t, k, busyboxPod("sleeper", "Always", "trap 'exit 0' TERM; sleep 3600 & wait", ""), "apply", "-f", "-")
	must(t, k, "", "wait", "--for=condition=Ready", "pod/web", "pod/sleeper", "--timeout=60s")
	before := containerPids(t, n)
	if len(before) != 2 {
		t.Fatalf("container pids %v, want 2", before)
	}
	ips := must(t, k, "", "get", "pods", "-o", "jsonpath={.items[*].status.podIP}")
	// What TestPodChurn finds gone is there while pods run (its checks are not vacuous).
	if len(n.PodCgroups()) == 0 || reservations(t, n) == "" {
		t.Errorf("running pods but no pod cgroups (%v) or no IP reservations", n.PodCgroups())
	}

	n.Kill9()
	for _, pid := range before {
		if !alive(pid) {
			t.Errorf("container pid %s died with the daemon", pid)
		}
	}
	n.Restart()
	must(t, k, "", "wait", "--for=condition=Ready", "pod/web", "pod/sleeper", "--timeout=60s")
	equal(t, "restart counts", must(t, k, "", "get", "pods", "-o", "jsonpath={.items[*].status.containerStatuses[0].restartCount}"), "0 0")
	equal(t, "pod IPs", must(t, k, "", "get", "pods", "-o", "jsonpath={.items[*].status.podIP}"), ips)
	if after := containerPids(t, n); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("container pids after the restart %v, before %v", after, before)
	}
	// The adopted containers are still the kubelet's to stop: exec and logs reach them.
	equal(t, "exec after restart", must(t, k, "", "exec", "sleeper", "--", "echo", "hi"), "hi\n")

	must(t, k, "", "run", "newcomer", "--image=nginx", "--restart=Never")
	must(t, k, "", "wait", "--for=condition=Ready", "pod/newcomer", "--timeout=60s")
	ip := must(t, k, "", "get", "pod", "newcomer", "-o", "jsonpath={.status.podIP}")
	for _, old := range strings.Fields(ips) {
		if ip == old {
			t.Errorf("new pod got %s, which an adopted pod holds", ip)
		}
	}
	must(t, k, "", "delete", "pod", "web", "sleeper", "newcomer", "--wait", "--timeout=60s")
}

// TestDeployment: a Deployment's pods run; a deleted one is replaced; a new image rolls out.
func TestDeployment(t *testing.T) {
	n := harness.StartNode(t, harness.Options{})
	importImages(t, n)
	k := kubectlRun(n.KubectlIn)
	must(t, k, "", "create", "deployment", "web", "--image=nginx", "--replicas=2")
	must(t, k, "", "rollout", "status", "deployment/web", "--timeout=60s")
	pods := strings.Fields(must(t, k, "", "get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].metadata.name}"))
	if len(pods) != 2 {
		t.Fatalf("pods %v", pods)
	}
	must(t, k, "", "delete", "pod", pods[0], "--wait", "--timeout=60s")
	waitFor(t, 60*time.Second, "a replacement pod", func() bool {
		out, _, _ := k("", "get", "pods", "-l", "app=web", "-o", `jsonpath={range .items[*]}{.metadata.name} {.status.phase}{"\n"}{end}`)
		running := strings.Count(out, "Running")
		return running == 2 && !strings.Contains(out, pods[0]+" ")
	})
	must(t, k, "", "set", "image", "deployment/web", "nginx=docker.io/library/nginx:latest")
	out := must(t, k, "", "rollout", "status", "deployment/web", "--timeout=120s")
	if !strings.Contains(out, `deployment "web" successfully rolled out`) {
		t.Errorf("rollout status: %s", out)
	}
	waitFor(t, 60*time.Second, "only new pods", func() bool {
		out, _, _ := k("", "get", "pods", "-l", "app=web", "-o", `jsonpath={range .items[*]}{.spec.containers[0].image} {.status.phase}{"\n"}{end}`)
		return out == "docker.io/library/nginx:latest Running\ndocker.io/library/nginx:latest Running\n"
	})
	must(t, k, "", "delete", "deployment", "web", "--wait", "--timeout=60s")
	waitFor(t, 60*time.Second, "the deployment's pods to go", func() bool {
		out, _, _ := k("", "get", "pods", "-o", "name")
		return out == ""
	})
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestPodChurn: 300 pod create/delete cycles leave no mount, namespace, cgroup, shim, container
// directory or IP reservation behind (the harness checks mounts, namespaces and processes at
// cleanup; this test checks the rest).
func TestPodChurn(t *testing.T) {
	n := harness.StartNode(t, harness.Options{})
	importImages(t, n)
	cs := clientset(t, n)
	const cycles, parallel = 300, 4
	var wg sync.WaitGroup
	errs := make(chan error, parallel)
	for w := range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < cycles; i += parallel {
				if err := podCycle(cs, fmt.Sprintf("churn-%d", i)); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		logShimDiagnostics(t, n)
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "runtime state to empty", func() bool {
		return len(dirEntries(filepath.Join(n.RunDir(), "shims"))) == 0 &&
			len(dirEntries(filepath.Join(n.RunDir(), "pods"))) == 0 &&
			len(dirEntries(filepath.Join(n.DataDir(), "containers"))) == 0
	})
	if left := n.PodCgroups(); len(left) != 0 {
		t.Errorf("cgroups left: %v", left)
	}
	if left := reservations(t, n); left != "" {
		t.Errorf("IP reservations left: %s", left)
	}
	if left := dirEntries(filepath.Join(n.DataDir(), "pods")); len(left) != 0 {
		t.Errorf("pod volume dirs left: %v", left)
	}
	if left := dirEntries(filepath.Join(n.DataDir(), "logs")); len(left) != 0 {
		t.Errorf("log dirs left: %v", left)
	}
}

func podCycle(cs *kubernetes.Clientset, name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pods := cs.CoreV1().Pods("default")
	grace := int64(2)
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
		TerminationGracePeriodSeconds: &grace, RestartPolicy: corev1.RestartPolicyNever,
		Containers: []corev1.Container{{Name: "c", Image: "busybox", Command: []string{"sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"}}},
	}}
	created, err := pods.Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	w, err := pods.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String(), ResourceVersion: created.ResourceVersion})
	if err != nil {
		return err
	}
	defer w.Stop()
	running := false
	for e := range w.ResultChan() {
		p, ok := e.Object.(*corev1.Pod)
		switch {
		case e.Type == watch.Deleted:
			return nil
		case !ok:
			return fmt.Errorf("%s: watch event %s %T", name, e.Type, e.Object)
		case !running && p.Status.Phase == corev1.PodRunning:
			running = true
			if err := pods.Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
				return err
			}
		case p.Status.Phase == corev1.PodFailed:
			logs, lerr := pods.GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
			return fmt.Errorf("%s failed: %+v\nlogs (%v): %s", name, p.Status, lerr, logs)
		}
	}
	return fmt.Errorf("%s: watch ended before the pod was gone: %v", name, ctx.Err())
}

// logShimDiagnostics prints what shims wrote about themselves (their own failures, not the
// containers' output), for a test that saw a container fail to start.
func logShimDiagnostics(t *testing.T, n *harness.Node) {
	logs, _ := filepath.Glob(filepath.Join(n.RunDir(), "shims", "*", "shim.log"))
	for _, l := range logs {
		if b, err := os.ReadFile(l); err == nil && len(b) > 0 {
			t.Logf("%s:\n%s", l, b)
		}
	}
}

func dirEntries(dir string) []string {
	ents, _ := os.ReadDir(dir)
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// reservations is what netplug's IPAM store still holds, as text ("" when nothing).
func reservations(t *testing.T, n *harness.Node) string {
	root := filepath.Join(n.DataDir(), "cni", "netplug")
	var b strings.Builder
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Base(p) != "reservations.json" {
			return err
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var f struct {
			Reservations map[string]json.RawMessage `json:"reservations"`
			HostPorts    map[string]bool            `json:"hostPorts"`
		}
		if err := json.Unmarshal(data, &f); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		if len(f.Reservations)+len(f.HostPorts) > 0 {
			b.WriteString(p + ": " + string(data) + "\n")
		}
		return nil
	})
	return b.String()
}
