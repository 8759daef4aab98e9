package loadbalancer

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/api/store"
	"github.com/podnet/podnet/internal/regtest"
)

// fakeAnnouncer remembers what the node was told to answer for.
type fakeAnnouncer struct {
	mu      sync.Mutex
	addrs   []netip.Addr
	fail    error
	cleaned bool
}

func (f *fakeAnnouncer) Announce(addrs []netip.Addr) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.addrs = slices.Clone(addrs)
	return nil
}

func (f *fakeAnnouncer) Cleanup() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.addrs, f.cleaned = nil, true
	return nil
}

func (f *fakeAnnouncer) String() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return fmt.Sprint(f.addrs)
}

// env is a real store and registry, with the ClusterIP/NodePort allocator at admission as in
// podnet serve, and the controller under test with a fake Announcer.
type env struct {
	t      *testing.T
	ctx    context.Context
	store  *store.Store
	reg    *registry.Registry
	ann    *fakeAnnouncer
	c      *Controller
	events map[string]bool // names of the events already shown
}

func newEnv(t *testing.T, pools []Range) *env {
	t.Helper()
	reg, st := regtest.New(t, regtest.Options{ServiceAllocator: true})
	e := &env{t: t, ctx: context.Background(), store: st, reg: reg, events: map[string]bool{}}
	e.restart(pools)
	return e
}

// restart replaces the controller by a new one (as after a daemon restart) and rebuilds it.
func (e *env) restart(pools []Range) {
	e.t.Helper()
	if e.ann == nil {
		e.ann = &fakeAnnouncer{}
	}
	c, err := New(Config{Registry: e.reg, Pools: pools, Announcer: e.ann, Resync: time.Hour})
	if err != nil {
		e.t.Fatal(err)
	}
	e.c = c
	if err := c.rebuild(); err != nil {
		e.t.Fatal(err)
	}
	if err := c.announce(); err != nil {
		e.t.Fatal(err)
	}
}

// settle queues every Service and syncs until the queue is empty, as the worker would.
func (e *env) settle() {
	e.t.Helper()
	e.c.enqueueAll()
	for i := 0; i < 1000; i++ {
		if e.c.q.Len() == 0 {
			return
		}
		key, _ := e.c.q.Next(e.ctx)
		err := e.c.sync(e.ctx, key)
		e.c.q.Done(key)
		if err != nil {
			e.t.Fatalf("sync %q: %v", key, err)
		}
	}
	e.t.Fatal("queue never drained")
}

type svcOpt func(*corev1.Service)

func lbIP(ip string) svcOpt { return func(s *corev1.Service) { s.Spec.LoadBalancerIP = ip } }
func class(c string) svcOpt { return func(s *corev1.Service) { s.Spec.LoadBalancerClass = &c } }
func annotated(k, v string) svcOpt {
	return func(s *corev1.Service) { s.Annotations = map[string]string{k: v} }
}

func (e *env) createLB(name string, opts ...svcOpt) {
	e.t.Helper()
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}},
	}
	for _, o := range opts {
		o(s)
	}
	if _, err := e.reg.Create(e.ctx, resource.Services, "default", s, registry.WriteOptions{}); err != nil {
		e.t.Fatalf("create service %s: %v", name, err)
	}
}

func (e *env) update(name, sub string, change func(s *corev1.Service)) {
	e.t.Helper()
	_, err := e.reg.Update(e.ctx, resource.Services, "default", name, sub, func(cur runtime.Object) (runtime.Object, error) {
		change(cur.(*corev1.Service))
		return cur, nil
	}, registry.WriteOptions{})
	if err != nil {
		e.t.Fatalf("update service %s: %v", name, err)
	}
}

func (e *env) delete(name string) {
	e.t.Helper()
	if _, _, err := e.reg.Delete(e.ctx, resource.Services, "default", name, metav1.DeleteOptions{}); err != nil {
		e.t.Fatalf("delete service %s: %v", name, err)
	}
}

// state renders every Service's ingress ("name=ip,ip", "<pending>" for none, with the ipMode
// when it is not VIP), the announced addresses, and the events recorded since the last call.
func (e *env) state() string {
	e.t.Helper()
	objs, _, err := e.reg.List(resource.Services, "default", registry.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var svcs []string
	for _, o := range objs {
		s := o.(*corev1.Service)
		var ips []string
		for _, ing := range s.Status.LoadBalancer.Ingress {
			ip := ing.IP
			if ing.IPMode == nil || *ing.IPMode != corev1.LoadBalancerIPModeVIP {
				ip += "(not VIP)"
			}
			ips = append(ips, ip)
		}
		if len(ips) == 0 {
			ips = []string{"<pending>"}
		}
		svcs = append(svcs, s.Name+"="+strings.Join(ips, ","))
	}
	sort.Strings(svcs)
	out := strings.Join(svcs, " ") + "\nannounced " + e.ann.String()
	for _, ev := range e.newEvents() {
		out += "\n" + ev
	}
	return out
}

func (e *env) newEvents() []string {
	objs, _, err := e.reg.List(resource.Events, "default", registry.ListOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, o := range objs {
		ev := o.(*corev1.Event)
		if e.events[ev.Name] {
			continue
		}
		e.events[ev.Name] = true
		out = append(out, fmt.Sprintf("event %s %s %s/%s %s: %s", ev.Source.Component, ev.Type, ev.InvolvedObject.Kind, ev.InvolvedObject.Name, ev.Reason, ev.Message))
	}
	sort.Strings(out)
	return out
}

var errAnnounce = errors.New("netlink says no")
