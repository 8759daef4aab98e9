package loadbalancer

import (
	"context"
	"time"

	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/api/store"
)

// watch feeds the queue from a store watch over Services. Each (re)start takes the store's
// resourceVersion, queues every Service (what happened before is read fresh by the syncs) and
// watches from there; a watcher cut off (too slow, or history expired) starts over the same way.
func (c *Controller) watch(ctx context.Context) {
	st := c.reg.Store()
	for ctx.Err() == nil {
		w, err := st.Watch(resource.Services, "", st.ResourceVersion())
		if err != nil {
			c.log.Warn("load balancer: watch failed; relisting", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		c.enqueueAll()
		c.forward(ctx, w)
		w.Stop()
	}
}

func (c *Controller) forward(ctx context.Context, w *store.Watcher) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Events():
			if !ok {
				if err := w.Err(); err != nil {
					c.log.Info("load balancer: watch ended; relisting", "err", err)
				}
				return
			}
			c.q.Add(e.Namespace + "/" + e.Name)
		}
	}
}

func (c *Controller) resyncLoop(ctx context.Context) {
	t := time.NewTicker(c.resync)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.enqueueAll()
		}
	}
}

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
