package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// The services section's node: a veth pair inside the bench's own namespace gives podnet a
// real (non-loopback) node address for NodePorts, and a route for the service CIDR (the
// kernel must find a route to a ClusterIP before the nat output hook rewrites it).
const (
	svcLink    = "pnsvc0"
	svcPeer    = "pnsvc1"
	svcNodeIP  = "10.250.0.1"
	svcGateway = "10.250.0.2"
	webName    = "svcbench-web"
	webApp     = "svcbench-web"
	clientName = "svcbench-client"
)

func setupNodeLink() (cleanup func() error, err error) {
	steps := [][]string{
		{"link", "add", svcLink, "type", "veth", "peer", "name", svcPeer},
		{"addr", "add", svcNodeIP + "/24", "dev", svcLink},
		{"link", "set", svcLink, "up"},
		{"link", "set", svcPeer, "up"},
		{"route", "replace", "default", "via", svcGateway, "dev", svcLink},
	}
	cleanup = func() error { return run("ip", "link", "del", svcLink) }
	for _, s := range steps {
		if err := run("ip", s...); err != nil {
			if s[0] != "link" || s[1] != "add" {
				_ = cleanup()
			}
			return nil, err
		}
	}
	return cleanup, nil
}

// svcNode is the podnet under test and a client of its API.
type svcNode struct {
	p  *podnet
	cs kubernetes.Interface
	// clientNetns is the client pod's network namespace (figure (c) from a pod).
	clientNetns string
	// base is how many service-ips elements the daemon's own Services (kubernetes, kube-dns)
	// hold: every count the section waits for is on top of it.
	base int
}

// startSvcNode imports the images and starts podnet with the node address on the veth.
func startSvcNode(ctx context.Context, bin, dir, images string) (*svcNode, error) {
	data := filepath.Join(dir, "data")
	for _, img := range []string{"busybox.tar", "nginx.tar"} {
		path := filepath.Join(images, img)
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("%w (make images builds it)", err)
		}
		if err := run(bin, "image", "import", "--data-dir", data, path); err != nil {
			return nil, err
		}
	}
	return newSvcNode(ctx, bin, dir)
}

// newSvcNode starts podnet with the node address on the veth, and extra flags, and a client of
// its API that does not throttle.
func newSvcNode(ctx context.Context, bin, dir string, extra ...string) (*svcNode, error) {
	// The later --node-ip wins over startPodnet's 127.0.0.1; --pod-cidr as the pod section's,
	// whose bridge may still be there.
	args := append([]string{"--offline", "--node-ip", svcNodeIP, "--pod-cidr", "10.244.0.0/22"}, extra...)
	p, err := startPodnet(ctx, bin, dir, args...)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(&rest.Config{
		Host: podnetURL, BearerToken: p.token, TLSClientConfig: rest.TLSClientConfig{CAData: p.ca},
		QPS: 5000, Burst: 5000,
	})
	if err != nil {
		p.stop()
		return nil, err
	}
	return &svcNode{p: p, cs: cs}, nil
}

// startWeb runs the nginx backend and the client pod (busybox sleeping: figure (c) dials from
// its network namespace) and waits until both are Ready; it returns nginx's pod IP.
func (n *svcNode) startWeb(ctx context.Context, timeout time.Duration) (netip.Addr, error) {
	grace := int64(1)
	web := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: webName, Labels: map[string]string{"app": webApp}},
		Spec: corev1.PodSpec{TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{{
			Name: "web", Image: "nginx:latest", ImagePullPolicy: corev1.PullIfNotPresent,
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80}},
		}}},
	}
	client := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: clientName},
		Spec: corev1.PodSpec{TerminationGracePeriodSeconds: &grace, Containers: []corev1.Container{{
			Name: "client", Image: "busybox:latest", ImagePullPolicy: corev1.PullIfNotPresent,
			Command: []string{"sleep", "1000000"},
		}}},
	}
	got, err := n.startPod(ctx, web, timeout)
	if err != nil {
		return netip.Addr{}, err
	}
	cl, err := n.startPod(ctx, client, timeout)
	if err != nil {
		return netip.Addr{}, err
	}
	n.clientNetns = filepath.Join(n.p.runDir, "pods", string(cl.UID), "ns", "net")
	return netip.ParseAddr(got.Status.PodIP)
}

// startPod creates pod and waits until it is Ready.
func (n *svcNode) startPod(ctx context.Context, pod *corev1.Pod, timeout time.Duration) (*corev1.Pod, error) {
	pods := n.cs.CoreV1().Pods(svcNamespace)
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create pod %s: %w", pod.Name, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		got, err := pods.Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return nil, err
		}
		for _, c := range got.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				return got, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("pod %s not Ready after %s (phase %s)", pod.Name, timeout, got.Status.Phase)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// webService is a Service in front of the nginx pod.
