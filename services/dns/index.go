package dns

import (
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// The index keeps, per object, only what answers need (as CoreDNS's informers convert objects),
// in "primary" maps guarded by mu. Queries read an immutable snapshot; a write marks the
// snapshot stale and the next query (or Snapshot call) rebuilds it, one rebuild at a time, so
// bursts of writes cost one rebuild and readers never wait for a writer.

type nsName struct{ ns, name string }

type portRec struct {
	name, proto string
	port        int32 // -1: the object declares no ports (CoreDNS's convention)
}

type svcRec struct {
	name, ns     string
	typ          corev1.ServiceType
	externalName string
	clusterIPs   []string
	ports        []portRec
}

func (s *svcRec) headless() bool {
	return len(s.clusterIPs) > 0 && s.clusterIPs[0] == corev1.ClusterIPNone
}

type addrRec struct{ ip, hostname string }

type sliceRec struct {
	ns, name, service string
	ports             []portRec
	addrs             []addrRec // ready addresses only
}

type podRec struct{ name, ns, ip string }

// snapshot is one immutable view of the index.
type snapshot struct {
	synced     bool
	serial     uint32
	namespaces map[string]struct{}
	services   map[string]*svcRec     // "<name>.<ns>"
	slices     map[string][]*sliceRec // "<service>.<ns>", sorted by slice name
	svcByIP    map[string]*svcRec     // ClusterIP
	slicesByIP map[string][]*sliceRec // ready endpoint address
	podsByIP   map[string][]podRec    // status.podIP
	wire       *wireCache             // replies made from this snapshot (nil: none kept)
}

// Index holds the cluster objects DNS answers from. Its methods are safe for concurrent use.
type Index struct {
	mu         sync.Mutex
	namespaces map[string]struct{}
	services   map[nsName]*svcRec
	slices     map[nsName]*sliceRec
	pods       map[nsName]podRec
	synced     bool
	modified   int64

	stale    atomic.Bool
	cur      atomic.Pointer[snapshot]
	now      func() time.Time
	wireSize int // replies each snapshot keeps
}

// NewIndex returns an empty index; synced says whether it is complete already (fed by
// Set/Delete only) or waits for MarkSynced (fed by a watch): until then name errors are SERVFAIL,
// as CoreDNS answers before its informers have synced.
func NewIndex(synced bool) *Index { return newIndex(synced, 0) }

// newIndex is NewIndex whose snapshots keep up to wireSize packed replies each.
func newIndex(synced bool, wireSize int) *Index {
	x := &Index{now: time.Now, synced: synced, wireSize: wireSize}
	x.reset()
	// A query must always find a snapshot, also while the first writer holds the lock and the
	// query cannot build one (a nil snapshot crashed the daemon on an early query).
	x.cur.Store(x.build())
	return x
}

func (x *Index) reset() {
	x.namespaces = map[string]struct{}{}
	x.services = map[nsName]*svcRec{}
	x.slices = map[nsName]*sliceRec{}
	x.pods = map[nsName]podRec{}
}

func (x *Index) write(f func()) {
	x.mu.Lock()
	f()
	x.modified = x.now().Unix()
	x.mu.Unlock()
	x.stale.Store(true)
}

// SetNamespace records that a namespace exists.
func (x *Index) SetNamespace(ns *corev1.Namespace) {
	x.write(func() { x.namespaces[ns.Name] = struct{}{} })
}

// DeleteNamespace forgets a namespace.
func (x *Index) DeleteNamespace(name string) { x.write(func() { delete(x.namespaces, name) }) }

// SetService adds or replaces a Service.
func (x *Index) SetService(svc *corev1.Service) {
	r := toSvcRec(svc)
	x.write(func() { x.services[nsName{svc.Namespace, svc.Name}] = r })
}

// DeleteService forgets a Service.
func (x *Index) DeleteService(ns, name string) {
	x.write(func() { delete(x.services, nsName{ns, name}) })
}

// SetEndpointSlice adds or replaces an EndpointSlice; slices without the
// kubernetes.io/service-name label belong to no service and are dropped.
func (x *Index) SetEndpointSlice(sl *discoveryv1.EndpointSlice) {
	r := toSliceRec(sl)
	x.write(func() {
		if r == nil {
			delete(x.slices, nsName{sl.Namespace, sl.Name})
			return
		}
		x.slices[nsName{sl.Namespace, sl.Name}] = r
	})
}

// DeleteEndpointSlice forgets an EndpointSlice.
func (x *Index) DeleteEndpointSlice(ns, name string) {
	x.write(func() { delete(x.slices, nsName{ns, name}) })
}

// SetPod adds or replaces a Pod; pods without an IP or being deleted are dropped, as CoreDNS's
// pod cache drops terminating pods.
func (x *Index) SetPod(p *corev1.Pod) {
	key := nsName{p.Namespace, p.Name}
	x.write(func() {
		if p.Status.PodIP == "" || p.DeletionTimestamp != nil {
			delete(x.pods, key)
			return
		}
		x.pods[key] = podRec{name: p.Name, ns: p.Namespace, ip: p.Status.PodIP}
	})
}

// DeletePod forgets a Pod.
func (x *Index) DeletePod(ns, name string) { x.write(func() { delete(x.pods, nsName{ns, name}) }) }

// MarkSynced says the index now holds the whole store.
func (x *Index) MarkSynced() { x.write(func() { x.synced = true }) }

// snapshot returns the current view, rebuilding it first when a write made it stale and no
// other rebuild is under way (then the previous view is returned; the next call catches up).
func (x *Index) snapshot() *snapshot {
	if x.stale.Load() && x.mu.TryLock() {
		if x.stale.Load() {
			x.stale.Store(false)
			x.cur.Store(x.build())
		}
		x.mu.Unlock()
	}
	return x.cur.Load()
}

// build derives a snapshot from the primary maps; x.mu is held.
func (x *Index) build() *snapshot {
	s := &snapshot{
		synced:     x.synced,
		serial:     uint32(x.modified), // #nosec G115 -- Unix time as SOA serial, as CoreDNS
		namespaces: make(map[string]struct{}, len(x.namespaces)),
		services:   make(map[string]*svcRec, len(x.services)),
		slices:     map[string][]*sliceRec{},
		svcByIP:    map[string]*svcRec{},
		slicesByIP: map[string][]*sliceRec{},
		podsByIP:   make(map[string][]podRec, len(x.pods)),
		wire:       newWireCache(x.wireSize),
	}
	for ns := range x.namespaces {
		s.namespaces[ns] = struct{}{}
	}
	for _, r := range x.services {
		s.services[r.name+"."+r.ns] = r
		for _, ip := range r.clusterIPs {
			if ip != "" && ip != corev1.ClusterIPNone {
				s.svcByIP[ip] = r
			}
		}
	}
	for _, r := range x.slices {
		k := r.service + "." + r.ns
		s.slices[k] = append(s.slices[k], r)
		for _, a := range r.addrs {
			if l := s.slicesByIP[a.ip]; len(l) == 0 || l[len(l)-1] != r {
				s.slicesByIP[a.ip] = append(l, r)
			}
		}
	}
	for _, l := range s.slices {
		sort.Slice(l, func(i, j int) bool { return l[i].name < l[j].name })
	}
	for _, l := range s.slicesByIP {
		sort.Slice(l, func(i, j int) bool { return l[i].ns+"/"+l[i].name < l[j].ns+"/"+l[j].name })
	}
	for _, p := range x.pods {
		s.podsByIP[p.ip] = append(s.podsByIP[p.ip], p)
	}
	return s
}

func toSvcRec(svc *corev1.Service) *svcRec {
	r := &svcRec{name: svc.Name, ns: svc.Namespace, typ: svc.Spec.Type, externalName: svc.Spec.ExternalName}
	if len(svc.Spec.ClusterIPs) > 0 {
		r.clusterIPs = slices.Clone(svc.Spec.ClusterIPs)
	} else {
		r.clusterIPs = []string{svc.Spec.ClusterIP}
	}
	if len(svc.Spec.Ports) == 0 {
		r.ports = []portRec{{port: -1}}
	}
	for _, p := range svc.Spec.Ports {
		r.ports = append(r.ports, portRec{name: p.Name, proto: string(p.Protocol), port: p.Port})
	}
	return r
}

func toSliceRec(sl *discoveryv1.EndpointSlice) *sliceRec {
	svc := sl.Labels[discoveryv1.LabelServiceName]
	if svc == "" {
		return nil
	}
	r := &sliceRec{ns: sl.Namespace, name: sl.Name, service: svc}
	if len(sl.Ports) == 0 {
		r.ports = []portRec{{port: -1}}
	}
	for _, p := range sl.Ports {
		pr := portRec{port: -1}
		if p.Port != nil {
			pr.port = *p.Port
		}
		if p.Name != nil {
			pr.name = *p.Name
		}
		if p.Protocol != nil {
			pr.proto = string(*p.Protocol)
		}
		r.ports = append(r.ports, pr)
	}
	for _, ep := range sl.Endpoints {
		if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
			continue
		}
		for _, a := range ep.Addresses {
			ar := addrRec{ip: a}
			if ep.Hostname != nil {
				ar.hostname = *ep.Hostname
			}
			r.addrs = append(r.addrs, ar)
		}
	}
	return r
}

// replace empties the index, lets fill load it whole, and marks it synced.
func (x *Index) replace(fill func(*Index)) {
	x.write(func() {
		x.reset()
		fill(x)
		x.synced = true
	})
}
