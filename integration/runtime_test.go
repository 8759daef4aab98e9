package integration

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/podnet/podnet/integration/harness"
)

// podYAML is a busybox pod running script under sh.
func busyboxPod(name, policy, script string, extra string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: %s
spec:
  restartPolicy: %s
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: busybox
    command: ["sh", "-c", %q]
%s`, name, policy, script, extra)
}

// exitCode runs kubectl and returns its exit code and output.
func exitCode(k kubectlRun, stdin string, args ...string) (int, string, string) {
	out, errOut, err := k(stdin, args...)
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), out, errOut
	}
	if err != nil {
		return -1, out, errOut + err.Error()
	}
	return 0, out, errOut
}

// TestPodRuntime walks the runtime's acceptance through the real kubectl on one node: shared
// network of a pod's containers, logs, exec, cp, the container's confinement, restart policies
// with back-off, probes and graceful deletion.
func TestPodRuntime(t *testing.T) {
	n := harness.StartNode(t, harness.Options{})
	importImages(t, n)
	k := kubectlRun(n.KubectlIn)

	t.Run("two containers share one network namespace", func(t *testing.T) {
		must(t, k, `apiVersion: v1
kind: Pod
metadata:
  name: duo
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: nginx
  - name: side
    image: busybox
    command: ["sleep", "3600"]
`, "apply", "-f", "-")
		must(t, k, "", "wait", "--for=condition=Ready", "pod/duo", "--timeout=60s")
		page := must(t, k, "", "exec", "duo", "-c", "side", "--", "wget", "-qO-", "http://localhost/")
		if !strings.Contains(page, "<title>Welcome to nginx!</title>") {
			t.Errorf("sidecar got from localhost:\n%s", page)
		}
		ip := must(t, k, "", "get", "pod", "duo", "-o", "jsonpath={.status.podIP}")
		if got := must(t, k, "", "exec", "duo", "-c", "side", "--", "hostname", "-i"); strings.TrimSpace(got) != ip {
			t.Errorf("hostname -i in the sidecar: %q, pod IP %q", got, ip)
		}
		equal(t, "hostname", must(t, k, "", "exec", "duo", "-c", "side", "--", "hostname"), "duo\n")
		must(t, k, "", "delete", "pod", "duo", "--wait", "--timeout=60s")
	})

	t.Run("logs exec cp", func(t *testing.T) {
		must(t, k, busyboxPod("chatty", "Never", "echo one; sleep 0.2; echo two >&2; sleep 0.2; echo three; sleep 3600", ""), "apply", "-f", "-")
		must(t, k, "", "wait", "--for=condition=Ready", "pod/chatty", "--timeout=60s")
		waitLogs := func(want string, args ...string) {
			t.Helper()
			deadline := time.Now().Add(10 * time.Second)
			var got string
			for time.Now().Before(deadline) {
				if got, _, _ = k("", append([]string{"logs", "chatty"}, args...)...); got == want {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			t.Errorf("logs %v: %q, want %q", args, got, want)
		}
		waitLogs("one\ntwo\nthree\n")
		waitLogs("three\n", "--tail=1")
		ts := must(t, k, "", "logs", "chatty", "--timestamps", "--tail=1")
		if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z three\n$`).MatchString(ts) {
			t.Errorf("logs --timestamps: %q", ts)
		}
		code, out, _ := exitCode(k, "", "exec", "chatty", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
		if code != 3 || out != "out\n" {
			t.Errorf("exec exit code %d stdout %q, want 3 and out", code, out)
		}
		equal(t, "exec -i", must(t, k, "from stdin\n", "exec", "-i", "chatty", "--", "cat"), "from stdin\n")
		local := filepath.Join(t.TempDir(), "hello.txt")
		os.WriteFile(local, []byte("copied in\n"), 0o644)
		must(t, k, "", "cp", local, "chatty:/tmp/hello.txt")
		equal(t, "cp in", must(t, k, "", "exec", "chatty", "--", "cat", "/tmp/hello.txt"), "copied in\n")
		back := filepath.Join(t.TempDir(), "back.txt")
		must(t, k, "", "cp", "chatty:/tmp/hello.txt", back)
		if b, _ := os.ReadFile(back); string(b) != "copied in\n" {
			t.Errorf("cp out: %q", b)
		}
		must(t, k, "", "delete", "pod", "chatty", "--wait", "--timeout=60s")
	})

	t.Run("confinement", func(t *testing.T) {
		must(t, k, busyboxPod("plain", "Never", "sleep 3600", ""), "apply", "-f", "-")
		must(t, k, busyboxPod("strict", "Never", "sleep 3600", `    securityContext:
      seccompProfile:
        type: RuntimeDefault
`), "apply", "-f", "-")
		must(t, k, "", "wait", "--for=condition=Ready", "pod/plain", "pod/strict", "--timeout=60s")
		script := `grep -E '^(CapEff|Seccomp):' /proc/self/status
echo timer_list=$(cat /proc/timer_list | wc -c) keys=$(cat /proc/keys | wc -c)
echo 1 > /proc/sys/kernel/domainname 2>/dev/null && echo sys-writable || echo sys-readonly
unshare -u true 2>/dev/null && echo unshare-ok || echo unshare-denied
mount -t tmpfs t /mnt 2>/dev/null && echo mount-ok || echo mount-denied
id -u`
		equal(t, "default container", must(t, k, "", "exec", "plain", "--", "sh", "-c", script),
			"CapEff:\t00000000a80425fb\nSeccomp:\t0\ntimer_list=0 keys=0\nsys-readonly\nunshare-denied\nmount-denied\n0\n")
		equal(t, "RuntimeDefault seccomp", must(t, k, "", "exec", "strict", "--", "sh", "-c", script),
			"CapEff:\t00000000a80425fb\nSeccomp:\t2\ntimer_list=0 keys=0\nsys-readonly\nunshare-denied\nmount-denied\n0\n")
		must(t, k, "", "delete", "pod", "plain", "strict", "--wait", "--timeout=60s")
	})

	t.Run("restart policies and back-off", func(t *testing.T) {
		must(t, k, busyboxPod("done", "Never", "exit 0", ""), "apply", "-f", "-")
		must(t, k, busyboxPod("fails", "Never", "exit 4", ""), "apply", "-f", "-")
		must(t, k, busyboxPod("crash", "Always", "echo crashing; exit 1", ""), "apply", "-f", "-")
		must(t, k, busyboxPod("retry", "OnFailure", "test -f /tmp/x || { touch /tmp/x; exit 1; }", ""), "apply", "-f", "-")
		waitPod(t, k, "done", "{.status.phase}", "Succeeded", 30*time.Second)
		waitPod(t, k, "fails", "{.status.phase} {.status.containerStatuses[0].state.terminated.exitCode}", "Failed 4", 30*time.Second)
		// The first restart is at once, the next after 10 s: CrashLoopBackOff in between.
		waitPod(t, k, "crash", "{.status.containerStatuses[0].state.waiting.reason} {.status.containerStatuses[0].restartCount}", "CrashLoopBackOff 1", 30*time.Second)
		equal(t, "logs --previous", must(t, k, "", "logs", "crash", "--previous"), "crashing\n")
		// OnFailure: the writable layer is per attempt, so the retry fails the same way.
		waitPod(t, k, "retry", "{.status.containerStatuses[0].lastState.terminated.exitCode}", "1", 30*time.Second)
		rows := table(must(t, k, "", "get", "pods", "done", "fails", "crash"))
		checkRow(t, "done", rows[1], "done", "0/1", "Completed", "0", "<age>")
		checkRow(t, "fails", rows[2], "fails", "0/1", "Error", "0", "<age>")
		if rows[3][2] != "CrashLoopBackOff" {
			t.Errorf("crash row %q", rows[3])
		}
		must(t, k, "", "delete", "pod", "done", "fails", "crash", "retry", "--wait", "--timeout=60s")
	})

	t.Run("probes", func(t *testing.T) {
		must(t, k, busyboxPod("probed", "Always", "sleep 3600", `    readinessProbe:
      exec:
        command: ["test", "-f", "/tmp/ready"]
      periodSeconds: 1
`), "apply", "-f", "-")
		must(t, k, `apiVersion: v1
kind: Pod
metadata:
  name: sick
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: web
    image: nginx
    livenessProbe:
      httpGet:
        path: /nope
        port: 80
      periodSeconds: 1
      failureThreshold: 2
`, "apply", "-f", "-")
		waitPod(t, k, "probed", "{.status.phase} {.status.containerStatuses[0].ready}", "Running false", 30*time.Second)
		must(t, k, "", "exec", "probed", "--", "touch", "/tmp/ready")
		waitPod(t, k, "probed", "{.status.containerStatuses[0].ready}", "true", 10*time.Second)
		waitPod(t, k, "sick", "{.status.containerStatuses[0].restartCount}", "1", 30*time.Second)
		ev := must(t, k, "", "get", "events", "--field-selector", "involvedObject.name=sick")
		if !strings.Contains(ev, "Liveness probe failed: HTTP probe failed with statuscode: 404") {
			t.Errorf("events:\n%s", ev)
		}
		must(t, k, "", "delete", "pod", "probed", "sick", "--wait", "--timeout=60s")
	})

	t.Run("graceful deletion", func(t *testing.T) {
		must(t, k, busyboxPod("polite", "Always", "trap 'echo bye; exit 0' TERM; sleep 3600 & wait", ""), "apply", "-f", "-")
		must(t, k, busyboxPod("stubborn", "Always", "trap '' TERM; sleep 3600 & while true; do wait; done", ""), "apply", "-f", "-")
		must(t, k, "", "wait", "--for=condition=Ready", "pod/polite", "pod/stubborn", "--timeout=60s")
		start := time.Now()
		must(t, k, "", "delete", "pod", "polite", "--wait", "--timeout=60s")
		if d := time.Since(start); d > 1500*time.Millisecond {
			t.Errorf("a pod that exits on SIGTERM took %s to delete", d)
		}
		start = time.Now()
		must(t, k, "", "delete", "pod", "stubborn", "--wait", "--timeout=60s")
		if d := time.Since(start); d < 2*time.Second || d > 10*time.Second {
			t.Errorf("a pod ignoring SIGTERM was deleted after %s, want its 2 s grace period", d)
		}
	})
}

