package allocator

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// Dynamic addresses fill the upper band before touching the lower one. A /24 keeps its first 16
// usable addresses (10.96.0.1-10.96.0.16) for static requests.
func TestDynamicIPsPreferUpperBand(t *testing.T) {
	a, err := New(Config{ServiceCIDR: netip.MustParsePrefix("10.96.0.0/24")})
	if err != nil {
		t.Fatal(err)
	}
	upper := map[string]bool{}
	for i := range 238 {
		ip := mustCreate(t, a, svc(fmt.Sprint("s", i), corev1.ServiceTypeClusterIP)).Spec.ClusterIP
		if netip.MustParseAddr(ip).Compare(netip.MustParseAddr("10.96.0.17")) < 0 || upper[ip] {
			t.Fatalf("dynamic ClusterIP %d is %s: in the static band or handed out twice", i, ip)
		}
		upper[ip] = true
	}
	next := mustCreate(t, a, svc("spill", corev1.ServiceTypeClusterIP)).Spec.ClusterIP
	if ip := netip.MustParseAddr(next); ip.Compare(netip.MustParseAddr("10.96.0.16")) > 0 || next == "10.96.0.1" || next == "10.96.0.10" {
		t.Errorf("with the upper band full, got %s; want a lower-band address other than .1 and .10", next)
	}
}

// NodePorts likewise: a range of 200 keeps its first 16 ports for static requests.
func TestDynamicNodePortsPreferUpperBand(t *testing.T) {
	a, err := New(Config{NodePortRange: PortRange{Base: 30000, Size: 200}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 184 {
		if np := mustCreate(t, a, svc(fmt.Sprint("s", i), corev1.ServiceTypeNodePort)).Spec.Ports[0].NodePort; np < 30016 {
			t.Fatalf("dynamic nodePort %d is %d, in the static band", i, np)
		}
	}
	if np := mustCreate(t, a, svc("spill", corev1.ServiceTypeNodePort)).Spec.Ports[0].NodePort; np >= 30016 {
		t.Errorf("with the upper band full, got %d; want a lower-band port", np)
	}
}

// Dynamic choices are spread out, not handed out from the bottom of the band.
func TestDynamicChoiceIsRandom(t *testing.T) {
	a := newDefault(t)
	first := mustCreate(t, a, svc("a", corev1.ServiceTypeNodePort)).Spec
	second := mustCreate(t, a, svc("b", corev1.ServiceTypeNodePort)).Spec
	third := mustCreate(t, a, svc("c", corev1.ServiceTypeNodePort)).Spec
	ips := []string{first.ClusterIP, second.ClusterIP, third.ClusterIP}
	if ips[0] == "10.96.1.1" && ips[1] == "10.96.1.2" && ips[2] == "10.96.1.3" {
		t.Errorf("ClusterIPs handed out in order: %v", ips)
	}
	ports := []int32{first.Ports[0].NodePort, second.Ports[0].NodePort, third.Ports[0].NodePort}
	if ports[1] == ports[0]+1 && ports[2] == ports[1]+1 {
		t.Errorf("nodePorts handed out in order: %v", ports)
	}
}

// When the upper band is full, dynamic allocation falls back to the lower band, and it never
// hands out the kubernetes or kube-dns address; those stay available to explicit requests.
func TestDynamicFallsBackAndKeepsReservedAddresses(t *testing.T) {
	a := newSmall(t) // /28: .1-.14 usable, no band split at this size
	var got []string
	for i := range 12 {
		got = append(got, mustCreate(t, a, svc(fmt.Sprint("s", i), corev1.ServiceTypeClusterIP)).Spec.ClusterIP)
	}
	_, err := a.Create(svc("one-more", corev1.ServiceTypeClusterIP))
	if want := "failed to allocate a serviceIP: range is full"; err == nil || err.Error() != want {
		t.Fatalf("Create on a full range: got %v, want %s", err, want)
	}
	if !errors.Is(err, ErrFull) {
		t.Errorf("error does not wrap ErrFull: %v", err)
	}
	for _, ip := range got {
		if ip == "10.96.0.1" || ip == "10.96.0.10" {
			t.Errorf("dynamic allocation handed out the reserved %s", ip)
		}
	}
	mustCreate(t, a, svc("kube-dns", corev1.ServiceTypeClusterIP, withIP("10.96.0.10")))
	mustCreate(t, a, svc("kubernetes", corev1.ServiceTypeClusterIP, withIP("10.96.0.1")))
	if ips, _ := a.Free(); ips != 0 {
		t.Errorf("Free() ips = %d, want 0", ips)
	}
}

func TestBandOffset(t *testing.T) {
	tests := []struct {
		name                    string
		size, floor, ceil, step int
		want                    int
	}{
		{"service /12", 1 << 20, 16, 256, 16, 256},
		{"service /24", 256, 16, 256, 16, 16},
		{"service /28 too small to split", 16, 16, 256, 16, 0},
		{"service /20", 4096, 16, 256, 16, 256},
		{"service /22", 1024, 16, 256, 16, 64},
		{"default node ports", 2768, 16, 128, 32, 86},
		{"big node port range", 10000, 16, 128, 32, 128},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := bandOffset(tt.size, tt.floor, tt.ceil, tt.step); got != tt.want {
				t.Errorf("bandOffset(%d) = %d, want %d", tt.size, got, tt.want)
			}
		})
	}
}

