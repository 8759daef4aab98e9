package loadbalancer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/podnet/podnet/api/registry"
	"github.com/podnet/podnet/api/resource"
	"github.com/podnet/podnet/internal/workqueue"
)

// Config wires the controller.
type Config struct {
	Registry *registry.Registry
	Logger   *slog.Logger
	// Pools are the address ranges to allocate from, in order of preference; none means no
	// LoadBalancer Service gets an address (they stay <pending>).
	Pools []Range
	// Announcer makes the node answer for allocated addresses; defaults to
	// NewNetlinkAnnouncer(DefaultInterface).
	Announcer Announcer
	// Resync is how often every Service is synced even without a change (the safety net for a
	// missed event); defaults to 30 s.
	Resync time.Duration
	// Now is the clock of events; defaults to time.Now.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Announcer == nil {
		c.Announcer = NewNetlinkAnnouncer(DefaultInterface)
	}
	if c.Resync <= 0 {
		c.Resync = 30 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

func (c *Config) validate() error {
	var errs []error
	if c.Registry == nil {
		errs = append(errs, errors.New("no registry"))
	}
	for i, p := range c.Pools {
		if !p.valid() {
			errs = append(errs, fmt.Errorf("pool %d (%s) is not a range of one family", i, p))
			continue
		}
		for j := range i {
			if p.Contains(c.Pools[j].First) || c.Pools[j].Contains(p.First) {
				errs = append(errs, fmt.Errorf("pool %d (%s) overlaps pool %d (%s)", i, p, j, c.Pools[j]))
			}
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("load balancer controller: %w", errors.Join(errs...))
	}
	return nil
}

// Controller allocates LoadBalancer addresses; see the package comment.
type Controller struct {
	reg       *registry.Registry
	log       *slog.Logger
	resync    time.Duration
	announcer Announcer
	events    *recorder
	q         *workqueue.Queue

	// Touched by the single worker only (and by Run before the worker starts).
	alloc     *allocator
	pending   map[string]bool   // keys whose allocation failed: retried when an address frees up
	reported  map[string]string // failure message already recorded as an event, per key
	announced bool              // the Announcer holds exactly alloc.all()
}

// resyncHeld is a queue key no Service can have ("namespace/name" always has a slash): it makes
// the worker queue every key it holds addresses for, so that a Service deleted while no watch
// was open still gives its addresses back.
const resyncHeld = ""

// New checks cfg and makes the controller; Run starts it.
func New(cfg Config) (*Controller, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	return &Controller{
		reg: cfg.Registry, log: cfg.Logger, resync: cfg.Resync, announcer: cfg.Announcer,
		events: &recorder{reg: cfg.Registry, now: cfg.Now, log: cfg.Logger},
		q:      workqueue.New(), alloc: newAllocator(slices.Clone(cfg.Pools)),
		pending: map[string]bool{}, reported: map[string]string{},
	}, nil
}

// Run rebuilds the allocation from the stored Services, makes the Announcer match it, then
// watches Services and syncs them until ctx ends.
func (c *Controller) Run(ctx context.Context) {
	for ctx.Err() == nil {
		err := c.rebuild()
		if err == nil {
			break
		}
		c.log.Warn("load balancer: rebuilding allocations failed; retrying", "err", err)
		sleep(ctx, time.Second)
	}
	if err := c.announce(); err != nil {
		c.log.Warn("load balancer: announcing addresses failed; will retry", "err", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { c.watch(ctx) })
	wg.Go(func() { workqueue.Every(ctx, c.resync, c.enqueueAll) })
	// One worker: the allocation is the worker's alone, which spares it a lock.
	workqueue.RunWorkers(ctx, c.q, 1, c.sync, func(key string, err error) {
		if !apierrors.IsConflict(err) {
			c.log.Warn("load balancer: sync failed; will retry", "service", key, "err", err)
		}
	})
	wg.Wait()
}

// Cleanup removes what the Announcer set up (the podnet-lb interface); allocations live on in
// the Services' status.
func (c *Controller) Cleanup(ctx context.Context) error {
	return c.announcer.Cleanup()
}

// rebuild adopts the addresses in the stored statuses, oldest Service first, so that of two
// Services claiming one address the one that had it first keeps it.
func (c *Controller) rebuild() error {
	objs, _, err := c.reg.Store().List(resource.Services, "", nil)
	if err != nil {
		return fmt.Errorf("listing services: %w", err)
	}
	svcs := make([]*corev1.Service, 0, len(objs))
	for _, o := range objs {
		if svc := o.(*corev1.Service); managed(svc) {
			svcs = append(svcs, svc)
		}
	}
	slices.SortFunc(svcs, olderFirst)
	c.alloc = newAllocator(c.alloc.pools)
	for _, svc := range svcs {
		key := keyOf(svc)
		w := want{families: familiesOf(svc)}
		if dropped := c.alloc.adopt(key, w, ingressAddrs(svc)); len(dropped) > 0 {
			c.log.Info("load balancer: dropping addresses no longer allocatable", "service", key, "addresses", dropped)
		}
	}
	c.announced = false
	return nil
}

func olderFirst(a, b *corev1.Service) int {
	if c := a.CreationTimestamp.Compare(b.CreationTimestamp.Time); c != 0 {
		return c
	}
	return strings.Compare(keyOf(a), keyOf(b))
}

func keyOf(svc *corev1.Service) string { return svc.Namespace + "/" + svc.Name }

// sync brings one Service's allocation, status and announcement in line with its spec.
func (c *Controller) sync(ctx context.Context, key string) error {
	if key == resyncHeld {
		for k := range c.alloc.held {
			c.q.Add(k)
		}
		return nil
	}
	ns, name, _ := strings.Cut(key, "/")
	obj, err := c.reg.Get(resource.Services, ns, name)
	if apierrors.IsNotFound(err) {
		c.forgetService(key)
		return c.announce()
	}
	if err != nil {
		return fmt.Errorf("getting service: %w", err)
	}
	svc := obj.(*corev1.Service)
	if !managed(svc) {
		return c.syncUnmanaged(ctx, key, svc)
	}
	addrs, err := c.decide(key, svc)
	if err != nil {
		c.fail(key, svc, err)
		addrs = nil
	} else {
		delete(c.pending, key)
		delete(c.reported, key)
	}
	c.setHolding(key, addrs)
	if err := c.announce(); err != nil {
		return err
	}
	if err := c.writeStatus(ctx, svc, addrs); err != nil {
		return err
	}
	// Judged against the stored status, not the allocation, so that a sync retried after a
	// failed announcement or write still reports the address once it is really published.
	if stored := ingressAddrs(svc); slices.ContainsFunc(addrs, func(a netip.Addr) bool { return !slices.Contains(stored, a) }) {
		c.log.Info("load balancer: address allocated", "service", key, "addresses", addrs)
		c.events.event(svc, corev1.EventTypeNormal, ReasonIPAllocated, "Assigned IP %q", texts(addrs))
	}
	return nil
}

// syncUnmanaged releases what a Service no longer of ours held. A Service that stopped being a
// LoadBalancer loses its ingress too (upstream's service controller clears it); one that has a
// loadBalancerClass now belongs to another implementation, whose status is not ours to touch.
func (c *Controller) syncUnmanaged(ctx context.Context, key string, svc *corev1.Service) error {
	c.forgetService(key)
	if err := c.announce(); err != nil {
		return err
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer && len(svc.Status.LoadBalancer.Ingress) > 0 {
		return c.writeStatus(ctx, svc, nil)
	}
	return nil
}

// decide is the addresses svc should hold; with no pool at all, none and no complaint.
func (c *Controller) decide(key string, svc *corev1.Service) ([]netip.Addr, error) {
	if len(c.alloc.pools) == 0 {
		return nil, nil
	}
	w, err := wantOf(svc, c.alloc.hasFamily)
	if err != nil {
		return nil, err
	}
	return c.alloc.plan(key, w)
}

// fail records why svc got no address: a Warning event (once per distinct reason, where
// kube-controller-manager's recorder would aggregate repeats), and a retry when one frees up.
func (c *Controller) fail(key string, svc *corev1.Service, err error) {
	c.pending[key] = true
	msg := err.Error()
	if c.reported[key] == msg {
		return
	}
	c.reported[key] = msg
	c.log.Info("load balancer: allocation failed", "service", key, "err", err)
	c.events.event(svc, corev1.EventTypeWarning, ReasonAllocationFailed, "Failed to allocate IP for %q: %s", key, msg)
}

// setHolding makes key hold addrs. An address given up wakes the Services waiting for one.
func (c *Controller) setHolding(key string, addrs []netip.Addr) {
	old := c.alloc.holding(key)
	if slices.Equal(old, addrs) {
		return
	}
	c.alloc.set(key, addrs)
	c.announced = false
	for _, a := range old {
		if !slices.Contains(addrs, a) {
			c.wakePending(key)
			break
		}
	}
}

func (c *Controller) forgetService(key string) {
	c.setHolding(key, nil)
	delete(c.pending, key)
	delete(c.reported, key)
}

func (c *Controller) wakePending(except string) {
	for k := range c.pending {
		if k != except {
			c.q.Add(k)
		}
	}
}

// announce hands the Announcer the whole allocation when it changed (or a try failed).
func (c *Controller) announce() error {
	if c.announced {
		return nil
	}
	if err := c.announcer.Announce(c.alloc.all()); err != nil {
		return fmt.Errorf("announcing load balancer addresses: %w", err)
	}
	c.announced = true
	return nil
}

// writeStatus sets status.loadBalancer.ingress to addrs unless it says so already. The UID check
// keeps an allocation from landing on a Service recreated under the same name meanwhile.
func (c *Controller) writeStatus(ctx context.Context, svc *corev1.Service, addrs []netip.Addr) error {
	if sameIngress(svc.Status.LoadBalancer.Ingress, addrs) {
		return nil
	}
	_, err := c.reg.Update(ctx, resource.Services, svc.Namespace, svc.Name, "status", func(cur runtime.Object) (runtime.Object, error) {
		s := cur.(*corev1.Service)
		if s.UID != svc.UID {
			return nil, registry.Conflict(resource.Services, svc.Name)
		}
		s.Status.LoadBalancer.Ingress = ingressFor(addrs)
		return s, nil
	}, registry.WriteOptions{})
	if err != nil {
		return fmt.Errorf("writing load balancer status of %s: %w", keyOf(svc), err)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