// TestInteractive: `kubectl run --rm -it` under a pseudo-terminal prints what the command wrote
// and removes the pod; `kubectl attach` follows a running container's output.
func TestInteractive(t *testing.T) {
	n := harness.StartNode(t, harness.Options{})
	importImages(t, n)
	k := kubectlRun(n.KubectlIn)
	must(t, k, "", "run", "nginx", "--image=nginx", "--restart=Never", "--port=80")
	must(t, k, "", "wait", "--for=condition=Ready", "pod/nginx", "--timeout=60s")
	ip := must(t, k, "", "get", "pod", "nginx", "-o", "jsonpath={.status.podIP}")
	out, err := n.KubectlTTY("", "run", "busybox", "--rm", "-it", "--image=busybox", "--restart=Never", "--", "wget", "-O-", ip)
	if err != nil || !strings.Contains(out, "<title>Welcome to nginx!</title>") {
		t.Errorf("run --rm -it: %v\n%s", err, out)
	}
	if !strings.Contains(out, `pod "busybox" deleted`) {
		t.Errorf("run --rm -it did not delete its pod:\n%s", out)
	}
	if got, _, _ := k("", "get", "pod", "busybox", "-o", "name"); got != "" {
		t.Errorf("pod busybox still there: %q", got)
	}
	// An interactive shell: what is typed reaches it through the terminal.
	out, err = n.KubectlTTY("echo typed-$((6*7))\nexit 5\n", "run", "shell", "--rm", "-it", "--image=busybox", "--restart=Never", "--", "sh")
	if !strings.Contains(out, "typed-42") {
		t.Errorf("run -it sh: %v\n%s", err, out)
	}
	must(t, k, busyboxPod("ticker", "Never", "for i in 1 2 3 4 5 6 7 8 9 10; do echo tick $i; sleep 0.3; done", ""), "apply", "-f", "-")
	must(t, k, "", "wait", "--for=condition=Ready", "pod/ticker", "--timeout=60s")
	// attach follows the output until the container exits.
	att := must(t, k, "", "attach", "ticker")

	if !strings.Contains(att, "tick 10\n") {
		t.Errorf("attach printed %q", att)
	}
	must(t, k, "", "delete", "pod", "nginx", "ticker", "--wait", "--timeout=60s")
}

