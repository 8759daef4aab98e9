package integration

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podnet/podnet/integration/harness"
)

// echoBinary builds testdata/echo statically, once per test binary, into a directory that
// echo pods mount through hostPath.
var echoBinary = sync.OnceValues(func() (string, error) {
	dir, err := filepath.Abs(filepath.Join("testdata", "echo"))
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "bin")
	cmd := exec.Command("go", "build", "-o", filepath.Join(out, "echo"), ".")
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building the echo server: %v\n%s", err, b)
	}
	return out, nil
})

func echoDir(t *testing.T) string {
	t.Helper()
	dir, err := echoBinary()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// echoPodSpec is the pod template of an echo backend: busybox running the echo server from a
// hostPath volume, HTTP on the named port http (8080) and UDP on udp (9000), not ready while
// /tmp/unready exists.
func echoPodSpec(dir string) string {
	return fmt.Sprintf(`    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: echo
        image: busybox
        command: ["/echo/echo"]
        ports:
        - {name: http, containerPort: 8080}
        - {name: udp, containerPort: 9000, protocol: UDP}
        readinessProbe:
          exec: {command: ["sh", "-c", "test ! -f /tmp/unready"]}
          periodSeconds: 1
          failureThreshold: 1
        volumeMounts:
        - {name: bin, mountPath: /echo, readOnly: true}
      volumes:
      - name: bin
        hostPath: {path: %s}
`, dir)
}

func echoDeployment(name string, replicas int, dir string) string {
	return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %s
spec:
  replicas: %d
  selector:
    matchLabels: {app: %s}
  template:
    metadata:
      labels: {app: %s}
%s`, name, replicas, name, name, echoPodSpec(dir))
}

// serviceManifest is a Service selecting app=<app>; spec holds the extra spec lines (type,
// policies, ports), indented by four spaces.
func serviceManifest(name, app, spec string) string {
	return fmt.Sprintf(`apiVersion: v1
kind: Service
metadata:
  name: %s
spec:
  selector: {app: %s}
%s`, name, app, spec)
}

// get fetches url from inside a network namespace (the node's or the client's) and returns
// the body; a failure is returned, not fatal, so that tests can count them.
func get(nsDial func(network, addr string) (net.Conn, error), url string, timeout time.Duration) (string, error) {
	client := &http.Client{Timeout: timeout, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext:       func(_ context.Context, network, addr string) (net.Conn, error) { return nsDial(network, addr) },
	}}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func mustGet(t *testing.T, nsDial func(network, addr string) (net.Conn, error), url string) string {
	t.Helper()
	body, err := get(nsDial, url, 5*time.Second)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return body
}

// eventuallyGet retries until the body contains want (rules land asynchronously after the
// write that caused them).
func eventuallyGet(t *testing.T, nsDial func(network, addr string) (net.Conn, error), url, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		body, err := get(nsDial, url, time.Second)
		if err == nil && strings.Contains(body, want) {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: want %q within %s; last: %q, %v", url, want, timeout, body, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func clusterIP(t *testing.T, k kubectlRun, svc string) string {
	t.Helper()
	return must(t, k, "", "get", "svc", svc, "-o", "jsonpath={.spec.clusterIP}")
}

func nodePort(t *testing.T, k kubectlRun, svc string) string {
	t.Helper()
	return must(t, k, "", "get", "svc", svc, "-o", "jsonpath={.spec.ports[0].nodePort}")
}

// waitReadyEndpoints waits until the service's EndpointSlices hold n ready endpoints.
func waitReadyEndpoints(t *testing.T, k kubectlRun, svc string, n int) {
	t.Helper()
	want := strings.TrimSpace(strings.Repeat("true ", n))
	deadline := time.Now().Add(60 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		got, _, _ = k("", "get", "endpointslices", "-l", "kubernetes.io/service-name="+svc,
			"-o", `jsonpath={range .items[*].endpoints[*]}{.conditions.ready}{" "}{end}`)
		if strings.TrimSpace(got) == want {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("service %s: ready conditions %q, want %q", svc, got, want)
}

// TestServiceSeed walks the seed's service path: run --expose, the page through the ClusterIP
// from a pod under a terminal and from the node, the EndpointSlice and Endpoints behind it,
// service environment variables, a NodePort (32000) from the client namespace, expose of a
// pod, a ClusterIP the outside cannot reach even with a route, LoadBalancer without a pool,
// and the rules coming back after `nft flush ruleset`.
func TestServiceSeed(t *testing.T) {
	n := harness.StartNode(t, harness.Options{})
	importImages(t, n)
	k := kubectlRun(n.KubectlIn)
	must(t, k, "", "run", "nginx", "--image=nginx", "--restart=Never", "--port=80", "--expose")
	must(t, k, "", "wait", "--for=condition=Ready", "pod/nginx", "--timeout=60s")
	podIP := must(t, k, "", "get", "pod", "nginx", "-o", "jsonpath={.status.podIP}")
	cip := clusterIP(t, k, "nginx")
	waitReadyEndpoints(t, k, "nginx", 1)

	equal(t, "EndpointSlice addresses", must(t, k, "", "get", "endpointslices", "-l", "kubernetes.io/service-name=nginx",
		"-o", `jsonpath={.items[0].endpoints[0].addresses[0]} {.items[0].ports[0].port} {.items[0].endpoints[0].targetRef.name}`),
		podIP+" 80 nginx")
	equal(t, "Endpoints", must(t, k, "", "get", "endpoints", "nginx", "-o", `jsonpath={.subsets[0].addresses[0].ip}:{.subsets[0].ports[0].port}`),
		podIP+":80")

	out, err := n.KubectlTTY("", "run", "busybox", "--rm", "-it", "--image=busybox", "--restart=Never", "--", "wget", "-O-", cip)
	if err != nil || !strings.Contains(out, "<title>Welcome to nginx!</title>") {
		t.Errorf("wget the ClusterIP from a pod: %v\n%s", err, out)
	}
	eventuallyGet(t, n.DialNode, "http://"+cip+"/", "<title>Welcome to nginx!</title>", 5*time.Second)

	// A container started after the service sees it in its environment (enableServiceLinks).
	must(t, k, busyboxPod("env", "Never", "env | grep ^NGINX_ | sort", ""), "apply", "-f", "-")
	waitPod(t, k, "env", "{.status.phase}", "Succeeded", 60*time.Second)
	env := must(t, k, "", "logs", "env")
	for _, want := range []string{"NGINX_SERVICE_HOST=" + cip, "NGINX_SERVICE_PORT=80", "NGINX_PORT=tcp://" + cip + ":80",
		"NGINX_PORT_80_TCP_ADDR=" + cip, "NGINX_PORT_80_TCP_PORT=80", "NGINX_PORT_80_TCP_PROTO=tcp"} {
		if !strings.Contains(env, want+"\n") {
			t.Errorf("service environment lacks %s:\n%s", want, env)
		}
	}

	// The seed's NodePort manifest.
	must(t, k, `apiVersion: v1
kind: Service
metadata:
  name: nginx-nodeport
spec:
  type: NodePort
  selector: {run: nginx}
  ports:
  - port: 80
    targetPort: 80
    nodePort: 32000
`, "apply", "-f", "-")
	eventuallyGet(t, n.DialClient, fmt.Sprintf("http://%s:32000/", n.NodeIP()), "<title>Welcome to nginx!</title>", 5*time.Second)

	// kubectl expose of a pod, on another port.
	equal(t, "expose", must(t, k, "", "expose", "pod", "nginx", "--name=nginx-8081", "--port=8081", "--target-port=80"), "service/nginx-8081 exposed\n")
	eventuallyGet(t, n.DialNode, "http://"+clusterIP(t, k, "nginx-8081")+":8081/", "<title>Welcome to nginx!</title>", 5*time.Second)

	// LoadBalancer without a pool: no address, and the NodePort works.
	must(t, k, "", "expose", "pod", "nginx", "--name=nginx-lb", "--type=LoadBalancer", "--port=80")
	rows := table(must(t, k, "", "get", "svc", "nginx-lb"))
	if len(rows) != 2 || rows[1][3] != "<pending>" {
		t.Errorf("LoadBalancer without a pool, EXTERNAL-IP should be <pending>:\n%v", rows)
	}
	eventuallyGet(t, n.DialClient, fmt.Sprintf("http://%s:%s/", n.NodeIP(), nodePort(t, k, "nginx-lb")), "<title>Welcome to nginx!</title>", 5*time.Second)

	// The ClusterIP answers only the node and its pods: a client routing the service CIDR to the
	// node gets nothing.
	if _, errOut, err := n.RunClient("ip", "route", "add", "10.96.0.0/12", "via", n.NodeIP().String()); err != nil {
		t.Fatalf("route to the service CIDR: %v %s", err, errOut)
	}
	if body, err := get(n.DialClient, "http://"+cip+"/", time.Second); err == nil {
		t.Errorf("the client reached the ClusterIP through a route: %q", body)
	}
	// ... while the same client reaches the pod IP over that route? No: the pod CIDR is not
	// routed to the node; the NodePort above is the client's way in.

	// Someone flushes the node's ruleset: podnet's rules are back within 5 s.
	if _, errOut, err := n.RunNode("nft", "flush", "ruleset"); err != nil {
		t.Fatalf("nft flush ruleset: %v %s", err, errOut)
	}
	start := time.Now()
	eventuallyGet(t, n.DialNode, "http://"+cip+"/", "<title>Welcome to nginx!</title>", 5*time.Second)
	t.Logf("ClusterIP answered again %s after the flush", time.Since(start).Round(time.Millisecond))

	must(t, k, "", "delete", "pod", "nginx", "env", "--wait", "--timeout=60s")
}

// whoAnswered parses the echo server's answer "<hostname> <client addr>".
func whoAnswered(body string) (host, client string) {
	f := strings.Fields(body)
	if len(f) < 2 {
		return "", ""
	}
	h, _, err := net.SplitHostPort(f[1])
	if err != nil {
		return f[0], f[1]
	}
	return f[0], h
}

// TestServicePolicies: endpoints from a deployment exposed on a named port, spread over
// replicas, hairpin, ClientIP affinity, externalTrafficPolicy Local against Cluster, no
// endpoints refused at once, a pod turning not-ready without failed requests, and UDP after
// its endpoint is replaced.
func TestServicePolicies(t *testing.T) {
	n := harness.StartNode(t, harness.Options{})
	importImages(t, n)
	dir := echoDir(t)
	k := kubectlRun(n.KubectlIn)
	must(t, k, echoDeployment("echo", 3, dir), "apply", "-f", "-")
	must(t, k, "", "rollout", "status", "deployment/echo", "--timeout=90s")
	equal(t, "expose", must(t, k, "", "expose", "deployment", "echo", "--port=80", "--target-port=http"), "service/echo exposed\n")
	waitReadyEndpoints(t, k, "echo", 3)
	cip := clusterIP(t, k, "echo")
	url := "http://" + cip + "/"
	eventuallyGet(t, n.DialNode, url, "echo-", 5*time.Second)

	t.Run("spread", func(t *testing.T) {
		seen := map[string]int{}
		for range 60 {
			host, _ := whoAnswered(mustGet(t, n.DialNode, url))
			seen[host]++
		}
		if len(seen) != 3 {
			t.Errorf("60 requests reached %d backends, want 3: %v", len(seen), seen)
		}
	})

	pods := strings.Fields(must(t, k, "", "get", "pods", "-l", "app=echo", "-o", "jsonpath={.items[*].metadata.name}"))
	t.Run("hairpin", func(t *testing.T) {
		// A pod reaches itself through its own service; it sees the bridge's address, not its own.
		self := pods[0]
		for range 40 {
			out := must(t, k, "", "exec", self, "--", "wget", "-qO-", url)
			if host, client := whoAnswered(out); host == self {
				if client != "10.244.0.1" {
					t.Errorf("hairpin: the pod saw itself as %s, want the bridge address 10.244.0.1", client)
				}
				return
			}
		}
		t.Errorf("40 requests from %s to its service never reached it", self)
	})

	t.Run("affinity", func(t *testing.T) {
		must(t, k, serviceManifest("echo-sticky", "echo", `  sessionAffinity: ClientIP
  ports: [{port: 80, targetPort: http}]
`), "apply", "-f", "-")
		u := "http://" + clusterIP(t, k, "echo-sticky") + "/"
		first, _ := whoAnswered(eventuallyGet(t, n.DialNode, u, "echo-", 5*time.Second))
		for range 30 {
			if host, _ := whoAnswered(mustGet(t, n.DialNode, u)); host != first {
				t.Fatalf("ClientIP affinity: %s answered after %s", host, first)
			}
		}
	})

	t.Run("externalTrafficPolicy", func(t *testing.T) {
		for _, tt := range []struct {
			policy     string
			sameClient bool
		}{{"Local", true}, {"Cluster", false}} {
			name := "echo-" + strings.ToLower(tt.policy)
			must(t, k, serviceManifest(name, "echo", fmt.Sprintf(`  type: NodePort
  externalTrafficPolicy: %s
  ports: [{port: 80, targetPort: http}]
`, tt.policy)), "apply", "-f", "-")
			u := fmt.Sprintf("http://%s:%s/", n.NodeIP(), nodePort(t, k, name))
			_, client := whoAnswered(eventuallyGet(t, n.DialClient, u, "echo-", 5*time.Second))
			if got := client == n.ClientIP().String(); got != tt.sameClient {
				t.Errorf("externalTrafficPolicy %s: the backend saw %s (client %s)", tt.policy, client, n.ClientIP())
			}
		}
	})

	t.Run("no endpoints", func(t *testing.T) {
		must(t, k, serviceManifest("nothing", "nothing", "  ports: [{port: 80}]\n"), "apply", "-f", "-")
		addr := net.JoinHostPort(clusterIP(t, k, "nothing"), "80")
		deadline := time.Now().Add(5 * time.Second)
		for {
			start := time.Now()
			conn, err := n.DialNode("tcp", addr)
			took := time.Since(start)
			if err == nil {
				conn.Close()
				t.Fatalf("connected to %s, a service without endpoints", addr)
			}
			if errors.Is(err, syscall.ECONNREFUSED) && took < time.Second {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("dial %s: %v after %s, want connection refused within 1s", addr, err, took)
			}
		}
	})

	t.Run("not ready", func(t *testing.T) {
		victim := pods[1]
		errc := make(chan error, 1)
		go func() {
			for i := range 200 {
				if _, err := get(n.DialNode, url, 5*time.Second); err != nil {
					errc <- fmt.Errorf("request %d: %w", i, err)
					return
				}
			}
			errc <- nil
		}()
		must(t, k, "", "exec", victim, "--", "touch", "/tmp/unready")
		if err := <-errc; err != nil {
			t.Errorf("while %s turned not ready: %v", victim, err)
		}
		jp := fmt.Sprintf(`jsonpath={.items[*].endpoints[?(@.targetRef.name=="%s")].conditions.ready}`, victim)
		waitFor(t, 10*time.Second, victim+" not ready in the slice", func() bool {
			out, _, _ := k("", "get", "endpointslices", "-l", "kubernetes.io/service-name=echo", "-o", jp)
			return out == "false"
		})
		// From now on the proxy sends nothing to it.
		time.Sleep(200 * time.Millisecond)
		for range 30 {
			if host, _ := whoAnswered(mustGet(t, n.DialNode, url)); host == victim {
				t.Fatalf("%s answered while not ready", victim)
			}
		}
	})

	t.Run("udp", func(t *testing.T) {
		must(t, k, echoDeployment("echo-udp", 1, dir), "apply", "-f", "-")
		must(t, k, "", "rollout", "status", "deployment/echo-udp", "--timeout=90s")
		must(t, k, serviceManifest("echo-udp", "echo-udp", "  ports: [{port: 53, protocol: UDP, targetPort: udp}]\n"), "apply", "-f", "-")
		waitReadyEndpoints(t, k, "echo-udp", 1)
		// One socket, one source port, for the whole test: the conntrack entry of this flow
		// points at the first pod until the proxy deletes it.
		conn, err := n.DialNode("udp", net.JoinHostPort(clusterIP(t, k, "echo-udp"), "53"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ask := func() string {
			conn.SetDeadline(time.Now().Add(300 * time.Millisecond))
			if _, err := conn.Write([]byte("ping")); err != nil {
				return ""
			}
			buf := make([]byte, 512)
			m, err := conn.Read(buf)
			if err != nil {
				return ""
			}
			host, _ := whoAnswered(string(buf[:m]))
			return host
		}
		var first string
		waitFor(t, 10*time.Second, "a UDP answer", func() bool { first = ask(); return first != "" })
		must(t, k, "", "delete", "pod", first, "--wait=false")
		waitFor(t, 60*time.Second, "an answer from the replacement pod", func() bool {
			h := ask()
			return h != "" && h != first
		})
	})

	must(t, k, "", "delete", "deployment", "echo", "echo-udp", "--wait", "--timeout=60s")
	waitFor(t, 60*time.Second, "the deployments' pods to go", func() bool {
		out, _, _ := k("", "get", "pods", "-o", "name")
		return out == ""
	})
}

// TestLoadBalancerPool: with a pool in the config, a LoadBalancer service gets an address from
// it (status.loadBalancer.ingress, EXTERNAL-IP), the node answers for it in the client's
// subnet, a requested address is honoured, and a deleted service frees its address.
func TestLoadBalancerPool(t *testing.T) {
	n := harness.StartNode(t, harness.Options{ConfigFor: func(nw *harness.Network) string {
		b := nw.Prefix().Addr().As4()
		return fmt.Sprintf("network:\n  loadBalancerPools: [\"%d.%d.%d.200-%d.%d.%d.201\"]\n", b[0], b[1], b[2], b[0], b[1], b[2])
	}})
	importImages(t, n)
	k := kubectlRun(n.KubectlIn)
	b := n.Prefix().Addr().As4()
	pool := func(last int) string { return fmt.Sprintf("%d.%d.%d.%d", b[0], b[1], b[2], last) }
	must(t, k, "", "run", "nginx", "--image=nginx", "--restart=Never", "--port=80")
	must(t, k, "", "wait", "--for=condition=Ready", "pod/nginx", "--timeout=60s")
	must(t, k, "", "expose", "pod", "nginx", "--name=web", "--type=LoadBalancer", "--port=80")
	var lb string
	waitFor(t, 10*time.Second, "an ingress address", func() bool {
		lb, _, _ = k("", "get", "svc", "web", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}")
		return lb != ""
	})
	if lb != pool(200) {
		t.Errorf("ingress %s, want the pool's first address %s", lb, pool(200))
	}
	rows := table(must(t, k, "", "get", "svc", "web"))
	if len(rows) != 2 || rows[1][3] != lb {
		t.Errorf("EXTERNAL-IP should be %s:\n%v", lb, rows)
	}
	eventuallyGet(t, n.DialClient, "http://"+lb+"/", "<title>Welcome to nginx!</title>", 5*time.Second)

	// The pool has one address left; a second service asking for a taken one stays pending.
	must(t, k, serviceManifest("taken", "nothing", fmt.Sprintf(`  type: LoadBalancer
  loadBalancerIP: %s
  ports: [{port: 80}]
`, lb)), "apply", "-f", "-")
	// The first service goes: its address is free again, and the requester gets it.
	must(t, k, "", "delete", "svc", "web")
	waitFor(t, 10*time.Second, "the requested address after its release", func() bool {
		ip, _, _ := k("", "get", "svc", "taken", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}")
		return ip == lb
	})
	must(t, k, "", "delete", "svc", "taken")
	must(t, k, "", "delete", "pod", "nginx", "--wait", "--timeout=60s")
	waitFor(t, 10*time.Second, "podnet-lb without addresses", func() bool {
		out, _, _ := n.RunNode("ip", "-o", "addr", "show", "dev", "podnet-lb")
		return !strings.Contains(out, lb)
	})
}

// TestServiceChurn: 1,000 service create/delete cycles leave podnet's table as it began. The
// cycles run in rounds of 100 NodePort services, each with an endpoint of its own (a user-written
// EndpointSlice: the services have no selector), and each round waits until the proxy has
// programmed every one of them before deleting them, so that every cycle reaches the kernel.
func TestServiceChurn(t *testing.T) {
	n := harness.StartNode(t, harness.Options{})
	cs := clientset(t, n)
	ruleset := func() string {
		out, _, err := n.RunNode("nft", "list", "table", "ip", "podnet")
		if err != nil {
			return ""
		}
		return out
	}
	// The table as it began is the settled one: the kubernetes and kube-dns services programmed
	// with their endpoints (the node's own), and no change over half a second.
	var before string
	waitFor(t, 20*time.Second, "podnet's table settled", func() bool {
		before = ruleset()
		for _, want := range []string{"10.96.0.1 ", "10.96.0.10 ", n.NodeIP().String() + ":53"} {
			if !strings.Contains(before, want) {
				return false
			}
		}
		time.Sleep(500 * time.Millisecond)
		return ruleset() == before
	})
	ctx := context.Background()
	ready := true
	for round := range 10 {
		var ips []string
		for i := range 100 {
			name := fmt.Sprintf("churn-%d-%d", round, i)
			svc := nodePortService(name, 0)
			svc.Spec.Selector = nil
			made, err := cs.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{})
			if err != nil {
				t.Fatalf("create %s: %v", name, err)
			}
			ips = append(ips, made.Spec.ClusterIP)
			port, proto := int32(80), corev1.ProtocolTCP
			slice := &discoveryv1.EndpointSlice{
				ObjectMeta:  metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/service-name": name}},
				AddressType: discoveryv1.AddressTypeIPv4,
				Endpoints: []discoveryv1.Endpoint{{Addresses: []string{fmt.Sprintf("10.244.1.%d", i+1)},
					Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
				Ports: []discoveryv1.EndpointPort{{Port: &port, Protocol: &proto}},
			}
			if _, err := cs.DiscoveryV1().EndpointSlices("default").Create(ctx, slice, metav1.CreateOptions{}); err != nil {
				t.Fatalf("create slice %s: %v", name, err)
			}
		}
		waitFor(t, 10*time.Second, fmt.Sprintf("round %d programmed", round), func() bool {
			rs := ruleset()
			for i, ip := range ips {
				if !strings.Contains(rs, ip+" ") || !strings.Contains(rs, fmt.Sprintf("10.244.1.%d:80", i+1)) {
					return false
				}
			}
			return true
		})
		for i := range 100 {
			name := fmt.Sprintf("churn-%d-%d", round, i)
			if err := cs.CoreV1().Services("default").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
				t.Fatalf("delete %s: %v", name, err)
			}
			if err := cs.DiscoveryV1().EndpointSlices("default").Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
				t.Fatalf("delete slice %s: %v", name, err)
			}
		}
	}
	var after string
	waitFor(t, 10*time.Second, "the table as it began", func() bool { after = ruleset(); return after == before })
}
