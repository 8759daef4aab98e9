package workqueue

import (
	"context"
	"sync"
	"time"
)

// Queue holds the keys ("namespace/name") waiting for a sync. A key queued again while waiting
// is synced once; a key queued while being synced is synced again afterwards, so no change is
// lost and no key is synced by two workers at once.
type Queue struct {
	mu         sync.Mutex
	waiting    []string
	queued     map[string]bool
	processing map[string]bool
	dirty      map[string]bool
	failures   map[string]int
	kick       chan struct{}
}

// New makes an empty queue.
func New() *Queue {
	return &Queue{queued: map[string]bool{}, processing: map[string]bool{}, dirty: map[string]bool{},
		failures: map[string]int{}, kick: make(chan struct{}, 1)}
}

// Add queues key now.
func (q *Queue) Add(key string) {
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

// AddAfter queues key once d has passed (minReadySeconds, progress deadlines).
func (q *Queue) AddAfter(key string, d time.Duration) {
	if d <= 0 {
		q.Add(key)
		return
	}
	time.AfterFunc(d, func() { q.Add(key) })
}

// RetryDelay is the back-off before the n-th retry (0-based) of a failing key: from 5 ms
// doubling, as the controller-manager's rate limiter does for controllers; the doubling stops
// at 5 ms << 12 (about 20 s), under the 30 s cap.
func RetryDelay(n int) time.Duration {
	return min(5*time.Millisecond<<min(n, 12), 30*time.Second)
}

// Retry queues a key whose sync failed, after RetryDelay of its failures so far.
func (q *Queue) Retry(key string) {
	q.mu.Lock()
	n := q.failures[key]
	q.failures[key] = n + 1
	q.mu.Unlock()
	q.AddAfter(key, RetryDelay(n))
}

// Forget resets the back-off of key after a successful sync.
func (q *Queue) Forget(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.failures, key)
}

// Len is the number of keys waiting (not those being synced).
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting)
}

// Next blocks until a key is ready or ctx ends; the caller must call Done(key) after its sync.
func (q *Queue) Next(ctx context.Context) (string, bool) {
	for {
		q.mu.Lock()
		if len(q.waiting) > 0 {
			key := q.waiting[0]
			q.waiting = q.waiting[1:]
			delete(q.queued, key)
			q.processing[key] = true
			if len(q.waiting) > 0 {
				// Other workers may be parked on kick: wake one for the rest.
				select {
				case q.kick <- struct{}{}:
				default:
				}
			}
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

// Done ends the sync of key, queueing it again if it changed meanwhile.
func (q *Queue) Done(key string) {
	q.mu.Lock()
	delete(q.processing, key)
	again := q.dirty[key]
	delete(q.dirty, key)
	q.mu.Unlock()
	if again {
		q.Add(key)
	}
}
