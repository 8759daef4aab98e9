package loadbalancer

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/podnet/podnet/api/resource"
)

// pool3 holds three addresses: 192.168.100.0-1 (a /31 written as a range) and .250.
func pool3() []Range {
	return []Range{rng("192.168.100.0", "192.168.100.1"), rng("192.168.100.250", "192.168.100.250")}
}

func TestControllerLifecycle(t *testing.T) {
	e := newEnv(t, pool3())
	steps := []struct {
		name string
		do   func()
		want string
	}{
		{"first free", func() { e.createLB("a") }, `a=192.168.100.0
announced [192.168.100.0]
event podnet-loadbalancer Normal Service/a IPAllocated: Assigned IP ["192.168.100.0"]`},
		{"requested through spec.loadBalancerIP", func() { e.createLB("b", lbIP("192.168.100.250")) }, `a=192.168.100.0 b=192.168.100.250
announced [192.168.100.0 192.168.100.250]
event podnet-loadbalancer Normal Service/b IPAllocated: Assigned IP ["192.168.100.250"]`},
		{"requested outside every pool", func() { e.createLB("c", lbIP("10.0.0.1")) }, `a=192.168.100.0 b=192.168.100.250 c=<pending>
announced [192.168.100.0 192.168.100.250]
event podnet-loadbalancer Warning Service/c AllocationFailed: Failed to allocate IP for "default/c": "10.0.0.1" is not allowed in config`},
		{"requested and taken, through the annotation", func() {
			e.createLB("d", annotated(DeprecatedAnnotationLoadBalancerIPs, "192.168.100.0"))
		}, `a=192.168.100.0 b=192.168.100.250 c=<pending> d=<pending>
announced [192.168.100.0 192.168.100.250]
event podnet-loadbalancer Warning Service/d AllocationFailed: Failed to allocate IP for "default/d": "192.168.100.0" is already in use by default/a`},
		{"another class: left alone", func() { e.createLB("other", class("example.com/lb")) },
			`a=192.168.100.0 b=192.168.100.250 c=<pending> d=<pending> other=<pending>
announced [192.168.100.0 192.168.100.250]`},
		{"last free address", func() { e.createLB("f") }, `a=192.168.100.0 b=192.168.100.250 c=<pending> d=<pending> f=192.168.100.1 other=<pending>
announced [192.168.100.0 192.168.100.1 192.168.100.250]
event podnet-loadbalancer Normal Service/f IPAllocated: Assigned IP ["192.168.100.1"]`},
		{"pool exhausted", func() { e.createLB("g") }, `a=192.168.100.0 b=192.168.100.250 c=<pending> d=<pending> f=192.168.100.1 g=<pending> other=<pending>
announced [192.168.100.0 192.168.100.1 192.168.100.250]
event podnet-loadbalancer Warning Service/g AllocationFailed: Failed to allocate IP for "default/g": no available IPs`},
		{"a failure is reported once", func() {}, `a=192.168.100.0 b=192.168.100.250 c=<pending> d=<pending> f=192.168.100.1 g=<pending> other=<pending>
announced [192.168.100.0 192.168.100.1 192.168.100.250]`},
		{"delete frees the address for the service that asked for it", func() { e.delete("a") },
			`b=192.168.100.250 c=<pending> d=192.168.100.0 f=192.168.100.1 g=<pending> other=<pending>
announced [192.168.100.0 192.168.100.1 192.168.100.250]
event podnet-loadbalancer Normal Service/d IPAllocated: Assigned IP ["192.168.100.0"]`},
		{"type change away from LoadBalancer releases and clears the ingress", func() {
			e.update("f", "", func(s *corev1.Service) {
				s.Spec.Type, s.Spec.AllocateLoadBalancerNodePorts = corev1.ServiceTypeNodePort, nil
			})
		}, `b=192.168.100.250 c=<pending> d=192.168.100.0 f=<pending> g=192.168.100.1 other=<pending>
announced [192.168.100.0 192.168.100.1 192.168.100.250]
event podnet-loadbalancer Normal Service/g IPAllocated: Assigned IP ["192.168.100.1"]`},
		{"changing the requested address moves the service", func() {
			e.update("c", "", func(s *corev1.Service) { s.Spec.LoadBalancerIP = "" })
			e.update("b", "", func(s *corev1.Service) { s.Spec.LoadBalancerIP = "192.168.100.1" })
		}, `b=<pending> c=192.168.100.250 d=192.168.100.0 f=<pending> g=192.168.100.1 other=<pending>
announced [192.168.100.0 192.168.100.1 192.168.100.250]
event podnet-loadbalancer Normal Service/c IPAllocated: Assigned IP ["192.168.100.250"]
event podnet-loadbalancer Warning Service/b AllocationFailed: Failed to allocate IP for "default/b": "192.168.100.1" is already in use by default/g`},
	}
	for _, s := range steps {
		s.do()
		e.settle()
		if got := e.state(); got != s.want {
			t.Fatalf("%s:\n%s\nwant:\n%s", s.name, got, s.want)
		}
	}
}

