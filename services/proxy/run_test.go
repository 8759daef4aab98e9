package proxy

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/knftables"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/api/store"
)

// TestRunFollowsTheStore: Run programs objects written through a real registry, and removes
// them when they are deleted.
func TestRunFollowsTheStore(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	reg := registry.New(registry.Config{Store: st})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	create := func(info *resource.Info, obj runtime.Object) {
		t.Helper()
		if _, err := reg.Create(ctx, info, "default", obj, registry.WriteOptions{}); err != nil {
			t.Fatalf("create %s: %v", info.Kind, err)
		}
	}
	create(resource.Namespaces, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}})
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
