package proxy

import (
	"fmt"
	"net"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Flow selects UDP conntrack entries to delete. Zero fields match anything.
type Flow struct {
	// OrigDst is the address a client sent to (a ClusterIP, external or LoadBalancer IP).
	OrigDst netip.AddrPort
	// OrigDstPort alone selects a NodePort, whatever the node address.
	OrigDstPort uint16
	// ReplySrc is the endpoint that answers (the DNAT target).
	ReplySrc netip.AddrPort
	// Spare, when set, keeps the entries whose answering endpoint is in it (a pointer, so that
	// Flow stays comparable).
	Spare *[]netip.AddrPort
}

// Conntrack deletes stale UDP conntrack entries.
type Conntrack interface {
	DeleteUDP(v6 bool, flows []Flow) error
}

// staleFlows says which UDP entries the change from old to new leaves pointing at the
// wrong place: entries through the service whose endpoint is gone, and entries to a service port that had no
// endpoint (they would keep the packets away from the new endpoints until they expire).
func staleFlows(old, new *svcState) []Flow {
	var out []Flow
	for id, o := range udpOf(old) {
		n := udpOf(new)[id]
		for _, e := range o.endpoints {
			if slices.Contains(n.endpoints, e) {
				continue
			}
			// Only flows that came through this service: a pod talking to the endpoint
			// directly keeps its entry, as with kube-proxy.
			for _, fe := range o.frontends {
				out = append(out, Flow{OrigDst: fe, ReplySrc: e})
			}
			if o.nodePort != 0 {
				out = append(out, Flow{OrigDstPort: o.nodePort, ReplySrc: e})
			}
		}
	}
	for id, n := range udpOf(new) {
		o, had := udpOf(old)[id]
		if len(n.endpoints) == 0 || had && len(o.endpoints) > 0 {
			continue
		}
		for _, fe := range n.frontends {
			out = append(out, Flow{OrigDst: fe})
		}
		if n.nodePort != 0 {
			out = append(out, Flow{OrigDstPort: n.nodePort})
		}
	}
	return dedupFlows(out)
}

// unknownPastFlows is the cleanup when what was programmed before is unknown (the first sync
// of a process; the table and the kernel's conntrack outlived the last one): every UDP entry
// through the services that is not answered by one of their current endpoints. Flows that
// still point at a live endpoint keep their entry: deleting one under a client in mid-exchange
// loses the answer in flight (its un-DNAT has nothing to go by), e.g. a pod's DNS query while
// the daemon restarts.
func unknownPastFlows(st *svcState) []Flow {
	var out []Flow
	for _, u := range udpOf(st) {
		spare := slices.Clone(u.endpoints)
		slices.SortFunc(spare, netip.AddrPort.Compare)
		spare = slices.Compact(spare)
		for _, fe := range u.frontends {
			out = append(out, Flow{OrigDst: fe, Spare: &spare})
		}
		if u.nodePort != 0 {
			out = append(out, Flow{OrigDstPort: u.nodePort, Spare: &spare})
		}
	}
	return out
}

func udpOf(st *svcState) map[string]udpPort {
	if st == nil {
		return nil
	}
	return st.udp
}

func dedupFlows(fs []Flow) []Flow {
	seen := map[Flow]bool{}
	out := fs[:0]
	for _, f := range fs {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	return out
}

// netlinkConntrack is the real Conntrack: netlink in the current network namespace.
type netlinkConntrack struct{}

func (netlinkConntrack) DeleteUDP(v6 bool, flows []Flow) error {
	if len(flows) == 0 {
		return nil
	}
	fam := netlink.InetFamily(unix.AF_INET)
	if v6 {
		fam = netlink.InetFamily(unix.AF_INET6)
	}
	filters := make([]netlink.CustomConntrackFilter, len(flows))
	for i := range flows {
		filters[i] = udpFilter(flows[i])
	}
	if _, err := netlink.ConntrackDeleteFilters(netlink.ConntrackTable, fam, filters...); err != nil {
		return fmt.Errorf("delete %d UDP conntrack filters: %w", len(flows), err)
	}
	return nil
}

// udpFilter matches a flow; netlink's own filter cannot match a reply source port.
type udpFilter Flow

func (f udpFilter) MatchConntrackFlow(c *netlink.ConntrackFlow) bool {
	if c.Forward.Protocol != unix.IPPROTO_UDP {
		return false
	}
	if f.OrigDst.IsValid() && !tupleIs(c.Forward.DstIP, c.Forward.DstPort, f.OrigDst) {
		return false
	}
	if f.OrigDstPort != 0 && c.Forward.DstPort != f.OrigDstPort {
		return false
	}
	if f.ReplySrc.IsValid() && !tupleIs(c.Reverse.SrcIP, c.Reverse.SrcPort, f.ReplySrc) {
		return false
	}
	if f.Spare != nil && slices.ContainsFunc(*f.Spare, func(e netip.AddrPort) bool {
		return tupleIs(c.Reverse.SrcIP, c.Reverse.SrcPort, e)
	}) {
		return false
	}
	return true
}

func tupleIs(ip net.IP, port uint16, want netip.AddrPort) bool {
	a, ok := netip.AddrFromSlice(ip)
	return ok && a.Unmap() == want.Addr() && port == want.Port()
}