func TestControllerRestartKeepsAddresses(t *testing.T) {
	e := newEnv(t, pool3())
	e.createLB("a")
	e.createLB("b")
	e.createLB("c")
	e.settle()
	e.state()
	// A crash left an address no Service holds on the interface.
	e.ann.Announce(addrs("192.168.100.0", "192.168.100.1", "192.168.100.9"))

	// Restart with .1 gone from the pools and a new range: b's address is replaced, the
	// others stay, and the stray address is no longer announced.
	e.restart([]Range{rng("192.168.100.0", "192.168.100.0"), rng("192.168.100.250", "192.168.100.251")})
	if got, want := e.ann.String(), "[192.168.100.0 192.168.100.250]"; got != want {
		t.Errorf("announced after rebuild %s, want %s", got, want)
	}
	e.settle()
	want := `a=192.168.100.0 b=192.168.100.251 c=192.168.100.250
announced [192.168.100.0 192.168.100.250 192.168.100.251]
event podnet-loadbalancer Normal Service/b IPAllocated: Assigned IP ["192.168.100.251"]`
	if got := e.state(); got != want {
		t.Errorf("after restart:\n%s\nwant:\n%s", got, want)
	}
}

func TestControllerWithoutPools(t *testing.T) {
	e := newEnv(t, pool3())
	e.createLB("a")
	e.settle()
	e.state()
	// The pool went from the configuration: the address is dropped, nothing is allocated and
	// no event complains; the Service keeps working as a NodePort one.
	e.restart(nil)
	e.createLB("b")
	e.settle()
	want := "a=<pending> b=<pending>\nannounced []"
	if got := e.state(); got != want {
		t.Errorf("without pools:\n%s\nwant:\n%s", got, want)
	}
}

func TestControllerDualStackFamilies(t *testing.T) {
	e := newEnv(t, []Range{rng("192.168.100.0", "192.168.100.3"), rng("fd00::10", "fd00::11")})
	e.createLB("a")
	e.settle()
	// The ClusterIP allocator of this test is IPv4 only, so the Service is single-stack IPv4:
	// it gets an IPv4 address and never one of the IPv6 pool.
	want := `a=192.168.100.0
announced [192.168.100.0]
event podnet-loadbalancer Normal Service/a IPAllocated: Assigned IP ["192.168.100.0"]`
	if got := e.state(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestControllerAnnounceFailureRetries(t *testing.T) {
	e := newEnv(t, pool3())
	e.ann.fail = errAnnounce
	e.createLB("a")
	e.c.q.Add("default/a")
	key, _ := e.c.q.Next(e.ctx)
	err := e.c.sync(e.ctx, key)
	e.c.q.Done(key)
	if err == nil || !strings.Contains(err.Error(), "netlink says no") {
		t.Fatalf("sync with a failing announcer: %v, want its error", err)
	}
	e.ann.fail = nil
	e.settle()
	want := `a=192.168.100.0
announced [192.168.100.0]
event podnet-loadbalancer Normal Service/a IPAllocated: Assigned IP ["192.168.100.0"]`
	if got := e.state(); got != want {
		t.Errorf("after the retry:\n%s\nwant:\n%s", got, want)
	}
}

// TestControllerRun drives the real loop: watch, queue, worker, and Cleanup.
func TestControllerRun(t *testing.T) {
	e := newEnv(t, pool3())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.c.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	e.createLB("a")
	waitFor(t, "a gets an address", func() bool { return ingressOf(t, e, "a") == "192.168.100.0" && e.ann.String() == "[192.168.100.0]" })
	e.delete("a")
	waitFor(t, "the address is withdrawn", func() bool { return e.ann.String() == "[]" })
	e.createLB("b")
	waitFor(t, "b gets the freed address", func() bool { return ingressOf(t, e, "b") == "192.168.100.0" })
	if err := e.c.Cleanup(ctx); err != nil || !e.ann.cleaned {
		t.Errorf("Cleanup = %v, cleaned %t", err, e.ann.cleaned)
	}
}

func ingressOf(t *testing.T, e *env, name string) string {
	obj, err := e.reg.Get(resource.Services, "default", name)
	if err != nil {
		return ""
	}
	var ips []string
	for _, ing := range obj.(*corev1.Service).Status.LoadBalancer.Ingress {
		ips = append(ips, ing.IP)
	}
	return strings.Join(ips, ",")
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestNewRejectsBadPools(t *testing.T) {
	e := newEnv(t, nil)
	_, err := New(Config{Registry: e.reg, Announcer: e.ann, Pools: []Range{
		rng("10.0.0.5", "10.0.0.1"), rng("10.1.0.0", "10.1.0.9"), rng("10.1.0.9", "10.1.0.20"), {First: netip.MustParseAddr("10.0.0.1"), Last: netip.MustParseAddr("fd00::1")}}})
	want := `load balancer controller: pool 0 (10.0.0.5-10.0.0.1) is not a range of one family
pool 2 (10.1.0.9-10.1.0.20) overlaps pool 1 (10.1.0.0-10.1.0.9)
pool 3 (10.0.0.1-fd00::1) is not a range of one family`
	if err == nil || err.Error() != want {
		t.Errorf("New = %v, want:\n%s", err, want)
	}
}
