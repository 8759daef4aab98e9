package regtest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/api/store"
	"github.com/podnet/podnet/services/allocator"
)

// Options shape the registry; the zero value is a plain registry.
type Options struct {
	// ServiceAllocator puts the ClusterIP/NodePort allocator at admission on Services, so that
	// they get addresses as under podnet serve.
	ServiceAllocator bool
	// Hooks are further admission hooks by resource; a Services hook here replaces the
	// allocator's.
	Hooks map[schema.GroupVersionResource]registry.Hook
	// Now is the registry's clock; defaults to time.Now.
	Now func() time.Time
	// Store tunes the store (history, watch buffer).
	Store store.Options
}

// New opens a store in t's temporary directory, closed when the test ends (after every
// cleanup registered later, so controllers stopped in those still see it), and returns a
// registry over it with namespace "default" created.
func New(t testing.TB, opts Options) (*registry.Registry, *store.Store) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "db"), opts.Store)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	hooks, err := hooksFor(opts)
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(registry.Config{Store: st, Hooks: hooks, Now: opts.Now})
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "default"}}
	if _, err := reg.Create(context.Background(), resource.Namespaces, "", ns, registry.WriteOptions{}); err != nil {
		t.Fatalf("create namespace default: %v", err)
	}
	return reg, st
}

func hooksFor(opts Options) (map[schema.GroupVersionResource]registry.Hook, error) {
	hooks := map[schema.GroupVersionResource]registry.Hook{}
	if opts.ServiceAllocator {
		a, err := allocator.New(allocator.Config{})
		if err != nil {
			return nil, err
		}
		hooks[resource.Services.GVR] = allocator.Admission{A: a}
	}
	for gvr, h := range opts.Hooks {
		hooks[gvr] = h
	}
	return hooks, nil
}
