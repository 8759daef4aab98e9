package proxy

import (
	"context"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"sigs.k8s.io/knftables"
)

// Proxy programs one family's table from Services and EndpointSlices.
type Proxy struct {
	cfg   Config
	nft   knftables.Interface
	ct    Conntrack
	facts facts
	sk    *skeleton

	syncMu sync.Mutex // one sync (or Cleanup) at a time

	mu       sync.Mutex // the fields below
	services map[string]*corev1.Service
	slices   map[string]map[string]*discoveryv1.EndpointSlice // service key → slice key → slice
	sliceSvc map[string]string                                // slice key → service key
	dirty    map[string]bool
	// firstSeen is when each cached Service arrived (see awaitingSliceLocked).
	firstSeen map[string]time.Time
	needFull  bool
	state     *committed
	stats     Stats

	wake chan struct{}
}

// Stats are the proxy's counters.
type Stats struct {
	Syncs, FullSyncs, Failures uint64
	// PartialViaNFT and FullViaNFT count the syncs that went through nft because an
	// operation has no netlink translation.
	PartialViaNFT, FullViaNFT uint64
	LastSync                  time.Duration
	LastFullSync              time.Duration
}

// New checks the configuration and makes a Proxy; nothing touches the kernel until Run or
// SyncNow.
func New(cfg Config) (*Proxy, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("proxy config: %w", err)
	}
	nft := cfg.NFT
	if nft == nil {
		var err error
		if nft, err = newRealNFT(cfg.Family, cfg.Table); err != nil {
			return nil, fmt.Errorf("nftables for table %s %s: %w", cfg.Family, cfg.Table, err)
		}
	}
	ct := cfg.Conntrack
	if ct == nil {
		ct = netlinkConntrack{}
	}
	return &Proxy{
		cfg: cfg, nft: nft, ct: ct, sk: buildSkeleton(cfg),
		facts:    facts{fam: newFam(cfg.Family), node: cfg.NodeName, clusterCIDRs: cfg.ClusterCIDRs},
		services: map[string]*corev1.Service{}, slices: map[string]map[string]*discoveryv1.EndpointSlice{},
		sliceSvc: map[string]string{}, dirty: map[string]bool{}, firstSeen: map[string]time.Time{}, needFull: true, state: newCommitted(),
		wake: make(chan struct{}, 1),
	}, nil
}

// Stats returns a copy of the counters.
func (p *Proxy) Stats() Stats { p.mu.Lock(); defer p.mu.Unlock(); return p.stats }

func key(ns, name string) string { return ns + "/" + name }

// SetService records a Service (as the watch does); the next sync programs it.
func (p *Proxy) SetService(svc *corev1.Service) {
	p.mu.Lock()
	k := key(svc.Namespace, svc.Name)
	if _, known := p.services[k]; !known {
		p.firstSeen[k] = time.Now()
	}
	p.services[k] = svc
	p.markLocked(k)
	p.mu.Unlock()
}

// DeleteService forgets a Service; the next sync removes its rules.
func (p *Proxy) DeleteService(ns, name string) {
	p.mu.Lock()
	k := key(ns, name)
	delete(p.services, k)
	delete(p.firstSeen, k)
	p.markLocked(k)
	p.mu.Unlock()
}

// SetSlice records an EndpointSlice under the service its kubernetes.io/service-name label
// names; a slice without the label belongs to no service.
func (p *Proxy) SetSlice(sl *discoveryv1.EndpointSlice) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sk := key(sl.Namespace, sl.Name)
	p.dropSliceLocked(sk)
	name := sl.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return
	}
	svc := key(sl.Namespace, name)
	if p.slices[svc] == nil {
		p.slices[svc] = map[string]*discoveryv1.EndpointSlice{}
	}
	p.slices[svc][sk] = sl
	p.sliceSvc[sk] = svc
	p.markLocked(svc)
}

// DeleteSlice forgets an EndpointSlice.
func (p *Proxy) DeleteSlice(ns, name string) {
	p.mu.Lock()
	p.dropSliceLocked(key(ns, name))
	p.mu.Unlock()
}

func (p *Proxy) dropSliceLocked(sk string) {
	svc, ok := p.sliceSvc[sk]
	if !ok {
		return
	}
	delete(p.slices[svc], sk)
	if len(p.slices[svc]) == 0 {
		delete(p.slices, svc)
	}
	delete(p.sliceSvc, sk)
	p.markLocked(svc)
}