// After 1,000 create/delete cycles every port of the range can be allocated again, and then the
// range is full.
func TestNodePortChurnLeaksNothing(t *testing.T) {
	a := newDefault(t)
	for i := range 1000 {
		s := mustCreate(t, a, svc(fmt.Sprint("churn", i), corev1.ServiceTypeNodePort))
		a.Delete(s).Commit()
	}
	if got := held(a); got != "ips=[] ports=[]" {
		t.Fatalf("after churn: %s", got)
	}
	seen := map[int32]bool{}
	for i := range 2768 {
		np := mustCreate(t, a, svc(fmt.Sprint("all", i), corev1.ServiceTypeNodePort)).Spec.Ports[0].NodePort
		if seen[np] {
			t.Fatalf("nodePort %d handed out twice", np)
		}
		seen[np] = true
	}
	_, err := a.Create(svc("one-more", corev1.ServiceTypeNodePort))
	if want := "failed to allocate a nodePort: range is full"; err == nil || err.Error() != want {
		t.Fatalf("Create on a full range: got %v, want %s", err, want)
	}
	if !errors.Is(err, ErrFull) {
		t.Errorf("error does not wrap ErrFull: %v", err)
	}
	if ips, ports := a.Free(); ports != 0 || ips != 1<<20-2-2768 {
		t.Errorf("Free() = %d, %d; want %d, 0", ips, ports, 1<<20-2-2768)
	}
}

func TestConcurrentCreatesNeverShare(t *testing.T) {
	a := newDefault(t)
	const workers, each = 8, 200
	results := make([][]*corev1.Service, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				s := svc(fmt.Sprint("w", w, "-", i), corev1.ServiceTypeNodePort)
				txn, err := a.Create(s)
				if err != nil {
					t.Errorf("Create: %v", err)
					return
				}
				txn.Commit()
				results[w] = append(results[w], s)
			}
		}()
	}
	wg.Wait()
	ips, ports := map[string]bool{}, map[int32]bool{}
	for _, list := range results {
		for _, s := range list {
			if ips[s.Spec.ClusterIP] || ports[s.Spec.Ports[0].NodePort] {
				t.Fatalf("%s shares %s or %d", s.Name, s.Spec.ClusterIP, s.Spec.Ports[0].NodePort)
			}
			ips[s.Spec.ClusterIP], ports[s.Spec.Ports[0].NodePort] = true, true
		}
	}
	if len(ports) != workers*each {
		t.Errorf("%d services allocated, want %d", len(ports), workers*each)
	}
}
