package proxy

import (
	"fmt"
	"net/netip"

	"sigs.k8s.io/knftables"
)

// skeleton is the part of the table that does not depend on any Service: base chains, the
// global maps and sets, and their fixed rules. It only changes with the configuration.
type skeleton struct {
	chains []*knftables.Chain
	sets   []*knftables.Set
	maps   []*knftables.Map
	rules  []*knftables.Rule
	elems  []*knftables.Element
}

// canaryChain is the base chain whose rule the table check looks for: if it is gone, so
// is the table (or someone flushed it) and a full sync puts everything back.
const canaryChain = "nat-prerouting"

func baseChain(name string, t knftables.BaseChainType, h knftables.BaseChainHook, prio knftables.BaseChainPriority) *knftables.Chain {
	return &knftables.Chain{Name: name, Type: knftables.PtrTo(t), Hook: knftables.PtrTo(h), Priority: knftables.PtrTo(prio)}
}

func buildSkeleton(c Config) *skeleton {
	f := newFam(c.Family)
	s := &skeleton{}
	s.addChains()
	s.addMaps(f)
	for _, r := range baseRules(c, f) {
		s.rules = append(s.rules, &knftables.Rule{Chain: r[0], Rule: r[1]})
	}
	for _, a := range c.NodePortAddresses {
		s.elems = append(s.elems, &knftables.Element{Set: setNodePortIPs, Key: []string{a.String()}})
	}
	return s
}

func (s *skeleton) addChains() {
	preDNAT := knftables.BaseChainPriority("-110") // before DNAT (dstnat is -100)
	s.chains = []*knftables.Chain{
		baseChain("filter-prerouting", knftables.FilterType, knftables.PreroutingHook, preDNAT),
		baseChain("filter-output", knftables.FilterType, knftables.OutputHook, preDNAT),
		baseChain("filter-input", knftables.FilterType, knftables.InputHook, knftables.FilterPriority),
		baseChain("filter-forward", knftables.FilterType, knftables.ForwardHook, knftables.FilterPriority),
		baseChain("filter-output-post-dnat", knftables.FilterType, knftables.OutputHook, knftables.FilterPriority),
		baseChain(canaryChain, knftables.NATType, knftables.PreroutingHook, knftables.DNATPriority),
		baseChain("nat-output", knftables.NATType, knftables.OutputHook, knftables.DNATPriority),
		baseChain("nat-postrouting", knftables.NATType, knftables.PostroutingHook, knftables.SNATPriority),
		{Name: chainServices}, {Name: chainMasquerading}, {Name: chainReject},
		{Name: chainEndpointsChk}, {Name: chainClusterIPChk},
	}
}

func (s *skeleton) addMaps(f fam) {
	types := globalSetTypes(f)
	for _, name := range []string{mapServiceIPs, mapServiceNodePorts, mapNoEndpointServices, mapNoEndpointNodePort, mapFirewallIPs} {
		s.maps = append(s.maps, &knftables.Map{Name: name, Type: types[name]})
	}
	for _, name := range []string{setNodePortIPs, setClusterIPs, setHairpin} {
		s.sets = append(s.sets, &knftables.Set{Name: name, Type: types[name]})
	}
}

// globalSetTypes are the nft types of the table's global sets and maps, by name: the skeleton
// declares them, and the netlink path encodes their elements by them.
func globalSetTypes(f fam) map[string]string {
	ipKey := f.addrType + " . inet_proto . inet_service : verdict"
	portKey := "inet_proto . inet_service : verdict"
	return map[string]string{
		mapServiceIPs:         ipKey,
		mapServiceNodePorts:   portKey,
		mapNoEndpointServices: ipKey,
		mapNoEndpointNodePort: portKey,
		mapFirewallIPs:        ipKey,
		setNodePortIPs:        f.addrType,
		setClusterIPs:         f.addrType,
		setHairpin:            f.addrType + " . " + f.addrType,
	}
}

