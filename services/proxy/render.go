package proxy

import (
	"maps"
	"slices"
	"time"

	"sigs.k8s.io/knftables"
)

// renderFull writes a transaction that replaces the table atomically: the kernel swaps the
// old table for the new one at commit, so there is never a moment without rules.
func renderFull(tx txWriter, sk *skeleton, p *plan) {
	tx.Add(&knftables.Table{})
	tx.Delete(&knftables.Table{})
	tx.Add(&knftables.Table{})
	for _, o := range sk.chains {
		tx.Add(o)
	}
	for _, o := range sk.sets {
		tx.Add(o)
	}
	for _, o := range sk.maps {
		tx.Add(o)
	}
	for _, ch := range p.changes {
		addObjects(tx, ch.new, nil)
	}
	for _, o := range sk.rules {
		tx.Add(o)
	}
	for _, ch := range p.changes {
		for _, name := range sortedNames(ch.new.chains) {
			addRules(tx, name, ch.new.chains[name])
		}
	}
	for _, o := range sk.elems {
		tx.Add(o)
	}
	for _, k := range p.setKeys {
		tx.Add(element(k, p.set[k]))
	}
}

// renderPartial writes only what the plan changes, in an order the kernel accepts: new
// objects, rewritten chains, elements, and deletions last, once nothing refers to them.
func renderPartial(tx txWriter, c *committed, p *plan) {
	for _, ch := range p.changes {
		addObjects(tx, ch.new, ch.old)
	}
	for _, ch := range p.changes {
		rewriteChains(tx, ch.old, ch.new)
	}
	for _, k := range p.setKeys {
		if _, had := c.elems[k]; had {
			tx.Delete(element(k, c.elems[k]))
		}
		tx.Add(element(k, p.set[k]))
	}
	for _, k := range p.del {
		tx.Delete(element(k, c.elems[k]))
	}
	for _, ch := range p.changes {
		deleteObjects(tx, ch.old, ch.new)
	}
}

// addObjects adds the chains and sets of st that old does not have.
func addObjects(tx txWriter, st, old *svcState) {
	if st == nil {
		return
	}
	for _, name := range sortedNames(st.sets) {
		if !hasKey(old, name, true) {
			tx.Add(affinitySet(name, st.sets[name]))
		}
	}
	for _, name := range sortedNames(st.chains) {
		if !hasKey(old, name, false) {
			tx.Add(&knftables.Chain{Name: name})
		}
	}
}

// rewriteChains refills the chains whose rules changed and empties the ones going away (so
// that their references to other chains and sets are gone before those are deleted).
func rewriteChains(tx txWriter, old, st *svcState) {
	if old != nil {
		for _, name := range sortedNames(old.chains) {
			if st == nil || st.chains[name] == nil {
				tx.Flush(&knftables.Chain{Name: name})
			}
		}
	}
	if st == nil {
		return
	}
	for _, name := range sortedNames(st.chains) {
		rules := st.chains[name]
		if old != nil && old.chains[name] != nil {
			if slices.Equal(old.chains[name], rules) {
				continue
			}
			tx.Flush(&knftables.Chain{Name: name})
		}
		addRules(tx, name, rules)
	}
}

func deleteObjects(tx txWriter, old, st *svcState) {
	if old == nil {
		return
	}
	for _, name := range sortedNames(old.chains) {
		if !hasKey(st, name, false) {
			tx.Delete(&knftables.Chain{Name: name})
		}
	}
	for _, name := range sortedNames(old.sets) {
		if !hasKey(st, name, true) {
			tx.Delete(&knftables.Set{Name: name})
		}
	}
}

func hasKey(st *svcState, name string, set bool) bool {
	if st == nil {
		return false
	}
	if set {
		_, ok := st.sets[name]
		return ok
	}
	_, ok := st.chains[name]
	return ok
}

func addRules(tx txWriter, chain string, rules []string) {
	for _, r := range rules {
		tx.Add(&knftables.Rule{Chain: chain, Rule: r})
	}
}

func affinitySet(name string, d setDef) *knftables.Set {
	return &knftables.Set{Name: name, Type: d.typ, Flags: []knftables.SetFlag{knftables.DynamicFlag, knftables.TimeoutFlag},
		Timeout: knftables.PtrTo(time.Duration(d.timeoutSeconds) * time.Second)}
}

// element is one set or map element; the key is kept as one string (knftables joins a
// concatenation with " . " anyway).
func element(k elemKey, value string) *knftables.Element {
	e := &knftables.Element{Key: []string{k.key}}
	if isMap(k.set) {
		e.Map = k.set
		e.Value = []string{value}
	} else {
		e.Set = k.set
	}
	return e
}

func isMap(name string) bool {
	switch name {
	case mapServiceIPs, mapServiceNodePorts, mapNoEndpointServices, mapNoEndpointNodePort, mapFirewallIPs:
		return true
	}
	return false
}

func sortedNames[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }
