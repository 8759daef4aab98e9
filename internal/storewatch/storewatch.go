package storewatch

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/api/store"
)

// Source is what the loop needs of *store.Store.
type Source interface {
	ResourceVersion() uint64
	Watch(info *resource.Info, ns string, from uint64) (*store.Watcher, error)
}

// Handler receives the store's state: a Resync after each (re)opening of the watch, then its
// events, one at a time, from the loop's goroutine.
type Handler interface {
	// Resync reads the store afresh (queues everything, rebuilds caches). An error drops the
	// watch just opened; the loop tries again after a back-off.
	Resync() error
	// Event is one change committed after the resync's starting point.
	Event(e *store.Event)
}

// Funcs makes a Handler of two functions.
type Funcs struct {
	OnResync func() error
	OnEvent  func(e *store.Event)
}

// Resync calls OnResync.
func (f Funcs) Resync() error { return f.OnResync() }

// Event calls OnEvent.
func (f Funcs) Event(e *store.Event) { f.OnEvent(e) }

// Config wires a Loop.
type Config struct {
	Store   Source
	Handler Handler
	// Resource limits the watch to one resource; nil watches every resource.
	Resource *resource.Info
	Logger   *slog.Logger
	// Backoff is the wait after a failed attempt, doubled for each further failure in a row up
	// to MaxBackoff; defaults to 1 s and 30 s.
	Backoff, MaxBackoff time.Duration
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Backoff <= 0 {
		c.Backoff = time.Second
	}
	if c.MaxBackoff < c.Backoff {
		c.MaxBackoff = max(30*time.Second, c.Backoff)
	}
}

// Loop is one list-then-watch loop. Start (optional) and Run are called from one goroutine.
type Loop struct {
	cfg Config
	w   *store.Watcher
}

// New makes a loop; nothing happens until Start or Run.
func New(cfg Config) *Loop {
	cfg.setDefaults()
	return &Loop{cfg: cfg}
}

// Run is New(cfg).Run(ctx).
func Run(ctx context.Context, cfg Config) { New(cfg).Run(ctx) }

// Start makes one attempt at opening the watch and resyncing, for a caller that must not go
// on before the handler has seen the store once (the proxy's first full sync). Run then goes
// on from that watch.
func (l *Loop) Start() error {
	st := l.cfg.Store
	w, err := st.Watch(l.cfg.Resource, "", st.ResourceVersion())
	if err != nil {
		return fmt.Errorf("opening store watch: %w", err)
	}
	if err := l.cfg.Handler.Resync(); err != nil {
		w.Stop()
		return fmt.Errorf("resync: %w", err)
	}
	l.w = w
	return nil
}

// Run forwards events until ctx ends, starting over whenever the watch ends.
func (l *Loop) Run(ctx context.Context) {
	defer l.stop()
	failures := 0
	for ctx.Err() == nil {
		if l.w == nil {
			if err := l.Start(); err != nil {
				l.cfg.Logger.Warn("store watch failed; retrying", "err", err)
				sleep(ctx, l.backoff(failures))
				failures++
				continue
			}
			failures = 0
		}
		l.forward(ctx)
	}
}

// forward delivers events until ctx ends or the watch does; a watch that ended is dropped so
// that the next round starts over.
func (l *Loop) forward(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-l.w.Events():
			if !ok {
				if err := l.w.Err(); err != nil {
					l.cfg.Logger.Info("store watch ended; relisting", "err", err)
				}
				l.stop()
				return
			}
			l.cfg.Handler.Event(e)
		}
	}
}

func (l *Loop) stop() {
	if l.w != nil {
		l.w.Stop()
		l.w = nil
	}
}

// backoff is the wait after the n-th failure in a row (0-based).
func (l *Loop) backoff(n int) time.Duration {
	d := l.cfg.Backoff
	for ; n > 0 && d < l.cfg.MaxBackoff; n-- {
		d *= 2
	}
	return min(d, l.cfg.MaxBackoff)
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