func (p *Proxy) markLocked(k string) {
	p.dirty[k] = true
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *Proxy) requestFullSync() {
	p.mu.Lock()
	p.needFull = true
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// modelLocked is the model applied to the cached objects of one service.
func (p *Proxy) modelLocked(k string) *svcState {
	svc, ok := p.services[k]
	if !ok {
		return nil
	}
	sls := make([]*discoveryv1.EndpointSlice, 0, len(p.slices[k]))
	for _, name := range sortedNames(p.slices[k]) {
		sls = append(sls, p.slices[k][name])
	}
	return buildService(p.facts, svc, sls)
}

// modelAllLocked is the model of every cached service, by service key. The services are
// independent, so the work is shared among the CPUs: 10,000 services take some 80 ms on one.
func (p *Proxy) modelAllLocked() []change {
	keys := sortedNames(p.services)
	changes := make([]change, len(keys))
	parts := min(runtime.GOMAXPROCS(0), len(keys)/256+1)
	inParallel(parts, func(part int) {
		for i := part * len(keys) / parts; i < (part+1)*len(keys)/parts; i++ {
			changes[i] = change{key: keys[i], new: p.modelLocked(keys[i])}
		}
	})
	return changes
}

// inParallel calls f(0) … f(n-1), each in a goroutine of its own, and waits for them.
func inParallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { f(i) })
	}
	wg.Wait()
}

// SyncNow programs what changed since the last sync, or everything when a full sync is due
// (the first one, and after a failure).
func (p *Proxy) SyncNow(ctx context.Context) error {
	_, err := p.sync(ctx)
	return err
}

// sync is SyncNow that also says whether a transaction went to the kernel.
func (p *Proxy) sync(ctx context.Context) (applied bool, err error) {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	p.mu.Lock()
	full := p.needFull
	p.mu.Unlock()
	if full {
		return true, p.fullSync(ctx)
	}
	return p.partialSync(ctx)
}

// FullSync replaces the whole table from the cached objects.
func (p *Proxy) FullSync(ctx context.Context) error {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	return p.fullSync(ctx)
}

// fullSync and partialSync hold p.mu only to read the cached objects and to commit: while nft
// runs (0.8 s for a full sync of 10,000 services) the watch keeps feeding changes, which wait
// in dirty for the next sync. syncMu keeps syncs one at a time, so p.state changes only here.
func (p *Proxy) fullSync(ctx context.Context) error {
	start := time.Now()
	p.mu.Lock()
	changes := p.modelAllLocked()
	p.dirty = map[string]bool{}
	p.mu.Unlock()
	fresh := newCommitted()
	pl := fresh.planChanges(changes)
	tx := &opLog{}
	renderFull(tx, p.sk, pl)
	err := p.runFull(ctx, tx)
	p.mu.Lock()
	if err != nil {
		p.stats.Failures++
		p.needFull = true
		p.mu.Unlock()
		return fmt.Errorf("full sync of %d services: %w", len(changes), err)
	}
	old, first := p.state, p.stats.FullSyncs == 0
	fresh.apply(pl)
	p.state, p.needFull = fresh, false
	p.stats.Syncs++
	p.stats.FullSyncs++
	p.stats.LastSync = time.Since(start)
	p.stats.LastFullSync = p.stats.LastSync
	p.mu.Unlock()
	p.cfg.Logger.Debug("proxy full sync", "services", len(changes), "ops", len(tx.ops), "took", time.Since(start))
	if first {
		p.cleanUnknownConntrack(fresh.services)
	} else {
		p.cleanConntrack(old.services, fresh.services)
	}
	return nil
}

func (p *Proxy) partialSync(ctx context.Context) (applied bool, err error) {
	start := time.Now()
	p.mu.Lock()
	var changes []change
	waiting := map[string]bool{}
	var wakeIn time.Duration
	for _, k := range sortedNames(p.dirty) {
		if wait := p.awaitingSliceLocked(k); wait > 0 {
			waiting[k] = true
			if wakeIn == 0 || wait < wakeIn {
				wakeIn = wait
			}
			continue
		}
		old, nw := p.state.services[k], p.modelLocked(k)
		if old != nil || nw != nil {
			changes = append(changes, change{key: k, old: old, new: nw})
		}
	}
	p.dirty = waiting
	p.mu.Unlock()
	if wakeIn > 0 {
		time.AfterFunc(wakeIn, p.requestSync)
	}
	if len(changes) == 0 {
		return false, nil
	}
	pl := p.state.planChanges(changes)
	tx := &opLog{}
	renderPartial(tx, p.state, pl)
	if len(tx.ops) > 0 {
		if err := p.runPartial(ctx, tx); err != nil {
			p.mu.Lock()
			p.stats.Failures++
			p.needFull = true
			p.wakeLocked()
			p.mu.Unlock()
			return true, fmt.Errorf("partial sync of %d services: %w", len(changes), err)
		}
	}
	p.mu.Lock()
	p.state.apply(pl)
	p.stats.Syncs++
	p.stats.LastSync = time.Since(start)
	p.mu.Unlock()
	p.cfg.Logger.Debug("proxy partial sync", "services", len(changes), "ops", len(tx.ops), "took", time.Since(start))
	for _, ch := range changes {
		p.cleanConntrack(map[string]*svcState{ch.key: ch.old}, map[string]*svcState{ch.key: ch.new})
	}
	return len(tx.ops) > 0, nil
}

