package endpoints

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/internal/regtest"
)

// env is a real store and registry (with the service allocator, so Services get ClusterIPs)
// and the controllers running; the test plays the kubelet.
type env struct {
	t   *testing.T
	ctx context.Context
	reg *registry.Registry
}

func newEnv(t *testing.T) *env {
	t.Helper()
	reg, _ := regtest.New(t, regtest.Options{ServiceAllocator: true})
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{t: t, ctx: ctx, reg: reg}
	done := make(chan struct{})
	go func() { New(Config{Registry: reg, Resync: time.Hour}).Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return e
}

func (e *env) create(info *resource.Info, obj runtime.Object) runtime.Object {
	e.t.Helper()
	out, err := e.reg.Create(e.ctx, info, "default", obj, registry.WriteOptions{})
	if err != nil {
		e.t.Fatalf("create %s: %v", info.Kind, err)
	}
	return out
}

func (e *env) update(info *resource.Info, name, sub string, change func(obj runtime.Object)) {
	e.t.Helper()
	_, err := e.reg.Update(e.ctx, info, "default", name, sub, func(cur runtime.Object) (runtime.Object, error) {
		change(cur)
		return cur, nil
	}, registry.WriteOptions{})
	if err != nil {
		e.t.Fatalf("update %s %s: %v", info.Kind, name, err)
	}
}

func (e *env) delete(info *resource.Info, name string) {
	e.t.Helper()
	if _, _, err := e.reg.Delete(e.ctx, info, "default", name, metav1.DeleteOptions{}); err != nil {
		e.t.Fatalf("delete %s %s: %v", info.Kind, name, err)
	}
}

// service creates "web" selecting app=web with target port target.
func (e *env) service(target intstr.IntOrString) *corev1.Service {
	return e.create(resource.Services, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: map[string]string{"team": "a"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "web"},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: target}}},
	}).(*corev1.Service)
}

// pod creates a pod and, as the kubelet would, gives it an IP and a Ready condition.
func (e *env) pod(name, ip string, ready bool, ports ...corev1.ContainerPort) {
	e.t.Helper()
	e.create(resource.Pods, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{NodeName: "node1", TerminationGracePeriodSeconds: new(int64(30)),
			Containers: []corev1.Container{{Name: "c", Image: "nginx", Ports: ports}}},
	})
	e.setStatus(name, ip, ready)
}

func (e *env) setStatus(name, ip string, ready bool) {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	e.update(resource.Pods, name, "status", func(obj runtime.Object) {
		p := obj.(*corev1.Pod)
		p.Status.Phase, p.Status.PodIP, p.Status.PodIPs = corev1.PodRunning, ip, []corev1.PodIP{{IP: ip}}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
	})
}

