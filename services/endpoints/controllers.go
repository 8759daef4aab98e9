package endpoints

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/internal/workqueue"
)

// Config wires the controllers.
type Config struct {
	Registry *registry.Registry
	Logger   *slog.Logger
	// MaxEndpointsPerSlice caps each EndpointSlice; defaults to 100, as upstream.
	MaxEndpointsPerSlice int
	// Resync is how often every service is synced even without a change (the safety net for
	// a missed event); defaults to 30 s.
	Resync time.Duration
	// Workers per controller; defaults to 2.
	Workers int
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.MaxEndpointsPerSlice <= 0 {
		c.MaxEndpointsPerSlice = DefaultMaxEndpointsPerSlice
	}
	if c.Resync <= 0 {
		c.Resync = 30 * time.Second
	}
	if c.Workers <= 0 {
		c.Workers = 2
	}
}

// Controllers runs the EndpointSlice and the Endpoints controllers.
type Controllers struct {
	reg         *registry.Registry
	log         *slog.Logger
	maxPerSlice int
	resync      time.Duration
	workers     int

	slices    *workqueue.Queue // keys: services "ns/name"
	endpoints *workqueue.Queue // keys: services (and leftover Endpoints) "ns/name"
	cache     *sliceCache
	selectors *selectorIndex
	// leftoversQueued: the first relist queued every Endpoints object (watch goroutine only).
	leftoversQueued bool
}

// New makes the controllers; Run starts them.
func New(cfg Config) *Controllers {
	cfg.setDefaults()
	return &Controllers{
		reg: cfg.Registry, log: cfg.Logger, maxPerSlice: cfg.MaxEndpointsPerSlice, resync: cfg.Resync, workers: cfg.Workers,
		slices: workqueue.New(), endpoints: workqueue.New(), cache: newSliceCache(), selectors: newSelectorIndex(),
	}
}

// Run watches the store and keeps slices and Endpoints in step until ctx ends.
func (c *Controllers) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { c.watch(ctx) })
	wg.Go(func() { workqueue.Every(ctx, c.resync, c.resyncServices) })
	wg.Go(func() { c.work(ctx, c.slices, "endpointslice", c.syncSlices) })
	wg.Go(func() { c.work(ctx, c.endpoints, "endpoints", c.syncEndpoints) })
	wg.Wait()
}

// work syncs keys from q with the configured workers; a failed sync is retried with back-off,
// quietly when the object moved under it (the next read, or the event the watch is about to
// deliver, is fresher).
func (c *Controllers) work(ctx context.Context, q *workqueue.Queue, kind string, sync func(ctx context.Context, ns, name string) error) {
	workqueue.RunWorkers(ctx, q, c.workers, workqueue.ByName(sync), func(key string, err error) {
		if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) && !apierrors.IsNotFound(err) {
			c.log.Warn("sync failed; will retry", "kind", kind, "key", key, "err", err)
		}
	})
}

func (c *Controllers) resyncServices() {
	if err := c.enqueueServices(); err != nil {
		c.log.Warn("resync failed", "err", err)
	}
}

func key(ns, name string) string { return ns + "/" + name }

func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
}
