package proxy

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/knftables"

	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/api/store"
	"github.com/podnet/podnet/internal/storewatch"
	"github.com/podnet/podnet/internal/workqueue"
)

// failureBackoff spaces out retries of a failing full sync.
const failureBackoff = time.Second

// Run lists and watches Services and EndpointSlices and keeps the table in step until ctx
// ends: a full sync first, then partial syncs of what changed, coalesced so that bursts cost
// one transaction while the first change after a quiet spell is programmed at once. The first
// list must succeed before anything is programmed (a full sync of an empty cache would wipe
// the rules a previous run left serving), so its failure is returned.
func (p *Proxy) Run(ctx context.Context) error {
	if p.cfg.Registry == nil {
		return errors.New("proxy: Run needs a Registry")
	}
	loop := storewatch.New(storewatch.Config{Store: p.cfg.Registry.Store(), Logger: p.cfg.Logger,
		Backoff: failureBackoff, Handler: storewatch.Funcs{OnResync: p.relist, OnEvent: p.apply}})
	if err := loop.Start(); err != nil {
		return fmt.Errorf("proxy: %w", err)
	}
	p.requestFullSync()
	go loop.Run(ctx)
	go p.checkLoop(ctx)
	p.syncLoop(ctx)
	return nil
}

func (p *Proxy) syncLoop(ctx context.Context) {
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		}
		if wait := p.cfg.MinSyncInterval - time.Since(last); wait > 0 {
			sleep(ctx, wait)
		}
		// Only a sync that ran a transaction counts: one that found nothing to do (a new
		// Service still waiting for its first slice) must not hold back the next by
		// MinSyncInterval.
		started := time.Now()
		applied, err := p.sync(ctx)
		if applied {
			last = started
		}
		if err != nil && ctx.Err() == nil {
			p.cfg.Logger.Warn("proxy sync failed; full sync next", "err", err)
			sleep(ctx, failureBackoff)
			// The full sync is due whether or not another change comes to wake the loop
			// (and the table check stands back while one is pending).
			p.wakeLocked()
		}
	}
}

// checkLoop checks the table every CheckInterval until ctx ends.
func (p *Proxy) checkLoop(ctx context.Context) {
	workqueue.Every(ctx, p.cfg.CheckInterval, func() { p.checkTable(ctx) })
}

// checkTable notices a table that vanished or was emptied (`nft flush ruleset`) by looking
// at one base chain, never the whole table, and orders a full sync.
func (p *Proxy) checkTable(ctx context.Context) {
	if p.tableMissing(ctx) {
		p.cfg.Logger.Info("proxy table missing or flushed; full sync")
		p.requestFullSync()
	}
}

// ruleCounter is the cheap way to look at one chain, where the nftables in use has one (the
// real one: netlink); others (knftables.Fake) are asked with ListRules.
type ruleCounter interface {
	CountRules(ctx context.Context, chain string) (int, error)
}

func (p *Proxy) tableMissing(ctx context.Context) bool {
	p.mu.Lock()
	pending := p.needFull
	p.mu.Unlock()
	if pending {
		return false
	}
	if rc, ok := p.nft.(ruleCounter); ok {
		n, err := rc.CountRules(ctx, canaryChain)
		if err != nil {
			p.cfg.Logger.Warn("proxy table check failed", "err", err)
			return false
		}
		return n == 0
	}
	rules, err := p.nft.ListRules(ctx, canaryChain)
	if err != nil {
		if !knftables.IsNotFound(err) {
			p.cfg.Logger.Warn("proxy table check failed", "err", err)
		}
		return knftables.IsNotFound(err)
	}
	return len(rules) == 0
}

// relist replaces the object cache from the store; the watch storewatch opened before it
// delivers what changes after (events in between are applied twice, harmlessly).
func (p *Proxy) relist() error {
	st := p.cfg.Registry.Store()
	svcs, _, err := st.List(resource.Services, "", nil)
	if err != nil {
		return fmt.Errorf("listing services: %w", err)
	}
	sls, _, err := st.List(resource.EndpointSlices, "", nil)
	if err != nil {
		return fmt.Errorf("listing endpointslices: %w", err)
	}
	p.replaceAll(svcs, sls)
	return nil
}

func (p *Proxy) replaceAll(svcs, sls []runtime.Object) {
	p.mu.Lock()
	for k := range p.services {
		p.dirty[k] = true
	}
	for k := range p.slices {
		p.dirty[k] = true
	}
	p.services, p.slices, p.sliceSvc = map[string]*corev1.Service{}, map[string]map[string]*discoveryv1.EndpointSlice{}, map[string]string{}
	p.firstSeen = map[string]time.Time{}
	p.mu.Unlock()
	for _, o := range svcs {
		p.SetService(o.(*corev1.Service))
	}
	for _, o := range sls {
		p.SetSlice(o.(*discoveryv1.EndpointSlice))
	}
}

func (p *Proxy) apply(e *store.Event) {
	switch e.Resource {
	case resource.Services:
		if e.Type == watch.Deleted {
			p.DeleteService(e.Namespace, e.Name)
		} else if svc, ok := e.Object.(*corev1.Service); ok {
			p.SetService(svc)
		}
	case resource.EndpointSlices:
		if e.Type == watch.Deleted {
			p.DeleteSlice(e.Namespace, e.Name)
		} else if sl, ok := e.Object.(*discoveryv1.EndpointSlice); ok {
			p.SetSlice(sl)
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
