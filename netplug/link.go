package netplug

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"

	"github.com/containernetworking/plugins/pkg/netlinksafe"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// VethPrefix starts the name of every host-side veth netplug makes.
const VethPrefix = "pn"

// HostVethName is the host-side veth name of an attachment: "pn" and 13 hex
// digits of sha256(containerID/ifname), 15 characters, the kernel's limit.
func HostVethName(containerID, ifName string) string {
	sum := sha256.Sum256([]byte(containerID + "/" + ifName))
	return VethPrefix + hex.EncodeToString(sum[:])[:13]
}

func isNotFound(err error) bool {
	var lnf netlink.LinkNotFoundError
	return errors.As(err, &lnf) || errors.Is(err, syscall.ENODEV) || errors.Is(err, syscall.ENOENT)
}

// BridgeMAC is the hardware address netplug gives its bridge: 0a:58 (locally
// administered, unicast) and the four last bytes of the first range's
// gateway, as OVN-Kubernetes derives its gateway MACs.
//
// A bridge whose address nobody set takes the lowest MAC of its ports and
// changes it whenever that port comes or goes (br_stp_recalculate_bridge_id,
// net/bridge/br_stp_if.c). Pods keep the old gateway MAC in their neighbour
// cache for up to ~45 s and their replies to the node go to a port that no
// longer exists: the node's connections to a pod hang after another pod
// leaves. A set address is kept by the kernel, and deriving it from the
// gateway keeps it across a re-created bridge too.
func BridgeMAC(ranges []Range) net.HardwareAddr {
	mac := net.HardwareAddr{0x0a, 0x58, 0, 0, 0, 0}
	if len(ranges) > 0 {
		gw := ranges[0].Gateway.AsSlice()
		copy(mac[2:], gw[len(gw)-4:])
	}
	return mac
}

// ensureBridge returns the bridge named name, creating it when missing,
// with a fixed MAC (BridgeMAC) and the gateway address of each range (IPv6
// ones without duplicate address detection, so that they answer at once),
// and sets it up. Concurrent callers are fine: an EEXIST from a racing
// creator is taken as success.
func ensureBridge(name string, ranges []Range, mtu int) (*netlink.Bridge, error) {
	l, err := netlinksafe.LinkByName(name)
	if err != nil && !isNotFound(err) {
		return nil, fmt.Errorf("look up bridge %s: %w", name, err)
	}
	if err != nil {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = name
		attrs.MTU = mtu
		attrs.HardwareAddr = BridgeMAC(ranges)
		br := &netlink.Bridge{LinkAttrs: attrs}
		if err := netlink.LinkAdd(br); err != nil && !errors.Is(err, syscall.EEXIST) {
			return nil, fmt.Errorf("create bridge %s: %w", name, err)
		}
		if l, err = netlinksafe.LinkByName(name); err != nil {
			return nil, fmt.Errorf("look up bridge %s: %w", name, err)
		}
	}
	br, ok := l.(*netlink.Bridge)
	if !ok {
		return nil, fmt.Errorf("%s exists and is a %s, not a bridge", name, l.Type())
	}
	// A bridge made by an older netplug (or by a racing creator's
	// EEXIST) may still follow its ports' MACs.
	if mac := BridgeMAC(ranges); !bytes.Equal(br.Attrs().HardwareAddr, mac) {
		if err := netlink.LinkSetHardwareAddr(br, mac); err != nil {
			return nil, fmt.Errorf("set the MAC of bridge %s: %w", name, err)
		}
	}
	for _, r := range ranges {
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: r.Gateway.AsSlice(), Mask: net.CIDRMask(r.Prefix.Bits(), r.Prefix.Addr().BitLen())}}
		if r.Gateway.Is6() {
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := netlink.AddrAdd(br, addr); err != nil && !errors.Is(err, syscall.EEXIST) {
			return nil, fmt.Errorf("add %s to bridge %s: %w", addr.IPNet, name, err)
		}
	}
	if br.Attrs().Flags&net.FlagUp == 0 {
		if err := netlink.LinkSetUp(br); err != nil {
			return nil, fmt.Errorf("set bridge %s up: %w", name, err)
		}
	}
	return br, nil
}

// bridgeUsable reports, without changing anything, why the bridge name
// could not serve: nil when it is a bridge or does not exist yet (ADD makes
// it).
func bridgeUsable(name string) error {
	l, err := netlinksafe.LinkByName(name)
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return fmt.Errorf("look up bridge %s: %w", name, err)
	}
	if _, ok := l.(*netlink.Bridge); !ok {
		return fmt.Errorf("%s exists and is a %s, not a bridge", name, l.Type())
	}
	return nil
}

// uplinkMTU is the MTU of the interface of the IPv4 default route, or 1500
// when there is none.
func uplinkMTU() (int, error) {
	routes, err := netlinksafe.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Table: syscall.RT_TABLE_MAIN}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return 0, fmt.Errorf("list routes: %w", err)
	}
	for _, r := range routes {
		if (r.Dst == nil || r.Dst.IP.IsUnspecified() && isZeroMask(r.Dst.Mask)) && r.LinkIndex > 0 {
			l, err := netlink.LinkByIndex(r.LinkIndex)
			if err != nil {
				return 0, fmt.Errorf("look up uplink %d: %w", r.LinkIndex, err)
			}
			return l.Attrs().MTU, nil
		}
	}
	return 1500, nil
}

func isZeroMask(m net.IPMask) bool {
	ones, _ := m.Size()
	return ones == 0
}

// deleteLink deletes the link name; a missing link is success.
func deleteLink(name string) error {
	l, err := netlinksafe.LinkByName(name)
	if err != nil {
		if isNotFound(err) {
			return nil
		}
		return fmt.Errorf("look up %s: %w", name, err)
	}
	if err := netlink.LinkDel(l); err != nil && !isNotFound(err) {
		return fmt.Errorf("delete %s: %w", name, err)
	}
	return nil
}

// hostVeth is a host-side veth named as netplug names them; onBridge says it
// is a port of the bridge asked for (false: a port of no bridge).
type hostVeth struct {
	name     string
	onBridge bool
}

// ourVeths lists the host-side veths netplug made (pn + 13 hex digits)
// that are ports of bridge or of no bridge (a crash can leave one
// unattached); bridge "" means any.
func ourVeths(bridge string) ([]string, error) {
	vs, err := bridgeVeths(bridge)
	names := make([]string, len(vs))
	for i, v := range vs {
		names[i] = v.name
	}
	return names, err
}

func bridgeVeths(bridge string) ([]hostVeth, error) {
	links, err := netlinksafe.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}
	brIndex := -1
	for _, l := range links {
		if l.Attrs().Name == bridge {
			brIndex = l.Attrs().Index
		}
	}
	var out []hostVeth
	for _, l := range links {
		m := l.Attrs().MasterIndex
		if bridge != "" && m != 0 && m != brIndex {
			continue
		}
		if n := l.Attrs().Name; isVethName(n) && l.Type() == "veth" {
			out = append(out, hostVeth{name: n, onBridge: m != 0})
		}
	}
	return out, nil
}

func isVethName(n string) bool {
	if len(n) != 15 || !strings.HasPrefix(n, VethPrefix) {
		return false
	}
	_, err := hex.DecodeString(n[2:14])
	return err == nil && strings.Trim(n[14:], "0123456789abcdef") == ""
}
