package loadbalancer

import (
	"context"

	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/api/store"
	"github.com/podnet/podnet/internal/storewatch"
)

// watch feeds the queue from a store watch over Services. Each (re)start queues every Service
// (what happened before is read fresh by the syncs) and watches from there.
func (c *Controller) watch(ctx context.Context) {
	storewatch.Run(ctx, storewatch.Config{Store: c.reg.Store(), Resource: resource.Services,
		Logger:  c.log.With("controller", "loadbalancer"),
		Handler: storewatch.Funcs{OnResync: c.resyncAll, OnEvent: c.onEvent}})
}

func (c *Controller) resyncAll() error {
	c.enqueueAll()
	return nil
}

func (c *Controller) onEvent(e *store.Event) { c.q.Add(e.Namespace + "/" + e.Name) }

// enqueueAll queues every stored Service, and the held keys through the worker (only it may
// read the allocation).
func (c *Controller) enqueueAll() {
	metas, err := c.reg.Store().ListMeta(resource.Services, "")
	if err != nil {
		c.log.Warn("load balancer: listing services failed", "err", err)
		return
	}
	for _, m := range metas {
		c.q.Add(m.Namespace + "/" + m.Name)
	}
	c.q.Add(resyncHeld)
}
