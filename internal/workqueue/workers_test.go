package workqueue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestRunWorkers: failed syncs are reported and retried until they succeed, then their
// back-off is forgotten; keys reach the sync split into namespace and name.
func TestRunWorkers(t *testing.T) {
	q := New()
	var mu sync.Mutex
	var calls, reported []string
	fails := map[string]int{"ns/a": 2}
	all := make(chan struct{})
	fn := ByName(func(_ context.Context, ns, name string) error {
		mu.Lock()
		defer mu.Unlock()
		calls = append(calls, ns+" "+name)
		k := ns + "/" + name
		if fails[k] > 0 {
			fails[k]--
			return errors.New("boom")
		}
		if len(calls) == 4 {
			close(all)
		}
		return nil
	})
	onError := func(key string, err error) {
		mu.Lock()
		defer mu.Unlock()
		reported = append(reported, fmt.Sprintf("%s: %v", key, err))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { RunWorkers(ctx, q, 1, fn, onError); close(done) }()
	q.Add("ns/a")
	q.Add("ns/b")
	select {
	case <-all:
	case <-time.After(5 * time.Second):
		t.Fatal("syncs never completed")
	}
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if got, want := strings.Join(calls, ", "), "ns a, ns b, ns a, ns a"; got != want {
		t.Errorf("syncs: got %q, want %q", got, want)
	}
	if got, want := strings.Join(reported, ", "), "ns/a: boom, ns/a: boom"; got != want {
		t.Errorf("reported: got %q, want %q", got, want)
	}
	if n := q.failures["ns/a"]; n != 0 {
		t.Errorf("back-off of ns/a not forgotten after success: %d failures", n)
	}
}

// TestRunWorkersInParallel: n workers sync n keys at the same time.
func TestRunWorkersInParallel(t *testing.T) {
	q := New()
	var started sync.WaitGroup
	started.Add(3)
	both := make(chan struct{})
	go func() { started.Wait(); close(both) }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var mu sync.Mutex
	var keys []string
	fn := func(ctx context.Context, key string) error {
		mu.Lock()
		keys = append(keys, key)
		mu.Unlock()
		started.Done()
		select { // each sync waits until all three run at once
		case <-both:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	done := make(chan struct{})
	go func() { RunWorkers(ctx, q, 3, fn, nil); close(done) }()
	q.Add("a")
	q.Add("b")
	q.Add("c")
	select {
	case <-both:
	case <-ctx.Done():
		t.Fatalf("three workers never synced at once; started %v", keys)
	}
	cancel()
	<-done
	slices.Sort(keys)
	if got := strings.Join(keys, " "); got != "a b c" {
		t.Fatalf("synced %q, want a b c", got)
	}
}

// TestRunWorkersStopsQuietly: a sync failing because ctx ended is neither reported nor retried.
func TestRunWorkersStopsQuietly(t *testing.T) {
	q := New()
	ctx, cancel := context.WithCancel(context.Background())
	var reported atomic.Int32
	fn := func(ctx context.Context, key string) error { cancel(); return ctx.Err() }
	q.Add("a")
	RunWorkers(ctx, q, 1, fn, func(string, error) { reported.Add(1) })
	if n := reported.Load(); n != 0 {
		t.Fatalf("%d errors reported after ctx ended", n)
	}
	if n := q.failures["a"]; n != 0 {
		t.Fatalf("key retried after ctx ended: %d failures", n)
	}
}

func TestEvery(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int32
	done := make(chan struct{})
	go func() {
		Every(ctx, time.Millisecond, func() {
			if n.Add(1) == 3 {
				cancel()
			}
		})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Every did not end with ctx")
	}
	if got := n.Load(); got != 3 {
		t.Fatalf("fn called %d times before ctx ended, want 3", got)
	}
}
