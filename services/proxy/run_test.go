package proxy

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/knftables"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/internal/regtest"
)

// TestRunFollowsTheStore: Run programs objects written through a real registry, and removes
// them when they are deleted.
func TestRunFollowsTheStore(t *testing.T) {
	reg, _ := regtest.New(t, regtest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	create := func(info *resource.Info, obj runtime.Object) {
		t.Helper()
		if _, err := reg.Create(ctx, info, "default", obj, registry.WriteOptions{}); err != nil {
			t.Fatalf("create %s: %v", info.Kind, err)
		}
	}
	fake := knftables.NewFake(knftables.IPv4Family, "podnet")
	p, _, _ := newTestProxy(t, func(c *Config) { c.Registry, c.NFT = reg, fake })
	go p.Run(ctx)
	create(resource.Services, service("web", "10.96.0.20", []corev1.ServicePort{tcp("http", 80, 8080)}))
	create(resource.EndpointSlices, slice("web", "web-1", web, ep("10.244.0.5")))
	waitFor(t, fake, "dnat to 10.244.0.5:8080", true)
	if _, _, err := reg.Delete(ctx, resource.Services, "default", "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, fake, "svc-K4IXKQO6", false)
}

func waitFor(t *testing.T, fake *knftables.Fake, text string, present bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if strings.Contains(fake.Dump(), text) == present {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%q present=%v never happened:\n%s", text, present, fake.Dump())
}

// failingNFT fails its first n transactions, then runs them on the fake.
type failingNFT struct {
	*knftables.Fake
	mu sync.Mutex
	n  int
}

func (f *failingNFT) Run(ctx context.Context, tx *knftables.Transaction) error {
	f.mu.Lock()
	fail := f.n > 0
	f.n--
	f.mu.Unlock()
	if fail {
		return errors.New("nft says no")
	}
	return f.Fake.Run(ctx, tx)
}

// TestRunRetriesAFailedSync: a failed transaction is retried (as a full sync) after the
// back-off even when no further change arrives to wake the sync loop.
func TestRunRetriesAFailedSync(t *testing.T) {
	reg, _ := regtest.New(t, regtest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for _, o := range []struct {
		info *resource.Info
		obj  runtime.Object
	}{
		{resource.Services, service("web", "10.96.0.20", []corev1.ServicePort{tcp("http", 80, 8080)})},
		{resource.EndpointSlices, slice("web", "web-1", web, ep("10.244.0.5"))},
	} {
		if _, err := reg.Create(ctx, o.info, "default", o.obj, registry.WriteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	fake := &failingNFT{Fake: knftables.NewFake(knftables.IPv4Family, "podnet"), n: 1}
	p, _, _ := newTestProxy(t, func(c *Config) { c.Registry, c.NFT = reg, fake })
	go p.Run(ctx)
	waitFor(t, fake.Fake, "dnat to 10.244.0.5:8080", true)
	if s := p.Stats(); s.Failures != 1 || s.FullSyncs != 1 {
		t.Fatalf("stats %+v, want one failure and then one full sync", s)
	}
}

// TestRunSliceNotHeldBack: a sync that found nothing to do (a new Service waiting for its first
// slice) does not count towards MinSyncInterval, so the slice that follows is programmed at
// once, not a whole interval later.
func TestRunSliceNotHeldBack(t *testing.T) {
	reg, _ := regtest.New(t, regtest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fake := knftables.NewFake(knftables.IPv4Family, "podnet")
	p, _, _ := newTestProxy(t, func(c *Config) { c.Registry, c.NFT, c.MinSyncInterval = reg, fake, 2*time.Second })
	go p.Run(ctx)
	// Past the first full sync and the interval it starts.
	deadline := time.Now().Add(5 * time.Second)
	for p.Stats().FullSyncs == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	if _, err := reg.Create(ctx, resource.Services, "default", service("web", "10.96.0.20", []corev1.ServicePort{tcp("http", 80, 8080)}), registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // the Service's own (empty) sync runs
	start := time.Now()
	if _, err := reg.Create(ctx, resource.EndpointSlices, "default", slice("web", "web-1", web, ep("10.244.0.5")), registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, fake, "dnat to 10.244.0.5:8080", true)
	if took := time.Since(start); took > time.Second {
		t.Errorf("slice programmed %v after it was written, want well under MinSyncInterval (2s)", took)
	}
}
