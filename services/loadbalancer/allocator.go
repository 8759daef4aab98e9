package loadbalancer

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// errNoAddress is MetalLB's message for exhausted pools.
var errNoAddress = errors.New("no available IPs")

// allocator is the pure bookkeeping: which Service key ("namespace/name") holds which pool
// addresses. Only the controller's single worker touches it, so it has no lock.
type allocator struct {
	pools []Range
	owner map[netip.Addr]string
	held  map[string][]netip.Addr
}

func newAllocator(pools []Range) *allocator {
	return &allocator{pools: pools, owner: map[netip.Addr]string{}, held: map[string][]netip.Addr{}}
}

func (a *allocator) inPool(addr netip.Addr) bool {
	return slices.ContainsFunc(a.pools, func(r Range) bool { return r.Contains(addr) })
}

func (a *allocator) hasFamily(fam corev1.IPFamily) bool {
	return slices.ContainsFunc(a.pools, func(r Range) bool { return r.family() == fam })
}

// check says why key cannot have addr, in MetalLB's words; nil if it can.
func (a *allocator) check(key string, addr netip.Addr) error {
	if !a.inPool(addr) {
		return fmt.Errorf("%q is not allowed in config", addr.String())
	}
	if other, taken := a.owner[addr]; taken && other != key {
		return fmt.Errorf("%q is already in use by %s", addr.String(), other)
	}
	return nil
}

// firstFree is the first address of fam, pools in order, that no one but key holds. The scan
// of a range stops at its first gap, so it costs at most the addresses held plus one.
func (a *allocator) firstFree(key string, fam corev1.IPFamily) (netip.Addr, bool) {
	for _, r := range a.pools {
		if r.family() != fam {
			continue
		}
		for addr := r.First; addr.IsValid() && !r.Last.Less(addr); addr = addr.Next() {
			if owner, taken := a.owner[addr]; !taken || owner == key {
				return addr, true
			}
		}
	}
	return netip.Addr{}, false
}

// set makes key hold exactly addrs (which check accepted); nil releases everything it held.
func (a *allocator) set(key string, addrs []netip.Addr) {
	for _, old := range a.held[key] {
		delete(a.owner, old)
	}
	delete(a.held, key)
	if len(addrs) == 0 {
		return
	}
	a.held[key] = slices.Clone(addrs)
	for _, addr := range addrs {
		a.owner[addr] = key
	}
}

func (a *allocator) holding(key string) []netip.Addr { return a.held[key] }

// all is every allocated address, sorted: what the node must answer for.
func (a *allocator) all() []netip.Addr {
	out := make([]netip.Addr, 0, len(a.owner))
	for addr := range a.owner {
		out = append(out, addr)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

// want is what a Service asks of the allocator: its IP families in order, how many of them it
// must get, and the addresses it requested (none: any free ones).
type want struct {
	families  []corev1.IPFamily
	required  int
	requested []netip.Addr
}

// plan returns the addresses key should hold for w, changing nothing: the requested ones, or
// those it holds already, topped up with the first free address of each family it lacks.
func (a *allocator) plan(key string, w want) ([]netip.Addr, error) {
	if len(w.requested) > 0 {
		for _, addr := range w.requested {
			if err := a.check(key, addr); err != nil {
				return nil, err
			}
		}
		return w.requested, nil
	}
	var out []netip.Addr
	for i, fam := range w.families {
		addr, ok := a.heldOf(key, fam)
		if !ok {
			addr, ok = a.firstFree(key, fam)
		}
		switch {
		case ok:
			out = append(out, addr)
		case i < w.required:
			return nil, errNoAddress
		}
	}
	return out, nil
}

func (a *allocator) heldOf(key string, fam corev1.IPFamily) (netip.Addr, bool) {
	for _, addr := range a.held[key] {
		if familyOf(addr) == fam {
			return addr, true
		}
	}
	return netip.Addr{}, false
}

// adopt takes over from a Service's stored status the addresses that are still allocatable to
// it (in a pool, free, one per family it has) and reports those it dropped.
func (a *allocator) adopt(key string, w want, status []netip.Addr) (dropped []netip.Addr) {
	var kept []netip.Addr
	for _, addr := range status {
		fam := familyOf(addr)
		dup := slices.ContainsFunc(kept, func(k netip.Addr) bool { return familyOf(k) == fam })
		if dup || !slices.Contains(w.families, fam) || a.check(key, addr) != nil {
			dropped = append(dropped, addr)
			continue
		}
		kept = append(kept, addr)
	}
	a.set(key, kept)
	return dropped
}
