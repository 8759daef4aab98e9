package proxy

import (
	"maps"
	"slices"
)

// committed is what the last successful transaction left in the table, kept in memory so
// that partial syncs never list the table.
type committed struct {
	services map[string]*svcState          // by namespace/name
	owners   map[elemKey]map[string]string // element → service → the value it wants
	elems    map[elemKey]string            // the element values in the table
}

func newCommitted() *committed {
	return &committed{services: map[string]*svcState{}, owners: map[elemKey]map[string]string{}, elems: map[elemKey]string{}}
}

// change is one service's desired state replacing its committed one (nil: the service is
// gone).
type change struct {
	key      string
	old, new *svcState
}

// plan is a partial sync: the services that change and the global elements that follow.
type plan struct {
	changes []change
	owners  map[elemKey]map[string]string // new owner sets of the touched elements
	set     map[elemKey]string            // elements to add or give a new value
	del     []elemKey                     // elements to delete
}

// planChanges works out which global elements change when the given services change.
// Several services may want one element (two services on one endpoint want its hairpin
// entry): it stays while any does, and the lowest service key decides a map value.
func (c *committed) planChanges(changes []change) *plan {
	p := &plan{changes: changes, owners: map[elemKey]map[string]string{}, set: map[elemKey]string{}}
	touched := map[elemKey]bool{}
	ownersOf := func(k elemKey) map[string]string {
		if o, ok := p.owners[k]; ok {
			return o
		}
		o := maps.Clone(c.owners[k])
		if o == nil {
			o = map[string]string{}
		}
		p.owners[k] = o
		return o
	}
	for _, ch := range changes {
		if ch.old != nil {
			for k := range ch.old.elems {
				delete(ownersOf(k), ch.key)
				touched[k] = true
			}
		}
		if ch.new != nil {
			for k, v := range ch.new.elems {
				ownersOf(k)[ch.key] = v
				touched[k] = true
			}
		}
	}
	for _, k := range sortedKeys(touched) {
		cur, had := c.elems[k]
		want, keep := effective(p.owners[k])
		switch {
		case !keep && had:
			p.del = append(p.del, k)
		case keep && (!had || cur != want):
			p.set[k] = want
		}
	}
	return p
}

func effective(owners map[string]string) (string, bool) {
	if len(owners) == 0 {
		return "", false
	}
	first := slices.Min(slices.Collect(maps.Keys(owners)))
	return owners[first], true
}

// apply records a plan that the kernel accepted.
func (c *committed) apply(p *plan) {
	for _, ch := range p.changes {
		if ch.new == nil {
			delete(c.services, ch.key)
		} else {
			c.services[ch.key] = ch.new
		}
	}
	for k, o := range p.owners {
		if len(o) == 0 {
			delete(c.owners, k)
		} else {
			c.owners[k] = o
		}
	}
	for k, v := range p.set {
		c.elems[k] = v
	}
	for _, k := range p.del {
		delete(c.elems, k)
	}
}

func sortedKeys(m map[elemKey]bool) []elemKey {
	out := slices.Collect(maps.Keys(m))
	slices.SortFunc(out, func(a, b elemKey) int {
		if a.set != b.set {
			if a.set < b.set {
				return -1
			}
			return 1
		}
		switch {
		case a.key < b.key:
			return -1
		case a.key > b.key:
			return 1
		}
		return 0
	})
	return out
}