// slices renders the slices of service web, sorted, without their generated names.
func (e *env) slices() string {
	objs, _, err := e.reg.List(resource.EndpointSlices, "default", registry.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var lines []string
	for _, o := range objs {
		s := o.(*discoveryv1.EndpointSlice)
		if s.Labels[discoveryv1.LabelServiceName] != "web" {
			continue
		}
		s = s.DeepCopy()
		s.Name, s.GenerateName = "", "web-"
		lines = append(lines, strings.TrimPrefix(renderSlice(s), "web-* "))
	}
	sortStrings(lines)
	return strings.Join(lines, "\n")
}

func (e *env) endpoints() string {
	obj, err := e.reg.Get(resource.Endpoints, "default", "web")
	if apierrors.IsNotFound(err) {
		return "<none>"
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return renderEndpoints(obj.(*corev1.Endpoints))
}

// eventually waits until got() returns want.
func (e *env) eventually(what string, got func() string, want string) {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		if last = got(); last == want {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.t.Fatalf("%s: got:\n%s\nwant:\n%s", what, last, want)
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func TestControllersLifecycle(t *testing.T) {
	e := newEnv(t)
	e.service(intstr.FromInt32(8080))
	e.eventually("placeholder", e.slices, "IPv4 [] ")
	e.eventually("empty endpoints", e.endpoints, "label team=a")

	e.pod("a", "10.244.0.5", true)
	e.pod("b", "10.244.0.6", true)
	e.eventually("ready pods", e.slices, "IPv4 [http/TCP/8080] 10.244.0.5(a node1 rs-) 10.244.0.6(b node1 rs-)")
	e.eventually("ready endpoints", e.endpoints,
		"ready=[10.244.0.5(a) 10.244.0.6(b)] notready=[] ports=[http/TCP/8080]\nlabel team=a")

	e.setStatus("b", "10.244.0.6", false)
	e.eventually("b not ready", e.slices, "IPv4 [http/TCP/8080] 10.244.0.5(a node1 rs-) 10.244.0.6(b node1 ---)")
	e.eventually("b not ready", e.endpoints,
		"ready=[10.244.0.5(a)] notready=[10.244.0.6(b)] ports=[http/TCP/8080]\nlabel team=a")

	e.delete(resource.Pods, "a") // graceful: a terminates
	e.eventually("a terminating", e.slices, "IPv4 [http/TCP/8080] 10.244.0.5(a node1 -st) 10.244.0.6(b node1 ---)")
	e.eventually("a terminating", e.endpoints,
		"ready=[] notready=[10.244.0.6(b)] ports=[http/TCP/8080]\nlabel team=a")

	e.update(resource.Services, "web", "", func(obj runtime.Object) {
		obj.(*corev1.Service).Spec.Selector = map[string]string{"app": "other"}
	})
	e.eventually("selector matches nothing", e.slices, "IPv4 [] ")
	e.eventually("selector matches nothing", e.endpoints, "label team=a")

	e.delete(resource.Services, "web")
	e.eventually("service gone", e.slices, "")
	e.eventually("service gone", e.endpoints, "<none>")
}

func TestControllersManyPodsAndNamedPorts(t *testing.T) {
	e := newEnv(t)
	// Pods first, then the service: one sync sees all 250 (arriving one by one, packing
	// depends on how syncs and pods interleave, as upstream's does).
	for i := 0; i < 250; i++ {
		port := int32(8080)
		if i == 0 {
			port = 9090 // one pod resolves the name to another number
		}
		e.pod(fmt.Sprintf("p%03d", i), fmt.Sprintf("10.244.%d.%d", i/200, i%200+1), true,
			corev1.ContainerPort{Name: "http", ContainerPort: port})
	}
	e.service(intstr.FromString("http"))
	counts := func() string {
		objs, _, err := e.reg.List(resource.EndpointSlices, "default", registry.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, o := range objs {
			s := o.(*discoveryv1.EndpointSlice)
			out = append(out, fmt.Sprintf("%d@%d", len(s.Endpoints), deref(s.Ports[0].Port)))
		}
		sortStrings(out)
		return strings.Join(out, " ")
	}
	e.eventually("249 pods on 8080 in 3 slices, one pod on 9090 in its own", counts, "100@8080 100@8080 1@9090 49@8080")
	subsets := func() string {
		obj, err := e.reg.Get(resource.Endpoints, "default", "web")
		if err != nil {
			return err.Error()
		}
		var out []string
		for _, s := range obj.(*corev1.Endpoints).Subsets {
			out = append(out, fmt.Sprintf("%d@%d", len(s.Addresses), s.Ports[0].Port))
		}
		return strings.Join(out, " ")
	}
	e.eventually("endpoints subsets by port", subsets, "1@9090 249@8080")
}

// A service without a selector keeps the slice and Endpoints its user wrote.
func TestControllersLeaveSelectorlessServicesAlone(t *testing.T) {
	e := newEnv(t)
	e.create(resource.Services, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}})
	ready, port, name, proto := true, int32(80), "http", corev1.ProtocolTCP
	e.create(resource.EndpointSlices, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-manual", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"192.0.2.1"}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Protocol: &proto, Port: &port}},
	})
	e.create(resource.Endpoints, &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.1", TargetRef: &corev1.ObjectReference{Name: "ext"}}},
			Ports: []corev1.EndpointPort{{Name: "http", Port: 80}}}}})
	e.pod("a", "10.244.0.5", true)
	time.Sleep(300 * time.Millisecond) // give the controllers every chance to (wrongly) act
	e.eventually("user slice kept", e.slices, "IPv4 [http/TCP/80] 192.0.2.1(  r??)")
	e.eventually("user endpoints kept", e.endpoints, "ready=[192.0.2.1(ext)] notready=[] ports=[http/TCP/80]")
}

