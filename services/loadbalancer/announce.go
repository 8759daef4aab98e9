package loadbalancer

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// DefaultInterface is the dummy interface the netlink Announcer puts addresses on.
const DefaultInterface = "podnet-lb"

// Announcer makes the node answer for the allocated addresses.
type Announcer interface {
	// Announce makes the node answer for exactly addrs: it adds the missing ones and removes
	// those no longer listed, including what a previous run left behind.
	Announce(addrs []netip.Addr) error
	// Cleanup removes whatever Announce set up.
	Cleanup() error
}

// netlinkAnnouncer holds the addresses on a dummy interface of the current network namespace.
type netlinkAnnouncer struct{ name string }

// NewNetlinkAnnouncer returns an Announcer that puts every address as a /32 (/128) on the dummy
// interface name (DefaultInterface if empty) in the calling thread's network namespace.
func NewNetlinkAnnouncer(name string) Announcer {
	if name == "" {
		name = DefaultInterface
	}
	return &netlinkAnnouncer{name: name}
}

func (n *netlinkAnnouncer) Announce(addrs []netip.Addr) error {
	if len(addrs) == 0 {
		return n.Cleanup()
	}
	link, err := n.ensureLink()
	if err != nil {
		return err
	}
	have, err := n.current(link)
	if err != nil {
		return err
	}
	var errs []error
	for _, a := range addrs {
		if have[a] {
			delete(have, a)
			continue
		}
		if err := netlink.AddrAdd(link, hostAddr(a)); err != nil && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, fmt.Errorf("adding %s to %s: %w", a, n.name, err))
		}
	}
	for a := range have {
		if err := netlink.AddrDel(link, hostAddr(a)); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
			errs = append(errs, fmt.Errorf("removing %s from %s: %w", a, n.name, err))
		}
	}
	return errors.Join(errs...)
}

func (n *netlinkAnnouncer) Cleanup() error {
	link, err := netlink.LinkByName(n.name)
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return fmt.Errorf("looking up %s: %w", n.name, err)
	}
	if err := netlink.LinkDel(link); err != nil {
		return fmt.Errorf("deleting %s: %w", n.name, err)
	}
	return nil
}

func (n *netlinkAnnouncer) ensureLink() (netlink.Link, error) {
	link, err := netlink.LinkByName(n.name)
	if isNotFound(err) {
		if err := n.addLink(); err != nil {
			return nil, err
		}
		link, err = netlink.LinkByName(n.name)
	}
	if err != nil {
		return nil, fmt.Errorf("looking up %s: %w", n.name, err)
	}
	switch link.(type) {
	case *netlink.Dummy, *netlink.Bridge:
	default:
		return nil, fmt.Errorf("%s exists and is a %s interface, not dummy", n.name, link.Type())
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		if err := netlink.LinkSetUp(link); err != nil {
			return nil, fmt.Errorf("setting %s up: %w", n.name, err)
		}
	}
	return link, nil
}

// addLink creates the dummy interface. Kernels built without the dummy driver (small VM kernels
// such as Firecracker's) get a bridge with no ports instead: it is up with a carrier, and the
// kernel treats the addresses on it as local exactly as it does on a dummy.
func (n *netlinkAnnouncer) addLink() error {
	attrs := netlink.LinkAttrs{Name: n.name}
	err := netlink.LinkAdd(&netlink.Dummy{LinkAttrs: attrs})
	if errors.Is(err, unix.EOPNOTSUPP) {
		err = netlink.LinkAdd(&netlink.Bridge{LinkAttrs: attrs})
	}
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("creating dummy interface %s: %w", n.name, err)
	}
	return nil
}

// current is the host addresses on the link; the kernel's own IPv6 link-local one is not ours.
func (n *netlinkAnnouncer) current(link netlink.Link) (map[netip.Addr]bool, error) {
	list, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return nil, fmt.Errorf("listing addresses of %s: %w", n.name, err)
	}
	out := map[netip.Addr]bool{}
	for _, a := range list {
		addr, ok := netip.AddrFromSlice(a.IP)
		if !ok || addr.Unmap().IsLinkLocalUnicast() {
			continue
		}
		out[addr.Unmap()] = true
	}
	return out, nil
}

// hostAddr is a as a single-address prefix; IPv6 skips duplicate address detection, which
// would keep the address unusable (tentative) for a second or more.
func hostAddr(a netip.Addr) *netlink.Addr {
	out := &netlink.Addr{IPNet: &net.IPNet{IP: a.AsSlice(), Mask: net.CIDRMask(a.BitLen(), a.BitLen())}}
	if a.Is6() {
		out.Flags = unix.IFA_F_NODAD
	}
	return out
}

func isNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf)
}
