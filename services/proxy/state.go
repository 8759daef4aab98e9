package proxy

import (
	"slices"
	"strings"
)

// committed is what the last successful transaction left in the table, kept in memory so
// that partial syncs never list the table.
type committed struct {
	services map[string]*svcState // by namespace/name
	owners   map[elemKey]owners   // element → the services that want it
	elems    map[elemKey]string   // the element values in the table
}

func newCommitted() *committed {
	return &committed{services: map[string]*svcState{}, owners: map[elemKey]owners{}, elems: map[elemKey]string{}}
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
	owners  map[elemKey]owners // new owner sets of the touched elements
	set     map[elemKey]string // elements to add or give a new value
	setKeys []elemKey          // the keys of set, sorted (the order they are written in)
	del     []elemKey          // elements to delete
}

// planChanges works out which global elements change when the given services change.
// Several services may want one element (two services on one endpoint want its hairpin
// entry): it stays while any does, and the lowest service key decides a map value.
func (c *committed) planChanges(changes []change) *plan {
	n := 0
	for _, ch := range changes {
		if ch.new != nil {
			n += len(ch.new.elems)
		}
	}
	// Sized once: a full sync of 10,000 services plans some 40,000 elements, and growing the
	// maps to that rehashes them a dozen times.
	p := &plan{changes: changes, owners: make(map[elemKey]owners, n), set: make(map[elemKey]string, n)}
	ownersOf := func(k elemKey) owners {
		if o, ok := p.owners[k]; ok {
			return o
		}
		return slices.Clone(c.owners[k])
	}
	for _, ch := range changes {
		if ch.old != nil {
			for k := range ch.old.elems {
				p.owners[k] = ownersOf(k).without(ch.key)
			}
		}
		if ch.new != nil {
			for k, v := range ch.new.elems {
				p.owners[k] = ownersOf(k).with(ch.key, v)
			}
		}
	}
	for _, k := range sortedKeys(p.owners) {
		cur, had := c.elems[k]
		o := p.owners[k]
		switch {
		case len(o) == 0 && had:
			p.del = append(p.del, k)
		case len(o) > 0 && (!had || cur != o[0].value):
			p.set[k] = o[0].value
			p.setKeys = append(p.setKeys, k)
		}
	}
	return p
}

// owners are the services that want one element and the value each wants, by service key:
// the first decides. Almost every element has one owner, so a sorted slice, not a map (a full
// sync of 10,000 services makes some 40,000 of them).
type owners []owner

type owner struct{ svc, value string }

// with is o with svc wanting value (o's array may be reused).
func (o owners) with(svc, value string) owners {
	i, found := slices.BinarySearchFunc(o, svc, func(e owner, svc string) int { return strings.Compare(e.svc, svc) })
	if found {
		o[i].value = value
		return o
	}
	return slices.Insert(o, i, owner{svc, value})
}

// without is o without svc (o's array may be reused).
func (o owners) without(svc string) owners {
	return slices.DeleteFunc(o, func(e owner) bool { return e.svc == svc })
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

// sortedKeys are m's keys by set, then key. The keys of each set are sorted as plain strings:
// a full sync sorts some 40,000 of them, and a comparison of both fields through a closure
// took twice as long.
func sortedKeys[V any](m map[elemKey]V) []elemKey {
	bySet := map[string][]string{}
	for k := range m {
		bySet[k.set] = append(bySet[k.set], k.key)
	}
	out := make([]elemKey, 0, len(m))
	for _, set := range sortedNames(bySet) {
		keys := bySet[set]
		slices.Sort(keys)
		for _, k := range keys {
			out = append(out, elemKey{set, k})
		}
	}
	return out
}
