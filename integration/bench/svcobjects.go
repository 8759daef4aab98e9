package main

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/podnet/podnet/services/proxy"
)

const (
	svcNamespace = "default"
	fillerPort   = 80
	fillerTarget = 8080
)

// fillerService is the i-th made-up service: two endpoints at addresses no pod holds (from
// 10.244.64.0 up, inside the cluster CIDR, outside any pod range the bench uses), so that the
// table is full-size; clusterIP is the address made up for the in-process figure (the API
// allocates its own).
func fillerService(i int) benchService {
	ep := addr4(10<<24 | 244<<16 | 64<<8 + uint32(2*i))
	return benchService{
		ns: svcNamespace, name: fmt.Sprintf("fill-%05d", i), port: fillerPort,
		clusterIP: addr4(10<<24 | 100<<16 + uint32(i) + 1),
		endpoints: []netip.AddrPort{netip.AddrPortFrom(ep, fillerTarget), netip.AddrPortFrom(ep.Next(), fillerTarget)},
	}
}

func addr4(u uint32) netip.Addr {
	return netip.AddrFrom4([4]byte{byte(u >> 24), byte(u >> 16), byte(u >> 8), byte(u)})
}

// serviceObject is s as a selectorless Service; withIP false leaves the ClusterIP to the API.
func serviceObject(s benchService, withIP bool) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: s.name, Namespace: s.ns, Labels: map[string]string{"app": "svcbench-fill"}},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: []corev1.ServicePort{{
			Name: "http", Protocol: corev1.ProtocolTCP, Port: int32(s.port), TargetPort: intstr.FromInt32(fillerTarget)}}},
	}
	if withIP {
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = s.clusterIP.String(), []string{s.clusterIP.String()}
	}
	return svc
}

// sliceObject is the user-written EndpointSlice of s: its endpoints ready and serving.
func sliceObject(s benchService) *discoveryv1.EndpointSlice {
	name, proto, port := "http", corev1.ProtocolTCP, int32(fillerTarget)
	ready, serving, terminating := true, true, false
	sl := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: s.name + "-1", Namespace: s.ns,
			Labels: map[string]string{discoveryv1.LabelServiceName: s.name, "app": "svcbench-fill"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Protocol: &proto, Port: &port}},
	}
	for _, ep := range s.endpoints {
		sl.Endpoints = append(sl.Endpoints, discoveryv1.Endpoint{Addresses: []string{ep.Addr().String()},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready, Serving: &serving, Terminating: &terminating}})
	}
	return sl
}

// fullSyncFigures is figure (b): podnet's proxy in process, its own table, no API.
type fullSyncFigures struct {
	runs     []time.Duration
	services int
}

func (f fullSyncFigures) median() time.Duration { return median(f.runs) }
func (f fullSyncFigures) worst() time.Duration  { return slices.Max(f.runs) }

// benchFullSync feeds n services × 2 endpoints to a Proxy on table ip podnet-bench and times
// FullSync (model, plan, render and the kernel's transaction) runs times; the table is deleted after.
func benchFullSync(ctx context.Context, n, runs int, nodeIP netip.Addr) (f fullSyncFigures, err error) {
	const table = "podnet-bench"
	// No NFT: the proxy's own backend, as in the daemon (a full sync over netlink).
	p, err := proxy.New(proxy.Config{Table: table, NodePortAddresses: []netip.Addr{nodeIP}})
	if err != nil {
		return f, err
	}
	for i := 0; i < n; i++ {
		s := fillerService(i)
		p.SetService(serviceObject(s, true))
		p.SetSlice(sliceObject(s))
	}
	defer func() {
		if cerr := p.Cleanup(ctx); cerr != nil && err == nil {
			err = cerr
		}
	}()
	f.services = n
	for r := 0; r < runs; r++ {
		start := time.Now()
		if err := p.FullSync(ctx); err != nil {
			return f, err
		}
		f.runs = append(f.runs, time.Since(start))
	}
	return f, nil
}

// peerFigures are the kube-proxy layout's: the full load, and one service added beside each
// level.
type peerFigures struct {
	full  time.Duration
	addAt map[int]latency
}

// benchKubeProxyLayout loads, level by level from an empty table, that many services × 2
// endpoints in kube-proxy's layout and times adding one service beside them (its chains and
// element, samples times); the load of the last level, levels[len-1] services, is the full
// figure. One load only: nft takes tens of seconds over it.
func benchKubeProxyLayout(ctx context.Context, samples int, levels []int, nodeIP netip.Addr) (f peerFigures, err error) {
	k, err := newKubeProxyLayout(nodeIP)
	if err != nil {
		return f, err
	}
	defer func() {
		if cerr := k.cleanup(ctx); cerr != nil && err == nil {
			err = cerr
		}
	}()
	n := slices.Max(levels)
	all := make([]benchService, n)
	for i := range all {
		all[i] = fillerService(i)
	}
	f.addAt = map[int]latency{}
	for _, level := range levels {
		// From an empty table, so that exactly level services sit beside the added one.
		if err := k.cleanup(ctx); err != nil {
			return f, err
		}
		full, err := k.fullLoad(ctx, all[:level])
		if err != nil {
			return f, err
		}
		if level == n {
			f.full = full
		}
		d := make([]time.Duration, 0, samples)
		for i := 0; i < samples; i++ {
			s := fillerService(n + i)
			s.name = fmt.Sprintf("added-%d-%d", level, i)
			t, err := k.addOne(ctx, s)
			if err != nil {
				return f, err
			}
			d = append(d, t)
		}
		f.addAt[level] = percentiles(d)
	}
	return f, nil
}
