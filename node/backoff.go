package node

import (
	"sync"
	"time"
)

// backoff is kubelet's restart back-off (flowcontrol.Backoff with 10 s initial and 5 min max):
// the first restart is immediate, each next one waits twice as long, and an entry older than
// twice the maximum starts over.
type backoff struct {
	mu      sync.Mutex
	initial time.Duration
	max     time.Duration
	entries map[string]*backoffEntry
}

type backoffEntry struct {
	delay      time.Duration
	lastUpdate time.Time
}

func newBackoff(initial, max time.Duration) *backoff {
	return &backoff{initial: initial, max: max, entries: map[string]*backoffEntry{}}
}

// inBackoff says how much longer a restart keyed key must wait after an exit at since.
func (b *backoff) inBackoff(key string, since, now time.Time) (wait time.Duration, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entries[key]
	if e == nil {
		return 0, false
	}
	if left := e.delay - now.Sub(since); left > 0 {
		return left, true
	}
	return 0, false
}

// next records a restart at now (for an exit at since) and returns the delay the following one
// will wait.
func (b *backoff) next(key string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entries[key]
	if e == nil || now.Sub(e.lastUpdate) > 2*b.max {
		e = &backoffEntry{delay: b.initial}
		b.entries[key] = e
	} else {
		e.delay = min(2*e.delay, b.max)
	}
	e.lastUpdate = now
	return e.delay
}

// current is the delay of key (0 without an entry).
func (b *backoff) current(key string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	if e := b.entries[key]; e != nil {
		return e.delay
	}
	return 0
}

func (b *backoff) forget(prefix string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.entries {
		if len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			delete(b.entries, k)
		}
	}
}
