package proxy

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// addServices gives p n ClusterIP services with two endpoints each.
func addServices(p *Proxy, n int) { addServiceRange(p, 0, n) }

// addServiceRange gives p the ClusterIP services from..to-1 of addServices.
func addServiceRange(p *Proxy, from, to int) {
	for i := from; i < to; i++ {
		name := fmt.Sprintf("svc%d", i)
		ip := netip.AddrFrom4([4]byte{10, 96, byte(1 + i/250), byte(1 + i%250)})
		p.SetService(service(name, ip.String(), []corev1.ServicePort{tcp("http", 80, 8080)}))
		e1 := netip.AddrFrom4([4]byte{10, 244, byte(i / 125), byte(2 * (i % 125))})
		p.SetSlice(slice(name, name+"-1", web, ep(e1.String()), ep(e1.Next().String())))
	}
}

// BenchmarkFullSyncRender is everything a full sync of 10,000 services × 2 endpoints does
// before the kernel: model, plan, render, translation to netlink and the batch's encoding.
func BenchmarkFullSyncRender(b *testing.B) {
	p, _, _ := newTestProxy(b, nil)
	addServices(p, 10000)
	nl := newNLTranslator(p.facts.fam, "podnet")
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.mu.Lock()
		changes := p.modelAllLocked()
		p.mu.Unlock()
		pl := newCommitted().planChanges(changes)
		tx := &opLog{}
		renderFull(tx, p.sk, pl)
		qs, err := nl.translateInParallel(tx.ops)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := encodeBatch(qs); err != nil {
			b.Fatal(err)
		}
	}
}

// TestRootScale loads 10,000 services × 2 endpoints into the kernel (over netlink), then adds one
// service beside them, and reports both times (the goals: 1 s and 50 ms).
func TestRootScale(t *testing.T) {
	if testing.Short() {
		t.Skip("scale test")
	}
	p, _ := rootProxy(t)
	addServices(p, 10000)
	start := time.Now()
	mustSync(t, p)
	full := time.Since(start)
	if s := p.Stats(); s.FullViaNFT != 0 {
		t.Errorf("full sync went through nft: stats %+v", s)
	}
	p.SetService(service("extra", "10.96.200.1", []corev1.ServicePort{tcp("http", 80, 8080)}))
	p.SetSlice(slice("extra", "extra-1", web, ep("10.244.200.1"), ep("10.244.200.2")))
	start = time.Now()
	mustSync(t, p)
	one := time.Since(start)
	t.Logf("full sync 10k×2: %v; add one beside 10k: %v", full, one)
	if full > 5*time.Second {
		t.Errorf("full sync took %v", full)
	}
	_ = p.Cleanup(context.Background())
}
