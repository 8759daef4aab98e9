package proxy

import (
	"net/netip"
	"sort"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// endpoint is one backend of one service port as the slices describe it.
type endpoint struct {
	addr                        netip.AddrPort
	local                       bool
	ready, serving, terminating bool
}

// portEndpoints reads, from the service's slices, the endpoints of service port sp: the slice
// port with the same name and protocol gives each slice's target port. Duplicates (an address
// in two slices during a rewrite) keep the readiest copy.
func portEndpoints(f fam, sp *corev1.ServicePort, slices []*discoveryv1.EndpointSlice, node string) []endpoint {
	byAddr := map[netip.AddrPort]endpoint{}
	for _, sl := range slices {
		if !sliceFamilyMatches(f, sl.AddressType) {
			continue
		}
		port, ok := slicePort(sl, sp)
		if !ok {
			continue
		}
		for i := range sl.Endpoints {
			ep, ok := toEndpoint(f, &sl.Endpoints[i], port, node)
			if !ok {
				continue
			}
			if old, dup := byAddr[ep.addr]; !dup || better(ep, old) {
				byAddr[ep.addr] = ep
			}
		}
	}
	out := make([]endpoint, 0, len(byAddr))
	for _, ep := range byAddr {
		out = append(out, ep)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].addr.Compare(out[j].addr) < 0 })
	return out
}

func sliceFamilyMatches(f fam, t discoveryv1.AddressType) bool {
	if f.v6 {
		return t == discoveryv1.AddressTypeIPv6
	}
	return t == discoveryv1.AddressTypeIPv4
}

func slicePort(sl *discoveryv1.EndpointSlice, sp *corev1.ServicePort) (uint16, bool) {
	for _, p := range sl.Ports {
		name := ""
		if p.Name != nil {
			name = *p.Name
		}
		proto := corev1.ProtocolTCP
		if p.Protocol != nil {
			proto = *p.Protocol
		}
		if name == sp.Name && proto == protoOrTCP(sp.Protocol) && p.Port != nil && *p.Port > 0 && *p.Port < 65536 {
			return uint16(*p.Port), true
		}
	}
	return 0, false
}

func protoOrTCP(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// toEndpoint applies the API's rules for missing conditions: ready unknown means ready,
// serving unknown means as ready, terminating unknown means not terminating.
func toEndpoint(f fam, e *discoveryv1.Endpoint, port uint16, node string) (endpoint, bool) {
	if len(e.Addresses) == 0 {
		return endpoint{}, false
	}
	a, ok := f.parse(e.Addresses[0])
	if !ok {
		return endpoint{}, false
	}
	c := e.Conditions
	ready := c.Ready == nil || *c.Ready
	// Unset means true for both, as kube-proxy reads them: a terminating endpoint whose writer
	// left serving out still takes traffic when nothing is ready.
	serving := c.Serving == nil || *c.Serving
	return endpoint{
		addr:        netip.AddrPortFrom(a, port),
		local:       node != "" && e.NodeName != nil && *e.NodeName == node,
		ready:       ready,
		serving:     serving,
		terminating: c.Terminating != nil && *c.Terminating,
	}, true
}

func better(a, b endpoint) bool { return a.ready && !b.ready || a.serving && !b.serving }

// usable picks the endpoints traffic may go to: the ready ones, or when none is ready the
// serving terminating ones (kube-proxy's fallback, so that a rollout's last pods keep
// answering while they drain).
func usable(eps []endpoint) []netip.AddrPort {
	var ready, fallback []netip.AddrPort
	for _, e := range eps {
		switch {
		case e.ready:
			ready = append(ready, e.addr)
		case e.serving && e.terminating:
			fallback = append(fallback, e.addr)
		}
	}
	if len(ready) > 0 {
		return ready
	}
	return fallback
}

func localOnly(eps []endpoint) []endpoint {
	var out []endpoint
	for _, e := range eps {
		if e.local {
			out = append(out, e)
		}
	}
	return out
}
