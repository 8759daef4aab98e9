package workload

import (
	"context"
	"sync"
	"time"
)

// queue holds the keys ("namespace/name") waiting for a sync. A key queued again while waiting
// is synced once; a key queued while being synced is synced again afterwards, so no change is
// lost and no key is synced by two workers at once.
type queue struct {
	mu         sync.Mutex
	waiting    []string
	queued     map[string]bool
	processing map[string]bool
	dirty      map[string]bool
	failures   map[string]int
	kick       chan struct{}
}

func newQueue() *queue {
	return &queue{queued: map[string]bool{}, processing: map[string]bool{}, dirty: map[string]bool{},
		failures: map[string]int{}, kick: make(chan struct{}, 1)}
}

// add queues key now.
func (q *queue) add(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.processing[key] {
		q.dirty[key] = true
		return
	}
	if q.queued[key] {
		return
	}
	q.queued[key] = true
	q.waiting = append(q.waiting, key)
	select {
	case q.kick <- struct{}{}:
	default:
	}
}

// addAfter queues key once d has passed (minReadySeconds, progress deadlines).
func (q *queue) addAfter(key string, d time.Duration) {
	if d <= 0 {
		q.add(key)
		return
	}
	time.AfterFunc(d, func() { q.add(key) })
}

// retry queues a key whose sync failed, backing off from 5 ms doubling to 30 s as the
// controller-manager's rate limiter does for controllers.
func (q *queue) retry(key string) {
	q.mu.Lock()
	n := q.failures[key]
	q.failures[key] = n + 1
	q.mu.Unlock()
	d := 5 * time.Millisecond << min(n, 12)
	q.addAfter(key, min(d, 30*time.Second))
}

func (q *queue) forget(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.failures, key)
}

// next blocks until a key is ready or ctx ends.
func (q *queue) next(ctx context.Context) (string, bool) {
	for {
		q.mu.Lock()
		if len(q.waiting) > 0 {
			key := q.waiting[0]
			q.waiting = q.waiting[1:]
			delete(q.queued, key)
			q.processing[key] = true
			q.mu.Unlock()
			return key, true
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return "", false
		case <-q.kick:
		}
	}
}

// done ends the sync of key, queueing it again if it changed meanwhile.
func (q *queue) done(key string) {
	q.mu.Lock()
	delete(q.processing, key)
	again := q.dirty[key]
	delete(q.dirty, key)
	q.mu.Unlock()
	if again {
		q.add(key)
	}
}