func webService(name string, t corev1.ServiceType) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: svcNamespace},
		Spec: corev1.ServiceSpec{Type: t, Selector: map[string]string{"app": webApp}, Ports: []corev1.ServicePort{{
			Name: "http", Protocol: corev1.ProtocolTCP, Port: 80, TargetPort: intstr.FromString("http")}}},
	}
}

// fill creates selectorless services with their slices until from..to-1 exist, 8 at a time.
func (n *svcNode) fill(ctx context.Context, from, to int) error {
	return n.parallel(ctx, from, to, func(i int) error {
		s := fillerService(i)
		if _, err := n.cs.CoreV1().Services(s.ns).Create(ctx, serviceObject(s, false), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create service %s: %w", s.name, err)
		}
		if _, err := n.cs.DiscoveryV1().EndpointSlices(s.ns).Create(ctx, sliceObject(s), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create slice of %s: %w", s.name, err)
		}
		return nil
	})
}

// unfill deletes the services from..to-1 and their slices.
func (n *svcNode) unfill(ctx context.Context, from, to int) error {
	return n.parallel(ctx, from, to, func(i int) error {
		s := fillerService(i)
		err := n.cs.DiscoveryV1().EndpointSlices(s.ns).Delete(ctx, s.name+"-1", metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete slice of %s: %w", s.name, err)
		}
		if err := n.cs.CoreV1().Services(s.ns).Delete(ctx, s.name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete service %s: %w", s.name, err)
		}
		return nil
	})
}

func (n *svcNode) parallel(ctx context.Context, from, to int, op func(int) error) error {
	jobs := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := op(i); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for i := from; i < to; i++ {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return errors.Join(errs...)
}

// programmed counts the elements of podnet's service-ips map: the ClusterIPs (and ports) the
// proxy has in the kernel.
func programmed(ctx context.Context) (int, error) {
	out, err := exec.CommandContext(ctx, "nft", "list", "map", "ip", "podnet", "service-ips").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("nft list map ip podnet service-ips: %v: %s", err, out)
	}
	return strings.Count(string(out), ": goto "), nil
}

// waitBuiltins waits until the proxy has programmed the Services that exist before the
// section makes any (the daemon's own) and returns how many service-ips elements they hold:
// one per ClusterIP port of a Service with a ready endpoint.
func (n *svcNode) waitBuiltins(ctx context.Context, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		want, err := n.servedPorts(ctx)
		if err != nil {
			return 0, err
		}
		got, err := programmed(ctx)
		if err == nil && got == want && want > 0 {
			return want, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("podnet's service-ips map holds %d elements, not the %d of the daemon's own Services, after %s (%v)", got, want, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// servedPorts counts the ClusterIP ports of the Services that have a ready endpoint.
func (n *svcNode) servedPorts(ctx context.Context) (int, error) {
	svcs, err := n.cs.CoreV1().Services("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, fmt.Errorf("list services: %w", err)
	}
	slices, err := n.cs.DiscoveryV1().EndpointSlices("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return 0, fmt.Errorf("list endpointslices: %w", err)
	}
	ready := map[string]bool{}
	for _, sl := range slices.Items {
		for _, e := range sl.Endpoints {
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				ready[sl.Namespace+"/"+sl.Labels[discoveryv1.LabelServiceName]] = true
			}
		}
	}
	count := 0
	for _, s := range svcs.Items {
		if s.Spec.ClusterIP != "" && s.Spec.ClusterIP != corev1.ClusterIPNone && ready[s.Namespace+"/"+s.Name] {
			count += len(s.Spec.Ports)
		}
	}
	return count, nil
}

// waitProgrammed waits until the service-ips map holds exactly want elements.
func waitProgrammed(ctx context.Context, want int, timeout time.Duration, poll time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		got, err := programmed(ctx)
		if err == nil && got == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("podnet's service-ips map holds %d elements, not %d, after %s (%v)", got, want, timeout, err)
		}
		time.Sleep(poll)
	}
}

// stopWeb deletes the nginx pod and waits until the API and the node hold nothing of it.
func (n *svcNode) stopWeb(ctx context.Context, timeout time.Duration) error {
	pods := n.cs.CoreV1().Pods(svcNamespace)
	names := []string{webName, clientName}
	for _, name := range names {
		if err := pods.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	deadline := time.Now().Add(timeout)
	for {
		var err error
		left := 0
		for _, name := range names {
			if _, gerr := pods.Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(gerr) {
				left++
				err = errors.Join(err, fmt.Errorf("pod %s: %v", name, gerr))
			}
		}
		state := leftState(n.p)
		if left == 0 && state == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("after %s: %v; %s", timeout, err, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