// baseRules are (chain, rule) pairs in order.
func baseRules(c Config, f fam) [][2]string {
	kw := f.kw
	nodePorts := fmt.Sprintf("%s daddr @%s", kw, setNodePortIPs)
	if len(c.NodePortAddresses) == 0 {
		nodePorts = fmt.Sprintf("fib daddr type local %s daddr != %s", kw, loopback(f))
	}
	ipVmap := func(m string) string { return fmt.Sprintf("%s daddr . meta l4proto . th dport vmap @%s", kw, m) }
	r := [][2]string{}
	if len(c.ServiceCIDRs) > 0 {
		// ClusterIPs answer only the node and its pods, even for a client that routes the
		// service CIDR here: anything else arriving for them is dropped before DNAT.
		drop := fmt.Sprintf("%s daddr %s", kw, prefixSet(c.ServiceCIDRs))
		if len(c.ClusterCIDRs) > 0 {
			drop += fmt.Sprintf(" %s saddr != %s", kw, prefixSet(c.ClusterCIDRs))
		}
		r = append(r, [2]string{"filter-prerouting", drop + " fib saddr type != local drop"})
	}
	// One rule for every ClusterIP instead of one per service chain: a sync of 10,000 services
	// writes 10,000 rules less (nft's load time grows with rules). Sources on the node itself
	// are left alone: the endpoint's reply comes back to the node anyway, and skipping the
	// masquerade (with its random port choice) makes a connection from the node to a ClusterIP
	// cost little more than one to the pod itself. Only sources outside the node need it, and
	// the filter above drops those unless a CIDR is missing. It sits in nat-prerouting, not in
	// the services chain: in nat-output every source is the node's own, and the node's
	// connections then skip its set lookup and fib lookup.
	masq := fmt.Sprintf("%s daddr @%s fib saddr type != local %s", kw, setClusterIPs, setMasqMark)
	if len(c.ClusterCIDRs) > 0 {
		masq = fmt.Sprintf("%s daddr @%s %s saddr != %s fib saddr type != local %s", kw, setClusterIPs, kw, prefixSet(c.ClusterCIDRs), setMasqMark)
	}
	r = append(r, [2]string{canaryChain, masq},
		// Last in the chain: the firewall chains end in return or drop. Only a connection's
		// first packet is looked up (as kube-proxy does): the others follow its conntrack
		// entry, and the lookup would otherwise cost every packet the node sends or receives.
		[2]string{"filter-prerouting", "ct state new " + ipVmap(mapFirewallIPs)},
		[2]string{"filter-output", "ct state new " + ipVmap(mapFirewallIPs)},
		[2]string{"filter-input", "ct state new jump " + chainEndpointsChk},
		[2]string{"filter-forward", "ct state new jump " + chainEndpointsChk},
		[2]string{"filter-forward", "ct state new jump " + chainClusterIPChk},
		[2]string{"filter-output-post-dnat", "ct state new jump " + chainEndpointsChk},
		[2]string{"filter-output-post-dnat", "ct state new jump " + chainClusterIPChk},
		[2]string{chainEndpointsChk, ipVmap(mapNoEndpointServices)},
		[2]string{chainEndpointsChk, nodePorts + " meta l4proto . th dport vmap @" + mapNoEndpointNodePort},
		// Still addressed to a live ClusterIP after DNAT: a port the service does not have.
		[2]string{chainClusterIPChk, fmt.Sprintf("%s daddr @%s goto %s", kw, setClusterIPs, chainReject)},
		[2]string{chainReject, "meta l4proto tcp reject with tcp reset"},
		[2]string{chainReject, "reject"},
		[2]string{canaryChain, "jump " + chainServices},
		[2]string{"nat-output", "jump " + chainServices},
		[2]string{"nat-postrouting", "jump " + chainMasquerading},
		[2]string{chainServices, ipVmap(mapServiceIPs)},
		[2]string{chainServices, nodePorts + " meta l4proto . th dport vmap @" + mapServiceNodePorts},
		[2]string{chainMasquerading, fmt.Sprintf("ct status dnat %s saddr . %s daddr @%s masquerade", kw, kw, setHairpin)},
		[2]string{chainMasquerading, "meta mark & " + masqMark + " == 0 return"},
		[2]string{chainMasquerading, "meta mark set meta mark ^ " + masqMark},
		[2]string{chainMasquerading, "masquerade fully-random"},
	)
	if len(c.ServiceCIDRs) > 0 {
		// An address of the service CIDR that no Service holds.
		r = append(r, [2]string{chainClusterIPChk, fmt.Sprintf("%s daddr %s drop", kw, prefixSet(c.ServiceCIDRs))})
	}
	return r
}

func loopback(f fam) string {
	if f.v6 {
		return netip.IPv6Loopback().String()
	}
	return "127.0.0.0/8"
}
