package workload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/internal/workqueue"
)

// Config wires the controllers.
type Config struct {
	Registry *registry.Registry
	Logger   *slog.Logger
	// Now is the clock (tests pin it); defaults to time.Now.
	Now func() time.Time
	// Resync is how often every object is synced even without a change (the safety net for a
	// missed event); defaults to 30 s.
	Resync time.Duration
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Resync <= 0 {
		c.Resync = 30 * time.Second
	}
}

// Controllers runs the ReplicaSet and Deployment controllers.
type Controllers struct {
	reg    *registry.Registry
	log    *slog.Logger
	now    func() time.Time
	resync time.Duration
	events *recorder

	replicaSets *workqueue.Queue
	deployments *workqueue.Queue
}

// New makes the controllers; Run starts them.
func New(cfg Config) *Controllers {
	cfg.setDefaults()
	return &Controllers{
		reg: cfg.Registry, log: cfg.Logger, now: cfg.Now, resync: cfg.Resync,
		events:      &recorder{reg: cfg.Registry, now: cfg.Now, log: cfg.Logger},
		replicaSets: workqueue.New(), deployments: workqueue.New(),
	}
}

// Run watches the store and syncs ReplicaSets and Deployments until ctx ends.
func (c *Controllers) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { c.watch(ctx) })
	wg.Go(func() { workqueue.Every(ctx, c.resync, c.enqueueAll) })
	wg.Go(func() { c.work(ctx, c.replicaSets, "replicaset", c.syncReplicaSet) })
	wg.Go(func() { c.work(ctx, c.deployments, "deployment", c.syncDeployment) })
	wg.Wait()
}

// work syncs keys from q one at a time; a failed sync is retried with backoff, a conflict
// (someone wrote the object since it was read) without a warning, since the next read is fresh.
func (c *Controllers) work(ctx context.Context, q *workqueue.Queue, kind string, sync func(ctx context.Context, ns, name string) error) {
	workqueue.RunWorkers(ctx, q, 1, workqueue.ByName(sync), func(key string, err error) {
		if !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
			c.log.Warn("sync failed; will retry", "kind", kind, "key", key, "err", err)
		}
	})
}

// enqueueAll queues every ReplicaSet and Deployment.
func (c *Controllers) enqueueAll() {
	for _, target := range []struct {
		info *resource.Info
		q    *workqueue.Queue
	}{{resource.ReplicaSets, c.replicaSets}, {resource.Deployments, c.deployments}} {
		objs, _, err := c.reg.List(target.info, "", registry.ListOptions{})
		if err != nil {
			c.log.Warn("resync list failed", "resource", target.info.GVR.Resource, "err", err)
			continue
		}
		for _, o := range objs {
			m := accessor(o)
			target.q.Add(key(m.GetNamespace(), m.GetName()))
		}
	}
}

func key(ns, name string) string { return ns + "/" + name }

// errs joins the errors of independent steps of one sync.
func errs(list ...error) error { return errors.Join(list...) }

func wrap(what string, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", what, err)
}
