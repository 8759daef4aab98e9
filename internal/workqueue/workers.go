package workqueue

import (
	"context"
	"strings"
	"sync"
	"time"
)

// SyncFunc brings the object of one key in line; an error sends the key back with back-off.
type SyncFunc func(ctx context.Context, key string) error

// ByName adapts a sync of (namespace, name) to the queue's "namespace/name" keys.
func ByName(sync func(ctx context.Context, ns, name string) error) SyncFunc {
	return func(ctx context.Context, key string) error {
		ns, name, _ := strings.Cut(key, "/")
		return sync(ctx, ns, name)
	}
}

// RunWorkers runs n workers (at least one) taking keys from q until ctx ends, and returns once
// they all have. A successful sync resets the key's back-off; a failed one is retried after it,
// reported to onError first (unless ctx ended, which is why the sync failed). A key is never
// synced by two workers at once: the queue sees to that.
func RunWorkers(ctx context.Context, q *Queue, n int, fn SyncFunc, onError func(key string, err error)) {
	var wg sync.WaitGroup
	for range max(n, 1) {
		wg.Go(func() { work(ctx, q, fn, onError) })
	}
	wg.Wait()
}

func work(ctx context.Context, q *Queue, fn SyncFunc, onError func(key string, err error)) {
	for {
		key, ok := q.Next(ctx)
		if !ok {
			return
		}
		err := fn(ctx, key)
		switch {
		case err == nil:
			q.Forget(key)
		case ctx.Err() != nil:
		default:
			if onError != nil {
				onError(key, err)
			}
			q.Retry(key)
		}
		q.Done(key)
	}
}

// Every calls fn every d until ctx ends: the controllers' periodic resync, the safety net for
// a missed event.
func Every(ctx context.Context, d time.Duration, fn func()) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}