// A managed slice someone deletes comes back.
func TestControllersRestoreDeletedSlice(t *testing.T) {
	e := newEnv(t)
	e.service(intstr.FromInt32(8080))
	e.pod("a", "10.244.0.5", true)
	want := "IPv4 [http/TCP/8080] 10.244.0.5(a node1 rs-)"
	e.eventually("slice", e.slices, want)
	objs, _, _ := e.reg.List(resource.EndpointSlices, "default", registry.ListOptions{})
	for _, o := range objs {
		e.delete(resource.EndpointSlices, o.(*discoveryv1.EndpointSlice).Name)
	}
	e.eventually("slice restored", e.slices, want)
}

// Endpoints written before their Service (a manifest listing them first, for a service without
// a selector) are the user's: upstream deletes Endpoints without a Service only at start
// and when their Service goes, never because the Endpoints object itself was written.
func TestControllersKeepEndpointsWrittenBeforeTheirService(t *testing.T) {
	e := newEnv(t)
	e.service(intstr.FromInt32(8080)) // an unrelated service, so the controllers are surely running
	e.eventually("controllers running", e.slices, "IPv4 [] ")
	e.create(resource.Endpoints, &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "ext"},
		Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: "192.0.2.1"}},
			Ports: []corev1.EndpointPort{{Name: "http", Port: 80}}}}})
	e.update(resource.Endpoints, "ext", "", func(obj runtime.Object) {
		obj.(*corev1.Endpoints).Subsets[0].Addresses[0].IP = "192.0.2.2"
	})
	time.Sleep(300 * time.Millisecond) // give the controllers every chance to (wrongly) act
	if _, err := e.reg.Get(resource.Endpoints, "default", "ext"); err != nil {
		t.Fatalf("Endpoints written before their Service: %v", err)
	}
}

// Endpoints left without a Service while podnet was down are deleted at start, as upstream's
// check for leftovers; leader-election records (Endpoints with the leader annotation) stay.
func TestControllersDeleteLeftoverEndpointsAtStart(t *testing.T) {
	reg, _ := regtest.New(t, regtest.Options{ServiceAllocator: true})
	ctx, cancel := context.WithCancel(context.Background())
	for _, ep := range []*corev1.Endpoints{
		{ObjectMeta: metav1.ObjectMeta{Name: "leftover"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "lock", Annotations: map[string]string{leaderAnnotation: "{}"}}},
	} {
		if _, err := reg.Create(ctx, resource.Endpoints, "default", ep, registry.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() { New(Config{Registry: reg, Resync: time.Hour}).Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	e := &env{t: t, ctx: ctx, reg: reg}
	names := func() string {
		objs, _, err := reg.List(resource.Endpoints, "default", registry.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, o := range objs {
			out = append(out, o.(*corev1.Endpoints).Name)
		}
		return strings.Join(out, " ")
	}
	e.eventually("leftover deleted, lock kept", names, "lock")
}

// queued drains q without syncing.
func queued(q interface {
	Len() int
	Next(context.Context) (string, bool)
	Done(string)
}) string {
	var out []string
	for q.Len() > 0 {
		k, _ := q.Next(context.Background())
		q.Done(k)
		out = append(out, k)
	}
	sortStrings(out)
	return strings.Join(out, " ")
}

// Only the first relist looks for leftover Endpoints: a watch cut off later must not delete
// Endpoints written before their Service.
func TestRelistQueuesLeftoversOnce(t *testing.T) {
	reg, _ := regtest.New(t, regtest.Options{ServiceAllocator: true})
	if _, err := reg.Create(context.Background(), resource.Endpoints, "default",
		&corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "ext"}}, registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	c := New(Config{Registry: reg})
	for i, want := range []string{"default/ext", ""} {
		if err := c.relist(); err != nil {
			t.Fatal(err)
		}
		if got := queued(c.endpoints); got != want {
			t.Fatalf("relist %d queued %q, want %q", i+1, got, want)
		}
	}
}
