package config

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// NetlinkDetector finds the node IP as the first global IPv4 address of the interface that holds
// the IPv4 default route of the main table, in the calling thread's network namespace.
type NetlinkDetector struct{}

// dumpRetries bounds retries of netlink dumps the kernel interrupted because the table changed.
const dumpRetries = 5

// NodeIP implements NodeIPDetector.
func (NetlinkDetector) NodeIP() (netip.Addr, error) {
	link, err := defaultRouteLink()
	if err != nil {
		return netip.Addr{}, err
	}
	return firstGlobalIPv4(link)
}

func defaultRouteLink() (netlink.Link, error) {
	routes, err := retryDump(func() ([]netlink.Route, error) {
		return netlink.RouteListFiltered(netlink.FAMILY_V4,
			&netlink.Route{Table: unix.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return nil, fmt.Errorf("listing IPv4 routes: %w", err)
	}
	idx, ok := pickDefaultRoute(routes)
	if !ok {
		return nil, errors.New("no IPv4 default route")
	}
	link, err := netlink.LinkByIndex(idx)
	if err != nil {
		return nil, fmt.Errorf("default route interface %d: %w", idx, err)
	}
	return link, nil
}

// pickDefaultRoute returns the interface of the preferred (lowest metric) default route.
func pickDefaultRoute(routes []netlink.Route) (int, bool) {
	best, found := netlink.Route{}, false
	for _, r := range routes {
		if !isDefault(r) || routeLink(r) == 0 {
			continue
		}
		if !found || r.Priority < best.Priority {
			best, found = r, true
		}
	}
	return routeLink(best), found
}

// isDefault accepts both shapes netlink has used for a default route: no Dst, or 0.0.0.0/0.
func isDefault(r netlink.Route) bool {
	if r.Dst == nil {
		return true
	}
	ones, _ := r.Dst.Mask.Size()
	return ones == 0
}

// routeLink is the route's interface; a multipath route names it per next hop.
func routeLink(r netlink.Route) int {
	if r.LinkIndex != 0 || len(r.MultiPath) == 0 {
		return r.LinkIndex
	}
	return r.MultiPath[0].LinkIndex
}

func firstGlobalIPv4(link netlink.Link) (netip.Addr, error) {
	name := link.Attrs().Name
	addrs, err := retryDump(func() ([]netlink.Addr, error) {
		return netlink.AddrList(link, netlink.FAMILY_V4)
	})
	if err != nil {
		return netip.Addr{}, fmt.Errorf("listing addresses of %s: %w", name, err)
	}
	for _, a := range addrs {
		if a.Scope != unix.RT_SCOPE_UNIVERSE || a.IPNet == nil {
			continue
		}
		if ip, ok := netip.AddrFromSlice(a.IP.To4()); ok {
			return ip, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("interface %s of the default route has no global IPv4 address", name)
}

func retryDump[T any](dump func() ([]T, error)) ([]T, error) {
	var err error
	for range dumpRetries {
		var out []T
		out, err = dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return out, err
		}
	}
	return nil, err
}