// TestVolumesAndLimits: configMap, secret, emptyDir (shared by two containers, and in memory),
// downward API and hostPath volumes; env from a Secret and a ConfigMap; a memory limit whose
// breach is reported as OOMKilled.
func TestVolumesAndLimits(t *testing.T) {
	n := harness.StartNode(t, harness.Options{})
	importImages(t, n)
	k := kubectlRun(n.KubectlIn)
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "from-host"), []byte("host file\n"), 0o644)
	must(t, k, "", "create", "configmap", "cfg", "--from-literal=mode=prod", "--from-literal=greeting=hello")
	must(t, k, "", "create", "secret", "generic", "db", "--from-literal=password=s3cret")
	must(t, k, fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata:
  name: vols
  labels:
    app: vols
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: writer
    image: busybox
    command: ["sh", "-c", "echo shared > /data/x; echo -n $PASSWORD-$MODE > /data/env; sleep 3600"]
    env:
    - name: PASSWORD
      valueFrom: {secretKeyRef: {name: db, key: password}}
    - name: MODE
      valueFrom: {configMapKeyRef: {name: cfg, key: mode}}
    volumeMounts:
    - {name: data, mountPath: /data}
    - {name: ram, mountPath: /ram}
  - name: reader
    image: busybox
    command: ["sleep", "3600"]
    envFrom:
    - configMapRef: {name: cfg}
      prefix: CFG_
    volumeMounts:
    - {name: data, mountPath: /data}
    - {name: cfg, mountPath: /etc/cfg}
    - {name: secret, mountPath: /etc/secret}
    - {name: info, mountPath: /etc/info}
    - {name: host, mountPath: /host, readOnly: true}
  volumes:
  - {name: data, emptyDir: {}}
  - {name: ram, emptyDir: {medium: Memory}}
  - {name: cfg, configMap: {name: cfg}}
  - {name: secret, secret: {secretName: db}}
  - name: info
    downwardAPI:
      items:
      - {path: labels, fieldRef: {fieldPath: metadata.labels}}
      - {path: name, fieldRef: {fieldPath: metadata.name}}
  - {name: host, hostPath: {path: %s, type: Directory}}
`, host), "apply", "-f", "-")
	must(t, k, "", "wait", "--for=condition=Ready", "pod/vols", "--timeout=60s")
	waitFor(t, 10*time.Second, "the writer", func() bool {
		out, _, _ := k("", "exec", "vols", "-c", "reader", "--", "cat", "/data/env")
		return out == "s3cret-prod"
	})
	script := `cat /data/x /etc/cfg/greeting; echo; cat /etc/secret/password; echo
cat /etc/info/name; echo; cat /etc/info/labels; echo; cat /host/from-host; echo $CFG_mode $CFG_greeting
touch /host/nope 2>/dev/null && echo host-writable || echo host-readonly`
	equal(t, "volumes in the reader", must(t, k, "", "exec", "vols", "-c", "reader", "--", "sh", "-c", script),
		"shared\nhello\ns3cret\nvols\napp=\"vols\"\nhost file\nprod hello\nhost-readonly\n")
	equal(t, "memory emptyDir", must(t, k, "", "exec", "vols", "-c", "writer", "--", "sh", "-c", "grep ' /ram ' /proc/mounts | cut -d' ' -f3"), "tmpfs\n")

	must(t, k, busyboxPod("hog", "Never", "dd if=/dev/zero of=/dev/null bs=200M count=1", `    resources:
      limits:
        memory: 32Mi
`), "apply", "-f", "-")
	waitPod(t, k, "hog", "{.status.phase} {.status.containerStatuses[0].state.terminated.reason} {.status.containerStatuses[0].state.terminated.exitCode}", "Failed OOMKilled 137", 60*time.Second)
	must(t, k, "", "delete", "pod", "vols", "hog", "--wait", "--timeout=60s")
}
