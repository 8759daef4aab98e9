package store

import (
	"errors"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/podnet/podnet/api/resource"
)

// Event is one committed change. Object is the object after the change (for Deleted, its last
// state stamped with the deletion's resourceVersion); Prev is the object before it (nil for Added).
// Both are shared by every watcher and must not be modified.
type Event struct {
	Type            watch.EventType
	Resource        *resource.Info
	RV              uint64
	Namespace, Name string
	Object, Prev    runtime.Object
}

// ErrTooSlow ends a watcher whose buffer filled up: a watcher must never stall writers. The
// client resumes from the last resourceVersion it saw, as clients do after any dropped watch.
var ErrTooSlow = errors.New("watcher fell too far behind and was cut off")

// ErrClosed ends every watcher when the store closes.
var ErrClosed = errors.New("store closed")

// Watcher receives the events of one resource (in one namespace, or all).
type Watcher struct {
	hub  *hub
	info *resource.Info
	ns   string
	// from: the watcher has seen everything up to here. A write can commit (and a list see it)
	// before its event is published, so a watch from that list's resourceVersion must not get
	// the event again.
	from uint64
	ch   chan *Event

	once sync.Once
	err  error // set before ch is closed
}

// Events delivers events in resourceVersion order; it is closed when the watcher ends (see Err).
func (w *Watcher) Events() <-chan *Event { return w.ch }

// Err says why Events was closed: ErrTooSlow, ErrClosed, or nil after Stop.
func (w *Watcher) Err() error { return w.err }

// Stop ends the watcher; it is safe to call more than once.
func (w *Watcher) Stop() {
	w.hub.mu.Lock()
	defer w.hub.mu.Unlock()
	w.hub.end(w, nil)
}

func (w *Watcher) wants(e *Event) bool {
	return e.RV > w.from && (w.info == nil || e.Resource == w.info) && (w.ns == "" || w.ns == e.Namespace)
}

// hub keeps the recent history and the live watchers.
type hub struct {
	mu       sync.Mutex
	ring     []*Event // circular; next is where the next event goes
	next     int
	full     bool
	floor    uint64 // every event with RV > floor is still in ring
	watchers map[*Watcher]struct{}
}

func newHub(size int, rv uint64) *hub {
	return &hub{ring: make([]*Event, size), floor: rv, watchers: map[*Watcher]struct{}{}}
}

func (h *hub) publish(e *Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.full {
		h.floor = h.ring[h.next].RV
	}
	h.ring[h.next] = e
	h.next = (h.next + 1) % len(h.ring)
	if h.next == 0 {
		h.full = true
	}
	for w := range h.watchers {
		if !w.wants(e) {
			continue
		}
		select {
		case w.ch <- e:
		default:
			h.end(w, ErrTooSlow)
		}
	}
}

// end closes a watcher; h.mu must be held.
func (h *hub) end(w *Watcher, err error) {
	w.once.Do(func() {
		delete(h.watchers, w)
		w.err = err
		close(w.ch)
	})
}

func (h *hub) closeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for w := range h.watchers {
		h.end(w, ErrClosed)
	}
}

// history returns the retained events with RV > from, oldest first; h.mu must be held.
func (h *hub) history(from uint64) []*Event {
	var out []*Event
	n := len(h.ring)
	start := 0
	if h.full {
		start = h.next
	} else {
		n = h.next
	}
	for i := 0; i < n; i++ {
		e := h.ring[(start+i)%len(h.ring)]
		if e.RV > from {
			out = append(out, e)
		}
	}
	return out
}

// Watch returns a watcher for the events of info (of every resource when info is nil; in
// namespace ns, or all when ns is "") that
// come after resourceVersion from. If events after from are no longer retained, it fails with a
// 410 Expired error, and the client has to list again.
func (s *Store) Watch(info *resource.Info, ns string, from uint64) (*Watcher, error) {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if from < h.floor {
		return nil, apierrors.NewResourceExpired(fmt.Sprintf("too old resource version: %d (%d)", from, h.floor+1))
	}
	w := &Watcher{hub: h, info: info, ns: ns, from: from}
	var backlog []*Event
	for _, e := range h.history(from) {
		if w.wants(e) {
			backlog = append(backlog, e)
		}
	}
	w.ch = make(chan *Event, len(backlog)+s.opts.WatchBuffer)
	for _, e := range backlog {
		w.ch <- e
	}
	h.watchers[w] = struct{}{}
	return w, nil
}