// partialRunner is an nftables backend with a cheaper way than its Run to apply a partial
// sync (the real one sends the operations over netlink); viaNFT says it used Run after all.
type partialRunner interface {
	RunPartial(ctx context.Context, ops []op) (viaNFT bool, err error)
}

// fullRunner is an nftables backend with a cheaper way than its Run to apply a full sync (the
// real one sends the operations over netlink); viaNFT says it used Run after all.
type fullRunner interface {
	RunFull(ctx context.Context, ops []op) (viaNFT bool, err error)
}

func (p *Proxy) runFull(ctx context.Context, l *opLog) error {
	r, ok := p.nft.(fullRunner)
	if !ok {
		return p.nft.Run(ctx, transaction(p.nft, l.ops))
	}
	viaNFT, err := r.RunFull(ctx, l.ops)
	return p.countViaNFT(&p.stats.FullViaNFT, viaNFT, err)
}

func (p *Proxy) runPartial(ctx context.Context, l *opLog) error {
	r, ok := p.nft.(partialRunner)
	if !ok {
		return p.nft.Run(ctx, transaction(p.nft, l.ops))
	}
	viaNFT, err := r.RunPartial(ctx, l.ops)
	return p.countViaNFT(&p.stats.PartialViaNFT, viaNFT, err)
}

// countViaNFT adds a sync that went through nft after all to counter, and passes err on.
func (p *Proxy) countViaNFT(counter *uint64, viaNFT bool, err error) error {
	if viaNFT {
		p.mu.Lock()
		(*counter)++
		p.mu.Unlock()
	}
	return err
}

// newServiceGrace is how long a new Service with a selector waits for its first EndpointSlice
// before it is programmed without one. The EndpointSlice controller writes that slice a few
// milliseconds after the Service; waiting for it makes the two one transaction, and each
// transaction that adds a verdict-map element makes the kernel revalidate the whole table
// (about 12 ms beside 10,000 services; see RunPartial).
const newServiceGrace = 100 * time.Millisecond

// awaitingSliceLocked says how much longer service k should wait for its first slice: only a
// Service never programmed, with a selector, and no slice yet.
func (p *Proxy) awaitingSliceLocked(k string) time.Duration {
	svc, ok := p.services[k]
	if !ok || p.state.services[k] != nil || len(p.slices[k]) > 0 ||
		len(svc.Spec.Selector) == 0 || svc.Spec.Type == corev1.ServiceTypeExternalName {
		return 0
	}
	return newServiceGrace - time.Since(p.firstSeen[k])
}

// requestSync asks the sync loop for a sync.
func (p *Proxy) requestSync() {
	p.mu.Lock()
	p.wakeLocked()
	p.mu.Unlock()
}

func (p *Proxy) wakeLocked() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// cleanUnknownConntrack deletes the UDP flows through the services that their current
// endpoints do not answer, when what was programmed before this process is unknown.
func (p *Proxy) cleanUnknownConntrack(svcs map[string]*svcState) {
	var flows []Flow
	for _, k := range slices.Sorted(maps.Keys(svcs)) {
		flows = append(flows, unknownPastFlows(svcs[k])...)
	}
	p.deleteFlows(flows)
}

// cleanConntrack deletes the UDP flows the change made stale; a failure is logged, not
// retried: the entries expire on their own, this only makes recovery immediate.
func (p *Proxy) cleanConntrack(old, new map[string]*svcState) {
	var flows []Flow
	keys := slices.Sorted(func(yield func(string) bool) {
		seen := map[string]bool{}
		for _, m := range []map[string]*svcState{old, new} {
			for k := range m {
				if !seen[k] && !yield(k) {
					return
				}
				seen[k] = true
			}
		}
	})
	for _, k := range keys {
		flows = append(flows, staleFlows(old[k], new[k])...)
	}
	p.deleteFlows(flows)
}

// deleteFlows deletes UDP conntrack entries; a failure is logged, not retried (see
// cleanConntrack).
func (p *Proxy) deleteFlows(flows []Flow) {
	if len(flows) == 0 {
		return
	}
	if err := p.ct.DeleteUDP(p.facts.fam.v6, flows); err != nil {
		p.cfg.Logger.Warn("conntrack cleanup failed", "err", err)
	}
}

// Cleanup deletes the proxy's table (uninstall, tests).
func (p *Proxy) Cleanup(ctx context.Context) error {
	p.syncMu.Lock()
	defer p.syncMu.Unlock()
	tx := p.nft.NewTransaction()
	tx.Add(&knftables.Table{})
	tx.Delete(&knftables.Table{})
	if err := p.nft.Run(ctx, tx); err != nil {
		return fmt.Errorf("delete table %s %s: %w", p.cfg.Family, p.cfg.Table, err)
	}
	p.mu.Lock()
	p.needFull, p.state = true, newCommitted()
	p.mu.Unlock()
	return nil
}
