package loadbalancer

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/containernetworking/plugins/pkg/ns"
	"github.com/vishvananda/netlink"

	"github.com/podnet/podnet/internal/roottest"
)

// linkState renders the interface as "type up [addr/len …]" (global addresses only), or "absent".
func linkState(t *testing.T, name string) string {
	t.Helper()
	link, err := netlink.LinkByName(name)
	if _, ok := err.(netlink.LinkNotFoundError); ok {
		return "absent"
	}
	if err != nil {
		t.Fatal(err)
	}
	list, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		t.Fatal(err)
	}
	var addrs []string
	for _, a := range list {
		if !a.IP.IsLinkLocalUnicast() {
			addrs = append(addrs, a.IPNet.String())
		}
	}
	slices.Sort(addrs)
	return fmt.Sprintf("%s up=%t %v", link.Type(), link.Attrs().Flags&net.FlagUp != 0, addrs)
}

// linkKind is the interface type the announcer makes on this kernel: dummy, or a port-less bridge
// where the kernel has no dummy driver. Called inside the test's namespace.
func linkKind(t *testing.T) string {
	t.Helper()
	probe := &netlink.Dummy{LinkAttrs: netlink.LinkAttrs{Name: "probe0"}}
	if err := netlink.LinkAdd(probe); err != nil {
		return "bridge"
	}
	if err := netlink.LinkDel(probe); err != nil {
		t.Fatal(err)
	}
	return "dummy"
}

func TestNetlinkAnnouncer(t *testing.T) {
	roottest.NeedRoot(t)
	netns := roottest.NewNS(t)
	err := netns.Do(func(ns.NetNS) error {
		a := NewNetlinkAnnouncer("")
		kind := linkKind(t)
		steps := []struct {
			name string
			do   func() error
			want string
		}{
			{"nothing to announce: no interface", func() error { return a.Announce(nil) }, "absent"},
			{"first addresses create it", func() error {
				return a.Announce(addrs("192.168.100.0", "192.168.100.250", "fd00::10"))
			}, kind + " up=true [192.168.100.0/32 192.168.100.250/32 fd00::10/128]"},
			{"a stray address is removed", func() error {
				link, err := netlink.LinkByName(DefaultInterface)
				if err != nil {
					return err
				}
				if err := netlink.AddrAdd(link, hostAddr(netip.MustParseAddr("192.168.100.9"))); err != nil {
					return err
				}
				return a.Announce(addrs("192.168.100.0", "fd00::10"))
			}, kind + " up=true [192.168.100.0/32 fd00::10/128]"},
			{"same again changes nothing", func() error { return a.Announce(addrs("192.168.100.0", "fd00::10")) },
				kind + " up=true [192.168.100.0/32 fd00::10/128]"},
			{"the last one going removes it", func() error { return a.Announce(nil) }, "absent"},
			{"Cleanup removes it", func() error {
				if err := a.Announce(addrs("192.168.100.1")); err != nil {
					return err
				}
				return a.Cleanup()
			}, "absent"},
			{"Cleanup twice is fine", a.Cleanup, "absent"},
		}
		for _, s := range steps {
			if err := s.do(); err != nil {
				return fmt.Errorf("%s: %w", s.name, err)
			}
			if got := linkState(t, DefaultInterface); got != s.want {
				t.Errorf("%s: %s, want %s", s.name, got, s.want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNetlinkAnnouncerAddressIsLocal checks the point of it all: the kernel treats an announced
// address as the node's own (a local route), so it answers ARP for it and accepts its traffic.
func TestNetlinkAnnouncerAddressIsLocal(t *testing.T) {
	roottest.NeedRoot(t)
	netns := roottest.NewNS(t)
	err := netns.Do(func(ns.NetNS) error {
		a := NewNetlinkAnnouncer("lb-test")
		if err := a.Announce(addrs("203.0.113.7")); err != nil {
			return err
		}
		routes, err := netlink.RouteGet(net.ParseIP("203.0.113.7"))
		if err != nil {
			return err
		}
		if len(routes) != 1 || routes[0].Type != 2 /* RTN_LOCAL */ {
			t.Errorf("route to the announced address: %+v, want one local route", routes)
		}
		return a.Cleanup()
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestNetlinkAnnouncerRefusesForeignInterface(t *testing.T) {
	roottest.NeedRoot(t)
	netns := roottest.NewNS(t)
	err := netns.Do(func(ns.NetNS) error {
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "podnet-lb"}, PeerName: "podnet-lb-peer"}
		if err := netlink.LinkAdd(veth); err != nil {
			return err
		}
		err := NewNetlinkAnnouncer("").Announce(addrs("192.168.100.0"))
		if want := "podnet-lb exists and is a veth interface, not dummy"; err == nil || err.Error() != want {
			t.Errorf("Announce on a bridge: %v, want %s", err, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
