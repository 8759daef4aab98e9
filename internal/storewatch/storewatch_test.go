package storewatch

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/api/store"
	"github.com/podnet/podnet/internal/regtest"
)

// recorder is a handler that writes down what it is given: "resync [names of the stored
// services]", "resync failed", "ADDED name".
type recorder struct {
	st *store.Store

	mu      sync.Mutex
	log     []string
	failing int           // resyncs still to fail
	block   chan struct{} // when set, the first event waits for it to close
}

func (r *recorder) add(line string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.log = append(r.log, line)
}

func (r *recorder) Resync() error {
	r.mu.Lock()
	fail := r.failing > 0
	r.failing--
	r.mu.Unlock()
	if fail {
		r.add("resync failed")
		return errors.New("boom")
	}
	objs, _, err := r.st.List(resource.Services, "", nil)
	if err != nil {
		return err
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.(*corev1.Service).Name)
	}
	slices.Sort(names)
	r.add(fmt.Sprintf("resync %v", names))
	return nil
}

func (r *recorder) Event(e *store.Event) {
	r.add(fmt.Sprintf("%s %s", e.Type, e.Name))
	r.mu.Lock()
	b := r.block
	r.block = nil
	r.mu.Unlock()
	if b != nil {
		<-b
	}
}

func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.log, " | ")
}

func createService(t *testing.T, reg *registry.Registry, name string) {
	t.Helper()
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	if _, err := reg.Create(context.Background(), resource.Services, "default", svc, registry.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
}

// run starts the loop over Services and stops it when the test ends.
func run(t *testing.T, st *store.Store, h Handler) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		Run(ctx, Config{Store: st, Handler: h, Resource: resource.Services, Backoff: time.Millisecond})
		close(done)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

func eventually(t *testing.T, r *recorder, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if r.String() == want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("got:\n%s\nwant:\n%s", r, want)
}

func TestRunResyncsThenForwardsEvents(t *testing.T) {
	reg, st := regtest.New(t, regtest.Options{})
	createService(t, reg, "before")
	r := &recorder{st: st}
	run(t, st, r)
	eventually(t, r, "resync [before]")
	createService(t, reg, "after")
	eventually(t, r, "resync [before] | ADDED after")
}

// A watcher cut off as too slow ends; the loop resyncs and watches again, so the change that
// overflowed it is not lost.
func TestRunStartsOverWhenTheWatchIsCutOff(t *testing.T) {
	reg, st := regtest.New(t, regtest.Options{Store: store.Options{WatchBuffer: 1}})
	release := make(chan struct{})
	r := &recorder{st: st, block: release}
	run(t, st, r)
	eventually(t, r, "resync []")
	createService(t, reg, "a") // taken by the handler, which blocks
	eventually(t, r, "resync [] | ADDED a")
	createService(t, reg, "b") // fills the buffer
	createService(t, reg, "c") // overflows it: the watcher is cut off
	close(release)
	eventually(t, r, "resync [] | ADDED a | ADDED b | resync [a b c]")
	createService(t, reg, "d")
	eventually(t, r, "resync [] | ADDED a | ADDED b | resync [a b c] | ADDED d")
}

func TestRunRetriesAFailedResync(t *testing.T) {
	reg, st := regtest.New(t, regtest.Options{})
	r := &recorder{st: st, failing: 2}
	run(t, st, r)
	eventually(t, r, "resync failed | resync failed | resync []")
	createService(t, reg, "web")
	eventually(t, r, "resync failed | resync failed | resync [] | ADDED web")
}

func TestStart(t *testing.T) {
	reg, st := regtest.New(t, regtest.Options{})
	r := &recorder{st: st, failing: 1}
	l := New(Config{Store: st, Handler: r, Resource: resource.Services})
	if err := l.Start(); err == nil || err.Error() != "resync: boom" {
		t.Fatalf("Start with a failing resync: %v, want resync: boom", err)
	}
	if err := l.Start(); err != nil {
		t.Fatal(err)
	}
	// Events from the watch Start opened are delivered by Run, with no second resync.
	createService(t, reg, "web")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	eventually(t, r, "resync failed | resync [] | ADDED web")
}

func TestBackoff(t *testing.T) {
	l := New(Config{})
	tests := []struct {
		n    int
		want time.Duration
	}{{0, time.Second}, {1, 2 * time.Second}, {4, 16 * time.Second}, {5, 30 * time.Second}, {80, 30 * time.Second}}
	for _, tt := range tests {
		if got := l.backoff(tt.n); got != tt.want {
			t.Errorf("backoff(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
}
